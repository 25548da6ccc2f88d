"""The `crowdsec_service` and `prometheus` sections of config.yaml, validated.

    crowdsec_service:
      acquisition_path: ./acquis.yaml
      acquisition_dir: ./acquis.d/
      parser_workers: 0        # 0 = one per core
      bucket_shards: 0         # 0 = one per two cores (at least 1)
      state_dir: ../var/state/ # bucket state dumps, output queue, tail positions
    prometheus:
      enabled: true
      listen_addr: 127.0.0.1
      listen_port: 6060

Errors are `ConfigError`s naming config.yaml and the field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import psutil

from crowdsec_mp.errors import ConfigError


def default_parser_workers() -> int:
    """One parser per core: parsing is the CPU cost (ARCHITECTURE "why this shape")."""
    return max(1, psutil.cpu_count(logical=True) or 1)


def default_bucket_shards() -> int:
    """Bucket accounting is cheap: one shard per two cores, at least one."""
    return max(1, (psutil.cpu_count(logical=True) or 1) // 2)


@dataclass
class ServiceSettings:
    acquisition_path: Path | None
    acquisition_dir: Path | None
    parser_workers: int
    bucket_shards: int
    state_dir: Path
    prometheus_enabled: bool
    prometheus_addr: str
    prometheus_port: int
    credentials_path: Path | None
    api_server_enabled: bool

    @classmethod
    def from_config(cls, config) -> "ServiceSettings":
        service = config.section("crowdsec_service")
        prometheus = config.section("prometheus")

        def count(key, default_fn):
            value = service.get(key, 0)
            if value is None:
                value = 0
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ConfigError("must be a non-negative integer (0 = from the core count)",
                                  file=config.path, field=f"crowdsec_service.{key}")
            return value or default_fn()

        port = prometheus.get("listen_port", 6060)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise ConfigError("must be a port number", file=config.path, field="prometheus.listen_port")
        enabled = prometheus.get("enabled", False)
        if not isinstance(enabled, bool):
            raise ConfigError("must be true or false", file=config.path, field="prometheus.enabled")
        addr = prometheus.get("listen_addr", "127.0.0.1")
        if not isinstance(addr, str) or not addr:
            raise ConfigError("must be an address", file=config.path, field="prometheus.listen_addr")
        api = config.section("api")
        client = api.get("client") or {}
        server = api.get("server") or {}
        if not isinstance(client, dict):
            raise ConfigError("must be a mapping", file=config.path, field="api.client")
        if not isinstance(server, dict):
            raise ConfigError("must be a mapping", file=config.path, field="api.server")
        for key in ("acquisition_path", "acquisition_dir", "state_dir"):
            if service.get(key) is not None and not isinstance(service.get(key), str):
                raise ConfigError("must be a path", file=config.path, field=f"crowdsec_service.{key}")
        return cls(
            acquisition_path=config.resolve(service.get("acquisition_path"), "acquis.yaml"),
            acquisition_dir=config.resolve(service.get("acquisition_dir"), "acquis.d"),
            parser_workers=count("parser_workers", default_parser_workers),
            bucket_shards=count("bucket_shards", default_bucket_shards),
            state_dir=config.resolve(service.get("state_dir"), "state"),
            prometheus_enabled=enabled,
            prometheus_addr=addr,
            prometheus_port=port,
            credentials_path=config.resolve(client.get("credentials_path")),
            api_server_enabled=server.get("enable", True) is not False and bool(server),
        )
