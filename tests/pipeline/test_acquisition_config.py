"""acquis.yaml / acquis.d loading, DSN and -label parsing: errors name file, item and field."""

import pytest

from crowdsec_mp.acquisition.config import (
    build_source, load_acquisition, parse_dsn, parse_labels,
)
from crowdsec_mp.acquisition.file import FileSource
from crowdsec_mp.acquisition.syslog import SyslogSource
from crowdsec_mp.errors import ConfigError


def write(path, text):
    path.write_text(text)
    return path


def test_multi_document_file_and_dir_with_source_inference(tmp_path):
    main = write(tmp_path / "acquis.yaml", """
filenames: [/var/log/auth.log]
labels: {type: syslog}
---
journalctl_filter: ["_SYSTEMD_UNIT=ssh.service"]
labels: {type: syslog}
---
""")
    acquis_d = tmp_path / "acquis.d"
    acquis_d.mkdir()
    write(acquis_d / "b.yml", "source: syslog\nlisten_port: 4242\nlabels: {type: syslog}\n")
    write(acquis_d / "a.yaml", "filename: /x.log\nmode: cat\nlabels: {type: nginx}\nname: nginx\n")
    write(acquis_d / "ignored.txt", "garbage: [")
    specs = load_acquisition(main, acquis_d)
    assert [s.source for s in specs] == ["file", "journalctl", "file", "syslog"]
    assert specs[0].options["patterns"] == ["/var/log/auth.log"] and specs[0].mode == "tail"
    assert specs[2].name == "nginx" and specs[2].mode == "cat"
    assert specs[3].options["listen_port"] == 4242 and specs[3].options["protocol"] == "udp"
    assert isinstance(build_source(specs[0]), FileSource)
    assert build_source(specs[0]).time_machine is False  # tail
    assert build_source(specs[2]).time_machine is True   # cat mode reads history
    assert isinstance(build_source(specs[3]), SyslogSource)


@pytest.mark.parametrize("body, field", [
    ("filenames: [/x]\n", "labels"),
    ("filenames: [/x]\nlabels: {type: t}\nmode: follow\n", "mode"),
    ("filenames: [/x]\nlabels: {type: t}\nfilenamez: 1\n", "filenamez"),
    ("labels: {type: t}\n", "source"),
    ("source: docker\ncontainer_name: [x]\nlabels: {type: t}\n", "source"),
    ("source: nope\nlabels: {type: t}\n", "source"),
    ("source: syslog\nlisten_port: 70000\nlabels: {type: t}\n", "listen_port"),
    ("source: syslog\nprotocol: sctp\nlabels: {type: t}\n", "protocol"),
    ("filenames: [/x]\nexclude_regexps: ['(']\nlabels: {type: t}\n", "exclude_regexps"),
    ("filenames: 3\nlabels: {type: t}\n", "filenames"),
    ("source: journalctl\nlabels: {type: t}\n", "journalctl_filter"),
])
def test_invalid_documents_name_file_item_and_field(tmp_path, body, field):
    path = write(tmp_path / "acquis.yaml", "filenames: [/ok]\nlabels: {type: t}\n---\n" + body)
    with pytest.raises(ConfigError) as info:
        load_acquisition(path)
    assert info.value.field == field
    assert info.value.item == "document 2"
    assert str(path) in str(info.value)


def test_invalid_yaml_names_file(tmp_path):
    path = write(tmp_path / "acquis.yaml", "filenames: [\n")
    with pytest.raises(ConfigError, match="invalid YAML") as info:
        load_acquisition(path)
    assert info.value.file == path


def test_duplicate_names_refused(tmp_path):
    path = write(tmp_path / "acquis.yaml",
                 "filename: /a\nname: x\nlabels: {type: t}\n---\nfilename: /b\nname: x\nlabels: {type: t}\n")
    with pytest.raises(ConfigError, match="duplicate") as info:
        load_acquisition(path)
    assert info.value.field == "name"


def test_missing_files_give_no_sources(tmp_path):
    assert load_acquisition(tmp_path / "absent.yaml", tmp_path / "absent.d") == []


def test_file_dsn():
    spec = parse_dsn("file:///var/log/*.log?log_level=debug&max_buffer_size=100", "syslog", {"env": "prod"})
    assert spec.source == "file" and spec.mode == "cat" and spec.use_time_machine
    assert spec.options["patterns"] == ["/var/log/*.log"]
    assert spec.options["max_line_bytes"] == 100
    assert spec.labels == {"env": "prod", "type": "syslog"}
    assert build_source(spec).time_machine is True


def test_journalctl_dsn():
    spec = parse_dsn("journalctl://filters=_SYSTEMD_UNIT=ssh.service&filters=_UID=0", "syslog")
    assert spec.source == "journalctl" and spec.mode == "cat"
    assert spec.options["filters"] == ["_SYSTEMD_UNIT=ssh.service", "_UID=0"]


@pytest.mark.parametrize("dsn, type_, message", [
    ("file:///x", "", "-dsn requires a -type"),
    ("/var/log/x", "syslog", "expected <scheme>"),
    ("docker://nginx", "syslog", "unsupported DSN scheme"),
    ("file:///x?bogus=1", "syslog", "unknown parameter 'bogus'"),
    ("file:///x?max_buffer_size=-4", "syslog", "max_buffer_size"),
    ("journalctl://", "syslog", "needs filters"),
])
def test_bad_dsn(dsn, type_, message):
    with pytest.raises(ConfigError, match=message):
        parse_dsn(dsn, type_)


def test_labels_split_and_type_forced():
    assert parse_labels(["a:1,b:2", "type:nginx"], "syslog") == {"a": "1", "b": "2", "type": "syslog"}
    with pytest.raises(ConfigError, match="key:value"):
        parse_labels(["a:1:2"], "syslog")
