"""Go encoding/json behaviour: `json.Marshal` text and decoding with float64
numbers, as seen by expressions (toJSON, ToJsonString, UnmarshalJSON...)."""

from __future__ import annotations

import json
import math
from decimal import Decimal
from dataclasses import fields, is_dataclass
from datetime import datetime, timedelta, timezone

from crowdsec_mp.engine.expr.errors import ExprRuntimeError

_ESCAPES = {
    '"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t",
    "<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029",
    "\b": "\\b", "\f": "\\f",
}


def _quote(text: str) -> str:
    out = ['"']
    for char in text:
        escaped = _ESCAPES.get(char)
        if escaped is not None:
            out.append(escaped)
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        elif "\udc80" <= char <= "\udcff" or "\ud800" <= char <= "\udfff":
            out.append("\\ufffd")  # invalid UTF-8 becomes U+FFFD in Go
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise ExprRuntimeError(f"json: unsupported value: {value}")
    if value == int(value) and abs(value) < 1e21:
        return str(int(value)) if value or math.copysign(1, value) > 0 else "-0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        text = repr(value)
        mantissa, _, exponent = text.partition("e")
        if not exponent:  # repr chose fixed notation; force scientific
            text = f"{value:e}"
            mantissa, _, exponent = text.partition("e")
            mantissa = mantissa.rstrip("0").rstrip(".")
        sign = "-" if exponent.startswith("-") else "+"
        return f"{mantissa}e{sign}{int(exponent.lstrip('+-'))}"
    return format(Decimal(repr(value)), "f")


def marshal(value, indent: str | None = None, _level: int = 0) -> str:
    """Go json.Marshal (indent=None) or json.MarshalIndent(v, "", indent)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, str):
        return _quote(value)
    if isinstance(value, datetime):
        moment = value if value.tzinfo else value.replace(tzinfo=timezone.utc)
        text = moment.isoformat()
        return _quote(text.replace("+00:00", "Z"))
    if isinstance(value, timedelta):
        return str((value.days * 86400 + value.seconds) * 10**9 + value.microseconds * 1000)
    if isinstance(value, dict):
        items = sorted(((str(k), v) for k, v in value.items()), key=lambda kv: kv[0])
        members = [(_quote(k), v) for k, v in items]
        return _container("{", "}", [f"{k}:{' ' if indent is not None else ''}"
                                     f"{marshal(v, indent, _level + 1)}" for k, v in members],
                          indent, _level)
    if isinstance(value, (list, tuple)):
        return _container("[", "]", [marshal(v, indent, _level + 1) for v in value],
                          indent, _level)
    if is_dataclass(value):
        members = [(_quote(f.name), getattr(value, f.name)) for f in fields(value)]
        return _container("{", "}", [f"{k}:{' ' if indent is not None else ''}"
                                     f"{marshal(v, indent, _level + 1)}" for k, v in members],
                          indent, _level)
    raise ExprRuntimeError(f"json: unsupported type {type(value).__name__}")


def _container(open_, close, parts, indent, level):
    if not parts:
        return open_ + close
    if indent is None:
        return open_ + ",".join(parts) + close
    inner = "\n" + indent * (level + 1)
    return open_ + inner + ("," + inner).join(parts) + "\n" + indent * level + close


def unmarshal(text: str):
    """Decode JSON like Go into `any`: numbers become float64. Raises ValueError."""
    return json.loads(text, parse_int=float, parse_constant=_reject_constant)


def _reject_constant(name):
    raise ValueError(f"invalid JSON literal {name}")
