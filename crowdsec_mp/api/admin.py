"""Functions the CLI (cscli-mp bouncers/machines) calls directly on the database.

Call `connect(config_or_settings)` once; it opens the database named by
`db_config` (applying migrations) and binds the models. Every function
raises AdminError with a message for the operator on failure.
"""

from __future__ import annotations

import re
import time

from crowdsec_mp.api import auth, queries
from crowdsec_mp.api.db import open_database
from crowdsec_mp.api.settings import ApiSettings
from crowdsec_mp.errors import CrowdsecMPError

US = 1_000_000
NAME_RE = re.compile(r"^[A-Za-z0-9@._:-]{1,255}$")


class AdminError(CrowdsecMPError):
    """An admin operation failed (name taken, unknown name, bad argument)."""


def connect(config_or_settings):
    """Open and bind the database of a Config or ApiSettings; returns it."""
    settings = (
        config_or_settings if isinstance(config_or_settings, ApiSettings) else ApiSettings.from_config(config_or_settings)
    )
    return open_database(settings.db)


def _now() -> int:
    return int(time.time() * US)


def _check_name(kind: str, name: str):
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise AdminError(f"invalid {kind} name {name!r}: use 1-255 letters, digits and @._:-")


# -- bouncers ---------------------------------------------------------------------


def add_bouncer(name: str, key: str | None = None) -> str:
    """Create a bouncer; returns its API key (shown once, only its hash is stored)."""
    _check_name("bouncer", name)
    if key is not None and (not isinstance(key, str) or len(key) < 1 or key.strip() != key):
        raise AdminError("the API key must be a non-empty string without surrounding spaces")
    key = key or auth.generate_api_key()
    if queries.create_bouncer(name, auth.hash_api_key(key), _now(), type_="", version="") is None:
        raise AdminError(f"bouncer {name!r} already exists")
    return key


def list_bouncers() -> list[dict]:
    """Name, IP address, revoked, last pull (µs or None), type, version, auth type."""
    keep = ("name", "ip_address", "revoked", "last_pull", "type", "version", "auth_type", "auto_created", "created_at")
    return [{k: row[k] for k in keep} for row in queries.list_bouncers()]


def delete_bouncer(name: str) -> None:
    if not queries.delete_bouncer(name):
        raise AdminError(f"unknown bouncer {name!r}")


# -- machines ---------------------------------------------------------------------


def add_machine(machine_id: str, password: str, *, validated: bool = True, ip_address: str = "") -> None:
    _check_name("machine", machine_id)
    if not isinstance(password, str) or not password:
        raise AdminError("the password must be a non-empty string")
    problem = auth.password_problem(password)
    if problem:
        raise AdminError(problem)
    created = queries.create_machine(
        machine_id, auth.hash_password(password), ip_address=ip_address, validated=validated, now=_now()
    )
    if not created:
        raise AdminError(f"machine {machine_id!r} already exists")


def list_machines() -> list[dict]:
    keep = ("machine_id", "ip_address", "is_validated", "auth_type", "scenarios", "version", "last_push", "last_heartbeat", "created_at")
    return [{k: row[k] for k in keep} for row in queries.list_machines()]


def validate_machine(machine_id: str) -> None:
    if not queries.update_machine(machine_id, _now(), is_validated=True):
        raise AdminError(f"unknown machine {machine_id!r}")


def delete_machine(machine_id: str) -> None:
    if not queries.delete_machine(machine_id):
        raise AdminError(f"unknown machine {machine_id!r}")
