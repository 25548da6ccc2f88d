"""Remembered scenario filter answers (buckets/filtermemo.py, ScenarioIndex.matches).

The memo must never change a result: every test compares it with the plain
evaluation (memo off), on hand-written scenarios and on the hub's scenarios.
"""

from __future__ import annotations

import copy
import json
import textwrap
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.buckets import BucketStore, filtermemo, load_scenarios
from crowdsec_mp.engine.buckets.filtermemo import MISSING, fields_read, guard_node, memo_check
from crowdsec_mp.engine.buckets.prefilter import ScenarioIndex
from crowdsec_mp.engine.buckets.timeutil import format_rfc3339_nano
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.event import TIMEMACHINE, Event, StrMap
from crowdsec_mp.engine.expr import compile_expr
from crowdsec_mp.engine.expr.parser import parse
from crowdsec_mp.engine.routing import prepare_pours

WALL = datetime(2031, 1, 1, tzinfo=timezone.utc)
LOG_BASE = datetime(2020, 1, 1, tzinfo=timezone.utc)
CTX = EngineContext()


# -- analysis ------------------------------------------------------------------------------------


@pytest.mark.parametrize("source, fields", [
    ("evt.Meta.log_type == 'x'", [("Meta", "log_type")]),
    ("evt.Meta['log_type'] == 'x' && evt.Parsed[\"p\"] != ''", [("Meta", "log_type"), ("Parsed", "p")]),
    ("Upper(QueryUnescape(evt.Meta.p)) startsWith Upper('/a')", [("Meta", "p")]),
    ("evt.Enriched.k in ['a', 'b'] or evt.Meta.k == nil", [("Enriched", "k"), ("Meta", "k")]),
    ("let u = Lower(evt.Meta.p); u contains 'a' || u == evt.Parsed.q", [("Meta", "p"), ("Parsed", "q")]),
    ("any(File('f.txt'), {Upper(evt.Meta.p) contains Upper(#)})", [("Meta", "p")]),
    ("count(['a', 'b'], {# == evt.Meta.x && #index > 0}) > 0", [("Meta", "x")]),
    ("if evt.Meta.a == 'x' { RegexpInFile(evt.Parsed.ua, 'r.txt') } else { false }",
     [("Meta", "a"), ("Parsed", "ua")]),
    ("evt.Meta.a == 'x' ? len(evt.Meta.b) > 2 : false", [("Meta", "a"), ("Meta", "b")]),
    ("true", []),
    ("evt.Meta?.x == 'a'", [("Meta", "x")]),
    ("'k' in evt.Parsed && evt.Meta.a != ''", [("Meta", "a"), ("Parsed", "k")]),
])
def test_pure_filters_are_memoizable(source, fields):
    assert fields_read(parse(source)) == tuple(sorted(fields))


@pytest.mark.parametrize("source", [
    "evt.SetMeta('a', 'b')",
    "evt.Meta.p contains 'x' && evt.SetMeta('a', 'b')",
    "evt.SetParsed('a', 'b') || true",
    "GetFromStash('c', evt.Meta.k) == 'x'",
    "SetInStash('c', evt.Meta.k, 'v', '1m') == nil",
    "unknown_function(evt.Meta.a)",
    "LogInfo('x') == nil",
    "evt.Line.Raw contains 'x'",
    "evt.Unmarshaled.a == 'x'",
    "evt.Meta == nil",
    "len(evt.Meta) > 0",
    "evt.Meta[evt.Meta.k] == 'x'",
    "evt?.Meta.x == 'a'",
    "evt.GetType() == 'log'",
    "evt.Time.Hour() > 3",
    "now() > date('2020-01-01')",
    "TimeNow() != ''",
    "$env.evt.Meta.x == 'a'",
    "other.Meta.x == 'a'",
    "let evt = {'Meta': {'x': 'a'}}; evt.Meta.x == 'a'",
    "Lower(evt.Meta.p).Foo() == 'x'",
    "IpToCountry(evt.Meta.source_ip) == 'FR'",
])
def test_other_filters_are_not_memoizable(source):
    assert fields_read(parse(source)) is None


@pytest.mark.parametrize("source, guard_fields", [
    ("evt.Meta.s == 'http' && evt.Meta.t in ['a'] && evt.SetMeta('x', 'y')", [("Meta", "s"), ("Meta", "t")]),
    ("if (evt.Meta.s == 'http' and evt.Meta.c in ['404']) { evt.SetMeta('x', 'y') } else { false }",
     [("Meta", "c"), ("Meta", "s")]),
    ("(evt.Meta.a == 'x' && evt.SetMeta('b', 'c')) && true", [("Meta", "a")]),
])
def test_guards_of_filters_that_write(source, guard_fields):
    guard = guard_node(parse(source))
    assert guard is not None and fields_read(guard) == tuple(guard_fields)


