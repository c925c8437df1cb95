"""Each backend satisfies the ports it claims, member by member, and no more than it claims:
memory, SQLite and PostgreSQL are ``EventStore`` (log, audit reads, views, outbox); SQLite and
PostgreSQL are also ``Rebuildable``, memory is not (parallel replay then folds in-process)."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from stockmesh.ledger import port
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections import parallel
from tests.conftest import drop_store, make_store

SMALL_PORTS = (port.EventLog, port.AuditReads, port.ViewStore, port.OutboxStore)
CLAIMS = {"memory": (*SMALL_PORTS, port.EventStore),
          "sqlite": (*SMALL_PORTS, port.EventStore, port.Rebuildable),
          "postgres": (*SMALL_PORTS, port.EventStore, port.Rebuildable)}
ALL_PORTS = (*SMALL_PORTS, port.EventStore, port.Rebuildable)


def _members(protocol: type) -> list[str]:
    names = {n for klass in protocol.__mro__ if klass.__module__ == port.__name__
             for n in (*vars(klass), *getattr(klass, "__annotations__", {}))}
    return sorted(n for n in names if not n.startswith("_"))


def _accepts(implementation: Any, declared: Any) -> str | None:
    """Why ``implementation`` cannot stand in for ``declared`` (None: it can): every parameter the
    port declares is there, of the same kind, with the same default."""
    have = inspect.signature(implementation).parameters
    for name, param in inspect.signature(declared).parameters.items():
        if name == "self":
            continue
        if name not in have:
            return f"no parameter {name}"
        if have[name].kind != param.kind:
            return f"{name} is {have[name].kind.description}, the port says {param.kind.description}"
        if have[name].default != param.default:
            return f"{name} defaults to {have[name].default!r}, the port says {param.default!r}"
    extra = [n for n, p in have.items() if n != "self" and n not in inspect.signature(declared).parameters
             and p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    return f"required parameters the port does not pass: {extra}" if extra else None


@pytest.fixture(params=list(CLAIMS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    store = make_store(request.param, tmp_path)
    yield request.param, store
    drop_store(store)


def test_each_backend_is_exactly_the_ports_it_claims(backend: Any) -> None:
    kind, store = backend
    assert {p.__name__ for p in ALL_PORTS if isinstance(store, p)} == {p.__name__ for p in CLAIMS[kind]}
    for protocol in CLAIMS[kind]:
        assert protocol in type(store).__mro__, f"{type(store).__name__} does not declare {protocol.__name__}"


def test_every_member_matches_the_port(backend: Any) -> None:
    kind, store = backend
    problems = []
    for protocol in CLAIMS[kind]:
        for name in _members(protocol):
            declared = getattr(protocol, name, None)
            if not callable(declared):
                assert hasattr(store, name), f"{protocol.__name__}.{name} missing"
                continue
            why = _accepts(getattr(store, name), declared)
            if why:
                problems.append(f"{type(store).__name__}.{name} ({protocol.__name__}): {why}")
    assert problems == []


def test_the_union_is_the_small_ports() -> None:
    union = set(_members(port.EventStore))
    assert union == {m for p in SMALL_PORTS for m in _members(p)}
    assert not union & set(_members(port.Rebuildable))  # the capability is not part of every store


def test_a_write_session_satisfies_its_port(backend: Any) -> None:
    _, store = backend
    with store.write() as session:
        assert isinstance(session, port.WriteSession)
        assert session.head_position == 0


def test_only_a_rebuildable_backend_replays_on_several_processes(backend: Any, monkeypatch: pytest.MonkeyPatch
                                                                 ) -> None:
    kind, store = backend
    monkeypatch.delenv("STOCKMESH_REPLAY_WORKERS", raising=False)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    assert parallel.default_workers(store) == (2 if kind != "memory" else 1)


def test_reopening_alone_does_not_make_a_backend_rebuildable(monkeypatch: pytest.MonkeyPatch) -> None:
    class ReopenableMemory(MemoryEventStore):  # another process cannot stage, swap or sample it
        def reopen_spec(self) -> port.ReopenSpec:
            return ("memory", (), {})

    monkeypatch.delenv("STOCKMESH_REPLAY_WORKERS", raising=False)
    monkeypatch.setattr(parallel, "PARALLEL_MIN_EVENTS", 0)
    monkeypatch.setattr(parallel.os, "cpu_count", lambda: 2)
    store = ReopenableMemory()
    assert not isinstance(store, port.Rebuildable)
    assert parallel.default_workers(store) == 1


def test_a_store_stamps_its_writes_with_the_clock_it_is_handed(backend: Any) -> None:
    """``recorded_at`` comes from the store's clock (bootstrap hands one; the system clock by
    default), on every backend: a test or the twin sets the time instead of patching a function."""
    from datetime import UTC, datetime

    from stockmesh.domain.clock import ManualClock
    from stockmesh.service.execute import execute
    from tests.support.commands import network

    _, store = backend
    store.clock = ManualClock(datetime(2031, 5, 17, 8, 30, tzinfo=UTC))
    execute(store, network())
    stamps = {e.recorded_at for e in store.read_all()}
    assert stamps == {"2031-05-17T08:30:00.000000+00:00"}


def test_bootstrap_hands_the_clock_to_the_store(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from stockmesh.bootstrap import open_store
    from stockmesh.domain.clock import SYSTEM_CLOCK, ManualClock

    clock = ManualClock(datetime(2031, 5, 17, tzinfo=UTC))
    store = open_store(f"sqlite:///{tmp_path / 'a.db'}", clock=clock)
    try:
        assert store.clock is clock
    finally:
        store.close()
    plain = open_store("memory://")
    assert plain.clock is SYSTEM_CLOCK
