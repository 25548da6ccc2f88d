"""Schema creation and numbered migrations (SQLite; the backend suite covers the others)."""

from __future__ import annotations

import sqlite3

import pytest
from peewee import IntegerField
from playhouse.migrate import SchemaMigrator, migrate as run_operations

from crowdsec_mp.api import db as db_module
from crowdsec_mp.api.models import ALL_MODELS, database_proxy
from crowdsec_mp.api.settings import DbSettings
from crowdsec_mp.errors import BootError


def test_fresh_database_gets_every_table_and_the_latest_version(tmp_path):
    settings = DbSettings(type="sqlite", db_path=tmp_path / "fresh" / "crowdsec.db")
    database = db_module.open_database(settings)
    assert db_module.schema_version(database) == db_module.MIGRATIONS[-1][0]
    tables = set(database.get_tables())
    assert {model._meta.table_name for model in ALL_MODELS} <= tables
    with sqlite3.connect(settings.db_path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    # Reopening applies nothing twice.
    db_module.open_database(settings)
    assert db_module.schema_version(database) == db_module.MIGRATIONS[-1][0]
    database_proxy.close()


def test_new_migrations_are_applied_once_in_order(tmp_path, monkeypatch):
    settings = DbSettings(type="sqlite", db_path=tmp_path / "crowdsec.db")
    database = db_module.open_database(settings)
    latest = db_module.MIGRATIONS[-1][0]
    applied = []

    def add_column(database):
        applied.append("add_column")
        run_operations(SchemaMigrator.from_database(database).add_column("bouncers", "extra", IntegerField(default=0)))

    monkeypatch.setattr(db_module, "MIGRATIONS", db_module.MIGRATIONS + [(latest + 1, add_column)])
    db_module.open_database(settings)
    db_module.open_database(settings)
    assert applied == ["add_column"]
    assert db_module.schema_version(database) == latest + 1
    assert "extra" in {column.name for column in database.get_columns("bouncers")}
    database_proxy.close()


def test_unreachable_database_is_a_boot_error():
    settings = DbSettings(type="postgresql", host="127.0.0.1", port=1, db_name="nope", user="nobody")
    with pytest.raises(BootError, match="cannot open the postgresql database"):
        db_module.open_database(settings)
