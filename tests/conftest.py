"""Shared fixtures. Tests that need ../shared (the CrowdSec hub snapshot, spec test
data, corpus generator) use the `shared_dir`-based fixtures and skip with a clear
message when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent


def find_shared_dir() -> Path | None:
    candidate = Path(os.environ.get("CROWDSEC_MP_SHARED", REPO_ROOT.parent / "shared"))
    return candidate if (candidate / "hub").is_dir() else None


SHARED_DIR = find_shared_dir()
SHARED_MISSING = (
    "../shared (CrowdSec hub snapshot and test data) is absent; "
    "set CROWDSEC_MP_SHARED to its path to run this test"
)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if SHARED_DIR is None:
        pytest.skip(SHARED_MISSING)
    return SHARED_DIR


@pytest.fixture(scope="session")
def shared_hub(shared_dir) -> Path:
    return shared_dir / "hub"


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT
