"""`cscli-mp explain`: per stage / per parser success and field changes."""

from __future__ import annotations

import json

import pytest

from crowdsec_mp.cli.main import main

SSHD_LINE = ("Feb 12 14:10:21 sd-126005 sshd[16378]: Invalid user pascal from "
             "35.188.49.176 port 53502")


@pytest.fixture()
def tree(tmp_path):
    """A --parsers tree with two stages and a scenario-less setup."""
    root = tmp_path / "cfg"
    (root / "parsers/s00-raw").mkdir(parents=True)
    (root / "parsers/s01-parse").mkdir(parents=True)
    (root / "parsers/s00-raw/raw.yaml").write_text("""
name: me/raw
onsuccess: next_stage
grok: {pattern: '^%{WORD:program}: %{GREEDYDATA:message}$', apply_on: Line.Raw}
""")
    (root / "parsers/s01-parse/a-never.yaml").write_text("""
name: me/other
filter: "evt.Parsed.program == 'other'"
statics: [{meta: x, value: y}]
""")
    (root / "parsers/s01-parse/b-demo.yaml").write_text("""
name: me/demo
filter: "evt.Parsed.program == 'demo'"
onsuccess: next_stage
statics: [{meta: service, value: demo}]
""")
    (root / "patterns").mkdir()
    (root / "patterns/base").write_text("WORD \\b\\w+\\b\nGREEDYDATA .*\n")
    return root


def test_explain_json_reports_nodes_and_changes(tree, capsys):
    status = main(["explain", "--parsers", str(tree), "--log", "demo: hello", "--type", "x", "-o", "json"])
    assert status == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["parsed"] is True
    assert [s["stage"] for s in report["stages"]] == ["s00-raw", "s01-parse"]
    raw_node = report["stages"][0]["nodes"][0]
    assert raw_node["name"] == "me/raw" and raw_node["success"] is True
    changes = {c["field"]: c for c in raw_node["changes"]}
    assert changes["evt.Parsed.program"] == {"op": "create", "field": "evt.Parsed.program", "old": None, "new": "demo"}
    assert changes["evt.Stage"]["old"] == "s00-raw" and changes["evt.Stage"]["new"] == "s01-parse"
    parse_nodes = report["stages"][1]["nodes"]
    assert [(n["name"], n["success"]) for n in parse_nodes] == [("me/other", False), ("me/demo", True)]
    assert parse_nodes[0]["changes"] == []
    assert {c["field"] for c in parse_nodes[1]["changes"]} == {"evt.Meta.service"}


def test_explain_human_output_and_failure(tree, capsys, tmp_path):
    log = tmp_path / "in.log"
    log.write_text("demo: hello\n\nnope\n")
    assert main(["explain", "--parsers", str(tree), "--file", str(log), "--type", "x"]) == 0
    out = capsys.readouterr().out
    assert out.count("line: ") == 2
    assert "🟢 me/demo" in out and "🔴 me/other" in out
    assert "create evt.Meta.service : demo" in out
    assert "parser success 🟢" in out and "parser failure 🔴" in out


def test_explain_without_parsers_is_a_clear_error(tmp_path, capsys):
    config = tmp_path / "config.yaml"
    config.write_text("config_paths:\n  config_dir: ./\n")
    assert main(["explain", "-c", str(config), "--log", "x", "--type", "syslog"]) == 1
    assert "no parsers installed" in capsys.readouterr().err


def test_explain_with_hub_items_and_scenarios(shared_hub, capsys):
    status = main(["explain", "--hub", str(shared_hub), "--year", "2026", "--items",
                   "crowdsecurity/syslog-logs,crowdsecurity/sshd-logs,crowdsecurity/dateparse-enrich,"
                   "crowdsecurity/ssh-bf", "--log", SSHD_LINE, "--type", "syslog", "-o", "json"])
    assert status == 0
    [report] = json.loads(capsys.readouterr().out)
    assert report["parsed"] is True
    names = [(n["name"], n["success"]) for s in report["stages"] for n in s["nodes"]]
    assert ("crowdsecurity/syslog-logs", True) in names and ("crowdsecurity/sshd-logs", True) in names
    enrich = [n for s in report["stages"] if s["stage"] == "s02-enrich" for n in s["nodes"]][0]
    assert {"op": "create", "field": "evt.Meta.timestamp", "old": None,
            "new": "2026-02-12T14:10:21Z"} in enrich["changes"]
    assert "crowdsecurity/ssh-bf" in report["scenarios"]


def test_explain_argument_errors(tree, tmp_path, capsys):
    assert main(["explain", "--parsers", str(tree), "--log", "x", "--type", "t", "--labels", "nocolon"]) == 1
    assert "key:value" in capsys.readouterr().err
    assert main(["explain", "--parsers", str(tree), "--file", str(tmp_path / "absent.log"), "--type", "t"]) == 1
    assert "cannot read" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["explain", "--parsers", str(tmp_path / "empty"), "--log", "x", "--type", "t"]) == 1
    assert "no parsers found" in capsys.readouterr().err


def test_explain_unknown_hub_item(shared_hub, capsys):
    assert main(["explain", "--hub", str(shared_hub), "--items", "me/not-an-item", "--log", "x",
                 "--type", "t"]) == 1
    assert "me/not-an-item" in capsys.readouterr().err
