"""Remembered scenario filter results, per value of the event fields they read.

Most hub filters are pure functions of a few string fields of the event:
`evt.Meta.log_type in [...] && Upper(evt.Meta.http_path) contains '...'` gives
the same answer for every event with the same `log_type` and `http_path`, and
those values repeat a lot (a few thousand distinct combinations per 100,000
nginx lines). ScenarioIndex.matches (prefilter.py) keeps one `MemoRow` per
tuple of the values of every field the scenario filters read (the memo key):
the answer of each filter for those values, filled the first time they are
met. An event whose key is known gets the list of its true filters without
evaluating anything.

What is remembered per scenario (`memo_check`):

* a pure filter (`fields_read` of expr/purity.py, a conservative load-time
  walk of the syntax tree; scenario filters are compiled by compile_expr
  without `extra_funcs`, buckets/spec.py, so function names are the engine's
  helpers): its True/False answer;
* a filter that is pure except for `evt.SetMeta(k, v)` / `evt.SetParsed(k, v)`
  calls (`writes`): its result and its writes are functions of the fields it
  reads, so "false, and Meta/Parsed unchanged" is remembered; any other
  outcome means the filter runs every time;
* otherwise, a guard (`guard_node`): a pure leading test whose false answer
  makes the whole filter false without anything else being evaluated.

Exactness rules kept by ScenarioIndex.matches:

* only True/False answers are remembered; an error or a non-bool result is
  never remembered: the filter runs again and fails again, so the "a filter
  error aborts the remaining scenarios" rule is unchanged;
* the key is rebuilt after anything that may have written to the event (a
  filter that is not pure, and the caller's groupby/pour after each true
  filter); when it changed, the remaining scenarios are answered from the
  row of the new values;
* a missing key and "" are different key values (MISSING); a map that is not
  exactly a StrMap, or a value that is not exactly a str, means no memo for
  that event (every filter runs, as without the memo).

Memory: at most MEMO_LIMIT rows per ScenarioIndex (cleared when full), and
only keys whose values total at most MAX_KEY_CHARS characters (longer values
rarely repeat; such an event is still answered, its row is just not kept).
A row holds its key (one value per field read: 17 fields for the hub's
linux/nginx/http collections) and two lists of one slot per scenario (60).
Worst case: 8192 x (1024 characters, up to 4 bytes each, + ~50 bytes per
string + ~1.2 KB of tuple/lists) = about 50 MB (ASCII values: ~25 MB); on the
generated nginx corpus keys hold ~250 characters, i.e. ~15 MB when full.
"""

from __future__ import annotations

from crowdsec_mp.engine.event import StrMap
from crowdsec_mp.engine.expr import ExprError, ast
from crowdsec_mp.engine.expr.fastpred import walk
from crowdsec_mp.engine.expr.purity import STRING_MAPS, fields_read

#: Rows remembered per ScenarioIndex (the table is cleared when full).
MEMO_LIMIT = 8192
#: A key whose values are longer than this (in total) is not remembered.
MAX_KEY_CHARS = 1024


class _Missing:
    """Key value of an absent map key (differs from "")."""

    __slots__ = ()

    def __repr__(self):
        return "MISSING"


MISSING = _Missing()

# -- guards ------------------------------------------------------------------------

#: Data-file helpers are bound to the engine context: a guard compiled here
#: (with the context-free function table) must not call them.
_CONTEXT_FUNCTIONS = frozenset({"File", "RegexpInFile", "LookupFile"})