@pytest.mark.parametrize("source", [
    "evt.SetMeta('x', 'y') && evt.Meta.a == 'x'",   # the write comes first
    "evt.Meta.a == 'x' || evt.SetMeta('x', 'y')",   # `or`: a false operand proves nothing
    "if evt.Meta.a == 'x' { evt.SetMeta('x', 'y') } else { true }",
    "evt.Meta.a == 'x' ? evt.SetMeta('x', 'y') : evt.Meta.b == 'z'",
    "any(File('f'), {evt.Meta.a == # && evt.SetMeta('x', #)})",
])
def test_no_guard_without_a_pure_leading_test(source):
    assert guard_node(parse(source)) is None


# -- hand-written scenarios ----------------------------------------------------------------------


def scenario_doc(name, filter_source, groupby="evt.Meta.source_ip", **extra):
    fields = {"type": "trigger", "name": name, "description": "d", "filter": filter_source,
              "groupby": groupby, **extra}
    return "".join(f"{key}: {json.dumps(value)}\n" for key, value in fields.items() if value is not None)


@pytest.fixture
def load(tmp_path):
    counter = iter(range(1000))

    def build(*documents):
        path = tmp_path / f"scenarios{next(counter)}.yaml"
        path.write_text("---\n".join(textwrap.dedent(doc) for doc in documents))
        return load_scenarios([str(path)], EngineContext(clock=lambda: WALL, data_dir=str(tmp_path)))

    return build


def event(seconds=0, **meta) -> Event:
    stamp = format_rfc3339_nano(int((LOG_BASE + timedelta(seconds=seconds)).timestamp() * 10**9))
    return Event(ExpectMode=TIMEMACHINE, MarshaledTime=stamp,
                 Meta=StrMap({"source_ip": "1.2.3.4", **meta}))


def both_ways(scenarios, memo_index, evt):
    """prepare_pours with the memo and without (on a copy), plus each event's Meta after."""
    plain = copy.deepcopy(evt)
    with_memo = prepare_pours(evt, scenarios, memo_index)
    without = prepare_pours(plain, scenarios, ScenarioIndex(scenarios, memo=False))
    return (with_memo, dict(evt.Meta)), (without, dict(plain.Meta))


# A write that depends on a field no remembered filter reads (Parsed.z): two
# events with the same memo key, one rewritten and one not. A memo row filled
# with the values after the write would give the second event wrong answers.
WRITE_IF_Z = "(evt.Parsed.z == 'go' ? evt.SetMeta('x', 'b') : true)"


def with_z(evt, z):
    evt.Parsed = StrMap({"z": z})
    return evt


def test_a_write_between_two_remembered_filters_is_seen(load):
    scenarios = load(
        scenario_doc("t/before", "evt.Meta.x == 'a'"),
        scenario_doc("t/write", f"evt.SetMeta('seen', 'yes') && {WRITE_IF_Z}"),
        scenario_doc("t/after-a", "evt.Meta.x == 'a'"),
        scenario_doc("t/after-b", "evt.Meta.x == 'b' && evt.Meta.y == ''"),
    )
    index = ScenarioIndex(scenarios)
    assert [(check.whole, check.writes) for check in map(memo_check, scenarios)] == [
        (True, False), (False, True), (True, False), (True, False)]
    for _ in range(3):  # the later rounds are answered from the memo
        for z, expected in [("go", ["t/before", "t/write", "t/after-b"]),
                            ("no", ["t/before", "t/write", "t/after-a"])]:
            evt = with_z(event(x="a"), z)
            names = [scenarios[p.scenario_index].name for p in prepare_pours(evt, scenarios, index)]
            assert names == expected
            got, plain = both_ways(scenarios, index, with_z(event(x="a"), z))
            assert got == plain


