"""`cscli-mp parsers|scenarios|collections|postoverflows ...` against our own hub."""

from __future__ import annotations

import csv
import io
import json

import pytest

from crowdsec_mp.cli import main as cli_main

MODULES = ["crowdsec_mp.cli.items", "crowdsec_mp.cli.hub"]


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path, repo_root):
    """Run cscli-mp with our command modules on a config whose hub is the project's hub/."""
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", MODULES)
    config = tmp_path / "config.yaml"
    config.write_text(
        "config_paths:\n"
        "  config_dir: ./etc\n"
        "  data_dir: ./data\n"
        f"  hub_dir: {repo_root / 'hub'}\n"
    )

    def run(*argv):
        code = cli_main.main([*argv, "-c", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    run.etc = tmp_path / "etc"
    run.data = tmp_path / "data"
    return run


def test_install_list_human_json_raw(cli):
    code, out, err = cli("parsers", "install", "crowdsec-mp/sshd-logs")
    assert code == 0, err
    assert "crowdsec-mp/sshd-logs: installed" in err
    assert "for the new configuration to be effective" in err
    assert (cli.etc / "parsers" / "s01-parse" / "sshd-logs.yaml").is_file()

    code, out, err = cli("parsers", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split("|")[0].strip() == "Name" and "Status" in lines[0] and "Local Path" in lines[0]
    row = [c.strip() for c in lines[2].split("|")]
    assert row[0] == "crowdsec-mp/sshd-logs"
    assert row[1].endswith("enabled")
    assert row[3] == str(cli.etc / "parsers" / "s01-parse" / "sshd-logs.yaml")

    code, out, err = cli("parsers", "list", "-o", "json")
    assert code == 0
    items = json.loads(out)["parsers"]
    assert [(i["name"], i["status"], i["local_path"]) for i in items] == [
        ("crowdsec-mp/sshd-logs", "enabled", str(cli.etc / "parsers" / "s01-parse" / "sshd-logs.yaml"))
    ]
    assert set(items[0]) == {"name", "status", "local_version", "local_path", "description", "utf8_status"}

    code, out, err = cli("parsers", "list", "-o", "raw")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["name", "status", "version", "description"]
    assert rows[1][:2] == ["crowdsec-mp/sshd-logs", "enabled"]


def test_list_all_shows_uninstalled_items_as_disabled(cli):
    code, out, err = cli("scenarios", "list", "-a", "-o", "json")
    assert code == 0
    statuses = {i["name"]: i["status"] for i in json.loads(out)["scenarios"]}
    assert statuses["crowdsec-mp/ssh-bf"] == "disabled"
    code, out, err = cli("scenarios", "list")
    assert out.startswith("No scenarios installed")


def test_empty_json_list_is_an_empty_array(cli):
    code, out, err = cli("postoverflows", "list", "-o", "json")
    assert json.loads(out) == {"postoverflows": []}


def test_collection_install_then_remove(cli):
    code, out, err = cli("collections", "install", "crowdsec-mp/linux", "-o", "json")
    assert code == 0, err
    actions = json.loads(out)["actions"]
    installed = {(a["type"], a["name"]) for a in actions if a["action"] == "installed"}
    assert ("scenarios", "crowdsec-mp/ssh-bf") in installed
    assert ("collections", "crowdsec-mp/sshd") in installed
    code, out, err = cli("collections", "remove", "crowdsec-mp/linux")
    assert code == 0, err
    assert not (cli.etc / "scenarios" / "ssh-bf.yaml").exists()
    code, out, err = cli("collections", "list", "-o", "json")
    assert json.loads(out)["collections"] == []


def test_tainted_item_shows_in_list_and_upgrade_skips_it(cli):
    cli("scenarios", "install", "crowdsec-mp/ssh-bf")
    path = cli.etc / "scenarios" / "ssh-bf.yaml"
    path.write_text(path.read_text().replace("capacity: 5", "capacity: 50"))
    code, out, err = cli("scenarios", "list", "-o", "json")
    assert json.loads(out)["scenarios"][0]["status"] == "enabled,tainted"
    code, out, err = cli("scenarios", "upgrade", "--all")
    assert code == 0
    assert "tainted" in err
    assert "capacity: 50" in path.read_text()
    code, out, err = cli("scenarios", "upgrade", "crowdsec-mp/ssh-bf", "--force")
    assert "capacity: 50" not in path.read_text()


def test_inspect_human_and_json(cli):
    cli("parsers", "install", "crowdsec-mp/nginx-logs")
    code, out, err = cli("parsers", "inspect", "crowdsec-mp/nginx-logs", "-o", "json")
    assert code == 0, err
    data = json.loads(out)
    assert data["name"] == "crowdsec-mp/nginx-logs"
    assert data["stage"] == "s01-parse"
    assert data["status"] == "enabled"
    assert "content" not in data
    code, out, err = cli("parsers", "inspect", "crowdsec-mp/nginx-logs")
    assert code == 0
    assert "name: crowdsec-mp/nginx-logs" in out and "status: enabled" in out


@pytest.mark.parametrize(
    "argv,message",
    [
        (("scenarios", "install", "crowdsec-mp/does-not-exist"), "can't find 'crowdsec-mp/does-not-exist' in scenarios"),
        (("parsers", "install", "not-a-name"), "invalid item name 'not-a-name'"),
        (("parsers", "inspect", "nobody/nothing"), "can't find 'nobody/nothing' in parsers"),
        (("parsers", "list", "x/y"), "can't find 'x/y' in parsers"),
        (("collections", "remove"), "specify at least one collection to remove, or --all"),
        (("parsers", "list", "--hub", "/nonexistent/hub"), "hub directory /nonexistent/hub does not exist"),
    ],
)
def test_errors_are_one_line_and_exit_1(cli, argv, message):
    code, out, err = cli(*argv)
    assert code == 1
    assert out == ""
    assert err.strip().count("\n") == 0
    assert message in err


def test_failed_multi_install_installs_nothing(cli):
    code, out, err = cli("parsers", "install", "crowdsec-mp/sshd-logs", "crowdsec-mp/nope")
    assert code == 1
    assert not (cli.etc / "parsers").exists()


def test_hub_flag_uses_another_hub(cli, shared_hub):
    code, out, err = cli("collections", "install", "crowdsecurity/sshd", "--hub", str(shared_hub))
    assert code == 0, err
    assert (cli.etc / "scenarios" / "ssh-bf.yaml").read_bytes() == (
        shared_hub / "scenarios" / "crowdsecurity" / "ssh-bf.yaml"
    ).read_bytes()
