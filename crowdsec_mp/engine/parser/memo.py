"""Memoised parser expressions: a pure expression run once per distinct input.

Many node filters and statics are pure functions of a few event map values:
geoip-enrich's filter only reads `evt.Meta.source_ip` (and calls IsIPV6 and
IpInRange five times), http-logs' statics only read request fields. Sources
and paths repeat from line to line, so the parser keeps, per expression, the
result for each combination of the values it reads.

When it is exact (`event_reads`, i.e. expr/purity.py's `fields_read`,
decides from the syntax tree at load time):

* the expression is a pure function of the `evt.<Parsed|Meta|Enriched>.<key>`
  values it reads (and of `"key" in evt.<Map>`): constants, operators, `let`,
  predicates and calls of the pure helpers only (see expr/purity.py);
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
from crowdsec_mp.engine.expr.fastpred import walk
from crowdsec_mp.engine.expr.purity import fields_read as event_reads

#: Results that can be shared between runs.
_IMMUTABLE_RESULTS = frozenset({str, bool, int, float, type(None)})
_ABSENT = object()


def worth_memoising(tree) -> bool:
    """Whether a memo lookup is likely cheaper than running the expression:
    it calls a function or binds a variable (plain comparisons are cheap)."""
    return any(isinstance(node, (ast.Call, ast.Let)) for node, _ in walk(tree))


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
