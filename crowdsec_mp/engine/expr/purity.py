"""Which expressions are pure functions of the event fields they read.

Both memos of the engine use this load-time walk of the syntax tree: parser
expressions (parser/memo.py) and scenario filters (buckets/filtermemo.py)
remember a result per tuple of the values of the fields it returns.

An expression is accepted when `evt` only appears as `evt.<Map>.<key>` /
`evt.<Map>["key"]` (Map in Meta, Parsed, Enriched: string maps, constant key)
or as `"key" in evt.<Map>`; other names are `let` names, `#`/`#index`/`#acc`
inside a predicate and constants; only functions of `PURE_FUNCTIONS` (their
result depends on their arguments only; data files are loaded once per name
at load time and never change) and the predicate builtins (`any`, `all`...)
are called; no method call, stash, clock, GeoIP or DNS. Function names are
trusted to mean the engine's helpers: callers only use this for expressions
compiled without caller-supplied functions (`extra_funcs`).
"""

from __future__ import annotations

from crowdsec_mp.engine.expr import ast
from crowdsec_mp.engine.expr.builtins import PREDICATE_FUNCTIONS

#: Event maps an expression may read: map[string]string, "" when missing.
STRING_MAPS = ("Meta", "Parsed", "Enriched")

#: Functions whose result depends on their arguments only (no event, no
#: clock, no stash, no network, no logging): by name, see the module docstring.
PURE_FUNCTIONS = frozenset({
    # text helpers (helpers/text.py)
    "Upper", "Lower", "Fields", "Index", "IndexAny", "Join", "Split", "SplitN", "SplitAfter",
    "SplitAfterN", "Replace", "ReplaceAll", "Trim", "TrimLeft", "TrimRight", "TrimPrefix",
    "TrimSuffix", "TrimSpace", "Sprintf", "ToString", "Match", "PathUnescape", "QueryUnescape",
    "PathEscape", "QueryEscape", "B64Decode", "Atof", "Get", "KeyExists",
    # structured helpers that only read their arguments
    "JsonExtract", "JsonExtractUnescape", "JsonExtractSlice", "JsonExtractObject",
    # network helpers without I/O
    "IpInRange", "IsIPV4", "IsIPV6", "IsIP", "IpToRange",
    # URL helpers
    "ParseUri", "ParseQuery", "ExtractQueryParam",
    # data files: loaded once per name at load time, never changed afterwards
    "File", "RegexpInFile", "LookupFile",
    # expr-lang builtins
    "len", "abs", "ceil", "floor", "round", "int", "float", "string", "type", "trim",
    "trimPrefix", "trimSuffix", "upper", "lower", "split", "splitAfter", "replace", "repeat",
    "join", "indexOf", "lastIndexOf", "hasPrefix", "hasSuffix", "max", "min", "mean", "median",
    "first", "last", "take", "reverse", "uniq", "concat", "flatten", "keys", "values",
    "toPairs", "fromPairs", "toJSON", "fromJSON", "toBase64", "fromBase64", "get",
})


# -- analysis ----------------------------------------------------------------------


class _NotMemoizable(Exception):
    """Internal: the walk met something it does not accept."""


class _Reads(set):
    """The (map, key) pairs met by the walk; `writes_allowed`: accept
    `evt.SetMeta(k, v)` / `evt.SetParsed(k, v)` (see fields_read)."""

    def __init__(self, writes_allowed: bool):
        super().__init__()
        self.writes_allowed = writes_allowed


#: The only methods accepted with writes_allowed: they write one string map entry.
_WRITERS = ("SetMeta", "SetParsed")


def fields_read(tree, writes_allowed: bool = False) -> tuple | None:
    """The (map, key) pairs a filter reads, sorted, when its value is a pure
    function of them; None when it is not memoizable.

    writes_allowed: also accept `evt.SetMeta(k, v)` / `evt.SetParsed(k, v)`
    with pure arguments. Such a filter is still deterministic: its result AND
    its writes are functions of the values of the fields it reads (a read
    after a write sees a value computed from them)."""
    fields = _Reads(writes_allowed)
    try:
        _visit(tree, frozenset(), False, fields)
    except _NotMemoizable:
        return None
    except RecursionError:
        return None
    return tuple(sorted(fields))


