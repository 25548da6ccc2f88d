"""Go RE2 regular expressions, run by Python (spec/parsers.md §3.5).

CrowdSec compiles grok patterns, `matches`, `RegexpInFile` and data-file regexps
with RE2 syntax. Match semantics are leftmost-first like Python's backtracking
engine, so the same text gives the same captures; only the *syntax* and a few
class definitions differ. `translate_re2` rewrites an RE2 pattern into an
equivalent Python pattern and `compile_re2` compiles (and caches) it.

What the translation does, and why:

* `re.ASCII` is always on: RE2's `\\w \\d \\b` are ASCII-only.
* `$` outside multi-line mode becomes `\\Z`: RE2's `$` is the end of the text,
  Python's also matches before a final newline.
* `\\s` / `\\S` become explicit classes: RE2's `\\s` is `[\\t\\n\\f\\r ]` (no `\\v`).
  Inside a bracket class `\\s` expands to the same characters; `\\S` inside a
  bracket class is kept as Python's (differs only on `\\v`).
* An inline flag group `(?flags)` anywhere but at the very start: RE2 applies it
  to the rest of the enclosing group; Python >= 3.11 rejects it. It becomes a
  scoped group `(?flags:...)` that is closed before every `|` of the same group
  and reopened after it, and closed where the enclosing group ends, so the
  alternation structure is unchanged.
* Named groups `(?P<n>` and `(?<n>` become plain capturing `(`: group numbers stay
  identical (grok reads groups by number) and RE2 allows duplicate names.
* POSIX classes `[[:alpha:]]`, `\\Q...\\E`, `\\x{HHHH}`, `\\z`, octal escapes and
  the RE2 literal `x{,n}` are rewritten to their Python spelling.
* `\\pL`, `\\p{Greek}`, `\\PN`... have no `re` spelling: such patterns are compiled
  with the third-party `regex` module, which understands them (without its ASCII
  flag, which would make `\\p{..}` ASCII too; `\\d \\w \\b` are written out instead).
* Constructs RE2 rejects (backreferences `\\1`, `(?U)`, `\\C`, repetition
  counts > 1000) raise `re.error` with a message naming the problem.
  Lookarounds and atomic groups, which RE2 also rejects, are passed through to
  Python (spec §3.5: no hub pattern contains them; pygrok's pattern set does).

Nothing here is specific to grok; the expression engine uses it for `matches`.
"""

from __future__ import annotations

import re
import warnings
from functools import lru_cache

try:  # only needed for Unicode property classes (\pL...), which the hub never uses
    import regex as _regex_module
except ImportError:  # pragma: no cover - regex is a declared dependency
    _regex_module = None

#: RE2's \s, written out (Python's \s also matches \v).
_RE2_SPACE_CHARS = "\\t\\n\\f\\r "

#: POSIX bracket classes, ASCII as in RE2.
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}

_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?([:)])")
_NAMED_GROUP = re.compile(r"\(\?P?<([A-Za-z_][A-Za-z0-9_]*)>")
_PYTHON_ONLY_GROUP = re.compile(r"\(\?(?:=|!|<=|<!|>)")
_REPEAT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_HEX_BRACED = re.compile(r"\\x\{([0-9A-Fa-f]+)\}")
_RE2_FLAGS = set("imsU")
_WORD = "0-9A-Za-z_"
#: ASCII spellings of the Perl classes for the `regex` module: (in a class, outside).
_ASCII_ESCAPES = {
    "d": ("0-9", "[0-9]"),
    "D": (None, "[^0-9]"),
    "w": (_WORD, f"[{_WORD}]"),
    "W": (None, f"[^{_WORD}]"),
    "b": (None, f"(?:(?<=[{_WORD}])(?![{_WORD}])|(?<![{_WORD}])(?=[{_WORD}]))"),
    "B": (None, f"(?:(?<=[{_WORD}])(?=[{_WORD}])|(?<![{_WORD}])(?![{_WORD}]))"),
}
_MAX_REPEAT = 1000


def _char_escape(codepoint: int) -> str:
    """A Python escape for one code point, valid inside and outside classes."""
    if codepoint > 0x10FFFF:
        raise re.error(f"invalid code point \\x{{{codepoint:X}}} (above 10FFFF)")
    if codepoint <= 0xFF:
        return f"\\x{codepoint:02x}"
    if codepoint <= 0xFFFF:
        return f"\\u{codepoint:04x}"
    return f"\\U{codepoint:08x}"


