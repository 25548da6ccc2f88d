"""expr-lang's own lowercase builtins (spec/expr.md §2).

`PREDICATE_FUNCTIONS` maps a name to `(impl, min_args, max_args)`; `impl(env,
*compiled_args)` receives the compiled argument closures (the predicate among
them) so that it can evaluate the predicate once per element in a private
scope holding `#`, `#index` and `#acc`. `make_builtins(ctx)` returns the plain
builtins (`now()` reads ctx.clock).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

from crowdsec_mp.engine.expr import gojson
from crowdsec_mp.engine.expr import gostrings as S
from crowdsec_mp.engine.expr import values as V
from crowdsec_mp.engine.expr.errors import ExprRuntimeError
from crowdsec_mp.engine.expr.gotime import parse_go_duration


# -- predicates ---------------------------------------------------------------------
def _elements(value, func: str) -> list:
    if isinstance(value, (list, tuple)):
        return value
    if isinstance(value, dict):
        return list(value.values())
    raise ExprRuntimeError(f"{func}(): cannot iterate over {V.kind_name(value)}")


def _run_predicate(func, pred, scope, index, item):
    scope["#"] = item
    scope["#index"] = index
    return pred(scope)


def _bool_result(func, value):
    if type(value) is not bool:
        raise ExprRuntimeError(f"{func}(): predicate should return a boolean, "
                               f"got {V.kind_name(value)}")
    return value


def _all(env, arr, pred):
    scope = dict(env)
    for index, item in enumerate(_elements(arr(env), "all")):
        if not _bool_result("all", _run_predicate("all", pred, scope, index, item)):
            return False
    return True


def _any(env, arr, pred):
    scope = dict(env)
    for index, item in enumerate(_elements(arr(env), "any")):
        if _bool_result("any", _run_predicate("any", pred, scope, index, item)):
            return True
    return False


def _none(env, arr, pred):
    return not _any(env, arr, pred)


def _one(env, arr, pred):
    scope = dict(env)
    found = 0
    for index, item in enumerate(_elements(arr(env), "one")):
        if _bool_result("one", _run_predicate("one", pred, scope, index, item)):
            found += 1
            if found > 1:
                return False
    return found == 1


def _filter(env, arr, pred):
    scope = dict(env)
    return [item for index, item in enumerate(_elements(arr(env), "filter"))
            if _bool_result("filter", _run_predicate("filter", pred, scope, index, item))]


def _map(env, arr, pred):
    scope = dict(env)
    return [_run_predicate("map", pred, scope, index, item)
            for index, item in enumerate(_elements(arr(env), "map"))]


def _count(env, arr, pred=None):
    items = _elements(arr(env), "count")
    if pred is None:
        return sum(1 for item in items if _bool_result("count", item))
    scope = dict(env)
    return sum(1 for index, item in enumerate(items)
               if _bool_result("count", _run_predicate("count", pred, scope, index, item)))


def _sum(env, arr, pred=None):
    items = _elements(arr(env), "sum")
    if pred is not None:
        scope = dict(env)
        items = [_run_predicate("sum", pred, scope, i, item) for i, item in enumerate(items)]
    total = 0
    for item in items:
        total = V.add(total, _number(item, "sum"))
    return total


def _find_generic(env, arr, pred, func, reverse, want_index):
    items = _elements(arr(env), func)
    scope = dict(env)
    order = range(len(items) - 1, -1, -1) if reverse else range(len(items))
    for index in order:
        if _bool_result(func, _run_predicate(func, pred, scope, index, items[index])):
            return index if want_index else items[index]
    return -1 if want_index else None


def _group_by(env, arr, pred):
    scope = dict(env)
    groups: dict = {}
    for index, item in enumerate(_elements(arr(env), "groupBy")):
        key = _run_predicate("groupBy", pred, scope, index, item)
        try:
            groups.setdefault(key, []).append(item)
        except TypeError:
            raise ExprRuntimeError(f"groupBy(): invalid key {V.kind_name(key)}") from None
    return groups


def _sort_by(env, arr, pred, order=None):
    scope = dict(env)
    items = list(_elements(arr(env), "sortBy"))
    keys = [_run_predicate("sortBy", pred, scope, i, item) for i, item in enumerate(items)]
    descending = _sort_order(order(env) if order is not None else "asc")
    ranked = _sorted_by_keys(list(zip(keys, items)), descending)
    return [item for _, item in ranked]


def _reduce(env, arr, pred, init=None):
    items = _elements(arr(env), "reduce")
    scope = dict(env)
    if init is not None:
        accumulator = init(env)
        start = 0
    else:
        if not items:
            raise ExprRuntimeError("reduce(): empty array without initial value")
        accumulator = items[0]
        start = 1
    for index in range(start, len(items)):
        scope["#acc"] = accumulator
        accumulator = _run_predicate("reduce", pred, scope, index, items[index])
    return accumulator


PREDICATE_FUNCTIONS = {
    "all": (_all, 2, 2),
    "any": (_any, 2, 2),
    "none": (_none, 2, 2),
    "one": (_one, 2, 2),
    "filter": (_filter, 2, 2),
    "map": (_map, 2, 2),
    "count": (_count, 1, 2),
    "sum": (_sum, 1, 2),
    "find": (lambda env, a, p: _find_generic(env, a, p, "find", False, False), 2, 2),
    "findIndex": (lambda env, a, p: _find_generic(env, a, p, "findIndex", False, True), 2, 2),
    "findLast": (lambda env, a, p: _find_generic(env, a, p, "findLast", True, False), 2, 2),
    "findLastIndex": (lambda env, a, p: _find_generic(env, a, p, "findLastIndex", True, True),
                      2, 2),
    "groupBy": (_group_by, 2, 2),
    "sortBy": (_sort_by, 2, 3),
    "reduce": (_reduce, 2, 3),
}


# -- plain builtins -------------------------------------------------------------------
def _number(value, func):
    if not V.is_number(value):
        raise ExprRuntimeError(f"{func}(): invalid argument type {V.kind_name(value)}")
    return value


def _sort_order(order) -> bool:
    if order not in ("asc", "desc"):
        raise ExprRuntimeError(f"unknown order {V.format_value(order)}, use asc or desc")
    return order == "desc"


def _sorted_by_keys(pairs, descending):
    keys = [key for key, _ in pairs]
    if all(V.is_number(k) for k in keys) or all(isinstance(k, str) for k in keys) \
            or all(isinstance(k, datetime) for k in keys):
        return sorted(pairs, key=lambda kv: kv[0], reverse=descending)
    raise ExprRuntimeError("sort: values are not comparable")


def _sort(arr, order="asc"):
    items = _elements(arr, "sort")
    return [item for _, item in _sorted_by_keys([(i, i) for i in items], _sort_order(order))]


def _int(value):
    if isinstance(value, bool):
        raise ExprRuntimeError("int(): invalid argument type bool")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise ExprRuntimeError(f"int(): cannot convert {value}")
        return V.wrap_int(int(value))
    if isinstance(value, str):
        if not re.fullmatch(r"[+-]?[0-9]+", value):
            raise ExprRuntimeError(f'strconv.Atoi: parsing "{value}": invalid syntax')
        result = int(value)
        if not V.INT_MIN <= result <= V.INT_MAX:
            raise ExprRuntimeError(f'strconv.Atoi: parsing "{value}": value out of range')
        return result
    raise ExprRuntimeError(f"int(): invalid argument type {V.kind_name(value)}")


_GO_FLOAT = re.compile(r"[+-]?(?:(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?|"
                       r"inf|infinity|nan)", re.IGNORECASE)


def parse_go_float(text: str) -> float:
    """strconv.ParseFloat(s, 64) for the decimal forms; raises ValueError."""
    if not isinstance(text, str) or not _GO_FLOAT.fullmatch(text):
        raise ValueError(f'strconv.ParseFloat: parsing "{text}": invalid syntax')
    return float(text)


def _float(value):
    if isinstance(value, bool):
        raise ExprRuntimeError("float(): invalid argument type bool")
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return parse_go_float(value)
        except ValueError as exc:
            raise ExprRuntimeError(str(exc)) from None
    raise ExprRuntimeError(f"float(): invalid argument type {V.kind_name(value)}")


def _round(value):
    value = float(_number(value, "round"))
    if math.isnan(value) or math.isinf(value):
        return value
    return math.copysign(math.floor(abs(value) + 0.5), value)


def _abs(value):
    _number(value, "abs")
    return V.wrap_int(abs(value)) if type(value) is int else abs(value)


def _trim(text, cutset=None):
    S.need_str(text, "trim")
    return S.go_trim_space(text) if cutset is None else text.strip(S.need_str(cutset, "trim", 2))


def _trim_prefix(text, prefix=" "):
    S.need_str(text, "trimPrefix")
    return text[len(prefix):] if prefix and text.startswith(prefix) else text


def _trim_suffix(text, suffix=" "):
    S.need_str(text, "trimSuffix")
    return text[:-len(suffix)] if suffix and text.endswith(suffix) else text


def _split(text, sep, n=-1):
    return S.go_split(S.need_str(text, "split"), S.need_str(sep, "split", 2),
                      S.need_int(n, "split", 3))


def _split_after(text, sep, n=-1):
    return S.go_split_after(S.need_str(text, "splitAfter"), S.need_str(sep, "splitAfter", 2),
                            S.need_int(n, "splitAfter", 3))


def _join(items, sep=""):
    items = _elements(items, "join")
    S.need_str(sep, "join", 2)
    return sep.join(S.need_str(item, "join") for item in items)


def _repeat(text, count):
    count = S.need_int(count, "repeat", 2)
    if count < 0:
        raise ExprRuntimeError("repeat(): negative count")
    return S.need_str(text, "repeat") * count


def _min_max(func, pick, args):
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    if not args:
        raise ExprRuntimeError(f"{func}(): not enough arguments")
    best = _number(args[0], func)
    for item in args[1:]:
        if pick(_number(item, func), best):
            best = item
    return best


def _numbers_of(args, func):
    if len(args) == 1 and isinstance(args[0], (list, tuple)):
        args = args[0]
    return [_number(item, func) for item in args]


def _mean(*args):
    items = _numbers_of(args, "mean")
    return sum(items) / len(items) if items else 0.0


def _median(*args):
    items = sorted(_numbers_of(args, "median"))
    if not items:
        return 0.0
    middle = len(items) // 2
    if len(items) % 2:
        return float(items[middle])
    return (items[middle - 1] + items[middle]) / 2


def _flatten(arr):
    out = []
    for item in _elements(arr, "flatten"):
        if isinstance(item, (list, tuple)):
            out.extend(_flatten(item))
        else:
            out.append(item)
    return out


def _uniq(arr):
    out: list = []
    for item in _elements(arr, "uniq"):
        if not any(V.go_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _concat(*arrays):
    out: list = []
    for arr in arrays:
        out.extend(_elements(arr, "concat"))
    return out


def _take(arr, n):
    n = S.need_int(n, "take", 2)
    return list(_elements(arr, "take"))[:max(n, 0)]


def _map_of(value, func):
    if not isinstance(value, dict):
        raise ExprRuntimeError(f"{func}(): argument must be a map, got {V.kind_name(value)}")
    return value


def _from_pairs(pairs):
    result = {}
    for pair in _elements(pairs, "fromPairs"):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise ExprRuntimeError("fromPairs(): each element must be a [key, value] pair")
        result[pair[0]] = pair[1]
    return result


def _get(container, key):
    if container is None:
        return None
    if isinstance(container, dict):
        try:
            return container.get(key)
        except TypeError:
            return None
    if isinstance(container, (list, tuple)):
        if type(key) is not int or not -len(container) <= key < len(container):
            return None
        return container[key]
    if isinstance(key, str) and V.is_public_name(key) and not isinstance(
            container, (str, int, float, bool)):
        return getattr(container, key, None)
    return None


def _from_json(text):
    try:
        return gojson.unmarshal(S.need_str(text, "fromJSON"))
    except ValueError as exc:
        raise ExprRuntimeError(f"fromJSON(): {exc}") from None


def _from_base64(text):
    try:
        return base64.b64decode(S.need_str(text, "fromBase64"), validate=True).decode(
            "utf-8", "surrogateescape")
    except (binascii.Error, ValueError) as exc:
        raise ExprRuntimeError(f"fromBase64(): {exc}") from None


def _duration(text):
    try:
        return parse_go_duration(S.need_str(text, "duration"))
    except ValueError as exc:
        raise ExprRuntimeError(str(exc)) from None


def _timezone(name):
    S.need_str(name, "timezone")
    if name in ("UTC", ""):
        return timezone.utc
    try:
        return ZoneInfo(name)
    except Exception:
        raise ExprRuntimeError(f"unknown time zone {name}") from None


_GO_LAYOUT_TOKENS = [
    ("2006", "%Y"), ("Z07:00", "%z"), ("-07:00", "%z"), ("-0700", "%z"), ("January", "%B"),
    ("Jan", "%b"), ("Monday", "%A"), ("Mon", "%a"), ("MST", "%Z"), ("01", "%m"),
    ("02", "%d"), ("15", "%H"), ("03", "%I"), ("04", "%M"), ("05", "%S"), ("PM", "%p"),
    (".000000", ".%f"), (".000", ".%f"), ("06", "%y"), ("_2", "%d"),
]
_DEFAULT_DATE_LAYOUTS = ("%Y-%m-%dT%H:%M:%S%z", "%Y-%m-%dT%H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z",
                         "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d",
                         "%Y-%m-%d %H:%M:%S.%f")


def _go_layout_to_strptime(layout: str) -> str:
    out = []
    index = 0
    while index < len(layout):
        for token, directive in _GO_LAYOUT_TOKENS:
            if layout.startswith(token, index):
                out.append(directive)
                index += len(token)
                break
        else:
            out.append(layout[index].replace("%", "%%"))
            index += 1
    return "".join(out)


def _date(text, layout=None, zone=None):
    """date(text[, go_layout[, timezone]]): without a layout, RFC 3339 and the
    usual `2006-01-02[ 15:04:05]` forms are tried; naive results get `zone`
    (UTC by default)."""
    S.need_str(text, "date")
    tz = _timezone(zone) if zone is not None else timezone.utc
    if layout is not None:
        candidates = [_go_layout_to_strptime(S.need_str(layout, "date", 2))]
        value = text
    else:
        candidates = list(_DEFAULT_DATE_LAYOUTS)
        value = text[:-1] + "+0000" if text.endswith("Z") else text
    for candidate in candidates:
        try:
            parsed = datetime.strptime(value, candidate)
        except ValueError:
            continue
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)
    raise ExprRuntimeError(f"date(): cannot parse {text!r}")


def _bits(func, op):
    def run(*args):
        return V.wrap_int(op(*[S.need_int(a, func, i + 1) for i, a in enumerate(args)]))
    return run


def _type(value):
    return V.kind_name(value)


def make_builtins(ctx) -> dict:
    """The plain (non-predicate) builtins, with `now()` bound to ctx.clock."""
    return {
        "len": V.get_len,
        "abs": _abs,
        "ceil": lambda x: float(math.ceil(_number(x, "ceil"))),
        "floor": lambda x: float(math.floor(_number(x, "floor"))),
        "round": _round,
        "int": _int,
        "float": _float,
        "string": V.format_value,
        "type": _type,
        "trim": _trim,
        "trimPrefix": _trim_prefix,
        "trimSuffix": _trim_suffix,
        "upper": lambda s: S.go_upper(S.need_str(s, "upper")),
        "lower": lambda s: S.go_lower(S.need_str(s, "lower")),
        "split": _split,
        "splitAfter": _split_after,
        "replace": lambda s, old, new: S.go_replace(S.need_str(s, "replace"),
                                                    S.need_str(old, "replace", 2),
                                                    S.need_str(new, "replace", 3)),
        "repeat": _repeat,
        "join": _join,
        "indexOf": lambda s, sub: S.go_index(S.need_str(s, "indexOf"),
                                             S.need_str(sub, "indexOf", 2)),
        "lastIndexOf": lambda s, sub: S.go_last_index(S.need_str(s, "lastIndexOf"),
                                                      S.need_str(sub, "lastIndexOf", 2)),
        "hasPrefix": lambda s, p: S.need_str(s, "hasPrefix").startswith(
            S.need_str(p, "hasPrefix", 2)),
        "hasSuffix": lambda s, p: S.need_str(s, "hasSuffix").endswith(
            S.need_str(p, "hasSuffix", 2)),
        "max": lambda *args: _min_max("max", lambda a, b: V.greater(a, b), args),
        "min": lambda *args: _min_max("min", lambda a, b: V.less(a, b), args),
        "mean": _mean,
        "median": _median,
        "first": lambda arr: (_elements(arr, "first") or [None])[0],
        "last": lambda arr: (_elements(arr, "last") or [None])[-1],
        "take": _take,
        "reverse": lambda arr: list(reversed(_elements(arr, "reverse"))),
        "uniq": _uniq,
        "concat": _concat,
        "flatten": _flatten,
        "sort": _sort,
        "keys": lambda m: list(_map_of(m, "keys").keys()),
        "values": lambda m: list(_map_of(m, "values").values()),
        "toPairs": lambda m: [[k, v] for k, v in _map_of(m, "toPairs").items()],
        "fromPairs": _from_pairs,
        "toJSON": lambda v: gojson.marshal(v, indent="  "),
        "fromJSON": _from_json,
        "toBase64": lambda s: base64.b64encode(V.to_bytes(S.need_str(s, "toBase64"))).decode(),
        "fromBase64": _from_base64,
        "now": lambda: ctx.clock(),
        "duration": _duration,
        "date": _date,
        "timezone": _timezone,
        "get": _get,
        "bitand": _bits("bitand", lambda a, b: a & b),
        "bitor": _bits("bitor", lambda a, b: a | b),
        "bitxor": _bits("bitxor", lambda a, b: a ^ b),
        "bitnand": _bits("bitnand", lambda a, b: a & ~b),
        "bitnot": _bits("bitnot", lambda a: ~a),
        "bitshl": _bits("bitshl", lambda a, b: a << b),
        "bitshr": _bits("bitshr", lambda a, b: a >> b),
    }
