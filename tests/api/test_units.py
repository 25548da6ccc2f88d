"""Pure helpers of the LAPI: durations, IP bounds, times, settings, profiles, validation."""

from __future__ import annotations

import ipaddress

import pytest

from crowdsec_mp.api.durations import format_duration, parse_duration
from crowdsec_mp.api.errors import APIError
from crowdsec_mp.api.iprange import parse_ip_or_range
from crowdsec_mp.api.profiles import compile_profile, decisions_for_alert, load_profiles
from crowdsec_mp.api.settings import ApiSettings
from crowdsec_mp.api.timefmt import go_time_string, parse_rfc3339_us, rfc3339_seconds
from crowdsec_mp.api.wire import validate_alerts
from crowdsec_mp.errors import ConfigError

from tests.api.lapi_helpers import agent_alert


@pytest.mark.parametrize(
    "text, seconds",
    [("4h", 14400), ("1d12h", 129600), ("1h30m", 5400), ("500ms", 0.5), ("-1m30s", -90), ("0", 0), ("1.5h", 5400), ("7d", 604800)],
)
def test_parse_duration(text, seconds):
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "4", "h", "4x", "4h-", "1 h", "--1s", None, 5])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    "seconds, text",
    [(14400, "4h0m0s"), (14398, "3h59m58s"), (3541, "59m1s"), (45, "45s"), (0, "0s"), (0.4, "0s"), (-90, "-1m30s"), (604799, "167h59m59s")],
)
def test_format_duration_is_go_duration_string(seconds, text):
    assert format_duration(seconds) == text
    # Bouncers parse it back with time.ParseDuration.
    assert parse_duration(text) == round(seconds)


def _as_int(hi, lo):
    return ((hi + (1 << 63)) << 64) | (lo + (1 << 63))


@pytest.mark.parametrize("text", ["1.2.3.4", "1.2.3.0/24", "0.0.0.0/0", "::1", "2001:db8::/32", "ffff:ffff::/16", "::/0"])
def test_ip_bounds_round_trip(text):
    bounds = parse_ip_or_range(text)
    network = ipaddress.ip_network(text, strict=False)
    assert _as_int(bounds.start_hi, bounds.start_lo) == int(network.network_address)
    assert _as_int(bounds.end_hi, bounds.end_lo) == int(network.broadcast_address)
    assert bounds.ip_size == (4 if network.version == 4 else 16)
    assert bounds.is_range == (network.num_addresses > 1)


def test_ip_bounds_keep_unsigned_order_in_signed_columns():
    # Addresses on both sides of 2**63 in each half must compare as unsigned.
    low, high = parse_ip_or_range("7fff::1"), parse_ip_or_range("8000::1")
    assert (low.start_hi, low.start_lo) < (high.start_hi, high.start_lo)
    assert all(-(1 << 63) <= v < (1 << 63) for v in (*low[1:], *high[1:]))


@pytest.mark.parametrize("text", ["", "1.2.3", "1.2.3.4/33", "abc", "1.2.3.4 ", "1.2.3.4/", "::g", "' OR 1=1 --"])
def test_ip_bounds_reject_invalid(text):
    with pytest.raises(ValueError, match="not a valid ip address / range"):
        parse_ip_or_range(text)


def test_times():
    us = parse_rfc3339_us("2024-05-02T08:01:02.123456789Z")
    assert rfc3339_seconds(us) == "2024-05-02T08:01:02Z"
    assert go_time_string(us) == "2024-05-02 08:01:02.123456 +0000 UTC"
    assert go_time_string(parse_rfc3339_us("2024-05-02T10:01:00+02:00")) == "2024-05-02 08:01:00 +0000 UTC"
    assert parse_rfc3339_us("yesterday") is None


# -- settings -------------------------------------------------------------------


def test_settings_from_mapping(tmp_path):
    settings = ApiSettings.from_mapping(
        {
            "api": {"server": {"listen_uri": "0.0.0.0:9090", "profiles_path": "p.yaml", "trusted_ips": ["10.0.0.0/8"]}},
            "db_config": {"type": "mysql", "db_name": "cs", "port": "3307", "flush": {"max_items": 10, "max_age": "2d"}},
        },
        base_dir=tmp_path,
    )
    assert settings.host_port == ("0.0.0.0", 9090)
    assert settings.profiles_path == tmp_path / "p.yaml"
    assert settings.db.backend == "mysql" and settings.db.port == 3307
    assert settings.db.flush_max_items == 10 and settings.db.flush_max_age == 172800


