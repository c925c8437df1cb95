"""The ``AuditReads`` port over memory, SQLite and PostgreSQL: bounded walks in (stream, version)
and key order, stored states, key spans, metadata, and the head's signature."""

from __future__ import annotations

from typing import Any

import pytest

from stockmesh.ledger import codec
from stockmesh.ledger.port import AuditReads
from stockmesh.ledger.records import IdempotencyRecord, NewEvent


def _events(stream: str, n: int, key: str) -> list[NewEvent]:
    return [NewEvent(stream, "StockReceived", 1, codec.dumps({"qty": i + 1, "lot": None, "expiry": None}),
                     codec.dumps({"idempotency_key": key}), "2026-01-01T00:00:00+00:00") for i in range(n)]


@pytest.fixture
def audited(store: Any) -> Any:
    assert isinstance(store, AuditReads)
    with store.write() as s:  # B before A in position order; A's state row, and one with no events
        s.append(_events("stock:B@S", 2, "k-b") + _events("stock:A@S", 3, "k-a"),
                 {"stock:A@S": (3, '{"on_hand":6}'), "stock:B@S": (2, '{"on_hand":3}'), "stock:C@S": (1, "{}")},
                 [IdempotencyRecord("k-b", "h1", 1, 2, "t"), IdempotencyRecord("k-a", "h2", 3, 5, "t"),
                  IdempotencyRecord("k-0", "h3", None, None, "t")], {})
    return store


def test_walk_by_stream_in_pages(audited: Any) -> None:
    rows = audited.read_by_stream()
    assert [(r[0], r[1], r[2]) for r in rows] == [("stock:A@S", 1, 3), ("stock:A@S", 2, 4), ("stock:A@S", 3, 5),
                                                 ("stock:B@S", 1, 1), ("stock:B@S", 2, 2)]
    assert rows[0][3:] == ("StockReceived", 1, codec.dumps({"qty": 1, "lot": None, "expiry": None}))
    page = audited.read_by_stream(after=("stock:A@S", 2), limit=2)
    assert [(r[0], r[1]) for r in page] == [("stock:A@S", 3), ("stock:B@S", 1)]


def test_states_and_streams_without_events(audited: Any) -> None:
    assert audited.stored_states(["stock:A@S", "stock:Z@S"]) == {"stock:A@S": (3, '{"on_hand":6}')}
    assert audited.streams_without_events() == ["stock:C@S"]


def test_key_spans_by_key_and_in_key_order(audited: Any) -> None:
    assert sorted(audited.idempotency_spans(["k-a", "k-0", "missing"])) == [("k-0", None, None), ("k-a", 3, 5)]
    assert audited.idempotency_spans(limit=2) == [("k-0", None, None), ("k-a", 3, 5)]
    assert audited.idempotency_spans(after="k-a") == [("k-b", 1, 2)]


def test_metadata_at_positions(audited: Any) -> None:
    assert audited.metadata_at([1, 4, 99]) == {1: codec.dumps({"idempotency_key": "k-b"}),
                                               4: codec.dumps({"idempotency_key": "k-a"})}


def test_head_signature_is_set_only_on_the_head_it_names(audited: Any) -> None:
    assert audited.head_signature() is None
    position, head_hash = audited.head()
    assert not audited.set_head_signature(position - 1, head_hash, "sig-old")
    assert audited.head_signature() is None
    assert audited.set_head_signature(position, head_hash, "sig-1")
    assert audited.head_signature() == "sig-1"
