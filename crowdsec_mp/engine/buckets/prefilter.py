"""Cheap pre-check of scenario filters, so that an event only meets the filters that can match.

Most hub filters start with plain comparisons on `evt.Meta`:
`evt.Meta.log_type == 'ssh_failed-auth' && ...` or
`evt.Meta.log_type in ['http_access-log', 'http_error-log'] and ...`.
When such comparisons are the LEADING conjuncts of a top-level `&&`/`and`
chain, an event whose Meta does not satisfy them makes the whole filter
false by short-circuit, without evaluating anything else: no error and no
side effect can happen. Skipping the filter is then exactly equivalent,
which is the only case handled here; any other shape (an `or` / ternary /
pipe / `let` at top level, a function call first...) is always evaluated.

`ScenarioIndex.candidates(evt)` returns the scenarios to evaluate, in load
order, cached per combination of the Meta values that the pre-checks read.

`ScenarioIndex.matches(evt)` gives the scenarios whose filter is true (what
`BucketStore.pour` and `routing.prepare_pours` pour into). With the memo
(filtermemo.py, on by default) it answers from a row of remembered answers
per tuple of the field values the filters read; the pre-checks above only run
when a row is filled. Without the memo it evaluates the candidates' filters,
and looks the candidates up again after anything that may have written to
the event (the pre-checks read the values before the first filter ran).
"""

from __future__ import annotations

import re
from bisect import bisect_right

from crowdsec_mp.engine.buckets.filtermemo import (
    RUN,
    UNKNOWN,
    FilterMemo,
    MemoTable,
    filter_is_pure,
    filter_outcome,
    key_builder,
    run_bool,
)
from crowdsec_mp.engine.event import Event

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|`[^`]*`)
      | (?P<badstr>['"])
      | (?P<open>[(\[{])
      | (?P<close>[)\]}])
      | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<op>&&|\|\||\?\?|\?\.|[?|;:]|==|!=|<=|>=|[^\sA-Za-z0-9_'"`()\[\]{}])
      | (?P<other>[0-9.]+)
    )""",
    re.VERBOSE,
)
_UNSAFE_TOP = {"||", "or", "?", "??", "|", ";", "let", "if", ":"}
_CONJ = {"&&", "and"}

_STR = r"""'([^'\\]*)'|"([^"\\]*)\""""
_FN = r"(?:Upper|Lower|QueryUnescape|PathUnescape)"
# `F(evt.Meta.k) contains|startsWith|endsWith|== <non-empty literal>`: false without
# error when Meta.k is "" (these helpers map "" to ""), whatever the literal.
_TEXT_TEST = re.compile(
    r"^(?:" + _FN + r"\(\s*" + _FN + r"\(\s*evt\.Meta\.(\w+)\s*\)\s*\)"
    r"|" + _FN + r"\(\s*evt\.Meta\.(\w+)\s*\)"
    r"|evt\.Meta\.(\w+))"
    r"\s*(?:\s(?:contains|startsWith|endsWith)\s|==)\s*"
    r"(?:(?:Upper|Lower)\(\s*(?:" + _STR + r")\s*\)|(?:" + _STR + r"))$"
)
#: Requirement kind: the Meta value must be a non-empty string (or a non-string).
NONEMPTY = "nonempty"
_EQ = re.compile(r"^evt\.Meta\.([A-Za-z_][A-Za-z0-9_]*)\s*==\s*(?:" + _STR + r")$")
_IN = re.compile(r"^evt\.Meta\.([A-Za-z_][A-Za-z0-9_]*)\s+in\s*\[(.*)\]$", re.DOTALL)
_LIST_ITEM = re.compile(r"\s*(?:" + _STR + r")\s*(?:,|$)")

#: Cached candidate tuples are dropped beyond this many Meta combinations.
CACHE_LIMIT = 4096
#: Remembered answers per text test (cleared when full).
TEXT_CACHE_LIMIT = 4096



