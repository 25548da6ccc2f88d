"""`cscli-mp hub list|update|upgrade|types` and `cscli-mp config show`."""

from __future__ import annotations

import csv
import functools
import http.server
import io
import json
import threading

import pytest

from crowdsec_mp.cli import main as cli_main

MODULES = ["crowdsec_mp.cli.items", "crowdsec_mp.cli.hub", "crowdsec_mp.cli.config_cmd"]


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path, repo_root):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", MODULES)
    config = tmp_path / "config.yaml"
    config.write_text(
        "config_paths:\n"
        "  config_dir: ./etc\n"
        "  data_dir: ./data\n"
        f"  hub_dir: {repo_root / 'hub'}\n"
        "api:\n"
        "  server:\n"
        "    listen_uri: 127.0.0.1:8181\n"
        "    trusted_ips: [127.0.0.1]\n"
    )

    def run(*argv):
        code = cli_main.main([*argv, "-c", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    run.tmp = tmp_path
    return run


def test_hub_list_human_json_raw(cli):
    cli("collections", "install", "crowdsec-mp/sshd")
    code, out, err = cli("hub", "list")
    assert code == 0, err
    assert "PARSERS" in out and "SCENARIOS" in out and "COLLECTIONS" in out
    assert "crowdsec-mp/ssh-user-enum" in out
    assert "No postoverflows installed" in out

    code, out, err = cli("hub", "list", "-o", "json")
    data = json.loads(out)
    assert set(data) == {"parsers", "postoverflows", "scenarios", "contexts", "collections"}
    assert sorted(i["name"] for i in data["scenarios"]) == [
        "crowdsec-mp/ssh-bf", "crowdsec-mp/ssh-slow-bf", "crowdsec-mp/ssh-user-enum",
    ]
    assert data["postoverflows"] == []

    code, out, err = cli("hub", "list", "-o", "raw")
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["type", "name", "status", "version", "description"]
    assert ["parsers", "crowdsec-mp/sshd-logs", "enabled"] == rows[1][:3]


def test_hub_list_all_counts_every_item_of_the_index(cli, repo_root):
    index = json.loads((repo_root / "hub" / ".index.json").read_text())
    code, out, err = cli("hub", "list", "-a", "-o", "json")
    data = json.loads(out)
    for kind in data:
        assert sorted(i["name"] for i in data[kind]) == sorted(index.get(kind, {}))


def test_hub_upgrade_and_types(cli):
    cli("scenarios", "install", "crowdsec-mp/ssh-bf")
    code, out, err = cli("hub", "upgrade", "-o", "json")
    assert code == 0
    actions = json.loads(out)["actions"]
    assert [(a["action"], a["type"], a["name"]) for a in actions] == [
        ("up to date", "scenarios", "crowdsec-mp/ssh-bf")
    ]
    code, out, err = cli("hub", "types", "-o", "json")
    assert "parsers" in json.loads(out)


def test_hub_update_on_a_directory_is_offline(cli):
    code, out, err = cli("hub", "update", "-o", "json")
    assert code == 0
    assert "nothing to download" in err
    assert json.loads(out)["items"]["scenarios"] > 0


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_hub_update_from_url_caches_the_index(cli, repo_root):
    handler = functools.partial(QuietHandler, directory=str(repo_root / "hub"))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        code, out, err = cli("hub", "update", "--hub", url)
        assert code == 0, err
        cache = cli.tmp / "data" / ".hub-index.json"
        assert json.loads(cache.read_text()) == json.loads((repo_root / "hub" / ".index.json").read_text())
        code, out, err = cli("parsers", "install", "crowdsec-mp/sshd-logs", "--hub", url)
        assert code == 0, err
        assert (cli.tmp / "etc" / "parsers" / "s01-parse" / "sshd-logs.yaml").is_file()
    finally:
        server.shutdown()
        server.server_close()


def test_hub_update_unreachable_url_is_an_error(cli):
    code, out, err = cli("hub", "update", "--hub", "http://127.0.0.1:9/")
    assert code == 1
    assert "cannot download http://127.0.0.1:9/.index.json" in err


def test_config_show_human_json_key(cli):
    code, out, err = cli("config", "show")
    assert code == 0, err
    assert f"Data Folder            : {cli.tmp / 'data'}" in out
    assert "Listen URL              : 127.0.0.1:8181" in out
    code, out, err = cli("config", "show", "-o", "json")
    data = json.loads(out)
    assert data["config_paths"]["config_dir"] == str(cli.tmp / "etc")
    assert data["api"]["server"]["listen_uri"] == "127.0.0.1:8181"
    code, out, err = cli("config", "show", "--key", "Config.API.Server.ListenURI")
    assert out == "127.0.0.1:8181\n"
    code, out, err = cli("config", "show", "--key", "api.server.trusted_ips")
    assert json.loads(out) == ["127.0.0.1"]


@pytest.mark.parametrize("key,message", [
    ("api.server.nope", "no such key 'api.server.nope': 'nope' not found"),
    ("api.server.listen_uri.x", "is not a section"),
    ("Config", "invalid key"),
])
def test_config_show_bad_key(cli, key, message):
    code, out, err = cli("config", "show", "--key", key)
    assert code == 1 and out == ""
    assert message in err


def test_config_show_bad_config_file(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", MODULES)
    bad = tmp_path / "config.yaml"
    bad.write_text("config_paths: [not, a, mapping]\n")
    assert cli_main.main(["config", "show", "-c", str(bad)]) == 1
    assert "field 'config_paths': must be a mapping" in capsys.readouterr().err
