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
"""

from __future__ import annotations

import re

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<str>'[^'\\]*'|"[^"\\]*"|`[^`]*`)
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

# `[F(][G(]evt.Meta.k[)][)] op [H(]'literal'[)]` with F, G, H string helpers: an
# exact test, evaluated per event with the same helper functions (TextTest).
_TEXT_EXACT = re.compile(
    r"^(?:(?P<f1>" + _FN + r")\(\s*)?(?:(?P<f2>" + _FN + r")\(\s*)?"
    r"evt\.Meta\.(?P<key>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<close>(?:\)\s*)*)"
    r"(?P<op>\s(?:contains|startsWith|endsWith)\s|==)\s*"
    r"(?:(?P<lf>Upper|Lower)\(\s*)?(?:'(?P<sq>[^'\\]*)'|\"(?P<dq>[^\"\\]*)\")\s*(?P<lclose>\)?)$"
)


def split_top_conjuncts(source: str) -> list[str] | None:
    """The top-level `&&`/`and` operands of `source`, or None if the top level is not a plain chain."""
    if "//" in source or "/*" in source:
        return None  # comments could hide operators from this tokenizer: stay conservative
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


class TextTest:
    """An exact leading conjunct `F(G(evt.Meta.key)) op H('literal')`.

    `check(meta)` is False only when the conjunct is certainly false without
    error: it applies the very helper functions the expression calls, and
    answers True (cannot skip) for a non-string Meta value.
    """

    __slots__ = ("key", "functions", "op", "literal")

    def __init__(self, key: str, functions: tuple, op: str, literal: str):
        self.key = key
        self.functions = functions  # applied in order (innermost first)
        self.op = op
        self.literal = literal

    def check(self, meta) -> bool:
        value = meta.get(self.key, "")
        if value.__class__ is not str:
            return True
        for function in self.functions:
            value = function(value)
        op = self.op
        if op == "contains":
            return self.literal in value
        if op == "startsWith":
            return value.startswith(self.literal)
        if op == "endsWith":
            return value.endswith(self.literal)
        return value == self.literal


def _text_test(conjunct: str) -> TextTest | None:
    from crowdsec_mp.engine.expr.helpers import text

    match = _TEXT_EXACT.match(conjunct)
    if match is None:
        return None
    names = [name for name in (match.group("f2"), match.group("f1")) if name]
    if match.group("close").count(")") != len(names):
        return None
    literal_function = match.group("lf")
    if bool(match.group("lclose")) != bool(literal_function):
        return None
    literal = match.group("sq") if match.group("sq") is not None else match.group("dq")
    if literal_function:
        literal = text.FUNCTIONS[literal_function](literal)
    functions = tuple(text.FUNCTIONS[name] for name in names)
    return TextTest(match.group("key"), functions, match.group("op").strip(), literal)


def leading_text_tests(source: str) -> list[TextTest]:
    """Exact text tests among the leading simple conjuncts of a filter."""
    parts = split_top_conjuncts(source or "")
    tests = []
    for part in parts or ():
        requirement = _requirement(part)
        if requirement is None:
            break
        if requirement[1] is not NONEMPTY:
            continue  # `evt.Meta.k == 'x'` / `in [...]`: decided by the cached signature
        test = _text_test(part)
        if test is not None:
            tests.append(test)
    return tests


#: Signature components of a Meta value that equals none of the literals of its
#: key: a non-empty string, or not a string at all.
_OTHER = ("other",)
_NOT_STRING = ("not a string",)


class ScenarioIndex:
    """Scenarios grouped by the Meta values their filters require."""

    def __init__(self, scenarios, enabled: bool = True):
        self.scenarios = list(scenarios)
        self.requirements = [leading_requirements(s.filter_source) if enabled else [] for s in self.scenarios]
        keys = sorted({key for reqs in self.requirements for key, _ in reqs})
        self.keys = tuple(keys)
        # Every literal a key is compared with: any other value behaves the same
        # for every pre-check, so the cache key stays small (bounded cardinality).
        self.literals = {
            key: frozenset().union(*(v for reqs in self.requirements for k, v in reqs if k == key and v != NONEMPTY))
            for key in keys
        }
        self._cache: dict[tuple, tuple] = {}
        # Exact text tests, checked per event on the cached candidates (their
        # outcome depends on the whole Meta value: not part of the cache key).
        self.text_tests = {id(s): tests for s in self.scenarios
                           if (tests := leading_text_tests(s.filter_source) if enabled else [])}

    def _select(self, meta_values: dict) -> tuple:
        # _OTHER / _NOT_STRING equal no literal; only "" fails a NONEMPTY requirement
        # (a non-string would make the helper fail: the filter must then run).
        chosen = []
        for scenario, reqs in zip(self.scenarios, self.requirements):
            if all(meta_values[key] != "" if allowed == NONEMPTY else meta_values[key] in allowed
                   for key, allowed in reqs):
                chosen.append(scenario)
        return tuple(chosen)

    def candidates(self, evt) -> tuple:
        """Scenarios whose filter may be true for `evt`, in load order."""
        if not self.keys:
            return tuple(self.scenarios)
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
            found = self._select(dict(zip(self.keys, signature)))
            tests = self.text_tests
            checks = tuple(tests.get(id(scenario)) for scenario in found)
            found = (found, checks if any(checks) else None)
            self._cache[signature] = found
        found, checks = found
        if checks is None:
            return found
        return tuple(scenario for scenario, tests in zip(found, checks)
                     if tests is None or all(test.check(meta) for test in tests))