def split_top_conjuncts(source: str) -> list[str] | None:
    """The top-level `&&`/`and` operands of `source`, or None if the top level is not a plain chain."""
    parts: list[str] = []
    depth = 0
    start = 0
    pos = 0
    text = source.strip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None or match.group("badstr"):
            return None
        kind = match.lastgroup
        token = match.group(kind)
        if kind == "op" and token == "/" and text[match.end():match.end() + 1] in ("/", "*"):
            return None  # a comment could hide operators from this tokenizer: stay conservative
        if kind == "open":
            depth += 1
        elif kind == "close":
            depth -= 1
            if depth < 0:
                return None
        elif depth == 0:
            if token in _UNSAFE_TOP:
                return None
            if token in _CONJ:
                parts.append(text[start:match.start(kind)].strip())
                start = match.end()
        pos = match.end()
        if not text[pos:].strip():
            break
    if depth != 0:
        return None
    parts.append(text[start:].strip())
    return parts


def _string_values(body: str) -> frozenset | None:
    values = []
    pos = 0
    body = body.strip().rstrip(",")
    while pos < len(body):
        match = _LIST_ITEM.match(body, pos)
        if match is None or match.end() == pos:
            return None
        values.append(match.group(1) if match.group(1) is not None else match.group(2))
        pos = match.end()
    return frozenset(values) if values else None


def _requirement(conjunct: str):
    """(meta key, allowed values | NONEMPTY) for a simple Meta comparison, else None."""
    match = _EQ.match(conjunct)
    if match:
        value = match.group(2) if match.group(2) is not None else match.group(3)
        return match.group(1), frozenset([value])
    match = _IN.match(conjunct)
    if match:
        values = _string_values(match.group(2))
        if values is not None:
            return match.group(1), values
    match = _TEXT_TEST.match(conjunct)
    if match:
        key = match.group(1) or match.group(2) or match.group(3)
        literal = next((g for g in match.groups()[3:] if g is not None), "")
        if literal:
            return key, NONEMPTY
    return None


def leading_requirements(source: str) -> list[tuple[str, frozenset]]:
    """Meta requirements implied by the leading simple conjuncts of a filter ([] = none)."""
    parts = split_top_conjuncts(source or "")
    if not parts:
        return []
    requirements = []
    for part in parts:
        requirement = _requirement(part)
        if requirement is None:
            break
        requirements.append(requirement)
    return requirements


#: Helpers allowed around `evt.Meta.k` in a text test (one string argument,
#: string result, no side effect, no error on a string).
_TEXT_HELPERS = ("Upper", "Lower", "QueryUnescape", "PathUnescape", "TrimSpace")
_TEXT_OPERATORS = ("contains", "startsWith", "endsWith", "==", "matches")
#: TextTest.check's answer when a Meta value is not a string (helpers would fail).
UNDECIDED = None


class TextTest:
    """An exact leading conjunct: `F(G(evt.Meta.k)) op H('literal')` (or
    `evt.Parsed.k`), or an `or` chain of such comparisons (op: contains,
    startsWith, endsWith, ==, matches).

    `check(evt, values)` gives the conjunct's own value, computed with the very
    helper functions the expression calls (`values` caches the transformed
    field values of one event), or UNDECIDED when a value it reads is not a
    string (the expression would fail: the filter must run).
    """

    __slots__ = ("alternatives", "sources", "_answers")

    def __init__(self, alternatives):
        #: [((field, key), functions applied innermost first, op, literal str or regex search)]
        self.alternatives = alternatives
        #: the fields read, in order: the answer depends on their values only.
        self.sources = tuple(dict.fromkeys(alternative[0] for alternative in alternatives))
        self._answers: dict = {}

    def cached_check(self, evt):
        """`check` remembered per value of the fields read (bounded): the same
        request path or user agent comes back again and again."""
        if len(self.sources) == 1:
            field, key = self.sources[0]
            values = getattr(evt, field).get(key, "")
        else:
            values = tuple([getattr(evt, field).get(key, "") for field, key in self.sources])
        answers = self._answers
        try:
            return answers[values]
        except KeyError:
            pass
        except TypeError:  # an unhashable value: not remembered
            return self.check(evt, {})
        answer = self.check(evt, {})
        if len(answers) >= TEXT_CACHE_LIMIT:
            answers.clear()
        answers[values] = answer
        return answer

    def check(self, evt, values: dict):
        for alternative in self.alternatives:
            if _field_value(evt, alternative[0], alternative[1], values) is UNDECIDED:
                return UNDECIDED
        for source, functions, op, literal in self.alternatives:
            value = values[source, functions]
            if op == "contains":
                found = literal in value
            elif op == "startsWith":
                found = value.startswith(literal)
            elif op == "endsWith":
                found = value.endswith(literal)
            elif op == "==":
                found = value == literal
            else:
                found = literal(value) is not None
            if found:
                return True
        return False


