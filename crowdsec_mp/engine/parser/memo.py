"""Memoised parser expressions: a pure expression run once per distinct input.

Many node filters and statics are pure functions of a few event map values:
geoip-enrich's filter only reads `evt.Meta.source_ip` (and calls IsIPV6 and
IpInRange five times), http-logs' statics only read request fields. Sources
and paths repeat from line to line, so the parser keeps, per expression, the
result for each combination of the values it reads.

When it is exact (`event_reads` decides, from the syntax tree, at load time):

* the expression reads the event only as `evt.<Parsed|Meta|Enriched>.<key>`
  (or `"key" in evt.<Map>`) with constant keys, and otherwise uses only
  constants, operators, `let` variables, arrays, `?:` and calls of functions
  in `PURE_FUNCTIONS` (side-effect free, result depends only on the
  arguments, none reads the context or the clock);
* the memo key holds the class of the event and of each map read, and for
  each (map, key) read its value or "absent" — and is used only when every
  value read is a `str` (str equality is exact: no 1 == 1.0 == True);
* only results of immutable types are kept, errors are never kept (the next
  run raises the same way again), and any surprise while building the key
  (a map that is not a dict, no `evt` in the environment) runs the
  expression normally.

So the memoised `run` returns what `program.run` would return on the same
event. Expressions compiled with caller-supplied functions are never
memoised (a name could then mean another function).
"""

from __future__ import annotations

from crowdsec_mp.engine.expr import ast

#: Functions known to be pure, by name, for expressions compiled with the
#: standard function table only.
PURE_FUNCTIONS = frozenset({"Upper", "Lower", "len", "IsIPV4", "IsIPV6", "IsIP", "IpInRange"})
#: Event maps an expression may read through the memo.
EVENT_MAPS = frozenset({"Parsed", "Meta", "Enriched"})
#: Results that can be shared between runs.
_IMMUTABLE_RESULTS = frozenset({str, bool, int, float, type(None)})
_ABSENT = object()


class _NotPure(Exception):
    pass


def event_reads(tree) -> tuple[tuple[str, str], ...] | None:
    """The (map, key) pairs `tree` reads when it is a pure function of them
    (see the module docstring), else None."""
    reads: set[tuple[str, str]] = set()
    try:
        _collect(tree, frozenset(), reads)
    except _NotPure:
        return None
    return tuple(sorted(reads))


def _collect(node, bound: frozenset, reads: set) -> None:
    if isinstance(node, ast.Const):
        return
    if isinstance(node, ast.Ident):
        if node.name not in bound:
            raise _NotPure  # `evt` as a whole, `$env`, or an unknown variable
        return
    if isinstance(node, ast.Member):
        reads.add(_map_read(node, bound))
        return
    if isinstance(node, ast.Chain):
        _collect(node.node, bound, reads)
        return
    if isinstance(node, ast.Binary):
        if node.op == "in" and _is_event_map(node.right, bound):
            # `"key" in evt.Meta`: whether that key is present.
            if not (isinstance(node.left, ast.Const) and isinstance(node.left.value, str)):
                raise _NotPure
            reads.add((node.right.key.value, node.left.value))
            return
        _collect(node.left, bound, reads)
        _collect(node.right, bound, reads)
        return
    if isinstance(node, ast.Unary):
        _collect(node.operand, bound, reads)
        return
    if isinstance(node, ast.Ternary):
        for part in (node.cond, node.then, node.otherwise):
            _collect(part, bound, reads)
        return
    if isinstance(node, ast.Let):
        if node.name == "evt":
            raise _NotPure
        _collect(node.value, bound, reads)
        _collect(node.body, bound | {node.name}, reads)
        return
    if isinstance(node, ast.Array):
        for item in node.items:
            _collect(item, bound, reads)
        return
    if isinstance(node, ast.Call):
        if node.name not in PURE_FUNCTIONS:
            raise _NotPure
        for argument in node.args:
            _collect(argument, bound, reads)
        return
    raise _NotPure  # method calls, closures, pointers, map literals, slices...


def _is_event_map(node, bound) -> bool:
    """`evt.Parsed` / `evt.Meta` / `evt.Enriched` (the map itself)."""
    return (isinstance(node, ast.Member) and isinstance(node.obj, ast.Ident)
            and node.obj.name == "evt" and "evt" not in bound
            and isinstance(node.key, ast.Const) and node.key.value in EVENT_MAPS)


def _map_read(node, bound) -> tuple[str, str]:
    """(map, key) of `evt.<Map>.<key>`; anything else is not pure for the memo."""
    if (_is_event_map(node.obj, bound) and isinstance(node.key, ast.Const)
            and isinstance(node.key.value, str)):
        return node.obj.key.value, node.key.value
    raise _NotPure


def worth_memoising(tree) -> bool:
    """Whether a memo lookup is likely cheaper than running the expression:
    it calls a function or binds a variable (plain comparisons are cheap)."""
    stack = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Call, ast.Let)):
            return True
        for name in getattr(node, "__slots__", ()):
            child = getattr(node, name)
            if isinstance(child, ast.Node):
                stack.append(child)
            elif isinstance(child, list):
                stack.extend(item for item in child if isinstance(item, ast.Node))
    return False


class MemoizedProgram:
    """A `Program` whose `run` looks the result up by the values it reads."""

    __slots__ = ("program", "source", "where", "reads", "_results")

    #: Bound of the memo of one expression (cleared when full).
    MEMO_SIZE = 4096

    def __init__(self, program, reads):
        self.program = program
        self.source = program.source
        self.where = program.where
        self.reads = reads
        self._results: dict = {}

    def run(self, env: dict):
        try:
            key = self._key(env["evt"])
            result = self._results.get(key, _ABSENT) if key is not None else _ABSENT
        except Exception:  # not the event shape the memo knows: plain run
            return self.program.run(env)
        if result is not _ABSENT:
            return result
        result = self.program.run(env)  # an error propagates, nothing is kept
        if key is not None and result.__class__ in _IMMUTABLE_RESULTS:
            if len(self._results) >= self.MEMO_SIZE:
                self._results.clear()
            self._results[key] = result
        return result

    def _key(self, evt):
        """The memo key of `evt`, or None when a value read is not a str."""
        key = [evt.__class__]
        for field, name in self.reads:
            values = getattr(evt, field)
            value = dict.get(values, name, _ABSENT)  # raises TypeError if not a dict
            if value is not _ABSENT and value.__class__ is not str:
                return None
            key.append(values.__class__)
            key.append(value)
        return tuple(key)

    def __repr__(self):
        return f"MemoizedProgram({self.source!r})"


def memoised(program, tree):
    """`program` wrapped in a MemoizedProgram when that is exact and worth it,
    else `program` itself."""
    if not worth_memoising(tree):
        return program
    reads = event_reads(tree)
    if reads is None:
        return program
    return MemoizedProgram(program, reads)
