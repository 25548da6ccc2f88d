"""Grok: named regex fragments `%{NAME:semantic}` expanded into one regex.

Contract (engine/README.md, behaviour spec/parsers.md §3.3-§3.4):

* `PatternLibrary.load(pattern_dirs)` reads pattern files once per library:
  every `grokky-base` file first, then, directory by directory in the order
  given, every file whose name contains no `.`, in name order. Line format
  `^(\\w+)\\s+(.+)$`; other lines (comments, blanks) are ignored. Within one file
  a pattern may reference one defined further down (CrowdSec resolves a file's
  dependencies before adding it); a reference to a pattern that exists nowhere,
  a reference cycle, an invalid regex or a name defined twice is a `ConfigError`
  naming the file and the pattern.
* `lib.add(name, regex, ignore_existing=True)` is the node `pattern_syntax`
  entry point: the first definition of a name wins, and the new definition is
  compiled immediately (unknown references or a bad regex raise `ConfigError`).
* `lib.compile(pattern, where)` expands a grok expression with the exact
  capture-numbering algorithm of CrowdSec (§3.4) and compiles the result once.
* `GrokPattern.match(text)` searches (unanchored) and returns
  `{semantic: captured text}` ("" for groups that did not participate), or
  None when the regex does not match or the pattern has no semantic at all.

Why not pygrok's own expansion: pygrok turns `%{X:sem}` into Python named
groups, which cannot express CrowdSec's numbering rules (a semantic used twice
keeps its last occurrence, top-level semantics beat nested ones, and the
"capcount" heuristic decides which group number a semantic reads). So the
expansion here builds plain numbered groups itself. pygrok is used for what it
ships: its standard pattern set (`pygrok/patterns/grok-patterns`) serves as a
fallback base library when none of the pattern directories holds a
`grokky-base` file. Fallback patterns are pulled in only when a reference
names a pattern that no loaded file defines, so pattern files may define the
same standard names themselves without a duplicate error.

Go RE2 syntax is translated to Python by `regex_compat`; the expanded regex is
translated as a whole because inline flags are scoped by the enclosing group.
"""

from __future__ import annotations

import operator
import os
import re
try:  # CPython's regex parser (3.11+: re._parser; older: sre_parse)
    from re import _constants as _SRE, _parser as _sre_parser
except ImportError:  # pragma: no cover
    import sre_constants as _SRE
    import sre_parse as _sre_parser
from dataclasses import dataclass
from pathlib import Path

from crowdsec_mp.engine.regex_compat import compile_re2, compile_re2_lean, re2_group_count, skip_class
from crowdsec_mp.errors import ConfigError

#: `%{NAME}` or `%{NAME:semantic}`; `%{NAME:sem:int}` does not match and stays literal.
_REFERENCE = re.compile(r"%\{(\w+)(?::(\w+))?\}")
_PATTERN_LINE = re.compile(r"^(\w+)[\t\n\f\r ]+(.+)$", re.ASCII)
_NAME = re.compile(r"^\w+$")

# CrowdSec's capture-count heuristic for the literal text between references
# (spec §3.4). Reproduced literally, including its quirks (`s)` counts as a
# flag group), because it decides which group number a semantic reads.
_OPEN_PAREN = "("
_FLAG_SCOPE_OPENER = re.compile(r"\(\?[imsU\-]*:")
_FLAG_GROUP_LIKE = re.compile(r"\(?[imsU\-]+\)")
_ESCAPED_PAREN = "\\("

BASE_FILE_NAME = "grokky-base"


def _pygrok_base_file() -> Path | None:
    try:
        import pygrok
    except ImportError:  # pragma: no cover - pygrok is a declared dependency
        return None
    path = Path(pygrok.__file__).resolve().parent / "patterns" / "grok-patterns"
    return path if path.is_file() else None


def capture_count(literal: str) -> int:
    """Number of capture groups CrowdSec assumes `literal` opens (a heuristic)."""
    return (
        literal.count(_OPEN_PAREN)
        - len(_FLAG_SCOPE_OPENER.findall(literal))
        - len(_FLAG_GROUP_LIKE.findall(literal))
        - literal.count(_ESCAPED_PAREN)
    )


@dataclass(frozen=True)
class _Expansion:
    """A pattern expanded to RE2 text: `semantics` maps name -> group number in `regex`."""

    regex: str
    semantics: dict
    group_count: int