def _field_value(evt, source, functions, values):
    """F(G(evt.<Meta|Parsed>.key)) for one event (cached in `values`), or
    UNDECIDED for a non-string value."""
    cache_key = (source, functions)
    try:
        return values[cache_key]
    except KeyError:
        pass
    value = getattr(evt, source[0]).get(source[1], "")
    if value.__class__ is not str:
        value = UNDECIDED
    else:
        for function in functions:
            value = function(value)
    values[cache_key] = value
    return value


def _field_chain(node, helpers):
    """((field, key), functions) for `F(G(evt.Meta.key))` or
    `F(G(evt.Parsed.key))` (string maps: a missing key reads ""), else None."""
    from crowdsec_mp.engine.expr import ast

    names = []
    while isinstance(node, ast.Call) and len(node.args) == 1 and node.name in _TEXT_HELPERS:
        names.append(node.name)
        node = node.args[0]
    if (isinstance(node, ast.Member) and not node.optional and isinstance(node.key, ast.Const)
            and type(node.key.value) is str and isinstance(node.obj, ast.Member)
            and not node.obj.optional and isinstance(node.obj.obj, ast.Ident)
            and node.obj.obj.name == "evt" and isinstance(node.obj.key, ast.Const)
            and node.obj.key.value in ("Meta", "Parsed")):
        source = (node.obj.key.value, node.key.value)
        return source, tuple(helpers[name] for name in reversed(names))
    return None


def _literal(node, op, helpers):
    """The compared literal (str, or a regex search for `matches`), else None."""
    from crowdsec_mp.engine.expr import ast
    from crowdsec_mp.engine.expr.regex import compile_go_regex

    if isinstance(node, ast.Call) and len(node.args) == 1 and node.name in ("Upper", "Lower"):
        inner = node.args[0]
        if not (isinstance(inner, ast.Const) and type(inner.value) is str):
            return None
        value = helpers[node.name](inner.value)
    elif isinstance(node, ast.Const) and type(node.value) is str:
        value = node.value
    else:
        return None
    if op != "matches":
        return value
    try:
        return compile_go_regex(value).search
    except Exception:  # invalid here: the expression reports it, never skip
        return None


def _text_test(conjunct: str) -> TextTest | None:
    from crowdsec_mp.engine.expr import ast
    from crowdsec_mp.engine.expr.helpers import text
    from crowdsec_mp.engine.expr.parser import parse

    try:
        tree = parse(conjunct)
    except Exception:
        return None
    comparisons = []
    pending = [tree]
    while pending:  # an `or` chain, left to right
        node = pending.pop()
        if isinstance(node, ast.Binary) and node.op in ("or", "||"):
            pending.extend((node.right, node.left))
            continue
        if not (isinstance(node, ast.Binary) and node.op in _TEXT_OPERATORS):
            return None
        chain = _field_chain(node.left, text.FUNCTIONS)
        literal = _literal(node.right, node.op, text.FUNCTIONS)
        if chain is None or literal is None:
            return None
        comparisons.append((chain[0], chain[1], node.op, literal))
    return TextTest(comparisons)


