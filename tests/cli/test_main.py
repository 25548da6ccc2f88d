"""The dispatcher: global flags before or after the command, default output from config."""

from crowdsec_mp.cli import main as cli_main


def write_config(tmp_path, output):
    path = tmp_path / "config.yaml"
    path.write_text(f"cscli:\n  output: {output}\nconfig_paths:\n  simulation_path: ./simulation.yaml\n")
    (tmp_path / "simulation.yaml").write_text("simulation: false\nexclusions: []\n")
    return path


def test_output_default_comes_from_cscli_output(tmp_path, capsys):
    config = write_config(tmp_path, "json")
    assert cli_main.main(["-c", str(config), "simulation", "status"]) == 0
    out = capsys.readouterr().out
    assert out.lstrip().startswith("{") or out.lstrip().startswith("[")


def test_explicit_output_flag_wins_before_or_after_the_command(tmp_path, capsys):
    config = write_config(tmp_path, "json")
    assert cli_main.main(["-o", "human", "-c", str(config), "simulation", "status"]) == 0
    before = capsys.readouterr().out
    assert cli_main.main(["simulation", "status", "-c", str(config), "-o", "human"]) == 0
    after = capsys.readouterr().out
    assert before == after and not before.lstrip().startswith(("{", "["))


def test_unreadable_config_falls_back_to_human_output(tmp_path):
    assert cli_main.configured_output(tmp_path / "absent.yaml") == "human"
    bad = tmp_path / "bad.yaml"
    bad.write_text("cscli:\n  output: xml\n")
    assert cli_main.configured_output(bad) == "human"


def test_errors_are_one_line_in_cscli_shape(tmp_path, capsys):
    code = cli_main.main(["-c", str(tmp_path / "absent.yaml"), "simulation", "status"])
    err = capsys.readouterr().err
    assert code == 1
    assert err.startswith("Error: cscli-mp simulation: ") and err.count("\n") == 1
