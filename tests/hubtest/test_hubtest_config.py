"""Hub test config.yaml handling and run_test error reporting (spec/hubtest.md §2, §6)."""

import pytest

from crowdsec_mp.errors import ConfigError
from crowdsec_mp.hubtest import HubTestConfig, HubTestOptions, run_test


def write(tmp_path, text):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_config_fields_and_empty_entries(tmp_path):
    config = HubTestConfig.load(write(tmp_path, """
parsers: [a/b, "", ./parsers/s01-parse/x/y.yaml]
scenarios: [""]
postoverflows:
log_file: f.log
log_type: syslog
labels: {program: envoy}
ignore_parsers: true
override_statics: [{target: evt.Line.Module, value: x}]
collections: [ignored/too]
unknown_key: ignored
"""))
    assert config.parsers == ["a/b", "./parsers/s01-parse/x/y.yaml"]
    assert config.scenarios == [] and config.postoverflows == []
    assert config.labels == {"program": "envoy"} and config.ignore_parsers is True
    assert config.override_statics[0]["value"] == "x"


@pytest.mark.parametrize("text, fieldname, message", [
    ("parsers: a/b\nlog_file: f", "parsers", "must be a list"),
    ("labels: [a]\nlog_file: f", "labels", "must be a mapping"),
    ("override_statics: {a: 1}\nlog_file: f", "override_statics", "must be a list"),
    ("parsers: []", "log_file", "log_file is required"),
    ("[1, 2]", None, "must be a mapping"),
    ("a: [", None, "invalid YAML"),
])
def test_config_errors(tmp_path, text, fieldname, message):
    with pytest.raises(ConfigError) as info:
        HubTestConfig.load(write(tmp_path, text))
    assert info.value.field == fieldname and message in str(info.value)
    assert str(tmp_path / "config.yaml") in str(info.value)


def test_missing_config_and_empty_log_are_test_errors(tmp_path, shared_hub):
    options = HubTestOptions(hub_dir=shared_hub, tests_dir=tmp_path, year=2026)
    (tmp_path / "no-config").mkdir()
    result = run_test(tmp_path / "no-config", options)
    assert not result.success and "cannot read" in result.error
    test = tmp_path / "empty-log"
    test.mkdir()
    (test / "config.yaml").write_text("parsers: [crowdsecurity/syslog-logs]\nlog_file: x.log\nlog_type: syslog\n")
    (test / "x.log").write_text("")
    result = run_test(test, options)
    assert not result.success and "log file is missing or empty" in result.error


def test_non_bool_assert_is_a_test_error(tmp_path, shared_hub):
    options = HubTestOptions(hub_dir=shared_hub, tests_dir=tmp_path, year=2026)
    test = tmp_path / "t"
    test.mkdir()
    (test / "config.yaml").write_text("parsers: [crowdsecurity/syslog-logs]\nlog_file: x.log\nlog_type: syslog\n")
    (test / "x.log").write_text("Feb 12 14:10:21 host sshd[1]: hello\n")
    (test / "parser.assert").write_text('len(results)\n')
    result = run_test(test, options)
    assert not result.success and "not a bool" in result.error
