"""Go-like value semantics shared by the compiler, the builtins and the helpers.

Values are Python int/float/str/bool/None/list/dict/datetime/timedelta and our
event dataclasses. Everything here raises ExprRuntimeError on a type mismatch,
as expr-lang does at run time (spec/expr.md §1.5).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

from crowdsec_mp.engine.event import StrMap
from crowdsec_mp.engine.expr.errors import ExprRuntimeError

INT_MIN = -(1 << 63)
INT_MAX = (1 << 63) - 1
_NUMBER = (int, float)
_SCALARS = (str, int, float, bool, bytes)


def wrap_int(value: int) -> int:
    """Wrap to a signed 64-bit integer like Go's int arithmetic."""
    if INT_MIN <= value <= INT_MAX:
        return value
    return ((value - INT_MIN) & 0xFFFFFFFFFFFFFFFF) + INT_MIN


def is_number(value) -> bool:
    return type(value) in _NUMBER or (isinstance(value, _NUMBER) and not isinstance(value, bool))


def kind_name(value) -> str:
    """Go-ish type name used in error messages and by `type()`."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "array"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, datetime):
        return "time.Time"
    if isinstance(value, timedelta):
        return "time.Duration"
    if callable(value):
        return "func"
    return "struct"


# -- equality / ordering ------------------------------------------------------
def go_equal(a, b) -> bool:
    ta, tb = type(a), type(b)
    if ta is tb and ta in (str, int, float, bool):
        return a == b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, _NUMBER) and isinstance(b, _NUMBER):
        return a == b
    if isinstance(a, str) or isinstance(b, str):
        return isinstance(a, str) and isinstance(b, str) and a == b
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(go_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(go_equal(a[k], b[k]) for k in a)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _aware(a) == _aware(b)
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a == b
    if ta is not tb:
        return False
    return a == b


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def _ordered_pair(op: str, a, b):
    if is_number(a) and is_number(b):
        return a, b
    if isinstance(a, str) and isinstance(b, str):
        # Go compares strings byte-wise; UTF-8 byte order equals code point order
        # except for surrogate-escaped bytes, which are encoded back first.
        if a.isascii() and b.isascii():
            return a, b
        return to_bytes(a), to_bytes(b)
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _aware(a), _aware(b)
    if isinstance(a, timedelta) and isinstance(b, timedelta):
        return a, b
    raise ExprRuntimeError(f"invalid operation: {kind_name(a)} {op} {kind_name(b)}")


def less(a, b):
    x, y = _ordered_pair("<", a, b)
    return x < y


def less_equal(a, b):
    x, y = _ordered_pair("<=", a, b)
    return x <= y


def greater(a, b):
    x, y = _ordered_pair(">", a, b)
    return x > y


def greater_equal(a, b):
    x, y = _ordered_pair(">=", a, b)
    return x >= y


def to_bytes(text: str) -> bytes:
    """UTF-8 bytes of text; undecodable input bytes (surrogate escapes) come
    back as themselves, other lone surrogates as 3 bytes (like U+FFFD)."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogatepass")


# -- arithmetic ---------------------------------------------------------------
def _numbers(op: str, a, b):
    if not (is_number(a) and is_number(b)):
        raise ExprRuntimeError(f"invalid operation: {kind_name(a)} {op} {kind_name(b)}")


def add(a, b):
    if type(a) is str and type(b) is str:
        return a + b
    if isinstance(a, str) and isinstance(b, str):
        return str(a) + str(b)
    if isinstance(a, datetime) and isinstance(b, timedelta):
        return a + b
    if isinstance(a, timedelta) and isinstance(b, (timedelta, datetime)):
        return b + a
    _numbers("+", a, b)
    result = a + b
    return wrap_int(result) if type(result) is int else result


def subtract(a, b):
    if isinstance(a, datetime) and isinstance(b, datetime):
        return _aware(a) - _aware(b)
    if isinstance(a, (datetime, timedelta)) and isinstance(b, timedelta):
        return a - b
    _numbers("-", a, b)
    result = a - b
    return wrap_int(result) if type(result) is int else result


def multiply(a, b):
    if isinstance(a, timedelta) and is_number(b):
        return a * b
    if is_number(a) and isinstance(b, timedelta):
        return b * a
    _numbers("*", a, b)
    result = a * b
    return wrap_int(result) if type(result) is int else result


def divide(a, b):
    _numbers("/", a, b)
    a, b = float(a), float(b)
    if b == 0.0:
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def modulo(a, b):
    if not (type(a) is int and type(b) is int):
        raise ExprRuntimeError(f"invalid operation: {kind_name(a)} % {kind_name(b)}")
    if b == 0:
        raise ExprRuntimeError("integer divide by zero")
    # Go's % truncates toward zero (the result has the sign of the dividend).
    result = abs(a) % abs(b)
    return -result if a < 0 else result