def _event_map(node, names) -> bool:
    """`evt.Meta` / `evt.Parsed` / `evt.Enriched`, the map itself."""
    return (isinstance(node, ast.Member) and not node.optional
            and isinstance(node.key, ast.Const) and node.key.value in STRING_MAPS
            and isinstance(node.obj, ast.Ident) and node.obj.name == "evt" and "evt" not in names)


def _event_field(node, names) -> tuple | None:
    """(map, key) for `evt.<Map>.<key>` / `evt.<Map>["key"]` / `evt.<Map>?.<key>`
    (the maps always exist: `?.` reads the same value), else None."""
    if (isinstance(node, ast.Member) and isinstance(node.key, ast.Const)
            and type(node.key.value) is str and _event_map(node.obj, names)):
        return node.obj.key.value, node.key.value
    return None


def _visit(node, names: frozenset, in_closure: bool, fields: set) -> None:
    """Raise _NotMemoizable unless `node` is pure; collect the event fields read.
    `names`: the `let` names in scope; `in_closure`: inside a predicate body."""
    kind = type(node)
    if kind is ast.Const:
        return
    if kind is ast.Ident:
        if node.name in names:
            return
        raise _NotMemoizable(node.name)  # `evt` alone, `$env`, an unknown name
    if kind is ast.Pointer:
        if in_closure and node.name in ("", "index", "acc"):
            return
        raise _NotMemoizable("#" + node.name)
    if kind is ast.Member:
        field = _event_field(node, names)
        if field is not None:
            fields.add(field)
            return
        _visit(node.obj, names, in_closure, fields)
        _visit(node.key, names, in_closure, fields)
        return
    if kind is ast.Slice:
        for part in (node.obj, node.low, node.high):
            if part is not None:
                _visit(part, names, in_closure, fields)
        return
    if kind is ast.Call:
        if node.name in PREDICATE_FUNCTIONS:
            for arg in node.args:
                if isinstance(arg, ast.Closure):
                    _visit(arg.body, names, True, fields)
                else:
                    _visit(arg, names, in_closure, fields)
            return
        if node.name not in PURE_FUNCTIONS:
            raise _NotMemoizable(node.name)
        for arg in node.args:
            _visit(arg, names, in_closure, fields)
        return
    if kind is ast.Unary:
        _visit(node.operand, names, in_closure, fields)
        return
    if kind is ast.Binary:
        if node.op == "in" and _event_map(node.right, names):
            # `"key" in evt.Meta`: decided by the presence of that one key.
            if not (isinstance(node.left, ast.Const) and type(node.left.value) is str):
                raise _NotMemoizable("in " + node.right.key.value)
            fields.add((node.right.key.value, node.left.value))
            return
        _visit(node.left, names, in_closure, fields)
        _visit(node.right, names, in_closure, fields)
        return
    if kind is ast.Ternary:
        for part in (node.cond, node.then, node.otherwise):
            _visit(part, names, in_closure, fields)
        return
    if kind is ast.Let:
        if node.name in ("evt", "$env"):
            raise _NotMemoizable("let " + node.name)  # would hide the event
        _visit(node.value, names, in_closure, fields)
        _visit(node.body, names | {node.name}, in_closure, fields)
        return
    if kind is ast.Array:
        for item in node.items:
            _visit(item, names, in_closure, fields)
        return
    if kind is ast.MapLit:
        for key, value in node.pairs:
            _visit(key, names, in_closure, fields)
            _visit(value, names, in_closure, fields)
        return
    if kind is ast.Chain:
        _visit(node.node, names, in_closure, fields)
        return
    if (kind is ast.MethodCall and fields.writes_allowed and node.name in _WRITERS
            and not node.optional and len(node.args) == 2 and isinstance(node.obj, ast.Ident)
            and node.obj.name == "evt" and "evt" not in names):
        for arg in node.args:
            _visit(arg, names, in_closure, fields)
        return
    # MethodCall (evt.SetMeta, time methods...), a Closure outside a predicate
    # call, or a node type added later.
    raise _NotMemoizable(kind.__name__)
