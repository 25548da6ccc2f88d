"""Go `strings` package semantics used by builtins and CrowdSec helpers."""

from __future__ import annotations

import re

from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.values import kind_name, to_bytes

#: Characters for which Go's unicode.IsSpace is true.
GO_SPACE = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007" \
           "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_FIELDS_SPLIT = re.compile(f"[{re.escape(GO_SPACE)}]+")


def need_str(value, func: str, position: int = 1) -> str:
    """Type assertion of a string argument (Go helpers panic on anything else)."""
    if not isinstance(value, str):
        raise ExprRuntimeError(f"{func}(): argument {position} must be a string, "
                               f"got {kind_name(value)}")
    return value


def need_int(value, func: str, position: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise ExprRuntimeError(f"{func}(): argument {position} must be an int, "
                               f"got {kind_name(value)}")
    return value


def go_upper(text: str) -> str:
    if text.isascii():
        return text.upper()
    # Go maps rune by rune; characters without a single-rune upper case stay.
    return "".join(c if len(c.upper()) != 1 else c.upper() for c in text)


def go_lower(text: str) -> str:
    if text.isascii():
        return text.lower()
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def go_split(text: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < n < len(chars):
            return chars[:n - 1] + ["".join(chars[n - 1:])]
        return chars
    return text.split(sep, n - 1) if n > 0 else text.split(sep)


def go_split_after(text: str, sep: str, n: int = -1) -> list[str]:
    if n == 0:
        return []
    if sep == "":
        return go_split(text, sep, n)
    parts = go_split(text, sep, n)
    return [part + sep for part in parts[:-1]] + parts[-1:]


def go_replace(text: str, old: str, new: str, n: int = -1) -> str:
    return text.replace(old, new) if n < 0 else text.replace(old, new, n)


def go_fields(text: str) -> list[str]:
    return [part for part in _FIELDS_SPLIT.split(text) if part]


def go_trim_space(text: str) -> str:
    return text.strip(GO_SPACE)


def go_index(text: str, sub: str) -> int:
    """Byte index of sub in text, or -1."""
    index = text.find(sub)
    if index <= 0 or text.isascii():
        return index
    return len(to_bytes(text[:index]))


def go_last_index(text: str, sub: str) -> int:
    index = text.rfind(sub)
    if index <= 0 or text.isascii():
        return index
    return len(to_bytes(text[:index]))


def go_index_any(text: str, chars: str) -> int:
    for position, char in enumerate(text):
        if char in chars:
            return position if text.isascii() else len(to_bytes(text[:position]))
    return -1
