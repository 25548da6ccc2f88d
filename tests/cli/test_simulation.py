"""`cscli-mp simulation status|enable|disable`."""

from __future__ import annotations

import json

import pytest
import yaml

from crowdsec_mp.cli import main as cli_main
from crowdsec_mp.cli.simulation import SimulationConfig, load_simulation
from crowdsec_mp.errors import ConfigError


@pytest.fixture
def cli(monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(cli_main, "COMMAND_MODULES", ["crowdsec_mp.cli.simulation"])
    config = tmp_path / "config.yaml"
    config.write_text("config_paths:\n  config_dir: ./\n  simulation_path: ./simulation.yaml\n")

    def run(*argv):
        code = cli_main.main([*argv, "-c", str(config)])
        out, err = capsys.readouterr()
        return code, out, err

    run.file = tmp_path / "simulation.yaml"
    return run


def saved(cli):
    return yaml.safe_load(cli.file.read_text())


def test_status_without_file_is_disabled(cli):
    code, out, err = cli("simulation", "status")
    assert (code, out) == (0, "global simulation: disabled\n")
    code, out, err = cli("simulation", "status", "-o", "json")
    assert json.loads(out) == {"simulation": False, "exclusions": []}


def test_enable_scenarios_then_status(cli):
    code, out, err = cli("simulation", "enable", "a/one", "b/two")
    assert code == 0, err
    assert saved(cli) == {"simulation": False, "exclusions": ["a/one", "b/two"]}
    assert "reload" in err
    code, out, err = cli("simulation", "status")
    assert out == (
        "global simulation: disabled\n\nScenarios in simulation mode:\n  - a/one\n  - b/two\n"
    )
    code, out, err = cli("simulation", "disable", "a/one")
    assert saved(cli) == {"simulation": False, "exclusions": ["b/two"]}
    code, out, err = cli("simulation", "enable", "b/two")
    assert "already enabled for b/two" in err
    assert saved(cli)["exclusions"] == ["b/two"]


def test_global_switch_inverts_the_meaning_of_exclusions(cli):
    cli("simulation", "enable", "a/one")
    code, out, err = cli("simulation", "enable", "--global")
    assert code == 0
    assert saved(cli) == {"simulation": True, "exclusions": []}
    cli("simulation", "disable", "c/three")
    assert saved(cli) == {"simulation": True, "exclusions": ["c/three"]}
    code, out, err = cli("simulation", "status")
    assert out == "global simulation: enabled\n\nScenarios not in simulation mode:\n  - c/three\n"
    settings = load_simulation(cli.file)
    assert settings.is_simulated("a/one") and not settings.is_simulated("c/three")
    cli("simulation", "disable", "-g")
    assert saved(cli) == {"simulation": False, "exclusions": []}


@pytest.mark.parametrize("argv,message", [
    (("simulation", "enable"), "give at least one scenario name, or --global"),
    (("simulation", "enable", "a/b", "--global"), "not both"),
    (("simulation", "disable", "not a name"), "invalid scenario name 'not a name'"),
])
def test_bad_arguments(cli, argv, message):
    code, out, err = cli(*argv)
    assert code == 1 and out == ""
    assert message in err
    assert not cli.file.exists()


@pytest.mark.parametrize("text,field", [
    ("simulation: maybe\n", "simulation"),
    ("simulation: false\nexclusions: a/b\n", "exclusions"),
    ("simulaton: true\n", "simulaton"),
])
def test_bad_file_names_file_and_field(cli, text, field):
    cli.file.write_text(text)
    code, out, err = cli("simulation", "status")
    assert code == 1
    assert str(cli.file) in err and f"field {field!r}" in err
    with pytest.raises(ConfigError):
        load_simulation(cli.file)
    assert cli.file.read_text() == text  # nothing rewritten


def test_default_simulation_file_is_valid(repo_root):
    assert load_simulation(repo_root / "conf.d" / "simulation.yaml") == SimulationConfig(False, [])