class GrokPattern:
    """A compiled grok expression.

    `match(text)` returns `{semantic: text}` of the first match (search, not
    anchored), with "" for groups that did not participate, or None when the
    regex does not match or the pattern has no semantic at all (spec §3.2).
    It is on the hot path (several groks per line, most of them failing), so
    it is a closure specialised at compile time rather than a generic method.
    """

    __slots__ = ("source", "regex", "semantics", "required", "match")

    def __init__(self, source: str, regex: str, compiled, semantics: dict, required: str = ""):
        self.source = source
        #: The expanded RE2 text (before the Python translation).
        self.regex = regex
        #: semantic name -> capture group number (0 = the whole match).
        self.semantics = dict(semantics)
        #: A substring every matching text contains ("" = none known); checked
        #: before the regex search. It never changes a result, it only skips
        #: searches that cannot succeed.
        self.required = required
        self.match = _matcher(compiled, self.semantics, required, regex)

    def __reduce__(self):
        # `match` is a closure: pickle/deepcopy rebuild it from the regex text.
        return (_rebuild_grok, (self.source, self.regex, self.semantics, self.required))

    def __repr__(self):
        return f"GrokPattern({self.source!r})"


def _rebuild_grok(source, regex, semantics, required):
    return GrokPattern(source, regex, compile_re2(regex), semantics, required)


def _matcher(compiled, semantics: dict, required: str, re2_text: str | None = None):
    """Build the `match(text)` function of one GrokPattern.

    Exact fast paths: the regex is recompiled with only the groups a
    semantic reads, and guards on costly alternations (`compile_re2_lean`,
    when `re2_text` is given: the same matches, far less work); a regex that
    can only match at the start of the text (`anchored_at_start`) is run with
    `match` instead of `search`, which otherwise retries at every position
    when the `^` sits inside a group; and the result map is built with
    `dict(zip(..))` from `groups("")` (lean regex) or when no group is None.
    """
    if not semantics:
        return lambda text: None  # an empty result map means failure

    # The capcount heuristic can point outside the regex's groups (e.g. a
    # negative count): such semantics always read "".
    valid = {name: index for name, index in semantics.items() if 0 <= index <= compiled.groups}
    always_empty = {name: "" for name in semantics if name not in valid}
    slim = None
    if re2_text is not None and isinstance(compiled, re.Pattern):
        slim = compile_re2_lean(re2_text, tuple(sorted(set(valid.values()))))
        if slim is not None:
            compiled, renumbered = slim
            valid = {name: renumbered[index] for name, index in valid.items()}
    search = compiled.match if anchored_at_start(compiled) else compiled.search
    names = tuple(valid)
    indices = tuple(valid.values())

    if slim is not None and not always_empty and len(indices) >= 2 and 0 not in indices:
        # The lean regex holds only the groups read: `groups("")` gives them
        # all at once, "" for those that did not participate (as `or ""`
        # does below), and `pick` puts them in the order of `names`.
        pick = operator.itemgetter(*(index - 1 for index in indices))

        def match(text):
            if required and required not in text:
                return None
            found = search(text)
            if found is None:
                return None
            return dict(zip(names, pick(found.groups(""))))
    elif always_empty or len(indices) < 2:
        def match(text):
            if required and required not in text:
                return None
            found = search(text)
            if found is None:
                return None
            result = dict(always_empty)
            for name, index in zip(names, indices):
                result[name] = found.group(index) or ""
            return result
    else:
        def match(text):
            if required and required not in text:
                return None
            found = search(text)
            if found is None:
                return None
            values = found.group(*indices)
            if None in values:  # a group that did not participate reads ""
                return {name: value or "" for name, value in zip(names, values)}
            return dict(zip(names, values))
    return match