def test_a_groupby_that_writes_is_seen_by_later_filters(load):
    scenarios = load(
        scenario_doc("t/first", "evt.Meta.x == 'a'", groupby=f"{WRITE_IF_Z} ? 'g' : 'h'"),
        scenario_doc("t/second", "evt.Meta.x == 'a'"),
        scenario_doc("t/third", "evt.Meta.x == 'b'"),
    )
    store = BucketStore(scenarios, EngineContext(clock=lambda: WALL))
    plain = BucketStore(scenarios, EngineContext(clock=lambda: WALL))
    plain.index = ScenarioIndex(scenarios, enabled=False)  # every filter runs
    for seconds in range(3):
        for z, expected in [("go", ["t/first", "t/third"]), ("no", ["t/first", "t/second"])]:
            got = [o.Overflow.Alert.Scenario for o in store.pour(with_z(event(seconds, x="a"), z), now=WALL)]
            assert got == expected
            assert got == [o.Overflow.Alert.Scenario
                           for o in plain.pour(with_z(event(seconds, x="a"), z), now=WALL)]


def test_prefilter_candidates_follow_a_write(load):
    """Without memo, the Meta pre-checks are looked up again after a write
    (they were computed from the values before the first filter ran)."""
    scenarios = load(
        scenario_doc("t/first", "evt.Meta.x == 'a'", groupby=f"{WRITE_IF_Z} ? 'g' : 'h'"),
        scenario_doc("t/third", "evt.Meta.x == 'b'"),
    )
    for z, expected in [("go", [0, 1]), ("no", [0])]:
        for index in (ScenarioIndex(scenarios, memo=False), ScenarioIndex(scenarios, enabled=False)):
            got = [p.scenario_index for p in prepare_pours(with_z(event(x="a"), z), scenarios, index)]
            assert got == expected


def test_missing_and_empty_values_have_their_own_keys(load):
    scenarios = load(scenario_doc("t/empty", "evt.Meta.x == ''"), scenario_doc("t/any", "true"))
    index = ScenarioIndex(scenarios)
    key_of = index._every.key_of
    assert key_of(event(x="")) != key_of(event())
    assert key_of(event())[1:] == (MISSING,)
    for evt in [event(x=""), event(), event(x="y"), event(), event(x="")]:
        got, expected = both_ways(scenarios, index, evt)
        assert got == expected


def test_values_that_are_not_strings_skip_the_memo(load):
    scenarios = load(scenario_doc("t/int", "evt.Meta.x == 1 || evt.Meta.x == true"),
                     scenario_doc("t/str", "evt.Meta.x == '1'"))
    index = ScenarioIndex(scenarios)
    for value in [1, True, "1", 1.0, "1"]:
        evt = event()
        dict.__setitem__(evt.Meta, "x", value)
        if value.__class__ is not str:
            assert index._every.key_of(evt) is None
        plain = copy.deepcopy(evt)
        got = [p.scenario_index for p in prepare_pours(evt, scenarios, index)]
        expected = [p.scenario_index for p in prepare_pours(plain, scenarios, ScenarioIndex(scenarios, memo=False))]
        assert got == expected
    assert len(index.table.rows) == 1  # only the string value was remembered


def test_errors_are_never_remembered(load):
    scenarios = load(
        scenario_doc("t/fails", "evt.Meta.a == 'x' && evt.Meta.b"),          # b is a string: error
        scenario_doc("t/not-bool", "evt.Meta.a == 'y' ? 'text' : false"),
        scenario_doc("t/after", "evt.Meta.a in ['x', 'y', 'z']"),
    )
    store = BucketStore(scenarios, EngineContext(clock=lambda: WALL))
    index = store.index
    for round_number in range(1, 4):
        assert store.pour(event(round_number, a="x", b="q"), now=WALL) == []  # aborted by t/fails
        assert prepare_pours(event(round_number, a="x", b="q"), scenarios, index) == []
        assert store.pour(event(round_number, a="y"), now=WALL) == []  # aborted by t/not-bool
        assert store.stats["filter_errors"] == 2 * round_number
        (row,) = [row for key, row in index.table.rows.items() if key[1:3] == ("x", "q")]
        assert row.answers[0] == filtermemo.UNKNOWN and row.answers[2] == filtermemo.UNKNOWN
    assert [o.Overflow.Alert.Scenario for o in store.pour(event(9, a="z"), now=WALL)] == ["t/after"]


def test_the_memo_is_bounded(load, monkeypatch):
    monkeypatch.setattr(filtermemo, "MEMO_LIMIT", 3)
    monkeypatch.setattr(filtermemo, "MAX_KEY_CHARS", 40)
    scenarios = load(scenario_doc("t/p", "Lower(evt.Meta.p) endsWith '.php'"),
                     scenario_doc("t/q", "evt.Meta.p contains 'x'"))
    index = ScenarioIndex(scenarios)
    paths = [f"/{n}.php" if n % 3 else f"/x{n}" for n in range(20)] + ["/" + "x" * 60 + ".PHP"]
    for path in paths + paths:
        got, expected = both_ways(scenarios, index, event(p=path))
        assert got == expected
        assert len(index.table.rows) <= 3
    long_key = index._every.key_of(event(p="/" + "x" * 60 + ".PHP"))
    assert long_key not in index.table.rows  # too long to be kept


