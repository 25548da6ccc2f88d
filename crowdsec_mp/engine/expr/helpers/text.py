"""CrowdSec string helpers (spec/expr.md §3.1)."""

from __future__ import annotations

import base64
import binascii
import logging
import re
import socket
from functools import lru_cache

from crowdsec_mp.engine.expr import gostrings as S
from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.builtins import parse_go_float
from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.helpers.gofmt import go_sprintf

log = logging.getLogger(__name__)
need_str, need_int = S.need_str, S.need_int


def Upper(s):
    return S.go_upper(need_str(s, "Upper"))


def Lower(s):
    return S.go_lower(need_str(s, "Lower"))


def Fields(s):
    return S.go_fields(need_str(s, "Fields"))


def Index(s, sub):
    return S.go_index(need_str(s, "Index"), need_str(sub, "Index", 2))


def IndexAny(s, chars):
    return S.go_index_any(need_str(s, "IndexAny"), need_str(chars, "IndexAny", 2))


def Join(items, sep):
    if not isinstance(items, (list, tuple)):
        raise ExprRuntimeError(f"Join(): argument 1 must be a list of strings, "
                               f"got {V.kind_name(items)}")
    return need_str(sep, "Join", 2).join(need_str(item, "Join") for item in items)


def Split(s, sep):
    return S.go_split(need_str(s, "Split"), need_str(sep, "Split", 2))


def SplitN(s, sep, n):
    return S.go_split(need_str(s, "SplitN"), need_str(sep, "SplitN", 2), need_int(n, "SplitN", 3))


def SplitAfter(s, sep):
    return S.go_split_after(need_str(s, "SplitAfter"), need_str(sep, "SplitAfter", 2))


def SplitAfterN(s, sep, n):
    return S.go_split_after(need_str(s, "SplitAfterN"), need_str(sep, "SplitAfterN", 2),
                            need_int(n, "SplitAfterN", 3))


def Replace(s, old, new, n):
    return S.go_replace(need_str(s, "Replace"), need_str(old, "Replace", 2),
                        need_str(new, "Replace", 3), need_int(n, "Replace", 4))


def ReplaceAll(s, old, new):
    return S.go_replace(need_str(s, "ReplaceAll"), need_str(old, "ReplaceAll", 2),
                        need_str(new, "ReplaceAll", 3))


def Trim(s, cutset):
    return need_str(s, "Trim").strip(need_str(cutset, "Trim", 2))


def TrimLeft(s, cutset):
    return need_str(s, "TrimLeft").lstrip(need_str(cutset, "TrimLeft", 2))


def TrimRight(s, cutset):
    return need_str(s, "TrimRight").rstrip(need_str(cutset, "TrimRight", 2))


def TrimPrefix(s, prefix):
    need_str(s, "TrimPrefix")
    need_str(prefix, "TrimPrefix", 2)
    return s[len(prefix):] if prefix and s.startswith(prefix) else s


def TrimSuffix(s, suffix):
    need_str(s, "TrimSuffix")
    need_str(suffix, "TrimSuffix", 2)
    return s[:-len(suffix)] if suffix and s.endswith(suffix) else s


def TrimSpace(s):
    return S.go_trim_space(need_str(s, "TrimSpace"))


def Sprintf(fmt, *args):
    return go_sprintf(need_str(fmt, "Sprintf"), args)


def ToString(value):
    return value if isinstance(value, str) else ""


@lru_cache(maxsize=1024)
def _glob_regex(pattern: str):
    """Byte-level regex of a glob: `?` is exactly one byte, as in CrowdSec."""
    parts = []
    for char in pattern:
        if char == "*":
            parts.append(b".*")
        elif char == "?":
            parts.append(b".")
        else:
            parts.append(re.escape(V.to_bytes(char)))
    return re.compile(b"".join(parts), re.DOTALL)


def Match(pattern, name):
    """Glob match of the whole string: `*` any sequence, `?` one byte."""
    need_str(pattern, "Match")
    need_str(name, "Match", 2)
    if "*" not in pattern and "?" not in pattern:
        return pattern == name
    return _glob_regex(pattern).fullmatch(V.to_bytes(name)) is not None


_HEX = "0123456789abcdefABCDEF"


def _unescape(text: str, plus_is_space: bool) -> str | None:
    """Go url unescape; None when an escape is invalid."""
    if "%" not in text and not (plus_is_space and "+" in text):
        return text
    data = V.to_bytes(text)
    out = bytearray()
    index = 0
    while index < len(data):
        byte = data[index]
        if byte == 0x25:  # %
            pair = data[index + 1:index + 3]
            if len(pair) != 2 or chr(pair[0]) not in _HEX or chr(pair[1]) not in _HEX:
                return None
            out.append(int(pair, 16))
            index += 3
            continue
        out.append(0x20 if (byte == 0x2B and plus_is_space) else byte)
        index += 1
    return out.decode("utf-8", "surrogateescape")


def QueryUnescape(s):
    result = _unescape(need_str(s, "QueryUnescape"), plus_is_space=True)
    return s if result is None else result


def PathUnescape(s):
    result = _unescape(need_str(s, "PathUnescape"), plus_is_space=False)
    return s if result is None else result


_UNRESERVED = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~")
_PATH_SEGMENT_KEEP = _UNRESERVED | frozenset(b"$&+:=@")


def _escape(text: str, keep: frozenset, space_as_plus: bool) -> str:
    out = []
    for byte in V.to_bytes(text):
        if byte in keep:
            out.append(chr(byte))
        elif byte == 0x20 and space_as_plus:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def QueryEscape(s):
    return _escape(need_str(s, "QueryEscape"), _UNRESERVED, space_as_plus=True)


def PathEscape(s):
    return _escape(need_str(s, "PathEscape"), _PATH_SEGMENT_KEEP, space_as_plus=False)


def B64Decode(s):
    try:
        data = base64.b64decode(V.to_bytes(need_str(s, "B64Decode")), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ExprRuntimeError(f"B64Decode(): illegal base64 data: {exc}") from None
    return data.decode("utf-8", "surrogateescape")


def Atof(s):
    try:
        return parse_go_float(need_str(s, "Atof"))
    except ValueError:
        log.debug("Atof: cannot parse %r", s)
        return 0.0


def Get(items, index):
    if not isinstance(items, (list, tuple)):
        raise ExprRuntimeError(f"Get(): argument 1 must be a list, got {V.kind_name(items)}")
    index = need_int(index, "Get", 2)
    if index < 0:
        raise ExprRuntimeError(f"Get(): index out of range [{index}]")
    return items[index] if index < len(items) else ""


def KeyExists(key, mapping):
    if mapping is None:
        return False
    if not isinstance(mapping, dict):
        raise ExprRuntimeError(f"KeyExists(): argument 2 must be a map, "
                               f"got {V.kind_name(mapping)}")
    return key in mapping


def LogInfo(fmt, *args):
    log.info("%s", go_sprintf(need_str(fmt, "LogInfo"), args))
    return True


def Hostname():
    return socket.gethostname()


FUNCTIONS = {
    name: globals()[name]
    for name in (
        "Upper", "Lower", "Fields", "Index", "IndexAny", "Join", "Split", "SplitN", "SplitAfter",
        "SplitAfterN", "Replace", "ReplaceAll", "Trim", "TrimLeft", "TrimRight", "TrimPrefix",
        "TrimSuffix", "TrimSpace", "Sprintf", "ToString", "Match", "PathUnescape",
        "QueryUnescape", "PathEscape", "QueryEscape", "B64Decode", "Atof", "Get", "KeyExists",
        "LogInfo", "Hostname",
    )
}