@pytest.mark.parametrize(
    "mapping, field",
    [
        ({"db_config": {"type": "oracle"}}, "db_config.type"),
        ({"db_config": {"type": "sqlite"}}, "db_config.db_path"),
        ({"db_config": {"type": "mysql", "port": "x"}}, "db_config.port"),
        ({"db_config": {"type": "mysql", "flush": {"max_items": 0}}}, "db_config.flush.max_items"),
        ({"db_config": {"type": "mysql", "flush": {"max_age": "7 days"}}}, "db_config.flush.max_age"),
        ({"api": {"server": {"listen_uri": "nohost"}}, "db_config": {"type": "mysql"}}, "api.server.listen_uri"),
        ({"api": {"server": {"trusted_ips": ["1.2.3.400"]}}, "db_config": {"type": "mysql"}}, "trusted_ips"),
        ({"api": {"server": {"tls": {"cert_file": "c.pem"}}}, "db_config": {"type": "mysql"}}, "api.server.tls"),
        ({"api": "yes"}, "api"),
    ],
)
def test_settings_errors_name_the_field(mapping, field):
    with pytest.raises(ConfigError) as info:
        ApiSettings.from_mapping(mapping, source="config.yaml")
    assert info.value.field == field and "config.yaml" in str(info.value)


# -- profiles ---------------------------------------------------------------------

BASE_PROFILE = {"name": "p", "filters": ["Alert.Remediation == true"], "decisions": [{"type": "ban", "duration": "4h"}]}


@pytest.mark.parametrize(
    "change, field",
    [
        ({"filterz": []}, "filterz"),
        ({"filters": []}, "filters"),
        ({"filters": ["Alert.Remediation =="]}, "filters[0]"),
        ({"decisions": [{"type": "ban"}]}, "decisions[0].duration"),
        ({"decisions": [{"duration": "4h"}]}, "decisions[0].type"),
        ({"decisions": [{"type": "ban", "duration": "forever"}]}, "decisions[0].duration"),
        ({"decisions": [{"type": "ban", "duration": "4h", "until": "x"}]}, "decisions[0].until"),
        ({"on_success": "stop"}, "on_success"),
        ({"on_error": "explode"}, "on_error"),
        ({"duration_expr": "Sprintf("}, "duration_expr"),
    ],
)
def test_profile_errors_name_file_profile_and_field(change, field):
    with pytest.raises(ConfigError) as info:
        compile_profile({**BASE_PROFILE, **change}, "profiles.yaml")
    assert (info.value.file, info.value.item, info.value.field) == ("profiles.yaml", "p", field)