class _Translator:
    """One left-to-right pass over an RE2 pattern, emitting Python syntax."""

    def __init__(self, pattern: str, explicit_ascii: bool = False, multiline: bool = False):
        self.src = pattern
        # True when compiling with the `regex` module, which has no ASCII mode
        # that keeps \\p{..} Unicode: \\d \\w \\b are then written out in ASCII.
        self.explicit_ascii = explicit_ascii
        self.pos = 0
        self.out: list[str] = []
        # One entry per open group (index 0 = the whole pattern): the flags of
        # mid-group `(?flags)` seen so far in that group, as (on, off) strings,
        # each currently emitted as an open `(?flags:` scope.
        self.scopes: list[list[tuple[str, str]]] = [[]]
        # Whether (?m) is in effect, per open group: RE2's `$` is the end of
        # the text unless multi-line (Python's `$` also matches before a final
        # newline), so `$` becomes `\Z` outside multi-line mode.
        self.multiline: list[bool] = [multiline]
        self.uses_unicode_properties = False
        #: Capturing groups seen (plain and named), in RE2 numbering order.
        self.group_count = 0

    def fail(self, message: str):
        raise re.error(f"{message} at position {self.pos} in {self.src!r}")

    def run(self) -> str:
        src = self.src
        while self.pos < len(src):
            char = src[self.pos]
            if char == "\\":
                self.escape(in_class=False)
            elif char == "[":
                self.bracket_class()
            elif char == "(":
                self.open_group()
            elif char == ")":
                if len(self.scopes) == 1:
                    self.fail("unbalanced ')'")
                self.close_scopes(self.scopes.pop())
                self.multiline.pop()
                self.out.append(")")
                self.pos += 1
            elif char == "|":
                scopes = self.scopes[-1]
                self.close_scopes(scopes)
                self.out.append("|")
                self.reopen_scopes(scopes)
                self.pos += 1
            elif char == "{":
                self.brace()
            elif char == "$":
                self.out.append("$" if self.multiline[-1] else "\\Z")
                self.pos += 1
            else:
                self.out.append(char)
                self.pos += 1
        if len(self.scopes) != 1:
            self.fail("missing ')'")
        self.close_scopes(self.scopes[0])
        return "".join(self.out)

    # -- groups -------------------------------------------------------------
    def close_scopes(self, scopes):
        self.out.append(")" * len(scopes))

    def reopen_scopes(self, scopes):
        for on, off in scopes:
            self.out.append(f"(?{on}-{off}:" if off else f"(?{on}:")

    def open_group(self):
        src, pos = self.src, self.pos
        inherited = self.multiline[-1]
        if not src.startswith("(?", pos):
            self.group_count += 1
            self.multiline.append(inherited)
            self.scopes.append([])
            self.out.append("(")
            self.pos += 1
            return
        named = _NAMED_GROUP.match(src, pos)
        if named:
            self.group_count += 1
            self.multiline.append(inherited)
            self.scopes.append([])
            self.out.append("(")
            self.pos = named.end()
            return
        python_only = _PYTHON_ONLY_GROUP.match(src, pos)
        if python_only:
            # Lookarounds / atomic groups: RE2 rejects them, Python runs them. Kept
            # so that Oniguruma-style pattern sets (pygrok's) work; hub patterns
            # never contain them.
            self.multiline.append(inherited)
            self.scopes.append([])
            self.out.append(python_only.group(0))
            self.pos = python_only.end()
            return
        flags = _FLAG_GROUP.match(src, pos)
        if not flags:
            self.fail("unsupported group syntax (RE2 allows only (?:, (?flags), (?P<name>, (?<name>)")
        on, off, end = flags.group(1), flags.group(2) or "", flags.group(3)
        for flag in on + off:
            if flag not in _RE2_FLAGS:
                self.fail(f"invalid flag {flag!r} in group")
            if flag == "U":
                self.fail("the ungreedy flag (?U) has no Python equivalent")
        if flags.group(2) is not None and not off:
            self.fail("missing flags after '-'")
        if end == ")" and not on and not off:
            self.fail("empty flag group '(?)'")
        self.pos = flags.end()
        multiline = False if "m" in off else (True if "m" in on else inherited)
        if end == ":":
            self.multiline.append(multiline)
            self.scopes.append([])
            self.out.append(src[pos:self.pos])
            return
        self.multiline[-1] = multiline
        if pos == 0:
            # Leading global flags are valid Python as they are.
            self.out.append(src[pos:self.pos])
            return
        # Mid-pattern `(?flags)`: scope it to the rest of the enclosing group.
        self.scopes[-1].append((on, off))
        self.reopen_scopes([(on, off)])

    # -- escapes ------------------------------------------------------------
    def escape(self, in_class: bool):
        src = self.src
        if self.pos + 1 >= len(src):
            self.fail("trailing backslash")
        letter = src[self.pos + 1]
        if letter == "s":
            self.out.append(_RE2_SPACE_CHARS if in_class else f"[{_RE2_SPACE_CHARS}]")
            self.pos += 2
        elif letter == "S" and not in_class:
            self.out.append(f"[^{_RE2_SPACE_CHARS}]")
            self.pos += 2
        elif letter == "z" and not in_class:
            self.out.append("\\Z")
            self.pos += 2
        elif letter == "Q":
            end = src.find("\\E", self.pos + 2)
            literal = src[self.pos + 2 :] if end < 0 else src[self.pos + 2 : end]
            self.out.append("".join(self.literal_char(c, in_class) for c in literal))
            self.pos = len(src) if end < 0 else end + 2
        elif letter == "E":
            self.pos += 2  # a stray \E is ignored by RE2
        elif letter == "x" and src.startswith("{", self.pos + 2):
            braced = _HEX_BRACED.match(src, self.pos)
            if not braced:
                self.fail("invalid \\x{...} escape")
            self.out.append(_char_escape(int(braced.group(1), 16)))
            self.pos = braced.end()
        elif letter in "pP":
            self.unicode_property(letter)
        elif self.explicit_ascii and letter in _ASCII_ESCAPES:
            inside, outside = _ASCII_ESCAPES[letter]
            if in_class and inside is None:
                self.fail(f"\\{letter} inside a class together with \\p{{..}} is not supported")
            self.out.append(inside if in_class else outside)
            self.pos += 2
        elif letter.isdigit():
            self.octal()
        elif letter == "C":
            self.fail("\\C (any byte) is not supported")
        else:
            self.out.append(src[self.pos : self.pos + 2])
            self.pos += 2

    @staticmethod
    def literal_char(char: str, in_class: bool) -> str:
        if in_class:
            return "\\" + char if char in "\\]^-[&~|" else char
        return re.escape(char)

    def unicode_property(self, letter: str):
        src = self.src
        start = self.pos
        if src.startswith("{", self.pos + 2):
            end = src.find("}", self.pos + 2)
            if end < 0:
                self.fail("missing '}' in \\p{...}")
            self.pos = end + 1
        else:
            if self.pos + 2 >= len(src):
                self.fail("missing Unicode class name after \\p")
            self.pos += 3
        self.uses_unicode_properties = True
        self.out.append(src[start : self.pos])

    def octal(self):
        src = self.src
        first = src[self.pos + 1]
        following = src[self.pos + 2 : self.pos + 3]
        if first in "123456789" and not (following.isdigit() and first in "1234567"):
            self.fail("backreferences are not supported by RE2")
        digits = re.match(r"[0-7]{1,3}", src[self.pos + 1 :])
        if not digits:
            self.fail("invalid escape")
        self.out.append(_char_escape(int(digits.group(0), 8)))
        self.pos += 1 + len(digits.group(0))

    # -- bracket classes ------------------------------------------------------
    def bracket_class(self):
        src = self.src
        self.pos += 1
        parts = ["["]
        if src.startswith("^", self.pos):
            parts.append("^")
            self.pos += 1
        first = True
        while True:
            if self.pos >= len(src):
                self.fail("missing ']'")
            char = src[self.pos]
            if char == "]" and not first:
                self.pos += 1
                break
            first = False
            if char == "[" and src.startswith("[:", self.pos):
                end = src.find(":]", self.pos + 2)
                name = src[self.pos + 2 : end] if end >= 0 else ""
                negated = name.startswith("^")
                ranges = _POSIX_CLASSES.get(name.lstrip("^"))
                if ranges is None:
                    self.fail(f"invalid POSIX class [:{name}:]")
                after = end + 2
                if negated:
                    # Only expressible as a whole class: [[:^alpha:]] -> [^A-Za-z].
                    if parts != ["["] or not src.startswith("]", after):
                        self.fail("a negated POSIX class must be alone in its brackets")
                    parts.append("^" + ranges)
                else:
                    parts.append(ranges)
                self.pos = after
            elif char == "\\":
                saved, self.out = self.out, []
                self.escape(in_class=True)
                parts.extend(self.out)
                self.out = saved
            elif char in "[&~|":
                # Literal in RE2; escaped so Python's set-operation warnings never fire.
                parts.append("\\" + char)
                self.pos += 1
            else:
                parts.append(char)
                self.pos += 1
        parts.append("]")
        self.out.append("".join(parts))

    # -- repetitions --------------------------------------------------------
    def brace(self):
        repeat = _REPEAT.match(self.src, self.pos)
        if not repeat or not repeat.group(1):
            # `{`, `{,n}`, `{x`: literal in RE2 (Python reads `{,n}` as a repetition).
            self.out.append("\\{")
            self.pos += 1
            return
        for number in (repeat.group(1), repeat.group(3)):
            if number and int(number) > _MAX_REPEAT:
                self.fail(f"repetition count above {_MAX_REPEAT}")
        self.out.append(repeat.group(0))
        self.pos = repeat.end()


