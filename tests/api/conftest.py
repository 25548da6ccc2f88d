"""Fixtures of the Local API tests (helpers live in lapi_helpers.py)."""

from __future__ import annotations

import pytest

from tests.api.lapi_helpers import running_lapi


@pytest.fixture(scope="module")
def sqlite_lapi(tmp_path_factory):
    """One LAPI on SQLite with the default test profiles, shared by a module."""
    with running_lapi("sqlite", tmp_path_factory.mktemp("lapi")) as lapi:
        yield lapi


@pytest.fixture(scope="module")
def machine_token(sqlite_lapi):
    return sqlite_lapi.machine_token()
