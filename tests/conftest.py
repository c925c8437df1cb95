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


def postgres_available() -> bool:
    try:
        import psycopg
    except ImportError:
        return False
    try:
        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture
def pg_url() -> str:
    need(postgres_available(), f"PostgreSQL not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


def make_store(kind: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A fresh, initialised store of one backend; PostgreSQL gets a schema of its own."""
    import uuid

    if kind == "memory":
        from stockmesh.ledger.memory import MemoryEventStore

        store = MemoryEventStore()
    elif kind == "sqlite":
        from stockmesh.ledger.sqlite import SqliteEventStore

        store = SqliteEventStore(str(tmp_path / "ledger.db"))
    else:
        need(postgres_available(), f"PostgreSQL not reachable at {POSTGRES_URL}")
        from stockmesh.ledger.postgres import PostgresEventStore

        store = PostgresEventStore(POSTGRES_URL, schema=f"test_{uuid.uuid4().hex[:12]}")
    store.init()
    return store


def drop_store(store) -> None:  # type: ignore[no-untyped-def]
    schema = getattr(store, "schema", None)
    store.close()
    if schema:
        import psycopg

        with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def store(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    s = make_store(request.param, tmp_path)
    yield s
    drop_store(s)