def translate_re2(pattern: str) -> str:
    """The Python `re` spelling of an RE2 pattern (raises `re.error` when invalid RE2)."""
    return _translate(pattern, False)[0]


def re2_group_count(pattern: str) -> int:
    """Number of capturing groups of an RE2 pattern, without compiling it.

    Checks the RE2 syntax the translation understands (groups, classes,
    escapes, flags) and raises `re.error` like `compile_re2`; errors only the
    regex compiler finds (e.g. `a**`) are left to `compile_re2`.
    """
    return _translate(pattern, False)[2]


@lru_cache(maxsize=8192)
def _translate(pattern: str, multiline: bool) -> tuple[str, bool, int]:
    if not isinstance(pattern, str):
        raise TypeError(f"regular expression must be a string, not {type(pattern).__name__}")
    translator = _Translator(pattern, multiline=multiline)
    text = translator.run()
    if translator.uses_unicode_properties:
        # Second pass for the `regex` module (compiled without its ASCII flag).
        second_pass = _Translator(pattern, explicit_ascii=True, multiline=multiline)
        return second_pass.run(), True, translator.group_count
    return text, False, translator.group_count


@lru_cache(maxsize=8192)
def compile_re2(pattern: str, flags: int = 0):
    """Compile an RE2 pattern with RE2 semantics; cached per (pattern, flags).

    Returns a compiled `re.Pattern` (or a `regex.Pattern` when the pattern uses
    Unicode property classes). Invalid patterns raise `re.error` whose message
    names the pattern and the problem.
    """
    text, unicode_properties, _ = _translate(pattern, bool(flags & re.MULTILINE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            if unicode_properties:
                if _regex_module is None:  # pragma: no cover
                    raise re.error("Unicode property classes need the 'regex' module")
                return _regex_module.compile(text, flags | _regex_module.VERSION0)
            return re.compile(text, flags | re.ASCII)
        except re.error as exc:
            raise re.error(f"invalid regular expression {pattern!r}: {exc.msg}") from None
        except Exception as exc:  # the regex module raises its own error class
            raise re.error(f"invalid regular expression {pattern!r}: {exc}") from None


# -- dropping unread capture groups ---------------------------------------------

#: Python syntax that refers to a group by number or name: a pattern holding one
#: of these keeps all its groups (`(?(1)..)`, `(?P=n)`, `\1`, `(?P<n>`).
_GROUP_REFERENCE = re.compile(r"\(\?\(|\(\?P[=<]|\\[0-9]|\\g")


def _capturing_group_openings(python_text: str) -> list[int] | None:
    """Offsets of the `(` of every capturing group of a Python pattern, in
    group-number order, or None when the pattern refers to groups itself."""
    if _GROUP_REFERENCE.search(python_text):
        return None  # may also be a false alarm (e.g. `\\(?(`): simply not optimised
    openings = []
    i, n = 0, len(python_text)
    while i < n:
        char = python_text[i]
        if char == "\\":
            i += 2
        elif char == "[":
            i = skip_class(python_text, i)
        else:
            if char == "(" and not python_text.startswith("(?", i):
                openings.append(i)
            i += 1
    return openings


@lru_cache(maxsize=4096)
def compile_re2_lean(pattern: str, kept: tuple[int, ...]):
    """`compile_re2(pattern)` with every capturing group whose number is not in
    `kept` turned into a non-capturing `(?:...)`, and with lookahead guards
    on the costly alternations (`add_alternation_guards`, exact as well).

    Returns `(compiled, renumbered)` where `renumbered[old] == new` for each
    kept group (0, the whole match, stays 0), or None when the pattern is not
    a plain `re` pattern this can rewrite safely.

    Why it is exact: a capturing group and `(?:...)` around the same
    sub-pattern match the same strings with the same backtracking order; the
    only difference is that the engine records (and on backtracking saves and
    restores) the group's span. No construct in the rewritten text can read a
    group (back-references and conditionals are refused above), so the match
    found, and the span of every kept group, are unchanged. What it saves:
    Python's engine copies the recorded spans at each alternation or
    repetition it may backtrack into, which costs in proportion to the number
    of groups; expanded grok patterns have hundreds (IPV6 alone has ~80) and
    a grok reads a dozen.
    """
    python_text, unicode_properties, _ = _translate(pattern, False)
    if unicode_properties:
        return None  # compiled by the `regex` module: left as it is
    openings = _capturing_group_openings(python_text)
    full = compile_re2(pattern)
    if openings is None or len(openings) != full.groups:
        return None
    wanted = set(kept)
    parts, last = [], 0
    renumbered = {0: 0} if 0 in wanted else {}
    kept_count = 0
    for number, offset in enumerate(openings, start=1):
        if number in wanted:
            kept_count += 1
            renumbered[number] = kept_count
            continue
        parts.append(python_text[last:offset])
        parts.append("(?:")
        last = offset + 1
    parts.append(python_text[last:])
    slim_text = "".join(parts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            compiled = re.compile(add_alternation_guards(slim_text), full.flags)
        except (re.error, RecursionError, OverflowError):  # pragma: no cover - a guard `re` refuses
            compiled = re.compile(slim_text, full.flags)
    if compiled.groups != kept_count:  # pragma: no cover - the scan disagrees with re
        return None
    return compiled, renumbered


# -- lookahead guards on alternations ----------------------------------------------
#
# Python's engine tries the branches of an alternation one after the other.
# It skips a branch at once when the branch starts with a literal or a class
# that the next character does not match, but a branch starting with a group
# (IPV6: `((?:[0-9A-Fa-f]{1,4}:){7}...)|((?:[0-9A-Fa-f]{1,4}:){6}...)|...`) is
# entered and fails only after several steps, branch after branch.
#
# `add_alternation_guards` puts a lookahead `(?=g1|g2|...)` in front of such an
# alternation, where each `gi` is a cheap *necessary condition* of branch i:
# a pattern that matches at every position where branch i can match. Proof
# that the result is unchanged: when the alternation matches at position p,
# it does so through some branch i, so `gi` matches at p and the lookahead
# succeeds; a lookahead consumes nothing, holds no capturing group (the guard
# text is made non-capturing) and is not backtracked into, so the alternation
# then runs exactly as before. When the lookahead fails, no branch can match
# at p, and the alternation would have failed there anyway.
#
# How `gi` is built from the branch text (`_necessary_prefix`): the branch is a
# sequence of atoms a1 a2 ... ; any match of it is a concatenation of matches
# of a1, a2, ... in turn, so any leading run of atoms copied verbatim (with
# their quantifiers) matches at p too. A group atom that must occur at least
# once may be replaced by a necessary condition of its own content (one
# occurrence starts at p; for an alternation inside, the union of its
# branches' conditions), after which the guard stops, since that condition may
# match less than the group. An atom that may occur zero times ends the guard
# (included only verbatim, it would cost as much as the branch).

_QUANTIFIER = re.compile(r"\*\??|\+\??|\?\??|\{(\d*)(,?)(\d*)\}\??")
_ZERO_WIDTH_ESCAPES = frozenset("bBAZ")
_ESCAPE_LENGTHS = {"x": 4, "u": 6, "U": 10}
#: Guards are only worth it for alternations with at least this many branches.
_MIN_GUARDED_BRANCHES = 3
#: At most this many atoms are copied into one branch condition.
_MAX_GUARD_ATOMS = 4


class _NotGuardable(Exception):
    """A construct the guard builder does not handle: leave that alternation alone."""


def _structure(text: str, start: int = 0):
    """(index, char, depth after it) for each `(`, `)` and `|` of text[start:],
    skipping escaped characters and character classes."""
    depth, i, n = 0, start, len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            i = _class_end(text, i)
            continue
        if char in "()|":
            depth += {"(": 1, ")": -1, "|": 0}[char]
            yield i, char, depth
        i += 1


def _group_end(text: str, start: int) -> int:
    """Index just past the `)` closing the group opened at text[start]."""
    for i, char, depth in _structure(text, start):
        if char == ")" and depth == 0:
            return i + 1
    raise _NotGuardable("unbalanced group")


def skip_class(text: str, start: int) -> int:
    """Index just past the `]` closing the character class opened at
    text[start] (past the end of `text` when it is not closed). A `]` right
    after `[` or `[^` is a literal member."""
    i, n = start + 1, len(text)
    if i < n and text[i] == "^":
        i += 1
    if i < n and text[i] == "]":
        i += 1
    while i < n and text[i] != "]":
        i += 2 if text[i] == "\\" else 1
    return i + 1


def _class_end(text: str, start: int) -> int:
    """skip_class, for a class that must be closed."""
    end = skip_class(text, start)
    if end > len(text):
        raise _NotGuardable("unterminated class")
    return end


def _split_alternatives(text: str) -> list[str]:
    """The top-level branches of `text` (one element when it has no `|`)."""
    branches, last = [], 0
    for i, char, depth in _structure(text):
        if char == "|" and depth == 0:
            branches.append(text[last:i])
            last = i + 1
    branches.append(text[last:])
    return branches


def _group_opener(text: str, start: int) -> tuple[str, int]:
    """(kind, content start) of the group at text[start]: kind is "plain" for `(`
    and `(?:`, "flags" for a scoped `(?imsx-imsx:`, anything else raises."""
    if not text.startswith("(?", start):
        return "plain", start + 1
    if text.startswith("(?:", start):
        return "plain", start + 3
    flags = re.compile(r"\(\?[aiLmsux]*(?:-[imsx]+)?:").match(text, start)
    if flags:
        return "flags", flags.end()
    raise _NotGuardable("lookaround, atomic or other special group")


def _atom(text: str, i: int) -> tuple[int, str]:
    """(end, kind) of the atom at text[i]: kind is "group", "zero" (a zero-width
    assertion) or "char" (consumes exactly one character)."""
    char = text[i]
    if char == "(":
        return _group_end(text, i), "group"
    if char == "[":
        return _class_end(text, i), "char"
    if char == "\\":
        if i + 1 >= len(text):
            raise _NotGuardable("trailing backslash")
        letter = text[i + 1]
        if letter.isdigit() or letter in "gN":
            raise _NotGuardable("back-reference or named escape")
        if letter in _ZERO_WIDTH_ESCAPES:
            return i + 2, "zero"
        return i + _ESCAPE_LENGTHS.get(letter, 2), "char"
    if char in "^$":
        return i + 1, "zero"
    if char in "*+?{)|":
        raise _NotGuardable("unexpected character")
    return i + 1, "char"


def _quantifier(text: str, i: int) -> tuple[int, int]:
    """(end, minimum count) of the quantifier at text[i]; (i, 1) when there is none."""
    found = _QUANTIFIER.match(text, i)
    if found is None:
        return i, 1
    first = found.group(0)[0]
    if first in "*?":
        return found.end(), 0
    if first == "+":
        return found.end(), 1
    return found.end(), int(found.group(1) or 0)


def _non_capturing(text: str) -> str:
    openings = _capturing_group_openings(text)
    if openings is None:
        raise _NotGuardable("group reference")
    for offset in reversed(openings):
        text = text[:offset] + "(?:" + text[offset + 1:]
    return text


def _necessary_prefix(branch: str, depth: int = 0) -> str:
    """A pattern matching wherever `branch` matches (see the comment above);
    "" when no useful condition is found (no condition at all)."""
    if depth > 8:
        return ""
    parts, i, n = [], 0, len(branch)
    while i < n and len(parts) < _MAX_GUARD_ATOMS:
        atom_end, kind = _atom(branch, i)
        end, minimum = _quantifier(branch, atom_end)
        if kind == "zero":
            if end != atom_end:
                break  # a quantified assertion: odd, stop here
            parts.append(branch[i:end])
        elif kind == "char":
            if minimum == 0:
                break
            parts.append(branch[i:end])
        else:  # a group
            if minimum == 0:
                break
            opener, content_start = _group_opener(branch, i)
            inner = _necessary_alternation(branch[content_start:atom_end - 1], depth + 1)
            if inner:
                if opener == "flags":
                    inner = branch[i:content_start] + inner + ")"
                parts.append(inner)
            break  # a condition on part of the group: nothing after it can follow
        i = end
    if all(_atom(part, 0)[1] == "zero" for part in parts):
        return ""  # only assertions: not worth a lookahead
    return "".join(parts)


def _necessary_alternation(text: str, depth: int) -> str:
    """`_necessary_prefix` of each branch of `text`, as one non-capturing group
    (deduplicated); "" when one branch has no condition."""
    conditions = []
    for branch in _split_alternatives(text):
        condition = _necessary_prefix(branch, depth)
        if not condition:
            return ""
        if condition not in conditions:
            conditions.append(condition)
    return "(?:" + "|".join(_non_capturing(c) for c in conditions) + ")"


def add_alternation_guards(python_text: str) -> str:
    """`python_text` with a guard `(?=...)` at the start of every group that is
    an alternation of at least `_MIN_GUARDED_BRANCHES` branches, one of which
    does not start with a plain character or class (those the engine already
    skips at once). Matches, spans and groups are unchanged (proof above).
    Anything the builder does not understand is left as it was."""
    if _GROUP_REFERENCE.search(python_text):
        return python_text
    insertions = []  # (offset, text)
    i, n = 0, len(python_text)
    while i < n:
        char = python_text[i]
        if char == "\\":
            i += 2
            continue
        if char == "[":
            try:
                i = _class_end(python_text, i)
            except _NotGuardable:
                return python_text
            continue
        if char == "(":
            guard = _guard_for_group(python_text, i)
            if guard is not None:
                # Outermost alternations only: the groups inside it keep their text.
                insertions.append(guard)
                i = guard[1] + 1
                continue
        i += 1
    if not insertions:
        return python_text
    parts, last = [], 0
    for content_start, content_end, guard in insertions:
        parts.append(python_text[last:content_start])
        parts.append(f"(?={guard})(?:")
        parts.append(python_text[content_start:content_end])
        parts.append(")")
        last = content_end
    parts.append(python_text[last:])
    return "".join(parts)


def _starts_with_repeated_group(branch: str) -> bool:
    """Whether `branch` starts (possibly inside unquantified groups) with a
    quantified group: the slow case, which the engine enters before failing."""
    while branch:
        atom_end, kind = _atom(branch, 0)
        if kind != "group":
            return False
        end, _ = _quantifier(branch, atom_end)
        if end != atom_end:
            return True
        _, content_start = _group_opener(branch, 0)
        branch = branch[content_start:atom_end - 1]
    return False


def _guard_for_group(text: str, start: int):
    """(content start, content end, guard) for the group at text[start], or None."""
    try:
        _, content_start = _group_opener(text, start)
        content_end = _group_end(text, start) - 1
        content = text[content_start:content_end]
        branches = _split_alternatives(content)
        if len(branches) < _MIN_GUARDED_BRANCHES:
            return None
        if not any(_starts_with_repeated_group(branch) for branch in branches):
            return None  # the engine's own first-character test is about as good
        guard = _necessary_alternation(content, 0)
    except _NotGuardable:
        return None
    if not guard:
        return None
    return content_start, content_end, guard