# -- hub scenarios -------------------------------------------------------------------------------


COLLECTIONS = ["crowdsecurity/linux", "crowdsecurity/nginx", "crowdsecurity/base-http-scenarios",
               "crowdsecurity/http-cve"]


@pytest.fixture(scope="module")
def hub_scenarios(shared_hub):
    """The scenarios of the benchmark collections, as installed (load order)."""
    from crowdsec_mp.hub.index import HubIndex

    index = HubIndex.load(shared_hub)
    names, seen = [], set()

    def visit(name):
        if name in seen:
            return
        seen.add(name)
        item = index.item("collections", name)
        names.extend(n for n in item.members.get("scenarios", []) if n not in names)
        for sub in item.members.get("collections", []):
            visit(sub)

    for name in COLLECTIONS:
        visit(name)
    ctx = EngineContext(clock=lambda: WALL, data_dir=str(shared_hub / "data"))
    scenarios = load_scenarios([index.item("scenarios", n).path for n in names], ctx)
    assert len(scenarios) > 50
    return ctx, scenarios


PATHS = ["/", "/index.php", "/wp-login.php", "/wp-content/plugins/x/readme.txt", "/.env", "/admin",
         "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php", "/${jndi:ldap://x/a}",
         "/cgi-bin/.%2e/.%2e/etc/passwd", "/../../etc/passwd", "/remote_agent.php", "/sap/bc/gui/sap/its/webgui",
         "/json/setup-restore.action", "/autodiscover/autodiscover.json", "/global-protect/login.esp",
         "/crowdsec-test-NtktlJHV4TfBSK3wvlhiOBnl", "/CLASS.MODULE.CLASSLOADER.x", "/ampps/index.php",
         "/api/v2/cmdb/system/admin/x", "/backup.sql", "/1.php", "/a.css", ""]
META = {
    "log_type": ["http_access-log", "http_error-log", "ssh_failed-auth", "ssh_refused_conn", "auth_success", ""],
    "service": ["http", "ssh"],
    "http_status": ["404", "403", "200", "401", "400", "405", "302"],
    "http_verb": ["GET", "POST"],
    "http_path": PATHS,
    "sub_type": ["auth_fail", "req_limit_exceeded"],
    "target_user": ["root", "crowdsec-test-NtktlJHV4TfBSK3wvlhiOBnl"],
    "source_ip": ["1.2.3.4", "10.0.0.1"],
}
PARSED = {
    "verb": ["GET", "POST", "CONNECT", "HEAD"],
    "http_args": ["", "host_id=1&local_data_ids=2", "q=<script>", "id=1' union select", "action=polldata"],
    "http_user_agent": ["Mozilla/5.0", "sqlmap/1.0", "Nikto", "report runner", ""],
    "http_referer": ["-", "${jndi:ldap://x}"],
    "request": PATHS + ["/a?%3f", "/php/x/a.js.map"],
    "file_name": ["1.php", "index.php", "w00tw00t.at.ISC.SANS.DFind:)", ""],
    "file_ext": [".php", ".action", ""],
    "file_dir": ["/setup", "/"],
    "file_frag": ["server-info", ""],
    "static_ressource": ["true", "false"],
    "target_fqdn": ["example.com"],
}


def maps(choices):
    """A StrMap strategy: each key absent or one of its values."""
    return st.fixed_dictionaries({}, optional={key: st.sampled_from(values) for key, values in choices.items()})


hub_events = st.lists(st.tuples(maps(META), maps(PARSED), st.booleans()), min_size=1, max_size=40)


def hub_event(number, meta, parsed, odd_value) -> Event:
    evt = event(number, **meta)  # with a source_ip: overflows can build their alert
    evt.Parsed = StrMap(parsed)
    if odd_value:  # a value that is not a string: no memo for this event
        dict.__setitem__(evt.Parsed, "verb", 7)
    return evt