def guard_node(tree):
    """A pure sub-expression G of a filter that is not memoizable such that G
    evaluates to false only when the whole filter is false without having done
    anything else (no write, no error): the leading pure operands of a
    top-level `&&` chain, or the condition of `if C { ... } else { false }` /
    `C ? ... : false` (recursively). None when there is none."""
    if _pure(tree):
        return tree
    if isinstance(tree, ast.Binary) and tree.op in ("and", "&&"):
        operands = _and_operands(tree)
        leading = []
        for operand in operands:
            if not _pure(operand):
                break
            leading.append(operand)
        if not leading:
            return guard_node(operands[0])
        guard = leading[0]
        for operand in leading[1:]:
            guard = ast.Binary("&&", guard, operand)
        return guard
    if (isinstance(tree, ast.Ternary) and isinstance(tree.otherwise, ast.Const)
            and tree.otherwise.value is False):
        return guard_node(tree.cond)
    return None


def _and_operands(node) -> list:
    """Operands of a left-deep `a && b && c` chain, as the compiler flattens it."""
    operands = []
    while isinstance(node, ast.Binary) and node.op in ("and", "&&"):
        operands.append(node.right)
        node = node.left
    operands.append(node)
    operands.reverse()
    return operands


def _pure(node) -> bool:
    """Memoizable on its own, without context-bound data-file helpers."""
    if fields_read(node) is None:
        return False
    return not any(isinstance(n, ast.Call) and n.name in _CONTEXT_FUNCTIONS for n, _ in walk(node))


def compile_guard(node, source: str):
    """A Program for a guard node, compiled with the context-free functions
    (builtins and pure helpers: the guard uses no other); None if it fails."""
    from crowdsec_mp.engine.expr import Program
    from crowdsec_mp.engine.expr.builtins import make_builtins
    from crowdsec_mp.engine.expr.compiler import Compiler
    from crowdsec_mp.engine.expr.helpers import PURE_HELPERS

    functions = {**make_builtins(None), **PURE_HELPERS}
    try:
        fn, private_env = Compiler(functions, share_pure_calls=False).compile_root(node)
    except Exception:  # stay without a guard
        return None
    return Program(source, "scenario filter guard", fn, private_env)


# -- memo --------------------------------------------------------------------------


class MemoCheck:
    """What the memo remembers for one scenario: the answer of `program`
    (a function of `fields`), which is the filter itself when `whole`, else
    a guard whose false answer means the filter is false, or (`writes`) the
    filter itself when it may write to the event."""

    __slots__ = ("fields", "program", "whole", "writes")

    def __init__(self, fields: tuple, program, whole: bool, writes: bool = False):
        self.fields = fields
        self.program = program
        self.whole = whole
        #: the program is the filter itself, which may call SetMeta/SetParsed:
        #: only "false without any change to the event" is remembered.
        self.writes = writes


def memo_check(scenario) -> MemoCheck | None:
    """The MemoCheck of a scenario, or None when nothing can be remembered."""
    from crowdsec_mp.engine.expr.parser import parse

    program = getattr(scenario, "filter", None)
    source = getattr(program, "source", None)
    if not isinstance(source, str) or not source.strip():
        return None
    if getattr(scenario, "filter_source", None) != source:
        return None  # the text tests (prefilter.py) come from filter_source: keep them consistent
    try:
        tree = parse(source)
    except Exception:  # not compiled from this text: stay out of it
        return None
    fields = fields_read(tree)
    if fields is not None:
        return MemoCheck(fields, program, True)
    fields = fields_read(tree, writes_allowed=True)
    if fields is not None:
        return MemoCheck(fields, program, False, writes=True)
    guard = guard_node(tree)
    if guard is None:
        return None
    guard_program = compile_guard(guard, source)
    if guard_program is None:
        return None
    return MemoCheck(fields_read(guard), guard_program, False)


def filter_is_pure(scenario) -> bool:
    """The scenario filter neither writes to the event nor reads anything but
    string fields (fields_read accepts it)."""
    from crowdsec_mp.engine.expr.parser import parse

    source = getattr(getattr(scenario, "filter", None), "source", None)
    if not isinstance(source, str):
        return False
    try:
        return fields_read(parse(source)) is not None
    except Exception:
        return False


