"""Hub item installation into a config directory, from a hub directory or URL."""

from __future__ import annotations

import base64
import functools
import hashlib
import http.server
import json
import threading
from pathlib import Path

import pytest

from crowdsec_mp.hub.install import HubInstaller
from crowdsec_mp.hub.source import DirectorySource, HubError, UrlSource, open_source


def scenario_bf_text(hub) -> str:
    return (hub.root / "scenarios/test/ssh-bf.yaml").read_text()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def dirs(tmp_path):
    return tmp_path / "etc", tmp_path / "data"


def installer_for(hub_root, dirs, **kwargs):
    config_dir, data_dir = dirs
    return HubInstaller(DirectorySource(hub_root, **kwargs), config_dir, data_dir)


def status_of(installer, kind, name):
    return {s.name: s for s in installer.states(kind, include_all=True)}[name].status


# -- install ---------------------------------------------------------------------


def test_install_parser_places_hub_file_under_its_stage(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    report = installer.install("parsers", "test/ssh-parse")
    target = dirs[0] / "parsers" / "s01-parse" / "ssh-parse.yaml"
    assert target.read_bytes() == (small_hub.root / "parsers/s01-parse/test/ssh-parse.yaml").read_bytes()
    assert [a[0] for a in report.actions] == ["installed"]
    assert status_of(installer, "parsers", "test/ssh-parse") == "enabled"
    assert status_of(installer, "parsers", "test/raw") == "disabled"


def test_install_collection_installs_members_recursively_and_data_files(small_hub, dirs):
    config_dir, data_dir = dirs
    installer = installer_for(small_hub.root, dirs)
    installer.install("collections", "test/base")
    assert (config_dir / "collections" / "base.yaml").is_file()
    assert (config_dir / "collections" / "sshd.yaml").is_file()
    assert (config_dir / "parsers" / "s00-raw" / "raw.yaml").is_file()
    assert (config_dir / "parsers" / "s01-parse" / "ssh-parse.yaml").is_file()
    assert (config_dir / "scenarios" / "ssh-bf.yaml").is_file()
    assert not (config_dir / "scenarios" / "other.yaml").exists()
    assert (data_dir / "test_users.txt").read_text() == "root\nadmin\n"
    assert status_of(installer, "collections", "test/base") == "enabled"


def test_install_twice_is_a_no_op(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("scenarios", "test/ssh-bf")
    report = installer.install("scenarios", "test/ssh-bf")
    assert [a[0] for a in report.actions] == ["already installed"]
    assert not report.changed


def test_dry_run_writes_nothing(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    report = installer.install("collections", "test/base", dry_run=True)
    assert report.changed
    assert not dirs[0].exists() and not dirs[1].exists()


def test_checksum_mismatch_is_refused_and_nothing_is_written(small_hub, dirs):
    # The file changes after the index was built: the digest no longer matches.
    small_hub.write("scenarios/test/ssh-bf.yaml", scenario_bf_text(small_hub) + "# changed\n")
    installer = installer_for(small_hub.root, dirs)
    with pytest.raises(HubError, match="checksum mismatch"):
        installer.install("scenarios", "test/ssh-bf")
    assert not (dirs[0] / "scenarios" / "ssh-bf.yaml").exists()


@pytest.mark.parametrize(
    "kind,name,message",
    [
        ("parsers", "test/nope", "can't find 'test/nope' in parsers"),
        ("parsers", "no-author", "invalid item name"),
        ("parsers", "bad name/x", "invalid item name"),
        ("widgets", "test/raw", "unknown item type 'widgets'"),
    ],
)
def test_bad_item_names_are_clear_errors(small_hub, dirs, kind, name, message):
    with pytest.raises(HubError, match=message):
        installer_for(small_hub.root, dirs).install(kind, name)


def test_missing_hub_directory_and_broken_index(tmp_path):
    with pytest.raises(HubError, match="does not exist"):
        open_source(tmp_path / "absent")
    (tmp_path / ".index.json").write_text("{not json")
    with pytest.raises(HubError, match="invalid hub index"):
        DirectorySource(tmp_path).index()
    (tmp_path / ".index.json").write_text('{"parsers": {"a/b": {"version": "0.1"}}}')
    with pytest.raises(HubError, match="has no 'path'"):
        DirectorySource(tmp_path).index()


def test_data_file_missing_offline_is_a_warning_not_a_failure(small_hub, dirs):
    (small_hub.root / "data" / "test_users.txt").unlink()
    installer = installer_for(small_hub.root, dirs, allow_network=False)
    report = installer.install("scenarios", "test/ssh-bf")
    assert (dirs[0] / "scenarios" / "ssh-bf.yaml").is_file()
    assert any("test_users.txt" in w for w in report.warnings)


def test_data_file_path_escaping_data_dir_is_refused(small_hub, dirs):
    small_hub.write("scenarios/test/ssh-bf.yaml", scenario_bf_text(small_hub).replace("test_users.txt", "../../evil.txt"))
    small_hub.index()
    with pytest.raises(HubError, match="inside the data directory"):
        installer_for(small_hub.root, dirs).install("scenarios", "test/ssh-bf")


# -- tainted, local, upgrade ----------------------------------------------------------


def test_modified_file_is_tainted_and_kept_unless_forced(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("collections", "test/sshd")
    target = dirs[0] / "scenarios" / "ssh-bf.yaml"
    target.write_text(target.read_text() + "# my tuning\n")
    assert status_of(installer, "scenarios", "test/ssh-bf") == "enabled,tainted"
    # a collection with a tainted member is tainted too
    assert status_of(installer, "collections", "test/sshd") == "enabled,tainted"

    report = installer.install("scenarios", "test/ssh-bf")
    assert "# my tuning" in target.read_text()
    assert any("tainted" in w for w in report.warnings)
    report = installer.upgrade("scenarios", "test/ssh-bf")
    assert "# my tuning" in target.read_text()

    installer.install("scenarios", "test/ssh-bf", force=True)
    assert "# my tuning" not in target.read_text()
    assert status_of(installer, "scenarios", "test/ssh-bf") == "enabled"


def test_missing_member_taints_the_collection(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("collections", "test/sshd")
    (dirs[0] / "parsers" / "s01-parse" / "ssh-parse.yaml").unlink()
    assert status_of(installer, "collections", "test/sshd") == "enabled,tainted"


def test_local_item_is_listed_and_never_removed(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    local = dirs[0] / "scenarios" / "mine.yaml"
    local.parent.mkdir(parents=True)
    local.write_text("type: trigger\nname: me/mine\ndescription: x\nfilter: 'true'\n")
    states = {s.name: s for s in installer.states("scenarios")}
    assert states["me/mine"].status == "enabled,local"
    assert states["me/mine"].local_path == local
    with pytest.raises(HubError, match="local item"):
        installer.remove("scenarios", "me/mine")
    assert local.is_file()


def test_file_in_the_way_of_an_install_is_not_overwritten(small_hub, dirs):
    # same location as test/ssh-bf but not a hub version of it: it is a local file
    target = dirs[0] / "scenarios" / "ssh-bf.yaml"
    target.parent.mkdir(parents=True)
    target.write_text("name: me/ssh-bf\n")
    installer = installer_for(small_hub.root, dirs)
    report = installer.install("scenarios", "test/ssh-bf")
    assert target.read_text() == "name: me/ssh-bf\n"
    assert report.warnings


def test_upgrade_brings_outdated_items_to_the_new_version(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("collections", "test/sshd")
    old_version = installer.state("scenarios", "test/ssh-bf").local_version
    small_hub.write("scenarios/test/ssh-bf.yaml", scenario_bf_text(small_hub).replace("capacity: 3", "capacity: 4"))
    index = small_hub.index()
    new_version = index["scenarios"]["test/ssh-bf"]["version"]
    assert new_version != old_version

    installer = installer_for(small_hub.root, dirs)  # a new command reads the new index
    state = installer.state("scenarios", "test/ssh-bf")
    assert (state.status, state.local_version) == ("enabled,update-available", old_version)
    report = installer.upgrade("collections", "test/sshd")
    assert ("upgraded", "scenarios", "test/ssh-bf") in [a[:3] for a in report.actions]
    assert "capacity: 4" in (dirs[0] / "scenarios" / "ssh-bf.yaml").read_text()
    state = installer.state("scenarios", "test/ssh-bf")
    assert (state.status, state.local_version) == ("enabled", new_version)


def test_upgrade_of_item_not_installed_warns(small_hub, dirs):
    report = installer_for(small_hub.root, dirs).upgrade("parsers", "test/raw")
    assert report.warnings == ["parsers test/raw is not installed"]


# -- remove ---------------------------------------------------------------------------


def test_remove_collection_keeps_members_another_collection_needs(small_hub, dirs):
    config_dir, data_dir = dirs
    installer = installer_for(small_hub.root, dirs)
    installer.install("collections", "test/sshd")
    installer.install("collections", "test/other-col")
    installer.remove("collections", "test/sshd", purge=True)
    assert not (config_dir / "collections" / "sshd.yaml").exists()
    assert not (config_dir / "scenarios" / "ssh-bf.yaml").exists()
    assert (config_dir / "parsers" / "s01-parse" / "ssh-parse.yaml").is_file()  # needed by other-col
    assert (config_dir / "scenarios" / "other.yaml").is_file()
    assert not (data_dir / "test_users.txt").exists()  # purged: no other item uses it


def test_remove_without_purge_keeps_data_and_not_installed_is_reported(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("scenarios", "test/ssh-bf")
    installer.remove("scenarios", "test/ssh-bf")
    assert (dirs[1] / "test_users.txt").is_file()
    report = installer.remove("scenarios", "test/ssh-bf")
    assert [a[0] for a in report.actions] == ["not installed"]


def test_remove_tainted_needs_force(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("parsers", "test/raw")
    target = dirs[0] / "parsers" / "s00-raw" / "raw.yaml"
    target.write_text(target.read_text() + "#x\n")
    installer.remove("parsers", "test/raw")
    assert target.is_file()
    installer.remove("parsers", "test/raw", force=True)
    assert not target.exists()


# -- hub served over HTTP (only the internet is replaced: a local server) ------------


@pytest.fixture
def served_hub(small_hub):
    handler = functools.partial(QuietHandler, directory=str(small_hub.root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield small_hub, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def test_install_from_index_url(served_hub, dirs, tmp_path):
    hub, url = served_hub
    cache = tmp_path / "cache" / ".index.json"
    source = open_source(url + ".index.json", cache)
    assert isinstance(source, UrlSource)
    installer = HubInstaller(source, *dirs)
    installer.install("collections", "test/base")
    assert sha256(dirs[0] / "scenarios" / "ssh-bf.yaml") == sha256(hub.root / "scenarios/test/ssh-bf.yaml")
    assert (dirs[1] / "test_users.txt").read_text() == "root\nadmin\n"
    assert json.loads(cache.read_text()) == json.loads((hub.root / ".index.json").read_text())


def test_url_hub_without_inline_content_downloads_item_files(served_hub, dirs, tmp_path):
    hub, url = served_hub
    index = json.loads((hub.root / ".index.json").read_text())
    for items in index.values():
        for entry in items.values():
            entry.pop("content", None)
    (hub.root / ".index.json").write_text(json.dumps(index))
    installer = HubInstaller(UrlSource(url, tmp_path / "c.json"), *dirs)
    installer.install("parsers", "test/raw")
    assert (dirs[0] / "parsers" / "s00-raw" / "raw.yaml").read_bytes() == (
        hub.root / "parsers/s00-raw/test/raw.yaml"
    ).read_bytes()


def test_url_hub_serving_a_file_that_does_not_match_the_digest(served_hub, dirs, tmp_path):
    hub, url = served_hub
    index = json.loads((hub.root / ".index.json").read_text())
    entry = index["parsers"]["test/raw"]
    entry["content"] = base64.b64encode(b"tampered").decode()
    (hub.root / ".index.json").write_text(json.dumps(index))
    (hub.root / entry["path"]).write_text("tampered too\n")
    installer = HubInstaller(UrlSource(url, tmp_path / "c.json"), *dirs)
    with pytest.raises(HubError, match="checksum mismatch"):
        installer.install("parsers", "test/raw")


def test_unreachable_hub_url_is_a_clear_error(tmp_path, dirs):
    source = UrlSource("http://127.0.0.1:9/hub/", tmp_path / "c.json")  # port 9: discard, closed
    with pytest.raises(HubError, match="cannot download http://127.0.0.1:9/hub/.index.json"):
        HubInstaller(source, *dirs).install("parsers", "test/raw")


# -- real hubs ------------------------------------------------------------------------


def expected_files(index, kind, name, seen=None):
    """(kind, stage, basename) of everything a collection pulls in, read from the index."""
    seen = set() if seen is None else seen
    if (kind, name) in seen:
        return seen
    seen.add((kind, name))
    entry = index[kind][name]
    if kind == "collections":
        for member_kind in ("parsers", "scenarios", "postoverflows", "contexts", "collections"):
            for member in entry.get(member_kind) or []:
                expected_files(index, member_kind, member, seen)
    return seen


def check_installed_against_index(index, config_dir, wanted):
    for kind, name in wanted:
        entry = index[kind][name]
        parts = Path(entry["path"]).parts
        if kind in ("parsers", "postoverflows"):
            target = config_dir / kind / parts[1] / parts[-1]
        else:
            target = config_dir / kind / parts[-1]
        assert target.is_file(), (kind, name, target)
        assert sha256(target) == entry["versions"][entry["version"]]["digest"], (kind, name)


@pytest.mark.parametrize("collection", ["crowdsecurity/linux", "crowdsecurity/nginx"])
def test_install_crowdsec_collections_from_shared_hub(shared_hub, dirs, collection):
    index = json.loads((shared_hub / ".index.json").read_text())
    installer = installer_for(shared_hub, dirs, allow_network=False)
    installer.install("collections", collection)
    wanted = expected_files(index, "collections", collection)
    check_installed_against_index(index, dirs[0], wanted)
    installed = {(s.kind, s.name) for kind in ("parsers", "scenarios", "postoverflows", "contexts", "collections")
                 for s in installer.states(kind)}
    assert installed == wanted
    assert all(s.status == "enabled" for kind in ("parsers", "scenarios") for s in installer.states(kind))


def test_install_our_default_collections_offline(repo_root, dirs):
    hub_dir = repo_root / "hub"
    index = json.loads((hub_dir / ".index.json").read_text())
    installer = installer_for(hub_dir, dirs, allow_network=False)
    wanted = set()
    for collection in ("crowdsec-mp/linux", "crowdsec-mp/nginx", "crowdsec-mp/apache2"):
        report = installer.install("collections", collection)
        assert report.warnings == []
        wanted |= expected_files(index, "collections", collection)
    check_installed_against_index(index, dirs[0], wanted)
    for name in ("mp_bad_user_agents.regex.txt", "mp_sqli_probes.regex.txt"):
        assert (dirs[1] / name).read_bytes() == (hub_dir / "data" / name).read_bytes()


def test_removing_one_of_two_collections_sharing_a_sub_collection(repo_root, dirs):
    config_dir = dirs[0]
    installer = installer_for(repo_root / "hub", dirs, allow_network=False)
    installer.install("collections", "crowdsec-mp/nginx")
    installer.install("collections", "crowdsec-mp/apache2")
    installer.remove("collections", "crowdsec-mp/nginx")
    assert not (config_dir / "collections" / "nginx.yaml").exists()
    assert not (config_dir / "parsers" / "s01-parse" / "nginx-logs.yaml").exists()
    # still needed by crowdsec-mp/apache2:
    assert (config_dir / "collections" / "base-http-scenarios.yaml").is_file()
    assert (config_dir / "scenarios" / "http-probing.yaml").is_file()
    assert (config_dir / "parsers" / "s00-raw" / "syslog-framing.yaml").is_file()
    assert status_of(installer, "collections", "crowdsec-mp/apache2") == "enabled"


def test_directory_hub_downloads_missing_data_file_from_source_url(small_hub, dirs, tmp_path):
    # the data file is not in <hub>/data but its source_url is served (by a local server)
    served = tmp_path / "served"
    served.mkdir()
    (served / "users.txt").write_text("from the web\n")
    (small_hub.root / "data" / "test_users.txt").unlink()
    handler = functools.partial(QuietHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/users.txt"
        text = scenario_bf_text(small_hub).replace(
            "  - dest_file: test_users.txt", f"  - source_url: {url}\n    dest_file: test_users.txt")
        small_hub.write("scenarios/test/ssh-bf.yaml", text)
        small_hub.index()
        report = installer_for(small_hub.root, dirs).install("scenarios", "test/ssh-bf")
    finally:
        server.shutdown()
        server.server_close()
    assert report.warnings == []
    assert (dirs[1] / "test_users.txt").read_text() == "from the web\n"


def test_upgrade_refreshes_changed_data_files(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs)
    installer.install("scenarios", "test/ssh-bf")
    (small_hub.root / "data" / "test_users.txt").write_text("root\nadmin\noracle\n")
    small_hub.write("scenarios/test/ssh-bf.yaml", scenario_bf_text(small_hub).replace("capacity: 3", "capacity: 5"))
    small_hub.index()
    report = installer_for(small_hub.root, dirs).upgrade("scenarios", "test/ssh-bf")
    assert ("updated", "data", "test_users.txt") in [a[:3] for a in report.actions]
    assert (dirs[1] / "test_users.txt").read_text() == "root\nadmin\noracle\n"


def test_unavailable_data_file_keeps_the_existing_copy(small_hub, dirs):
    installer = installer_for(small_hub.root, dirs, allow_network=False)
    installer.install("scenarios", "test/ssh-bf")
    (small_hub.root / "data" / "test_users.txt").unlink()
    report = installer.install("scenarios", "test/ssh-bf", force=True)
    assert report.warnings == []
    assert (dirs[1] / "test_users.txt").read_text() == "root\nadmin\n"


def test_two_items_with_the_same_file_name_do_not_overwrite_each_other(small_hub, dirs):
    small_hub.write("parsers/s01-parse/other/ssh-parse.yaml",
                    "name: other/ssh-parse\ndescription: x\nfilter: 'true'\nstatics:\n  - meta: a\n    value: b\n")
    small_hub.index()
    installer = installer_for(small_hub.root, dirs)
    installer.install("parsers", "test/ssh-parse")
    with pytest.raises(HubError, match="already holds test/ssh-parse"):
        installer.install("parsers", "other/ssh-parse")
    assert status_of(installer, "parsers", "test/ssh-parse") == "enabled"
