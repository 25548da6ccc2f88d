"""simulation.yaml: which scenarios only produce simulated alerts (spec/scenarios.md §9).

    simulation: false          # global switch
    exclusions: [a/b, ...]     # scenarios whose state is the opposite of the switch

`is_simulated(name) = simulation XOR (name in exclusions)`. A `.local` file
next to the main one is merged over it (its keys win), as CrowdSec does.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import yaml

from crowdsec_mp.errors import ConfigError

KNOWN_KEYS = frozenset({"simulation", "exclusions"})


@dataclass
class SimulationConfig:
    simulation: bool = False
    exclusions: list = field(default_factory=list)

    def is_simulated(self, scenario_name: str) -> bool:
        return self.simulation != (scenario_name in self.exclusions)

    def to_dict(self) -> dict:
        return {"simulation": self.simulation, "exclusions": list(self.exclusions)}


def parse_simulation(raw, path="simulation.yaml") -> SimulationConfig:
    """Validate an already-loaded simulation mapping (None = empty file)."""
    if raw is None:
        return SimulationConfig()
    if not isinstance(raw, dict):
        raise ConfigError("top level must be a mapping", file=path)
    unknown = sorted(set(raw) - KNOWN_KEYS)
    if unknown:
        raise ConfigError(f"unknown key {unknown[0]!r}", file=path, field=unknown[0])
    simulation = raw.get("simulation", False)
    if simulation is None:
        simulation = False
    if not isinstance(simulation, bool):
        raise ConfigError(f"must be true or false, got {simulation!r}", file=path, field="simulation")
    exclusions = raw.get("exclusions") or []
    if not isinstance(exclusions, list) or not all(isinstance(x, str) for x in exclusions):
        raise ConfigError("must be a list of scenario names", file=path, field="exclusions")
    return SimulationConfig(simulation=simulation, exclusions=list(exclusions))


def _read(path) -> dict | None:
    try:
        with open(path, encoding="utf-8") as handle:
            return yaml.safe_load(handle)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", file=path) from exc


def read_simulation_file(path) -> SimulationConfig:
    """One simulation file, without its `.local` override (what `cscli-mp simulation` edits)."""
    path = str(path)
    return parse_simulation(_read(path) if os.path.exists(path) else None, path)


def load_simulation(path) -> SimulationConfig:
    """Read simulation.yaml (+ .local); a missing main file means "nothing simulated"."""
    path = str(path)
    config = read_simulation_file(path)
    local = path + ".local"
    if os.path.exists(local):
        override = parse_simulation(_read(local), local)
        local_raw = _read(local) or {}
        if "simulation" in local_raw:
            config.simulation = override.simulation
        if "exclusions" in local_raw:
            config.exclusions = override.exclusions
    return config