def power(a, b):
    _numbers("**", a, b)
    try:
        return math.pow(float(a), float(b))
    except OverflowError:
        return math.inf
    except ValueError:
        return math.nan


def negate(a):
    if not is_number(a):
        if isinstance(a, timedelta):
            return -a
        raise ExprRuntimeError(f"invalid operation: -{kind_name(a)}")
    return wrap_int(-a) if type(a) is int else -a


def plus(a):
    if not is_number(a):
        raise ExprRuntimeError(f"invalid operation: +{kind_name(a)}")
    return a


def logical_not(a):
    if a is True:
        return False
    if a is False:
        return True
    raise ExprRuntimeError(f"invalid operation: not {kind_name(a)}")


def int_range(a, b):
    if not (type(a) is int and type(b) is int):
        raise ExprRuntimeError(f"invalid operation: {kind_name(a)} .. {kind_name(b)}")
    return list(range(a, b + 1))


# -- membership and string operators -----------------------------------------
def contains_op(needle, haystack) -> bool:
    """`needle in haystack` (spec/expr.md §1.5)."""
    if haystack is None:
        return False
    if isinstance(haystack, dict):
        try:
            return needle in haystack
        except TypeError:
            return False
    if isinstance(haystack, (list, tuple)):
        if type(haystack) is not list and type(needle) is str:
            # Data-file lines (datafiles.DataLines) carry a set for fast lookup.
            fast = getattr(haystack, "contains_str", None)
            if fast is not None:
                return fast(needle)
        if type(needle) is str:
            for item in haystack:
                if type(item) is str and item == needle:
                    return True
            return any(go_equal(needle, item) for item in haystack if type(item) is not str)
        return any(go_equal(needle, item) for item in haystack)
    if isinstance(haystack, (frozenset, set)):
        return needle in haystack
    if isinstance(haystack, (str, int, float, bool)):
        raise ExprRuntimeError(f"operator \"in\" not defined on {kind_name(haystack)}")
    if isinstance(needle, str):
        fields = getattr(haystack, "__dataclass_fields__", None)
        if fields is not None:
            return needle in fields  # struct field existence, not methods
        return is_public_name(needle) and hasattr(haystack, needle)
    raise ExprRuntimeError(f"cannot use {kind_name(needle)} as field name of a struct")


def require_strings(op: str, a, b):
    if not (isinstance(a, str) and isinstance(b, str)):
        raise ExprRuntimeError(f"invalid operation: {kind_name(a)} {op} {kind_name(b)}")


def str_contains(a, b) -> bool:
    require_strings("contains", a, b)
    return b in a


def str_starts(a, b) -> bool:
    require_strings("startsWith", a, b)
    return a.startswith(b)


def str_ends(a, b) -> bool:
    require_strings("endsWith", a, b)
    return a.endswith(b)


# -- member / index / slice -----------------------------------------------------
def is_public_name(name: str) -> bool:
    return bool(name) and not name.startswith("_")


def get_member(obj, key):
    """`obj.key` / `obj[key]` with Go-like rules (spec/expr.md §1.3)."""
    t = type(obj)
    if t is StrMap:
        if type(key) is str:
            return obj[key]
        raise ExprRuntimeError(f"cannot use {kind_name(key)} as map[string]string key")
    if t is dict:
        try:
            return obj.get(key)
        except TypeError:
            raise ExprRuntimeError(f"invalid map key type {kind_name(key)}") from None
    if obj is None:
        raise ExprRuntimeError(f"cannot fetch {format_value(key)} from <nil>")
    if t is list or t is tuple or t is str:
        return _index_sequence(obj, key)
    if isinstance(obj, dict):
        try:
            return obj[key]
        except KeyError:
            return None
        except TypeError:
            raise ExprRuntimeError(f"invalid map key type {kind_name(key)}") from None
    if isinstance(obj, (list, tuple, str)):
        return _index_sequence(obj, key)
    if isinstance(obj, (int, float, bool, bytes, datetime, timedelta)):
        raise ExprRuntimeError(f"cannot fetch {format_value(key)} from {kind_name(obj)}")
    if not isinstance(key, str):
        raise ExprRuntimeError(f"cannot fetch {format_value(key)} from {type(obj).__name__}")
    if not is_public_name(key):
        raise ExprRuntimeError(f"cannot fetch {key} from {type(obj).__name__}")
    try:
        return getattr(obj, key)
    except AttributeError:
        raise ExprRuntimeError(f"cannot fetch {key} from {type(obj).__name__}") from None