def test_profiles_file_local_prepended_and_empty_refused(tmp_path):
    path = tmp_path / "profiles.yaml"
    path.write_text("# nothing\n")
    with pytest.raises(ConfigError, match="at least one profile"):
        load_profiles(path)
    path.write_text("name: main\nfilters: ['true']\ndecisions: [{type: ban, duration: 1h}]\n")
    (tmp_path / "profiles.yaml.local").write_text("name: local\nfilters: ['false']\n")
    assert [p.name for p in load_profiles(path)] == ["local", "main"]
    path.write_text("name: [unclosed\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_profiles(path)


def _profiles(*docs):
    return [compile_profile(doc, "profiles.yaml", i) for i, doc in enumerate(docs)]


def test_profile_first_matching_profile_with_decisions_wins():
    profiles = _profiles(
        {"name": "notify-only", "filters": ["true"]},
        {"name": "captcha", "filters": ["Alert.GetScenario() == 'a/b'"], "decisions": [{"type": "captcha", "duration": "1h", "origin": "x"}]},
        {"name": "ban", "filters": ["true"], "decisions": [{"type": "ban", "duration": "4h", "scope": "Range"}]},
    )
    alert = agent_alert(scenario="a/b")
    [decision] = decisions_for_alert(profiles, alert, 0)
    assert decision == {"origin": "crowdsec/x", "type": "captcha", "scope": "Ip", "value": "192.0.2.7",
                        "duration": "1h", "scenario": "a/b", "simulated": False}  # fmt: skip
    [decision] = decisions_for_alert(profiles, agent_alert(scenario="c/d"), 0)
    assert (decision["type"], decision["scope"], decision["value"]) == ("ban", "Range", "192.0.2.7")


def test_profile_two_true_filters_duplicate_decisions_and_break_stops():
    profiles = _profiles(
        {"name": "twice", "filters": ["true", "Alert.GetValue() != ''"], "decisions": [{"type": "ban", "duration": "1h"}],
         "on_success": "break"},
        {"name": "never", "filters": ["1/0 == 1"]},
    )  # fmt: skip
    assert len(decisions_for_alert(profiles, agent_alert(), 0)) == 2


def test_profile_simulated_alert_gives_simulated_decisions_and_duration_expr_override():
    profiles = _profiles(
        {"name": "p", "filters": ["true"], "decisions": [{"type": "ban", "duration": "1h"}],
         "duration_expr": "Sprintf('%dh', 3 * 2)"},
    )  # fmt: skip
    [decision] = decisions_for_alert(profiles, agent_alert(simulated=True), 0)
    assert decision["simulated"] is True and decision["duration"] == "6h"


def test_profile_errors_follow_on_error():
    failing = {"name": "bad", "filters": ["Alert.Source.Nope.Deeper == 1"], "decisions": [{"type": "ban", "duration": "1h"}]}
    fallback = {"name": "ok", "filters": ["true"], "decisions": [{"type": "captcha", "duration": "1h"}]}
    with pytest.raises(Exception, match="bad"):
        decisions_for_alert(_profiles(failing, fallback), agent_alert(), 0)
    assert decisions_for_alert(_profiles({**failing, "on_error": "continue"}, fallback), agent_alert(), 0)[0]["type"] == "captcha"
    assert decisions_for_alert(_profiles({**failing, "on_error": "apply"}, fallback), agent_alert(), 0)[0]["type"] == "ban"
    assert decisions_for_alert(_profiles({**failing, "on_error": "break"}, fallback), agent_alert(), 0) == []
    non_bool = {"name": "str", "filters": ["'yes'"], "decisions": [{"type": "ban", "duration": "1h"}]}
    with pytest.raises(Exception, match="not bool"):
        decisions_for_alert(_profiles(non_bool), agent_alert(), 0)


# -- alert validation -------------------------------------------------------------


def test_validation_lists_every_problem_with_index():
    good = agent_alert()
    bad = dict(agent_alert(), events_count="6", start_at="not a date")
    del bad["scenario"]
    bad["source"] = {"value": "1.2.3.4"}
    bad["events"] = None
    with pytest.raises(APIError) as info:
        validate_alerts([good, bad])
    message = info.value.message
    assert message.startswith("validation failure list:\n")
    for expected in (
        "1.scenario in body is required",
        '1.events_count in body must be of type int32: "6"',
        "1.source.scope in body is required",
        "1.events in body is required",
        "1.start_at in body must be of type date-time",
    ):
        assert expected in message
    assert "0." not in message
    assert info.value.status == 422


@pytest.mark.parametrize(
    "body",
    [{}, "x", [1], [{"decisions": [{"type": 1}]}], [dict(agent_alert(), capacity=2**40)], [dict(agent_alert(), simulated="no")]],
)
def test_validation_rejects_wrong_types(body):
    with pytest.raises(APIError):
        validate_alerts(body)


def test_fast_decision_json_equals_json_dumps_of_dicts():
    import json

    from crowdsec_mp.api.wire import bouncer_decisions, bouncer_decisions_json

    now = 1_700_000_000_000_000
    rows = [
        (1, "cscli", "ban", "Ip", "1.2.3.4", now + 14_400_000_000, "manual 'ban' from \"x\"", "u-1"),
        (2, "crowdsec", "captcha", "username", 'ro"ot\\\n\u00e9\u2028', now - 90_000_000, "a/b", ""),
        (3, "cscli", "ban", "Ip", "1.2.3.5", now + 499_999, "a/b", "u-3"),
    ]
    for with_uuid in (True, False):
        expected = json.dumps(bouncer_decisions(rows, now, with_uuid=with_uuid), separators=(",", ":"))
        assert bouncer_decisions_json(rows, now, with_uuid=with_uuid) == expected
    assert json.loads(bouncer_decisions_json(rows, now, with_uuid=True))[1]["duration"] == "-1m30s"
    assert bouncer_decisions_json([], now, with_uuid=True) == "[]"


def test_decision_json_chunks_join_to_the_whole_array():
    import json

    from crowdsec_mp.api.wire import bouncer_decisions, bouncer_decisions_json_chunks

    now = 1_700_000_000_000_000
    rows = [(i, "cscli", "ban", "Ip", f"10.0.0.{i}", now + i * 1_000_000, "s", f"u-{i}") for i in range(1, 8)]
    pieces = list(bouncer_decisions_json_chunks(rows, now, with_uuid=True, chunk_rows=3))
    assert len(pieces) == 3  # 3 + 3 + (1 and the closing bracket)
    assert "".join(pieces) == json.dumps(bouncer_decisions(rows, now, with_uuid=True), separators=(",", ":"))
    assert list(bouncer_decisions_json_chunks([], now, with_uuid=True, chunk_rows=3)) == ["[]"]


def test_cached_sql_swaps_values_and_keeps_shapes_apart(tmp_path):
    from crowdsec_mp.api import queries
    from crowdsec_mp.api.db import open_database
    from crowdsec_mp.api.models import Machine, database_proxy
    from crowdsec_mp.api.settings import DbSettings

    open_database(DbSettings(type="sqlite", db_path=tmp_path / "cache.db"))
    for index in range(5):
        Machine.create(machine_id=f"m{index}", password="x", created_at=index, updated_at=index)

    def between(low, high):
        return Machine.select(Machine.machine_id).where(Machine.created_at >= low, Machine.created_at <= high).order_by(Machine.id)

    run = lambda low, high: [r[0] for r in queries._run_cached(("test-between",), between, {"low": low, "high": high})]  # noqa: E731
    assert run(1, 2) == ["m1", "m2"]
    assert run(3, 4) == ["m3", "m4"]  # same SQL text, new values
    assert run(0, 0) == ["m0"]

    def shifted(low):  # the value is transformed before it reaches SQL: never cached wrongly
        return Machine.select(Machine.machine_id).where(Machine.created_at == low + 1)

    assert [r[0] for r in queries._run_cached(("test-shifted",), shifted, {"low": 1})] == ["m2"]
    assert [r[0] for r in queries._run_cached(("test-shifted",), shifted, {"low": 2})] == ["m3"]

    def by_name(name):  # a text column turns the placeholder into a str
        return Machine.select(Machine.created_at).where(Machine.machine_id == name)

    assert queries._run_cached(("test-by-name",), by_name, {"name": "m4"}) == [(4,)]
    assert queries._run_cached(("test-by-name",), by_name, {"name": "m1"}) == [(1,)]
    assert any(key[1] == ("test-by-name",) for key in queries._SQL_CACHE)
    database_proxy.close()


def test_alert_log_lines_follow_the_lapi_format():
    from crowdsec_mp.api.wire import alert_log_lines

    alert = agent_alert("1.2.3.4")
    decision = {"origin": "crowdsec", "type": "ban", "scope": "Ip", "value": "1.2.3.4", "duration": "4h"}
    assert alert_log_lines("m1", alert, [decision]) == [
        "(m1/crowdsec) crowdsecurity/ssh-bf by ip 1.2.3.4 (FR/64500) : 4h ban on Ip 1.2.3.4"
    ]
    assert alert_log_lines("m1", alert, [decision, decision])[1].startswith("(m1/crowdsec) crowdsecurity/ssh-bf for 2/2 decisions by")
    ranged = dict(alert, source={"scope": "Range", "value": "1.2.3.0/24"}, simulated=True)
    assert alert_log_lines("m1", ranged, [dict(decision, scope="Range", value="1.2.3.0/24")]) == [
        "(m1/crowdsec) crowdsecurity/ssh-bf by range 1.2.3.0/24 : 4h (simulated alert)ban on Range 1.2.3.0/24"
    ]
    assert alert_log_lines("m1", alert, []) == ["(m1) alert : crowdsecurity/ssh-bf by ip 1.2.3.4 (FR/64500)"]
