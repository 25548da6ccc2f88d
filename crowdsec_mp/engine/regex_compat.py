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
