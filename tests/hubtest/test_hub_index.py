"""Hub index reading and hub-test item resolution (spec/hubtest.md §3.1)."""

import hashlib
import json

import pytest

from crowdsec_mp.errors import ConfigError
from crowdsec_mp.hub.index import HubIndex, resolve_test_item


@pytest.fixture()
def mini_hub(tmp_path):
    """A tiny hub: one parser, one scenario, a test folder with its own parser."""
    hub = tmp_path / "hub"
    parser = hub / "parsers/s01-parse/me/foo-logs.yaml"
    parser.parent.mkdir(parents=True)
    parser.write_text("name: me/foo-logs\n")
    scenario = hub / "scenarios/me/foo-bf.yaml"
    scenario.parent.mkdir(parents=True)
    scenario.write_text("name: me/foo-bf\n")
    (hub / "postoverflows/s01-whitelist").mkdir(parents=True)
    own = hub / "tests/t1/parsers/s02-enrich/me/own.yaml"
    own.parent.mkdir(parents=True)
    own.write_text("name: me/own\n")
    (hub / "parsers/s02-enrich").mkdir(parents=True)
    index = {
        "parsers": {"me/foo-logs": {
            "path": "parsers/s01-parse/me/foo-logs.yaml", "stage": "s01-parse", "version": "0.2",
            "versions": {"0.1": {"digest": "x"}, "0.2": {"digest": hashlib.sha256(b"name: me/foo-logs\n").hexdigest()}},
            "author": "me", "content": "bmFtZTogbWUvZm9vLWxvZ3MK",
        }},
        "scenarios": {"me/foo-bf": {"path": "scenarios/me/foo-bf.yaml", "version": "0.1"}},
    }
    (hub / ".index.json").write_text(json.dumps(index))
    return hub


def test_item_fields(mini_hub):
    item = HubIndex.load(mini_hub).item("parsers", "me/foo-logs")
    assert item.path == mini_hub / "parsers/s01-parse/me/foo-logs.yaml"
    assert item.stage == "s01-parse" and item.version == "0.2" and item.file_name == "foo-logs.yaml"
    assert item.digest == hashlib.sha256(item.path.read_bytes()).hexdigest()
    assert item.content == item.path.read_bytes()


def test_unknown_item_and_bad_index(mini_hub, tmp_path):
    index = HubIndex.load(mini_hub)
    with pytest.raises(ConfigError, match="no such item"):
        index.item("parsers", "me/nope")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad/.index.json").write_text("{nope")
    with pytest.raises(ConfigError, match="invalid JSON"):
        HubIndex.load(tmp_path / "bad")
    with pytest.raises(ConfigError, match="cannot read hub index"):
        HubIndex.load(tmp_path / "absent")


def test_resolve_by_name_and_by_path(mini_hub):
    test_dir = mini_hub / "tests/t1"
    assert resolve_test_item("parsers", "me/foo-logs", mini_hub, test_dir) == (
        "s01-parse", mini_hub / "parsers/s01-parse/me/foo-logs.yaml")
    assert resolve_test_item("parsers", "./parsers/s01-parse/me/foo-logs.yaml", mini_hub, test_dir) == (
        "s01-parse", mini_hub / "parsers/s01-parse/me/foo-logs.yaml")
    stage, path = resolve_test_item("scenarios", "me/foo-bf", mini_hub, test_dir)
    assert stage == "" and path.name == "foo-bf.yaml"


def test_resolve_quirks(mini_hub):
    test_dir = mini_hub / "tests/t1"
    # leading slash: joined onto the hub root
    assert resolve_test_item("scenarios", "/scenarios/me/foo-bf.yaml", mini_hub, test_dir)[1] == (
        mini_hub / "scenarios/me/foo-bf.yaml")
    # ./.tests/<x>/... maps to tests/<x>/... in this snapshot
    assert resolve_test_item("parsers", "./.tests/t1/parsers/s02-enrich/me/own.yaml", mini_hub, test_dir) == (
        "s02-enrich", mini_hub / "tests/t1/parsers/s02-enrich/me/own.yaml")
    # relative to the test directory when not under the hub root
    assert resolve_test_item("parsers", "./parsers/s02-enrich/me/own.yaml", mini_hub, test_dir) == (
        "s02-enrich", test_dir / "parsers/s02-enrich/me/own.yaml")


def test_resolve_errors(mini_hub):
    test_dir = mini_hub / "tests/t1"
    with pytest.raises(ConfigError, match="not found in the hub index"):
        resolve_test_item("parsers", "me/absent", mini_hub, test_dir)
    with pytest.raises(ConfigError, match="file not found"):
        resolve_test_item("parsers", "./parsers/s01-parse/me/absent.yaml", mini_hub, test_dir)
    bad = mini_hub / "parsers/s01-parse/weird.yaml"
    bad.write_text("name: x\n")
    with pytest.raises(ConfigError, match="stage"):
        resolve_test_item("parsers", "./parsers/s01-parse/weird.yaml", mini_hub, test_dir)


def test_real_hub_index(shared_hub):
    index = HubIndex.load(shared_hub)
    item = index.item("parsers", "crowdsecurity/sshd-logs")
    assert item.stage == "s01-parse" and item.path.is_file()
    assert item.digest == hashlib.sha256(item.path.read_bytes()).hexdigest()
    assert index.item("collections", "crowdsecurity/sshd").members["parsers"]


def test_index_entry_without_path_and_non_object_index(tmp_path):
    hub = tmp_path / "h"
    hub.mkdir()
    (hub / ".index.json").write_text(json.dumps({"parsers": {"me/x": {"version": "1"}}}))
    with pytest.raises(ConfigError) as info:
        HubIndex.load(hub).item("parsers", "me/x")
    assert info.value.field == "path" and "me/x" in str(info.value)
    (hub / ".index.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="JSON object"):
        HubIndex.load(hub)