class FilterMemo:
    """The MemoCheck of each scenario of a list that has one."""

    def __init__(self, scenarios):
        self.checks: dict[int, MemoCheck] = {}
        for scenario in scenarios:
            check = memo_check(scenario)
            if check is not None:
                self.checks[id(scenario)] = check

    def check_of(self, scenario) -> MemoCheck | None:
        return self.checks.get(id(scenario))


#: Row answers besides True/False: not evaluated yet / the filter must run.
UNKNOWN = "unknown"
RUN = "run"


class MemoRow:
    """Answers for the steps of one candidate list (prefilter.CandidateList)
    and one tuple of field values: True/False for a remembered filter, False
    for a false guard, RUN (run the filter), UNKNOWN (not evaluated yet).
    `todo` lists the steps not known to be false, in load order."""

    __slots__ = ("answers", "todo")

    def __init__(self, answers: list):
        self.answers = answers
        self.todo = tuple(range(len(answers)))

    def compact(self) -> None:
        """Drop the steps now known to be false from `todo`."""
        self.todo = tuple([step for step, answer in enumerate(self.answers) if answer is not False])


class MemoTable:
    """MemoRow per memo key: at most MEMO_LIMIT rows (cleared when full),
    only keys with at most MAX_KEY_CHARS characters of values."""

    def __init__(self):
        self.rows: dict[tuple, MemoRow] = {}

    def row(self, key: tuple, fresh: list) -> MemoRow:
        """The row of `key`; a new one starts with a copy of `fresh`."""
        found = self.rows.get(key)
        if found is None:
            found = MemoRow(list(fresh))
            if sum([len(value) for value in key if value.__class__ is str]) <= MAX_KEY_CHARS:
                if len(self.rows) >= MEMO_LIMIT:
                    self.rows.clear()
                self.rows[key] = found
        return found


def key_builder(owner, fields):
    """A function evt -> (owner, values of `fields`...) with MISSING for an
    absent key, or None when the event cannot use the memo: a map that is not
    exactly a StrMap, or a value that is not exactly a str (the compiled filter
    may treat those differently). `owner` (the candidate list) makes the keys
    of different lists differ."""
    by_map = {name: tuple(key for map_name, key in fields if map_name == name) for name in STRING_MAPS}
    reads = tuple((name, keys, (MISSING,) * len(keys)) for name, keys in by_map.items() if keys)
    allowed = frozenset({str, _Missing, type(owner)})

    if len(reads) == 1:
        ((name, keys, missing),) = reads

        def key_of_one_map(evt):
            values = getattr(evt, name)
            if type(values) is not StrMap:
                return None
            key = (owner, *map(values.get, keys, missing))
            return key if allowed.issuperset(map(type, key)) else None

        return key_of_one_map
    if len(reads) == 2:
        (name_a, keys_a, missing_a), (name_b, keys_b, missing_b) = reads

        def key_of_two_maps(evt):
            values_a = getattr(evt, name_a)
            values_b = getattr(evt, name_b)
            if type(values_a) is not StrMap or type(values_b) is not StrMap:
                return None
            key = (owner, *map(values_a.get, keys_a, missing_a), *map(values_b.get, keys_b, missing_b))
            return key if allowed.issuperset(map(type, key)) else None

        return key_of_two_maps

    def key_of_maps(evt):
        key = [owner]
        for name, keys, missing in reads:
            values = getattr(evt, name)
            if type(values) is not StrMap:
                return None
            key.extend(map(values.get, keys, missing))
        return tuple(key) if allowed.issuperset(map(type, key)) else None

    return key_of_maps


def run_bool(program, evt):
    """Run a filter (or guard) program: True, False, or the ExprError that stops
    the pour (a failure, or a result that is not a bool)."""
    try:
        matched = program.run({"evt": evt})
    except ExprError as error:
        return error
    if matched is True or matched is False:
        return matched
    return ExprError(f"filter returned {matched!r}, not a bool")


def filter_outcome(scenario, evt):
    """Run the scenario filter: see run_bool."""
    return run_bool(scenario.filter, evt)