def leading_text_tests(source: str) -> list[TextTest]:
    """Exact text tests among the leading conjuncts of a filter: those before
    the first conjunct that is neither a simple Meta requirement nor a text
    test (which could fail with an error, so nothing after it may be used)."""
    parts = split_top_conjuncts(source or "")
    if parts is None:
        # Not a plain `&&` chain; the whole filter may still be one `or` chain
        # of text comparisons.
        whole = _text_test(source or "")
        return [whole] if whole is not None else []
    tests = []
    for part in parts:
        requirement = _requirement(part)
        if requirement is not None and requirement[1] is not NONEMPTY:
            continue  # `evt.Meta.k == 'x'` / `in [...]`: decided by the cached signature
        test = _text_test(part)
        if test is None:
            if requirement is None:
                break
            continue
        tests.append(test)
    return tests


#: Signature components of a Meta value that equals none of the literals of its
#: key: a non-empty string, or not a string at all.
_OTHER = ("other",)
_NOT_STRING = ("not a string",)


class CandidateList:
    """The scenarios left by one combination of Meta pre-check results, with
    what `ScenarioIndex.matches` needs for each (cached per signature).

    steps: (scenario, position in the index, text tests or None) in load order.
    requirements: per step, the Meta requirements of its leading conjuncts.
    checks: per step, its filtermemo.MemoCheck or None.
    fresh: the answers of a new memo row (UNKNOWN where a check exists, else RUN).
    key_of: evt -> memo key (the values of every field the checks read), or
        None when no step has a check.
    """

    __slots__ = ("scenarios", "steps", "positions", "requirements", "tested", "checks", "fresh", "key_of")

    def __init__(self, scenarios: tuple, steps: tuple, requirements: tuple, memo):
        self.scenarios = scenarios
        self.steps = steps
        self.positions = tuple(position for _, position, _ in steps)
        self.requirements = requirements
        self.tested = any(tests for _, _, tests in steps)
        self.checks = tuple(memo.check_of(scenario) if memo is not None else None for scenario in scenarios)
        self.fresh = tuple(UNKNOWN if check is not None else RUN for check in self.checks)
        union = sorted({field for check in self.checks if check is not None for field in check.fields})
        self.key_of = key_builder(self, union) if any(self.checks) else None


