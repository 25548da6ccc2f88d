"""Tokenizer for the expression language (spec/expr.md §1.1).

Produces a list of `Token(kind, value, pos)` where kind is one of
"num" (value: int or float), "str" (value: decoded text), "name" (identifier or
word operator), "ptr" (`#`, `#index`, `#acc`: value is the text after `#`),
"op" (punctuation operator) and "eof".
"""

from __future__ import annotations

import re
from typing import NamedTuple

from crowdsec_mp.engine.expr.errors import ExprSyntaxError


class Token(NamedTuple):
    kind: str
    value: object
    pos: int


# Longest first so that "??" wins over "?" and "**" over "*".
_OPERATORS = (
    "?.", "??", "**", "..", "==", "!=", "<=", ">=", "&&", "||",
    "?", ":", "^", "*", "/", "%", "+", "-", ".", "<", ">", "!", "|",
    "(", ")", "[", "]", "{", "}", ",", ";", "=",
)

# "?." is not an operator when a digit follows (`a ?.5 : 1` is a ternary).
_OPERATOR_RE = re.compile(r"\?\.(?![0-9])|" + "|".join(
    re.escape(op) for op in _OPERATORS if op != "?."))

_HEX_DIGITS = "0123456789abcdefABCDEF"
_SIMPLE_ESCAPES = {
    "n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'",
    "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}

# Tokens after which a "." followed by a digit is a member access, not a float.
_OPERAND_END = ("num", "str", "name", "ptr")


_TOKEN_RE = re.compile(r"""
    (?P<ws>[ \t\r\n\f\v]+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<num>0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+
           |(?:[0-9][0-9_]*(?:\.(?!\.)[0-9_]*)?|\.[0-9][0-9_]*)(?:[eE][+-]?[0-9]+)?)
  | (?P<str>"[^"\\\n]*"|'[^'\\\n]*')
  | (?P<raw>`[^`]*`)
  | (?P<ptr>\#[^\W]*)
  | (?P<name>[^\W\d]\w*|\$\w*)
""", re.VERBOSE | re.DOTALL)


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    append = tokens.append
    pos = 0
    end = len(source)
    token_match = _TOKEN_RE.match
    operator_match = _OPERATOR_RE.match
    while pos < end:
        match = token_match(source, pos)
        kind = match.lastgroup if match is not None else None
        if kind == "ws" or kind == "comment":
            pos = match.end()
            continue
        if kind == "name":
            append(Token("name", match.group(), pos))
            pos = match.end()
            continue
        if kind == "str":
            append(Token("str", match.group()[1:-1], pos))
            pos = match.end()
            continue
        if kind == "num" and not (source[pos] == "." and _after_operand(tokens)):
            append(_number_token(match.group(), pos))
            pos = match.end()
            if pos < end and (source[pos].isalnum() or source[pos] in "_$"):
                raise ExprSyntaxError(f"invalid number {source[match.start():pos + 1]!r}", pos)
            continue
        if kind == "ptr":
            append(Token("ptr", match.group()[1:], pos))
            pos = match.end()
            continue
        if kind == "raw":
            append(Token("str", match.group()[1:-1], pos))
            pos = match.end()
            continue
        ch = source[pos]
        if ch in "\"'":
            text, new_pos = _read_quoted(source, pos)
            append(Token("str", text, pos))
            pos = new_pos
            continue
        if ch == "`":
            raise ExprSyntaxError("unterminated raw string", pos)
        if source.startswith("/*", pos):
            raise ExprSyntaxError("unterminated comment", pos)
        match = operator_match(source, pos)
        if match is None:
            raise ExprSyntaxError(f"unexpected character {ch!r}", pos)
        append(Token("op", match.group(), pos))
        pos = match.end()
    tokens.append(Token("eof", None, end))
    return tokens


def _number_token(text: str, pos: int) -> Token:
    clean = text.replace("_", "")
    try:
        if clean[:2].lower() in ("0x", "0o", "0b"):
            value = int(clean[2:], {"x": 16, "o": 8, "b": 2}[clean[1].lower()])
        elif any(c in clean for c in ".eE"):
            value = float(clean)
        else:
            value = int(clean)
    except ValueError:
        raise ExprSyntaxError(f"invalid number {text!r}", pos) from None
    return Token("num", value, pos)


def _after_operand(tokens: list[Token]) -> bool:
    if not tokens:
        return False
    last = tokens[-1]
    return last.kind in _OPERAND_END or (last.kind == "op" and last.value in (")", "]", "}"))


def _read_quoted(source: str, pos: int) -> tuple[str, int]:
    """Decode a quoted literal like Go's strconv.Unquote: `\\xHH` and octal
    escapes are *bytes* (a run of them is decoded as UTF-8, invalid bytes
    kept as surrogate escapes), `\\u`/`\\U` are code points."""
    quote = source[pos]
    out: list[str] = []
    pending = bytearray()  # consecutive byte escapes

    def flush():
        if pending:
            out.append(pending.decode("utf-8", "surrogateescape"))
            pending.clear()

    i = pos + 1
    end = len(source)
    while i < end:
        ch = source[i]
        if ch == quote:
            flush()
            return "".join(out), i + 1
        if ch == "\n":
            break
        if ch != "\\":
            flush()
            out.append(ch)
            i += 1
            continue
        if i + 1 >= end:
            break
        esc = source[i + 1]
        if esc == "x":
            digits = source[i + 2:i + 4]
            if len(digits) != 2 or any(c not in _HEX_DIGITS for c in digits):
                raise ExprSyntaxError(f"invalid escape \\x{digits}", i)
            pending.append(int(digits, 16))
            i += 4
        elif esc in "01234567":
            digits = source[i + 1:i + 4]
            if len(digits) != 3 or any(c not in "01234567" for c in digits):
                raise ExprSyntaxError(f"invalid octal escape \\{digits}", i)
            code = int(digits, 8)
            if code > 255:
                raise ExprSyntaxError(f"octal escape \\{digits} out of range", i)
            pending.append(code)
            i += 4
        elif esc in _SIMPLE_ESCAPES:
            flush()
            out.append(_SIMPLE_ESCAPES[esc])
            i += 2
        elif esc in "uU":
            flush()
            width = 4 if esc == "u" else 8
            digits = source[i + 2:i + 2 + width]
            if len(digits) != width or any(c not in _HEX_DIGITS for c in digits):
                raise ExprSyntaxError(f"invalid escape \\{esc}{digits}", i)
            code = int(digits, 16)
            if code > 0x10FFFF or 0xD800 <= code <= 0xDFFF:
                raise ExprSyntaxError(f"escape \\{esc}{digits} is not a valid code point", i)
            out.append(chr(code))
            i += 2 + width
        else:
            raise ExprSyntaxError(f"invalid escape \\{esc}", i)
    raise ExprSyntaxError("unterminated string literal", pos)
