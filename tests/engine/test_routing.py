"""Routing of events to bucket shards, and simulation.yaml."""

from __future__ import annotations

import subprocess
import sys

import pytest

from crowdsec_mp.engine.routing import shard_for
from crowdsec_mp.engine.simulation import SimulationConfig, load_simulation, parse_simulation
from crowdsec_mp.errors import ConfigError


def test_shard_for_is_in_range_and_spreads():
    keys = [f"10.0.{i // 256}.{i % 256}" for i in range(2000)]
    shards = [shard_for(key, 4) for key in keys]
    assert set(shards) == {0, 1, 2, 3}
    assert min(shards.count(n) for n in range(4)) > 300


def test_shard_for_is_stable_across_processes(repo_root):
    """Python's hash() is salted per process; shard_for must not be."""
    code = "from crowdsec_mp.engine.routing import shard_for; print([shard_for(k, 7) for k in ('1.2.3.4', 'a/b', '')])"
    outputs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": str(seed), "PATH": ""}, cwd=str(repo_root)).stdout
        for seed in (1, 2)
    }
    assert len(outputs) == 1
    assert outputs.pop().strip() == str([shard_for(k, 7) for k in ("1.2.3.4", "a/b", "")])


def test_shard_for_rejects_zero_shards():
    with pytest.raises(ValueError):
        shard_for("x", 0)


def test_simulation_xor_exclusions():
    config = SimulationConfig(simulation=False, exclusions=["a/b"])
    assert config.is_simulated("a/b") and not config.is_simulated("c/d")
    config = SimulationConfig(simulation=True, exclusions=["a/b"])
    assert not config.is_simulated("a/b") and config.is_simulated("c/d")


def test_load_simulation_with_local_override(tmp_path):
    path = tmp_path / "simulation.yaml"
    path.write_text("simulation: false\nexclusions:\n  - crowdsecurity/ssh-bf\n")
    assert load_simulation(path).is_simulated("crowdsecurity/ssh-bf")
    (tmp_path / "simulation.yaml.local").write_text("simulation: true\n")
    config = load_simulation(path)
    assert config.simulation is True and not config.is_simulated("crowdsecurity/ssh-bf")
    assert not load_simulation(tmp_path / "absent.yaml").is_simulated("x")


@pytest.mark.parametrize(
    "raw, field",
    [({"simulation": "yes"}, "simulation"), ({"exclusions": "a/b"}, "exclusions"), ({"simulated": True}, "simulated")],
)
def test_bad_simulation_file(raw, field):
    with pytest.raises(ConfigError) as info:
        parse_simulation(raw, "sim.yaml")
    assert info.value.field == field and info.value.file == "sim.yaml"


def test_simulation_invalid_yaml(tmp_path):
    path = tmp_path / "simulation.yaml"
    path.write_text("simulation: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_simulation(path)