class ScenarioIndex:
    """Scenarios grouped by the Meta values their filters require, and the
    remembered answers of the memoizable filters (filtermemo.py).

    enabled: use the Meta pre-checks and text tests (False: every scenario is a candidate).
    memo: remember the answers of pure filters; defaults to `enabled`, so that
        `enabled=False` evaluates every filter. Results are identical either way.
    """

    def __init__(self, scenarios, enabled: bool = True, memo: bool | None = None):
        self.scenarios = list(scenarios)
        #: id(scenario) -> position in `scenarios` (the PreparedPour.scenario_index).
        self.positions = {id(scenario): position for position, scenario in enumerate(self.scenarios)}
        self.memo = FilterMemo(self.scenarios) if (enabled if memo is None else memo) else None
        #: id of each scenario whose filter may write to the event (not pure).
        self._writers = frozenset(id(s) for s in self.scenarios if not filter_is_pure(s))
        #: the remembered answers (filtermemo.py).
        self.table = MemoTable()
        self.requirements = [leading_requirements(s.filter_source) if enabled else [] for s in self.scenarios]
        keys = sorted({key for reqs in self.requirements for key, _ in reqs})
        self.keys = tuple(keys)
        # Every literal a key is compared with: any other value behaves the same
        # for every pre-check, so the cache key stays small (bounded cardinality).
        self.literals = {
            key: frozenset().union(*(v for reqs in self.requirements for k, v in reqs if k == key and v != NONEMPTY))
            for key in keys
        }
        self._cache: dict[tuple, CandidateList] = {}
        # Exact text tests, checked per event on the cached candidates (their
        # outcome depends on the whole Meta value: not part of the cache key).
        # With the memo they only run when a row is filled (a new key).
        self.text_tests = {id(s): tests for s in self.scenarios
                           if (tests := leading_text_tests(s.filter_source) if enabled else [])}
        self._every = self._candidate_list(tuple(self.scenarios))

    def _candidate_list(self, chosen: tuple) -> CandidateList:
        steps = tuple((scenario, self.positions[id(scenario)], self.text_tests.get(id(scenario)))
                      for scenario in chosen)
        requirements = tuple(self.requirements[self.positions[id(scenario)]] for scenario in chosen)
        return CandidateList(chosen, steps, requirements, self.memo)

    def _select(self, meta_values: dict) -> tuple:
        # _OTHER / _NOT_STRING equal no literal; only "" fails a NONEMPTY requirement
        # (a non-string would make the helper fail: the filter must then run).
        chosen = []
        for scenario, reqs in zip(self.scenarios, self.requirements):
            if all(meta_values[key] != "" if allowed == NONEMPTY else meta_values[key] in allowed
                   for key, allowed in reqs):
                chosen.append(scenario)
        return tuple(chosen)

    def _lookup(self, evt) -> CandidateList:
        """The cached candidate list of the scenarios whose Meta pre-checks pass."""
        if not self.keys:
            return self._every
        meta = evt.Meta
        literals = self.literals
        signature = tuple(
            (value if value in literals[key] or value == "" else _OTHER) if value.__class__ is str else _NOT_STRING
            for key, value in ((key, meta.get(key, "")) for key in self.keys)
        )
        found = self._cache.get(signature)
        if found is None:
            if len(self._cache) >= CACHE_LIMIT:
                self._cache.clear()
            found = self._cache[signature] = self._candidate_list(self._select(dict(zip(self.keys, signature))))
        return found

    def candidates(self, evt) -> tuple:
        """Scenarios whose filter may be true for `evt`, in load order."""
        found = self._lookup(evt)
        if not found.tested:
            return found.scenarios
        return tuple([scenario for scenario, _, tests in found.steps
                      if tests is None or _passes(tests, evt)])

    def matches(self, evt):
        """Yield (scenario, position, error) for each scenario whose filter is
        true for `evt`, in load order, exactly as running every filter would:
        `error` is None, or the ExprError of a filter that failed or gave a
        non-bool, which is then the last item (the pour stops there).

        The caller may write to the event between two items (groupby, pour),
        and so may a filter that is not memoized: after either, the memo key is
        rebuilt from the current values and, if it changed, the remaining steps
        are answered from the row of the new values.
        """
        if self.memo is None:
            yield from self._run_steps(evt, -1)
            return
        # One candidate list for every event: the memo key holds the values the
        # Meta pre-checks read, and a row remembers their outcome too (_fill).
        found = self._every
        steps = found.steps
        key_of = found.key_of
        key = key_of(evt) if key_of is not None and type(evt) is Event else None
        if key is None:
            yield from self._run_steps(evt, -1)
            return
        row = self.table.row(key, found.fresh)
        answers = row.answers
        todo = row.todo
        filled = False  # answers were added to `row`: compact it when leaving it
        number = 0
        while number < len(todo):
            step = todo[number]
            number += 1
            answer = answers[step]
            if answer is False:
                continue
            scenario, position, tests = steps[step]
            check = found.checks[step]
            if answer is UNKNOWN:
                filled = True
                if check.writes:
                    # The filter itself runs here (once): its outcome is used below.
                    answer = _run_remembering(answers, step, scenario, found.requirements[step], tests, evt)
                    if answers[step] is False:
                        continue  # false without any change to the event
                else:
                    answer = _fill(answers, step, check, found.requirements[step], tests, evt)
                    if answer is False:
                        continue
            if answer is RUN:
                if tests is not None and not _passes(tests, evt):
                    continue
                answer = filter_outcome(scenario, evt)
                if answer is not True and answer is not False:
                    if filled:
                        row.compact()
                    yield scenario, position, answer
                    return
            elif answer is not True and answer is not False:  # the filter failed (not remembered)
                if filled:
                    row.compact()
                yield scenario, position, answer
                return
            if answer is True:
                yield scenario, position, None
            elif check is not None and check.whole:
                continue  # a pure filter was false: nothing changed
            # The pour, or a filter that is not pure, may have changed the event.
            new_key = key_of(evt)
            if new_key != key:
                if filled:
                    row.compact()
                if new_key is None:
                    yield from self._run_steps(evt, position)
                    return
                key = new_key
                row = self.table.row(key, found.fresh)
                answers = row.answers
                todo = row.todo
                filled = False
                number = bisect_right(todo, step)
        if filled:
            row.compact()

    def _run_steps(self, evt, after: int):
        """`matches` without memo, for the candidates after position `after`.

        The candidates come from the Meta values before any filter ran; a
        filter that may write to the event, or the caller between two items,
        can change them: the candidate list is then looked up again and the
        walk goes on with its scenarios after the current one.
        """
        found = self._lookup(evt)
        steps = found.steps
        number = bisect_right(found.positions, after)
        writers = self._writers
        while number < len(steps):
            scenario, position, tests = steps[number]
            number += 1
            if tests is not None and not _passes(tests, evt):
                continue
            answer = filter_outcome(scenario, evt)
            if answer is True:
                yield scenario, position, None
            elif answer is not False:
                yield scenario, position, answer
                return
            elif id(scenario) not in writers:
                continue
            current = self._lookup(evt)
            if current is not found:
                found = current
                steps = found.steps
                number = bisect_right(found.positions, position)


