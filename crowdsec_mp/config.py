"""config.yaml: CrowdSec's layout (spec/cli.md §5) plus our own keys.

`load_config(path)` reads and checks the common part (paths). Each subsystem
reads and validates its own section from `Config.raw` in its own module
(api/settings.py for `api` and `db_config`, pipeline/settings.py for
`crowdsec_service`...), so sections stay owned by the code that uses them.

Relative paths in the file are relative to the directory of config.yaml, so
the built-in default config (conf.d/config.yaml) works from any checkout.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from crowdsec_mp.errors import ConfigError

PACKAGE_DIR = Path(__file__).resolve().parent
#: conf.d/ and hub/ shipped with the project (source checkout / editable install).
PROJECT_DIR = PACKAGE_DIR.parent
BUILTIN_CONFIG_DIR = PROJECT_DIR / "conf.d"
BUILTIN_HUB_DIR = PROJECT_DIR / "hub"

CONFIG_ENV = "CROWDSEC_MP_CONFIG"
SYSTEM_CONFIG = Path("/etc/crowdsec-mp/config.yaml")


def default_config_path() -> Path:
    """$CROWDSEC_MP_CONFIG, else /etc/crowdsec-mp/config.yaml, else the built-in one."""
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    if SYSTEM_CONFIG.is_file():
        return SYSTEM_CONFIG
    return BUILTIN_CONFIG_DIR / "config.yaml"


@dataclass
class Config:
    path: Path
    raw: dict = field(default_factory=dict)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolve(self, value, default=None) -> Path | None:
        """A path from the file, made absolute against the config directory."""
        if value in (None, ""):
            value = default
        if value in (None, ""):
            return None
        candidate = Path(os.path.expanduser(str(value)))
        return candidate if candidate.is_absolute() else (self.base_dir / candidate).resolve()

    def section(self, name) -> dict:
        value = self.raw.get(name) or {}
        if not isinstance(value, dict):
            raise ConfigError("must be a mapping", file=self.path, field=name)
        return value

    def path_setting(self, key, default) -> Path:
        return self.resolve(self.section("config_paths").get(key), default)

    @property
    def config_dir(self) -> Path:
        return self.path_setting("config_dir", ".")

    @property
    def data_dir(self) -> Path:
        return self.path_setting("data_dir", "data")

    @property
    def hub_dir(self) -> Path:
        return self.path_setting("hub_dir", "hub")

    @property
    def pattern_dir(self) -> Path:
        return self.path_setting("pattern_dir", str(self.config_dir / "patterns"))

    @property
    def simulation_path(self) -> Path:
        return self.path_setting("simulation_path", str(self.config_dir / "simulation.yaml"))


def load_config(path=None) -> Config:
    path = Path(path) if path else default_config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read configuration: {exc.strerror or exc}", file=path) from exc
    try:
        raw = yaml.safe_load(os.path.expandvars(text)) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML: {exc}", file=path) from exc
    if not isinstance(raw, dict):
        raise ConfigError("top level must be a mapping", file=path)
    config = Config(path=path.resolve(), raw=raw)
    config.section("config_paths")
    return config
