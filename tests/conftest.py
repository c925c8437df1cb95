"""Shared fixtures. Tests that need PostgreSQL, NATS or ../shared/data skip with a reason on a
user's clone, but under CI=true a missing dependency is a failure, never a skip."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("STOCKMESH_SHARED_DATA", REPO.parent / "shared" / "data"))
POSTGRES_URL = os.environ.get("STOCKMESH_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def need(condition: bool, reason: str) -> None:
    """Skip when ``condition`` is false, except under CI where that is a failure."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required under CI=true but unavailable: {reason}")
    pytest.skip(reason)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def shared_data() -> Path:
    need(SHARED_DATA.is_dir(), f"../shared/data not found at {SHARED_DATA}")
    return SHARED_DATA