def anchored_at_start(compiled) -> bool:
    """True when `compiled` (an `re.Pattern`) can only match at position 0.

    Then `search(text)` and `match(text)` give the same result, and `match`
    does not retry at every position. Decided on Python's own parse of the
    pattern: its first element is `^` or `\\A` (possibly inside leading
    groups, never under a repetition or an alternation) and MULTILINE is
    off. Anything else (including `regex`-module patterns) answers False.
    """
    if not isinstance(compiled, re.Pattern) or compiled.flags & re.MULTILINE:
        return False
    if not compiled.pattern.startswith(("^", "(", "\\A")):
        return False  # starts with a literal or a class: no need to parse it
    try:
        parsed = _sre_parser.parse(compiled.pattern, compiled.flags)
    except Exception:  # pragma: no cover - it compiled, so it parses
        return False
    if parsed.state.flags & re.MULTILINE:
        return False
    items = list(parsed)
    while items:
        op, argument = items[0]
        if op is _SRE.AT:
            return argument in (_SRE.AT_BEGINNING, _SRE.AT_BEGINNING_STRING)
        if op is _SRE.SUBPATTERN:
            # (group, add_flags, del_flags, subpattern); a scoped (?m:...) could
            # make `^` multi-line.
            if argument[1] & re.MULTILINE:
                return False
            items = list(argument[3])
            continue
        return False
    return False


