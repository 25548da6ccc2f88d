"""`crowdsec-mp` flags and `-t` configuration test (main() called in-process)."""

import pytest
import yaml

from crowdsec_mp import __version__
from crowdsec_mp.daemon import main
from tests.integration.daemon_env import make_config


def test_version(capsys):
    assert main(["-version"]) == 0
    assert capsys.readouterr().out.strip() == f"crowdsec-mp v{__version__}"


@pytest.mark.parametrize("argv, message", [
    (["-dsn", "file:///x"], "-dsn requires a -type argument"),
    (["-type", "syslog"], "-type requires a -dsn argument"),
    (["-no-api", "-no-cs"], "you must run at least the API Server or crowdsec"),
    (["-bogus"], "unrecognized arguments"),
    (["-workers", "0"], "-workers must be at least 1"),
])
def test_usage_errors_exit_2(capsys, argv, message):
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def write_acquis(config_path, text):
    (config_path.parent / "acquis.yaml").write_text(text)


def write_credentials(config_path):
    (config_path.parent / "local_api_credentials.yaml").write_text(
        "url: http://127.0.0.1:1/\nlogin: m\npassword: p\n")


def test_config_test_ok(tmp_path, capsys):
    config = make_config(tmp_path)
    write_acquis(config, "filenames: [/var/log/auth.log]\nlabels: {type: syslog}\n")
    write_credentials(config)
    assert main(["-c", str(config), "-t"]) == 0
    out = capsys.readouterr().out
    assert "Configuration test: OK" in out and "11 scenarios" in out


def test_config_test_names_acquis_file_and_field(tmp_path, capsys):
    config = make_config(tmp_path)
    write_acquis(config, "filenames: [/var/log/auth.log]\nlabels: {type: syslog}\nmode: sometimes\n")
    write_credentials(config)
    assert main(["-c", str(config), "-t"]) == 1
    err = capsys.readouterr().err
    assert str(config.parent / "acquis.yaml") in err and "'mode'" in err and "document 1" in err


def test_config_test_names_broken_parser_file(tmp_path, capsys):
    config = make_config(tmp_path)
    write_acquis(config, "filenames: [/var/log/auth.log]\nlabels: {type: syslog}\n")
    write_credentials(config)
    broken = config.parent / "parsers" / "s01-parse" / "broken.yaml"
    broken.write_text("name: me/broken\nfilter: \"evt.Line.Labels.type ==\"\nonsuccess: next_stage\n"
                      "grok:\n  pattern: '%{WORD:x}'\n  apply_on: Line.Raw\n")
    assert main(["-c", str(config), "-t"]) == 1
    err = capsys.readouterr().err
    assert "broken.yaml" in err and "filter" in err


def test_config_test_needs_lapi_credentials(tmp_path, capsys):
    config = make_config(tmp_path)
    write_acquis(config, "filenames: [/var/log/auth.log]\nlabels: {type: syslog}\n")
    assert main(["-c", str(config), "-t"]) == 1
    assert "missing local API credentials" in capsys.readouterr().err


def test_config_test_bad_service_setting(tmp_path, capsys):
    config = make_config(tmp_path)
    raw = yaml.safe_load(config.read_text())
    raw["crowdsec_service"]["parser_workers"] = "many"
    config.write_text(yaml.safe_dump(raw))
    assert main(["-c", str(config), "-t"]) == 1
    err = capsys.readouterr().err
    assert "crowdsec_service.parser_workers" in err and str(config) in err


def test_config_test_refuses_empty_acquisition(tmp_path, capsys):
    config = make_config(tmp_path)
    write_credentials(config)
    assert main(["-c", str(config), "-t"]) == 1
    assert "no datasource configured" in capsys.readouterr().err


def test_dsn_replay_needs_no_acquis_and_bad_dsn_is_refused(tmp_path, capsys):
    config = make_config(tmp_path)
    write_credentials(config)
    log = tmp_path / "x.log"
    log.write_text("line\n")
    assert main(["-c", str(config), "-t", "-dsn", f"file://{log}", "-type", "syslog", "-no-api"]) == 0
    assert main(["-c", str(config), "-t", "-dsn", f"file://{tmp_path}/nope*.log", "-type", "syslog",
                 "-no-api"]) == 1
    assert "no file matches" in capsys.readouterr().err
    assert main(["-c", str(config), "-t", "-dsn", "s3://bucket/x", "-type", "syslog", "-no-api"]) == 1
    assert "unsupported DSN scheme" in capsys.readouterr().err
