"""`cscli-mp hubtest run` on a small self-made hub (and one real hub test)."""

from __future__ import annotations

import json

import pytest

from crowdsec_mp.cli.main import main
from crowdsec_mp.hubtest import basename_shim, go_basename

PARSER = """
filter: "evt.Line.Labels.type == 'demo'"
onsuccess: next_stage
name: me/demo-logs
description: demo
grok:
  pattern: '^user %{WORD:user} from %{IP:source_ip}$'
  apply_on: Line.Raw
statics:
  - meta: source_ip
    expression: evt.Parsed.source_ip
  - meta: datasource_path
    expression: evt.Line.Src
"""


def write_test(tests, name, asserts, *, log="user bob from 1.2.3.4\nnot matching\n", extra=""):
    test = tests / name
    test.mkdir(parents=True)
    (test / "config.yaml").write_text(
        "parsers:\n- me/demo-logs\nscenarios:\n- ''\nlog_file: demo.log\nlog_type: demo\n" + extra)
    (test / "demo.log").write_text(log)
    (test / "parser.assert").write_text(asserts)
    return test


@pytest.fixture()
def hub(tmp_path):
    hub = tmp_path / "hub"
    parser = hub / "parsers/s01-parse/me/demo-logs.yaml"
    parser.parent.mkdir(parents=True)
    parser.write_text(PARSER)
    (hub / "patterns").mkdir()
    (hub / "patterns/base").write_text("WORD \\b\\w+\\b\nIP \\d+\\.\\d+\\.\\d+\\.\\d+\n")
    (hub / ".index.json").write_text(json.dumps({"parsers": {"me/demo-logs": {
        "path": "parsers/s01-parse/me/demo-logs.yaml", "stage": "s01-parse", "version": "0.1"}}}))
    tests = hub / "tests"
    write_test(tests, "good", "\n".join([
        'len(results) == 2',
        'len(results["s01-parse"]["me/demo-logs"]) == 2',
        'results["s01-parse"]["me/demo-logs"][0].Success == true',
        'results["s01-parse"]["me/demo-logs"][0].Evt.Parsed["user"] == "bob"',
        'results["s01-parse"]["me/demo-logs"][0].Evt.Meta["datasource_path"] == "demo.log"',
        'results["s01-parse"]["me/demo-logs"][1].Success == false',
        'len(results["s02-enrich"]["absent"]) == 0',
        'len(results["success"][""]) == 0',
        '',
    ]))
    write_test(tests, "bad", 'results["s01-parse"]["me/demo-logs"][0].Evt.Parsed["user"] == "alice"\n')
    write_test(tests, "broken", 'results["s01-parse"]["me/demo-logs"][5].Success == true\n')
    write_test(tests, "empty", "")
    write_test(tests, "missing-item", "true\n", extra="").joinpath("config.yaml").write_text(
        "parsers:\n- me/nope\nlog_file: demo.log\nlog_type: demo\n")
    return hub


def run_json(capsys, *argv):
    status = main(["hubtest", "run", *argv, "-o", "json"])
    return status, {r["name"]: r for r in json.loads(capsys.readouterr().out)}


def test_passing_test_json(hub, capsys):
    status, results = run_json(capsys, "--hub", str(hub), "good")
    assert status == 0
    assert results["good"] == {
        "name": "good", "success": True, "parser_asserts": {"total": 8, "failed": 0},
        "scenario_asserts": {"total": 0, "failed": 0}, "error": "", "failures": [],
    }


def test_all_reports_failures_errors_and_exit_status(hub, capsys):
    status, results = run_json(capsys, "--hub", str(hub), "--all")
    assert status == 1
    assert set(results) == {"good", "bad", "broken", "empty", "missing-item"}
    assert results["bad"]["success"] is False and results["bad"]["parser_asserts"] == {"total": 1, "failed": 1}
    assert results["bad"]["failures"][0]["value"] == "bob"
    assert results["broken"]["success"] is False and "parser.assert:1" in results["broken"]["error"]
    assert "please fill" in results["empty"]["error"]
    assert "me/nope" in results["missing-item"]["error"]


def test_jobs_give_the_same_results(hub, capsys):
    _, serial = run_json(capsys, "--hub", str(hub), "--all")
    _, parallel = run_json(capsys, "--hub", str(hub), "--all", "--jobs", "2")
    assert serial == parallel


def test_human_output_has_a_table_and_summary(hub, capsys):
    status = main(["hubtest", "run", "--hub", str(hub), "good", "bad"])
    out = capsys.readouterr().out
    assert status == 1
    assert "good" in out and "bad" in out and "1/2 tests passed, 1 failed" in out


def test_unknown_test_name_is_an_error(hub, capsys):
    assert main(["hubtest", "run", "--hub", str(hub), "nope"]) == 1
    assert "no such test" in capsys.readouterr().err


def test_basename_helpers():
    assert go_basename("/a/b/c.log") == "c.log"
    assert go_basename("/a/b/") == "b"
    assert go_basename("") == "." and go_basename("///") == "/"
    assert basename_shim('x.Meta["datasource_path"] == "a.log"') == 'basename(x.Meta["datasource_path"]) == "a.log"'
    assert basename_shim('basename(x["datasource_path"]) == "a"') == 'basename(x["datasource_path"]) == "a"'


def test_real_hub_sshd_logs(shared_hub, capsys):
    status, results = run_json(capsys, "--hub", str(shared_hub), "--year", "2026", "sshd-logs")
    assert status == 0, results
    assert results["sshd-logs"]["parser_asserts"]["failed"] == 0
    assert results["sshd-logs"]["parser_asserts"]["total"] > 10


def test_override_statics_and_labels(hub, capsys):
    write_test(hub / "tests", "override", "\n".join([
        'len(results["s00-raw"]["overrides"]) == 2',
        'results["s00-raw"]["overrides"][0].Evt.Line.Module == "wineventlog"',
        'results["s00-raw"]["overrides"][0].Evt.Line.Labels["program"] == "demo"',
        'results["s00-raw"]["overrides"][0].Evt.Line.Labels["type"] == "demo"',
        # `continue` in s00-raw and no next_stage node there: s01 is never reached.
        'len(results["s01-parse"]["me/demo-logs"]) == 0',
    ]), extra="labels: {program: demo, type: ignored}\noverride_statics:\n"
              "  - target: evt.Line.Module\n    value: wineventlog\n")
    status, results = run_json(capsys, "--hub", str(hub), "override")
    assert status == 0, results
    assert results["override"]["parser_asserts"] == {"total": 5, "failed": 0}