HUB_SETTINGS = settings(max_examples=80, deadline=None,
                        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@HUB_SETTINGS
@given(specs=hub_events)
def test_hub_prepare_pours_is_the_same_with_and_without_memo(hub_scenarios, specs):
    _, scenarios = hub_scenarios
    with_memo = ScenarioIndex(scenarios)
    without = ScenarioIndex(scenarios, memo=False)
    for number, (meta, parsed, odd) in enumerate(specs + specs):  # twice: the memo answers the repeats
        evt = hub_event(number, meta, parsed, odd and number % 5 == 0)
        plain = copy.deepcopy(evt)
        assert prepare_pours(evt, scenarios, with_memo) == prepare_pours(plain, scenarios, without)
        assert evt.Meta == plain.Meta and evt.Parsed == plain.Parsed


@HUB_SETTINGS
@given(specs=hub_events)
def test_hub_overflows_are_the_same_with_and_without_memo(hub_scenarios, specs):
    ctx, scenarios = hub_scenarios
    with_memo = BucketStore(scenarios, ctx)
    without = BucketStore(scenarios, ctx)
    without.index = ScenarioIndex(scenarios, memo=False)

    def summary(out):
        return [(o.Overflow.Alert.Scenario, o.Overflow.Alert.EventsCount, dict(o.Meta)) for o in out]

    got, expected = [], []
    for number, (meta, parsed, odd) in enumerate(specs + specs):
        evt = hub_event(number, meta, parsed, odd and number % 5 == 0)
        plain = copy.deepcopy(evt)
        got += summary(with_memo.pour(evt, now=WALL))
        expected += summary(without.pour(plain, now=WALL))
    assert got == expected
    assert with_memo.stats == without.stats
    assert with_memo.dump() == without.dump()


def test_hub_filters_are_mostly_remembered(hub_scenarios):
    _, scenarios = hub_scenarios
    checks = [memo_check(scenario) for scenario in scenarios]
    assert sum(1 for check in checks if check is not None and check.whole) >= len(scenarios) - 3
    # The two filters that write (SetMeta) have their "false without writing" remembered.
    writers = [s.name for s, check in zip(scenarios, checks) if check is not None and check.writes]
    assert writers == ["crowdsecurity/http-cve-probing", "crowdsecurity/http-technology-probing"]


def test_filters_that_write_remember_only_false_without_a_write(load):
    scenarios = load(
        scenario_doc("t/tag", "evt.Meta.p contains 'x' ? evt.SetMeta('hit', evt.Meta.p) : false"),
        scenario_doc("t/same", "evt.SetMeta('p', evt.Meta.p) && false"),     # writes the same value
        scenario_doc("t/other", "evt.SetMeta('q', 'v') && evt.Meta.p == 'never'"),
        scenario_doc("t/read", "evt.Meta.hit != '' || evt.Meta.q == 'v'"),
    )
    assert all(check.writes for check in map(memo_check, scenarios[:3]))
    index = ScenarioIndex(scenarios)
    for _ in range(3):
        for path in ["/x", "/y", "/x"]:
            got, expected = both_ways(scenarios, index, event(p=path))
            assert got == expected
            assert [p.scenario_index for p in got[0]] == ([0, 3] if path == "/x" else [3])
    rows = {key[1:]: row.answers for key, row in index.table.rows.items()}  # key: (hit, p, q)
    assert rows[MISSING, "/x", MISSING][0] == filtermemo.RUN          # true: runs every time
    assert rows[MISSING, "/y", MISSING][:3] == [False, False, filtermemo.RUN]  # false, no change: kept


def test_guard_program_is_false_only_when_the_filter_is(load):
    """A filter with an impure call (the stash) keeps a guard: its leading pure test."""
    source = "evt.Meta.s == 'http' && evt.Meta.c in ['404', '403'] && GetFromStash('c', evt.Meta.k) == 'v'"
    (scenario,) = load(scenario_doc("t/stash", source))
    check = memo_check(scenario)
    assert not check.whole and not check.writes and check.fields == (("Meta", "c"), ("Meta", "s"))
    compared = 0
    for s_value in ["http", "ssh", ""]:
        for c_value in ["404", "403", "200", ""]:
            evt = event(s=s_value, c=c_value, k="key")
            if check.program.run({"evt": evt}) is False:
                assert scenario.filter.run({"evt": evt}) is False
                compared += 1
            else:
                assert (s_value, c_value) in [("http", "404"), ("http", "403")]
    assert compared == 10


def test_compile_guard_matches_compile_expr():
    source = "evt.Meta.a in ['x', 'y'] && Upper(evt.Meta.b) startsWith 'Q'"
    guard = filtermemo.compile_guard(parse(source), source)
    program = compile_expr(source, CTX)
    for a in ["x", "z", ""]:
        for b in ["q1", "Q", "r"]:
            evt = event(a=a, b=b)
            assert guard.run({"evt": evt}) is program.run({"evt": evt})