class PatternLibrary:
    """Named grok patterns (one "pattern host") plus caches of their expansions."""

    def __init__(self, *, fallback_definitions: dict | None = None):
        #: name -> RE2 text with `%{..}` references, as defined.
        self.definitions: dict[str, str] = {}
        #: name -> where it was defined (file path or "pattern_syntax").
        self.origins: dict[str, str] = {}
        self._expansions: dict[str, _Expansion] = {}
        self._compiled: dict[str, GrokPattern] = {}
        # Standard patterns used only for references nothing else defines.
        self._fallback = dict(fallback_definitions or {})

    # -- loading --------------------------------------------------------------
    @classmethod
    def load(cls, pattern_dirs, *, fallback_base: bool = True) -> "PatternLibrary":
        """Load pattern files from `pattern_dirs` (see the module docstring)."""
        dirs = [Path(d) for d in pattern_dirs]
        base_files = [d / BASE_FILE_NAME for d in dirs if (d / BASE_FILE_NAME).is_file()]
        fallback = {}
        if not base_files and fallback_base:
            pygrok_file = _pygrok_base_file()
            if pygrok_file is not None:
                fallback = {name: regex for name, regex, _ in _read_pattern_file(pygrok_file)}
        library = cls(fallback_definitions=fallback)
        for path in base_files:
            library.add_file(path)
        for directory in dirs:
            if not directory.is_dir():
                raise ConfigError("pattern directory does not exist", file=directory)
            for name in sorted(os.listdir(directory)):
                path = directory / name
                if "." in name or name == BASE_FILE_NAME or not path.is_file():
                    continue
                library.add_file(path)
        return library

    def add_file(self, path) -> None:
        """Add every pattern of one file; references may point further down the file."""
        path = Path(path)
        entries = _read_pattern_file(path)
        pending: dict[str, str] = {}
        for name, regex, line_number in entries:
            if name in pending or name in self.definitions:
                earlier = f"line {line_number}, already defined in " + (
                    str(path) if name in pending else self.origins[name]
                )
                raise ConfigError(f"pattern already exists ({earlier})", file=path, item=name)
            pending[name] = regex
        # Add in dependency order: a pattern goes in once all it references exist.
        while pending:
            progress = False
            for name, regex in list(pending.items()):
                if any(ref in pending for ref in _references(regex)):
                    continue  # waits for a pattern defined further down this file
                self._define(name, regex, origin=str(path), where=f"{path}, pattern {name!r}")
                del pending[name]
                progress = True
            if not progress:
                name = next(iter(pending))
                raise ConfigError(
                    "reference cycle between patterns " + ", ".join(sorted(pending)),
                    file=path,
                    item=name,
                )

    def add(self, name: str, regex: str, ignore_existing: bool = True, *, where: str = "") -> bool:
        """Define one pattern (node `pattern_syntax`). Returns False when it already
        existed and was ignored (first definition wins)."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigError(f"{_prefix(where)}invalid grok pattern name {name!r}")
        if not isinstance(regex, str):
            raise ConfigError(f"{_prefix(where)}grok pattern {name!r} must be a string")
        if name in self.definitions:
            if ignore_existing:
                return False
            raise ConfigError(f"{_prefix(where)}grok pattern {name!r} already exists")
        self._define(
            name, regex, origin=where or "pattern_syntax", where=where or f"pattern {name!r}", full_compile=True
        )
        return True

    def __contains__(self, name) -> bool:
        return name in self.definitions

    def __len__(self) -> int:
        return len(self.definitions)

    # -- compiling ----------------------------------------------------------------
    def compile(self, pattern: str, where: str = "") -> GrokPattern:
        """Expand and compile a grok expression (cached per expression text)."""
        if not isinstance(pattern, str):
            raise ConfigError(f"{_prefix(where)}grok pattern must be a string, not {type(pattern).__name__}")
        cached = self._compiled.get(pattern)
        if cached is not None:
            return cached
        try:
            expansion = self._expand(pattern, where)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in grok {pattern!r})") from None
        compiled = self._compile_regex(expansion.regex, pattern, where)
        grok = GrokPattern(pattern, expansion.regex, compiled, expansion.semantics,
                           required_literal(pattern, expansion.regex, self.definitions))
        self._compiled[pattern] = grok
        return grok

    def compile_named(self, name: str, where: str = "") -> GrokPattern:
        """The grok of a library pattern by name (grok `name:` key)."""
        if not self._known(name):
            raise ConfigError(f"{_prefix(where)}unknown grok pattern {name!r}")
        return self.compile("%{" + name + "}", where)

    def expanded(self, name: str) -> str:
        """The fully expanded RE2 text of a library pattern (for explain/debugging)."""
        return self._library_expansion(name, where="").regex

    # -- internals ----------------------------------------------------------------
    def _known(self, name: str) -> bool:
        return name in self.definitions or name in self._fallback

    def _define(self, name, regex, *, origin, where, full_compile=False):
        """Register one pattern after checking it.

        Pattern files are checked with the RE2 translation only (syntax and
        group count): compiling ~400 large expansions with Python's `re`
        costs about a second per process, and every grok that uses a pattern
        is fully compiled by `compile()` at load time anyway. `pattern_syntax`
        entries (`add`) are fully compiled right away.
        """
        # Registered before expanding so that a self-reference is detected.
        self.definitions[name] = regex
        self.origins[name] = origin
        try:
            expansion = self._expand(regex, where)
            if full_compile:
                self._compile_regex(expansion.regex, regex, where)
            # The group count is the real one of the regex (CrowdSec uses the
            # regexp's NumSubexp), not the capcount heuristic.
            group_count = self._group_count(expansion.regex, regex, where)
        except ConfigError:
            del self.definitions[name]
            del self.origins[name]
            raise
        self._expansions[name] = _Expansion(expansion.regex, expansion.semantics, group_count)

    def _library_expansion(self, name: str, where: str) -> _Expansion:
        expansion = self._expansions.get(name)
        if expansion is not None:
            return expansion
        if name not in self.definitions:
            if name not in self._fallback:
                raise ConfigError(f"{_prefix(where)}unknown grok pattern {name!r}")
            # Pull the standard pattern in (its own references first, recursively).
            self._define(
                name,
                self._fallback[name],
                origin="pygrok standard patterns",
                where=f"pygrok standard pattern {name!r}",
            )
            return self._expansions[name]
        raise ConfigError(f"{_prefix(where)}grok pattern {name!r} references itself")

    def _expand(self, expr: str, where: str) -> _Expansion:
        """spec §3.4 step by step; group numbers are relative to the returned regex."""
        references = list(_REFERENCE.finditer(expr))
        if not references:
            return _Expansion(expr, {}, 0)
        top_level = {ref.group(2) for ref in references if ref.group(2)}
        parts = []
        semantics: dict[str, int] = {}
        order = 1
        position = 0
        for ref in references:
            literal = expr[position : ref.start()]
            parts.append(literal)
            order += capture_count(literal)
            name, semantic = ref.group(1), ref.group(2)
            sub = self._library_expansion(name, where)
            parts.append("(" + sub.regex + ")")
            if semantic:
                semantics.pop(semantic, None)  # re-insert: the last occurrence wins
                semantics[semantic] = order
            for nested, index in sub.semantics.items():
                if nested not in top_level:
                    semantics.pop(nested, None)
                    semantics[nested] = order + index
            order += sub.group_count + 1
            position = ref.end()
        parts.append(expr[position:])
        return _Expansion("".join(parts), semantics, 0)

    @staticmethod
    def _group_count(regex: str, source: str, where: str) -> int:
        try:
            return re2_group_count(regex)
        except re.error as exc:
            raise ConfigError(f"{_prefix(where)}invalid grok regex {source!r}: {exc}") from None

    @staticmethod
    def _compile_regex(regex: str, source: str, where: str):
        try:
            return compile_re2(regex)
        except (re.error, ValueError, OverflowError, RecursionError) as exc:
            raise ConfigError(f"{_prefix(where)}invalid grok regex {source!r}: {exc}") from None


_CASE_INSENSITIVE_FLAG = re.compile(r"\(\?[a-zA-Z]*i[a-zA-Z]*(?:-[a-zA-Z]*)?[:)]")
_METACHARACTERS = set("\\^$.|?*+()[]{}")
_QUANTIFIERS_MAKING_OPTIONAL = set("?*{")
_REPETITION = re.compile(r"\{[0-9]+(?:,[0-9]*)?\}")


def required_literal(expr: str, expanded: str, definitions=None) -> str:
    """The longest run of plain characters that every match of `expr` contains.

    Conservative: only literal text at the top level of the grok expression
    (outside groups, classes and references) counts; a top-level `|`, a
    case-insensitive flag anywhere, or anything unusual gives "" (no
    requirement). A character followed by `?`, `*` or `{` is optional and
    ends the run without being part of it.

    With `definitions` (pattern name -> definition text), a top-level
    reference that is not quantified counts too: it expands to a group that
    must match, so whatever its definition requires, `expr` requires
    (`%{SSHD_FAIL}` requires "Failed "). Checked recursively.
    """
    if _CASE_INSENSITIVE_FLAG.search(expanded):
        return ""
    return _required_run(expr, definitions or {}, 0)


#: Deeper references are not worth following (and definitions cannot be cyclic).
_MAX_REFERENCE_DEPTH = 16


def _required_run(expr: str, definitions, level: int) -> str:
    """`required_literal` without the case-insensitivity check (see there)."""
    best, run = "", []
    depth, i, n = 0, 0, len(expr)

    def close_run():
        nonlocal best, run
        if len(run) > len(best):
            best = "".join(run)
        run = []

    while i < n:
        reference = _REFERENCE.match(expr, i) if expr[i] == "%" else None
        if reference:
            close_run()
            i = reference.end()
            definition = definitions.get(reference.group(1))
            if (depth == 0 and definition is not None and level < _MAX_REFERENCE_DEPTH
                    and not _is_quantified(expr, i)):
                inner = _required_run(definition, definitions, level + 1)
                if len(inner) > len(best):
                    best = inner
            continue
        char = expr[i]
        if char == "\\":
            if i + 1 >= n:
                return ""
            escaped = expr[i + 1]
            if depth == 0 and not escaped.isalnum() and escaped.isascii():
                run.append(escaped)
            else:
                close_run()  # \d, \s, \b, \x41, \Q...: not a plain character
                if escaped == "Q":
                    return ""  # quoted text: not worth the complexity
            i += 2
            continue
        if char == "[":
            close_run()
            i = skip_class(expr, i)
            continue
        if char == "(":
            close_run()
            depth += 1
        elif char == ")":
            close_run()
            depth -= 1
            if depth < 0:
                return ""
        elif char == "|" and depth == 0:
            return ""  # top-level alternation: no single requirement
        elif char in _QUANTIFIERS_MAKING_OPTIONAL:
            repetition = _REPETITION.match(expr, i) if char == "{" else None
            if char == "{" and repetition is None:
                close_run()  # a literal "{" in RE2: simply not used
            else:
                if run:
                    run.pop()  # the quantified character may be absent
                close_run()
                if repetition is not None:
                    i = repetition.end()
                    continue
        elif char in _METACHARACTERS:
            close_run()
        elif depth == 0:
            run.append(char)
        i += 1
    close_run()
    return best if depth == 0 else ""


def _is_quantified(expr: str, i: int) -> bool:
    """Whether the element ending before expr[i] is made optional or repeated
    by a quantifier that allows zero (`?`, `*`, `{n,m}`; `+` keeps it required)."""
    if i >= len(expr):
        return False
    char = expr[i]
    if char in "?*":
        return True
    return char == "{" and _REPETITION.match(expr, i) is not None


def _references(regex: str) -> list[str]:
    return [ref.group(1) for ref in _REFERENCE.finditer(regex)]


def _prefix(where: str) -> str:
    return f"{where}: " if where else ""


def _read_pattern_file(path: Path) -> list[tuple[str, str, int]]:
    """(name, regex, line number) of every pattern line of a file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read pattern file: {exc}", file=path) from None
    entries = []
    for number, line in enumerate(text.split("\n"), start=1):
        matched = _PATTERN_LINE.match(line)
        if matched:
            entries.append((matched.group(1), matched.group(2), number))
    return entries
