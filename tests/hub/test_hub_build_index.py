"""The hub index builder (CrowdSec's .index.json format) and our own hub's index."""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys

import pytest

from crowdsec_mp.errors import ConfigError
from crowdsec_mp.hub.build_index import build_index, index_text, next_version


def test_entries_have_crowdsec_index_fields(small_hub):
    index = json.loads((small_hub.root / ".index.json").read_text())
    raw = small_hub.root / "parsers/s01-parse/test/ssh-parse.yaml"
    entry = index["parsers"]["test/ssh-parse"]
    assert entry["path"] == "parsers/s01-parse/test/ssh-parse.yaml"
    assert entry["stage"] == "s01-parse"
    assert entry["author"] == "test"
    assert entry["description"] == "parse ssh"
    assert base64.b64decode(entry["content"]) == raw.read_bytes()
    assert entry["version"] == "0.1"
    assert entry["versions"] == {"0.1": {"deprecated": False, "digest": hashlib.sha256(raw.read_bytes()).hexdigest()}}
    collection = index["collections"]["test/base"]
    assert collection["parsers"] == ["test/raw"]
    assert collection["collections"] == ["test/sshd"]
    assert "stage" not in index["scenarios"]["test/ssh-bf"]


def test_changed_item_gets_next_version_and_keeps_history(small_hub):
    first = json.loads((small_hub.root / ".index.json").read_text())
    path = small_hub.write("scenarios/test/other.yaml", (small_hub.root / "scenarios/test/other.yaml").read_text() + "# v2\n")
    second = small_hub.index()
    entry = second["scenarios"]["test/other"]
    assert entry["version"] == "0.2"
    assert set(entry["versions"]) == {"0.1", "0.2"}
    assert entry["versions"]["0.1"] == first["scenarios"]["test/other"]["versions"]["0.1"]
    assert entry["versions"]["0.2"]["digest"] == hashlib.sha256(path.read_bytes()).hexdigest()
    # untouched items keep their version, and a rebuild without change is identical
    assert second["parsers"] == first["parsers"]
    assert index_text(build_index(small_hub.root, second)) == index_text(second)


@pytest.mark.parametrize("version,expected", [("0.1", "0.2"), ("0.9", "1.0"), ("2.3", "2.4"), ("junk", "0.1")])
def test_next_version(version, expected):
    assert next_version(version) == expected


def test_name_must_match_author_and_file(small_hub):
    small_hub.write("scenarios/test/wrong.yaml", "name: test/other-name\ntype: trigger\n")
    with pytest.raises(ConfigError, match="scenarios/test/wrong.yaml.*field 'name'.*'test/wrong'"):
        small_hub.index()


def test_invalid_yaml_names_the_file(small_hub):
    small_hub.write("parsers/s02-enrich/test/broken.yaml", "name: [unclosed\n")
    with pytest.raises(ConfigError, match="parsers/s02-enrich/test/broken.yaml: invalid YAML"):
        small_hub.index()


def test_unknown_collection_member_is_an_error(small_hub):
    small_hub.write("collections/test/bad.yaml", "name: test/bad\nscenarios:\n  - test/missing\n")
    with pytest.raises(ConfigError, match="item 'test/bad', field 'scenarios': unknown scenario 'test/missing'"):
        small_hub.index()


def run_script(repo_root, *args):
    return subprocess.run(
        [sys.executable, str(repo_root / "scripts" / "build_hub_index.py"), *map(str, args)],
        capture_output=True, text=True, timeout=60,
    )


def test_script_check_mode_detects_stale_index(repo_root, small_hub):
    result = run_script(repo_root, small_hub.root, "--check")
    assert result.returncode == 0, result.stderr
    small_hub.write("scenarios/test/other.yaml", "name: test/other\ntype: trigger\ndescription: changed\n")
    result = run_script(repo_root, small_hub.root, "--check")
    assert result.returncode == 1
    assert "out of date" in result.stderr
    result = run_script(repo_root, small_hub.root)
    assert result.returncode == 0 and "wrote" in result.stdout
    assert json.loads((small_hub.root / ".index.json").read_text())["scenarios"]["test/other"]["version"] == "0.2"


def test_script_errors(repo_root, tmp_path, small_hub):
    result = run_script(repo_root, tmp_path / "nope")
    assert result.returncode == 2 and "is not a directory" in result.stderr
    small_hub.write("scenarios/test/wrong.yaml", "name: x/y\n")
    result = run_script(repo_root, small_hub.root)
    assert result.returncode == 2 and "scenarios/test/wrong.yaml" in result.stderr


def test_our_hub_index_is_up_to_date(repo_root):
    result = run_script(repo_root, repo_root / "hub", "--check")
    assert result.returncode == 0, result.stderr + " (run scripts/build_hub_index.py)"
