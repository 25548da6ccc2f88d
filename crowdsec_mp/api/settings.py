"""The `api` and `db_config` sections of config.yaml, validated once.

`ApiSettings.from_config(config)` reads a crowdsec_mp.config.Config;
`ApiSettings.from_mapping(mapping)` builds settings from a plain dict (tests,
`create_app({...})`), with the same keys as the YAML sections:
  {"api": {"server": {...}, "client": {...}}, "db_config": {...}}
Relative paths are resolved against `base_dir`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from crowdsec_mp.api.durations import parse_duration
from crowdsec_mp.errors import ConfigError

DEFAULT_LISTEN = "127.0.0.1:8080"
DB_TYPES = ("sqlite", "postgresql", "postgres", "pgx", "mysql")


@dataclass
class DbSettings:
    type: str = "sqlite"
    db_path: Path | None = None
    user: str = ""
    password: str = ""
    host: str = "127.0.0.1"
    port: int | None = None
    db_name: str = "crowdsec"
    sslmode: str = ""
    use_wal: bool = True
    max_open_conns: int = 100
    flush_max_items: int | None = None
    flush_max_age: float | None = None  # seconds

    @property
    def backend(self) -> str:
        """`sqlite`, `postgresql` or `mysql`."""
        return "postgresql" if self.type in ("postgres", "postgresql", "pgx") else self.type


@dataclass
class ApiSettings:
    listen_uri: str = DEFAULT_LISTEN
    profiles_path: Path | None = None
    trusted_ips: list = field(default_factory=lambda: ["127.0.0.1", "::1"])
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None
    credentials_path: Path | None = None
    auto_registration_enabled: bool = False
    auto_registration_token: str = ""
    auto_registration_ranges: list = field(default_factory=list)
    disable_remote_lapi_registration: bool = False
    use_forwarded_for_headers: bool = False
    trusted_proxies: list = field(default_factory=list)
    db: DbSettings = field(default_factory=DbSettings)
    source: str = "<mapping>"

    @property
    def host_port(self) -> tuple[str, int]:
        host, _, port = self.listen_uri.rpartition(":")
        return host.strip("[]") or "127.0.0.1", int(port)

    @classmethod
    def from_config(cls, config) -> "ApiSettings":
        return cls.from_mapping(config.raw, base_dir=config.base_dir, source=str(config.path))

    @classmethod
    def from_mapping(cls, mapping: dict, *, base_dir=None, source="<mapping>") -> "ApiSettings":
        base = Path(base_dir) if base_dir else Path.cwd()
        reader = _Reader(source, base)
        api = reader.mapping(mapping, "api")
        server = reader.mapping(api, "server", prefix="api")
        client = reader.mapping(api, "client", prefix="api")
        tls = reader.mapping(server, "tls", prefix="api.server")
        auto = reader.mapping(server, "auto_registration", prefix="api.server")
        settings = cls(source=source)
        settings.listen_uri = reader.listen_uri(server.get("listen_uri", DEFAULT_LISTEN))
        settings.profiles_path = reader.path(server.get("profiles_path"))
        settings.trusted_ips = reader.networks(server, "trusted_ips", ["127.0.0.1", "::1"])
        settings.tls_cert_file = reader.path(tls.get("cert_file"))
        settings.tls_key_file = reader.path(tls.get("key_file"))
        if bool(settings.tls_cert_file) != bool(settings.tls_key_file):
            raise ConfigError("cert_file and key_file go together", file=source, field="api.server.tls")
        settings.credentials_path = reader.path(client.get("credentials_path"))
        settings.auto_registration_enabled = bool(auto.get("enabled", False))
        settings.auto_registration_token = str(auto.get("token") or "")
        settings.auto_registration_ranges = reader.networks(auto, "allowed_ranges", [])
        if settings.auto_registration_enabled and len(settings.auto_registration_token) < 32:
            raise ConfigError(
                "token must be at least 32 characters", file=source, field="api.server.auto_registration.token"
            )
        settings.disable_remote_lapi_registration = bool(server.get("disable_remote_lapi_registration", False))
        settings.use_forwarded_for_headers = bool(server.get("use_forwarded_for_headers", False))
        settings.trusted_proxies = reader.networks(server, "trusted_proxies", [])
        settings.db = reader.db(reader.mapping(mapping, "db_config"))
        return settings


class _Reader:
    def __init__(self, source, base):
        self.source = source
        self.base = base

    def fail(self, message, field_name):
        raise ConfigError(message, file=self.source, field=field_name)

    def mapping(self, parent, key, prefix=""):
        value = parent.get(key) or {}
        if not isinstance(value, dict):
            self.fail("must be a mapping", f"{prefix}.{key}" if prefix else key)
        return value

    def path(self, value):
        if value in (None, ""):
            return None
        candidate = Path(str(value)).expanduser()
        return candidate if candidate.is_absolute() else (self.base / candidate).resolve()

    def listen_uri(self, value):
        text = str(value)
        host, sep, port = text.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            self.fail(f"expected host:port, got {text!r}", "api.server.listen_uri")
        return text

    def networks(self, section, key, default):
        values = section.get(key, default)
        if values is None:
            values = []
        if not isinstance(values, list):
            self.fail("must be a list of IPs or CIDR ranges", key)
        networks = []
        for item in values:
            try:
                networks.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                self.fail(f"{item!r} is not an IP or CIDR range", key)
        return networks

    def db(self, section) -> DbSettings:
        db = DbSettings()
        db.type = str(section.get("type", "sqlite")).lower()
        if db.type not in DB_TYPES:
            self.fail(f"unknown database type {db.type!r} (expected one of {', '.join(DB_TYPES)})", "db_config.type")
        db.db_path = self.path(section.get("db_path"))
        if db.backend == "sqlite" and db.db_path is None:
            self.fail("db_path is required for sqlite", "db_config.db_path")
        db.user = str(section.get("user") or "")
        db.password = str(section.get("password") or "")
        db.host = str(section.get("host") or "127.0.0.1")
        port = section.get("port")
        if port not in (None, ""):
            try:
                db.port = int(port)
            except (TypeError, ValueError):
                self.fail(f"port must be an integer, got {port!r}", "db_config.port")
        db.db_name = str(section.get("db_name") or "crowdsec")
        db.sslmode = str(section.get("sslmode") or "")
        db.use_wal = section.get("use_wal", True) is not False
        db.max_open_conns = int(section.get("max_open_conns") or 100)
        flush = section.get("flush") or {}
        if not isinstance(flush, dict):
            self.fail("must be a mapping", "db_config.flush")
        max_items = flush.get("max_items")
        if max_items not in (None, ""):
            if not isinstance(max_items, int) or isinstance(max_items, bool) or max_items <= 0:
                self.fail(f"must be a positive integer, got {max_items!r}", "db_config.flush.max_items")
            db.flush_max_items = max_items
        max_age = flush.get("max_age")
        if max_age not in (None, ""):
            try:
                db.flush_max_age = parse_duration(str(max_age))
            except ValueError:
                self.fail(f"invalid duration {max_age!r}", "db_config.flush.max_age")
        return db