def _index_sequence(seq, key):
    if type(key) is not int:
        if isinstance(key, float) and key.is_integer():
            key = int(key)
        else:
            raise ExprRuntimeError(f"invalid index {format_value(key)} for {kind_name(seq)}")
    length = len(seq) if not isinstance(seq, str) else len(to_bytes(seq))
    index = key + length if key < 0 else key
    if not 0 <= index < length:
        raise ExprRuntimeError(f"index out of range: {key} (array length {length})")
    if isinstance(seq, str):
        # Go indexes strings by byte and yields the byte value.
        return to_bytes(seq)[index]
    return seq[index]


def get_slice(obj, low, high):
    if obj is None:
        raise ExprRuntimeError("cannot slice <nil>")
    if not isinstance(obj, (list, tuple, str)):
        raise ExprRuntimeError(f"cannot slice {kind_name(obj)}")
    for bound in (low, high):
        if bound is not None and type(bound) is not int:
            raise ExprRuntimeError(f"invalid slice index {format_value(bound)}")
    if isinstance(obj, str) and not obj.isascii():
        data = to_bytes(obj)[low:high]
        return data.decode("utf-8", "surrogateescape")
    return obj[low:high]


def get_len(value) -> int:
    if isinstance(value, str):
        return len(value) if value.isascii() else len(to_bytes(value))
    if isinstance(value, (list, tuple, dict)):
        return len(value)
    raise ExprRuntimeError(f"invalid argument for len (type {kind_name(value)})")


# -- formatting (Go %v) -----------------------------------------------------------
def format_float_g(value: float, shortest_exp_limit: int = 6) -> str:
    """Go strconv.FormatFloat(f, 'g', -1, 64)-like text, switching to exponent
    notation when the exponent is < -4 or >= `shortest_exp_limit`."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == 0:
        return "-0" if math.copysign(1.0, value) < 0 else "0"
    sign = "-" if value < 0 else ""
    text = repr(abs(value))
    mantissa, _, exp_text = text.partition("e")
    exponent = int(exp_text) if exp_text else 0
    int_part, _, frac_part = mantissa.partition(".")
    if frac_part == "0":
        frac_part = ""
    digits = (int_part + frac_part).lstrip("0")
    # Decimal exponent of the first significant digit.
    if int_part.strip("0"):
        point = len(int_part.lstrip("0")) + exponent
    else:
        point = -(len(frac_part) - len(frac_part.lstrip("0"))) + exponent
    digits = digits.rstrip("0") or "0"
    exp10 = point - 1
    if exp10 < -4 or exp10 >= shortest_exp_limit:
        body = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{body}e{'-' if exp10 < 0 else '+'}{abs(exp10):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{sign}{digits}{'0' * (point - len(digits))}"
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_duration(delta: timedelta) -> str:
    """Go time.Duration.String(): `1h2m3.5s`, `300ms`, `0s`."""
    total_ns = (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    if total_ns == 0:
        return "0s"
    sign = "-" if total_ns < 0 else ""
    ns = abs(total_ns)
    if ns < 10**9:
        for unit, size in (("ms", 10**6), ("µs", 10**3), ("ns", 1)):
            if ns >= size:
                return sign + _trim_fraction(ns, size) + unit
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    out = sign
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return out + _trim_fraction(rest, 10**9) + "s"


def _trim_fraction(value: int, size: int) -> str:
    whole, frac = divmod(value, size)
    if not frac:
        return str(whole)
    width = len(str(size)) - 1
    return f"{whole}.{str(frac).rjust(width, '0').rstrip('0')}"


def format_time(value: datetime) -> str:
    """Go time.Time.String() (`2006-01-02 15:04:05.999999999 -0700 MST`)."""
    value = _aware(value)
    text = value.strftime("%Y-%m-%d %H:%M:%S")
    if value.microsecond:
        text += ("." + f"{value.microsecond:06d}").rstrip("0")
    offset = value.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "-" if minutes < 0 else "+"
    minutes = abs(minutes)
    zone = value.tzname() or ""
    if offset == timedelta(0) and zone in ("UTC", "UTC+00:00", ""):
        zone = "UTC"
    return f"{text} {sign}{minutes // 60:02d}{minutes % 60:02d} {zone}"


def format_value(value) -> str:
    """Go `fmt.Sprint` / `%v` text of a value."""
    if value is None:
        return "<nil>"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float_g(value)
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(format_value(v) for v in value) + "]"
    if isinstance(value, dict):
        items = sorted(value.items(), key=lambda kv: _sort_key(kv[0]))
        return "map[" + " ".join(f"{format_value(k)}:{format_value(v)}" for k, v in items) + "]"
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, timedelta):
        return format_duration(value)
    string_method = getattr(value, "String", None)
    if callable(string_method):
        return string_method()
    fields = getattr(value, "__dataclass_fields__", None)
    if fields:
        return "{" + " ".join(format_value(getattr(value, name)) for name in fields) + "}"
    return str(value)


def _sort_key(key):
    return (0, key, "") if is_number(key) else (1, 0, str(key))