def _run_remembering(answers, step, scenario, requirements, tests, evt):
    """Run a filter that may write to the event (filtermemo.MemoCheck.writes)
    for an UNKNOWN step; remember False when it was false and left Meta and
    Parsed unchanged (the same field values then give the same false answer
    and the same absence of change), else RUN. Returns the filter's outcome."""
    if (requirements and not _meets(requirements, evt.Meta)) or (tests is not None and not _passes(tests, evt)):
        answers[step] = False  # exact: a leading conjunct is false, nothing ran
        return False
    meta, parsed = dict(evt.Meta), dict(evt.Parsed)
    answer = filter_outcome(scenario, evt)
    if answer is False and evt.Meta == meta and evt.Parsed == parsed:
        answers[step] = False
    elif answer is True or answer is False:
        answers[step] = RUN
    return answer  # an error is not remembered


def _fill(answers, step, check, requirements, tests, evt):
    """Evaluate an UNKNOWN step of a memo row and remember what may be
    remembered. Returns True/False (the filter's answer), RUN (the filter
    must run) or an ExprError of the remembered filter (not remembered).

    The Meta requirements and text tests are exact pre-checks of leading
    conjuncts of the filter (so they read fields of the memo key): for a
    remembered filter, a failed one is its false answer."""
    if check.whole and ((requirements and not _meets(requirements, evt.Meta))
                        or (tests is not None and not _passes(tests, evt))):
        answers[step] = False
        return False
    answer = run_bool(check.program, evt)
    if answer is True or answer is False:
        if check.whole:
            answers[step] = answer
            return answer
        # A guard: false means the filter is false; true: the filter decides.
        answers[step] = False if answer is False else RUN
        return answers[step]
    if check.whole:
        return answer  # the filter's own error, reported at its turn
    return RUN  # a failing guard proves nothing: the filter runs (and fails)


def _meets(requirements, meta) -> bool:
    """The Meta requirements hold (values are strings here: see matches)."""
    for key, allowed in requirements:
        value = meta.get(key, "")
        if not (value != "" if allowed == NONEMPTY else value in allowed):
            return False
    return True


def _passes(tests, evt) -> bool:
    """False only when a leading text test is false (and none before it undecided)."""
    for test in tests:
        answer = test.cached_check(evt)
        if answer is not True:
            return answer is UNDECIDED
    return True
