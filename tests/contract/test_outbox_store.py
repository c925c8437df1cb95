"""The ``OutboxStore`` port over memory, SQLite and PostgreSQL: messages enqueued with the events
(once per message id), read in enqueue order, filtered by status and due time, marked."""

from __future__ import annotations

from typing import Any

import pytest

from stockmesh.ledger.port import OutboxStore
from stockmesh.ledger.records import OutboxMessage


def _enqueue(store: Any, *ids: str) -> None:
    with store.write() as session:
        session.append([], {}, [], {}, outbox=[OutboxMessage(i, "purchase_order.placed", f'{{"po_id":"{i}"}}',
                                                             "2026-01-01T00:00:00+00:00") for i in ids])


@pytest.fixture
def outbox(store: Any) -> Any:
    assert isinstance(store, OutboxStore)
    return store


def test_messages_come_in_enqueue_order_once_per_id(outbox: Any) -> None:
    _enqueue(outbox, "PO-3", "PO-1")
    _enqueue(outbox, "PO-2", "PO-1")  # PO-1 again: a retry of the same action, kept once
    entries = outbox.outbox_entries()
    assert [e.message_id for e in entries] == ["PO-3", "PO-1", "PO-2"]
    assert [e.seq for e in entries] == sorted(e.seq for e in entries)
    assert entries[1].payload == '{"po_id":"PO-1"}' and (entries[1].status, entries[1].attempts) == ("pending", 0)
    assert [e.message_id for e in outbox.outbox_entries(after_seq=entries[0].seq, limit=1)] == ["PO-1"]


def test_a_rolled_back_write_enqueues_nothing(outbox: Any) -> None:
    with pytest.raises(RuntimeError), outbox.write() as session:
        session.append([], {}, [], {}, outbox=[OutboxMessage("PO-9", "t", "{}", "2026-01-01")])
        raise RuntimeError("crash before commit")
    assert outbox.outbox_entries(status=None) == []


def test_updates_move_status_attempts_and_due_time(outbox: Any) -> None:
    _enqueue(outbox, "PO-1", "PO-2", "PO-3")
    first, second, third = outbox.outbox_entries()
    outbox.outbox_update(first.seq, status="delivered", attempts=1, delivered_at="2026-01-01T00:00:01+00:00")
    outbox.outbox_update(second.seq, status="pending", attempts=2, next_attempt_at="2026-01-01T00:05:00+00:00",
                         last_error="WMS answered 503")
    outbox.outbox_update(third.seq, status="dead", attempts=10, last_error="refused: 422")
    assert [e.message_id for e in outbox.outbox_entries()] == ["PO-2"]
    assert outbox.outbox_entries(due_before="2026-01-01T00:04:59+00:00") == []
    due = outbox.outbox_entries(due_before="2026-01-01T00:05:00+00:00")
    assert [(e.message_id, e.attempts, e.last_error) for e in due] == [("PO-2", 2, "WMS answered 503")]
    delivered = outbox.outbox_entries(status="delivered")
    assert [(e.message_id, e.delivered_at) for e in delivered] == [("PO-1", "2026-01-01T00:00:01+00:00")]
    assert [e.message_id for e in outbox.outbox_entries(status="dead")] == ["PO-3"]
    assert [e.message_id for e in outbox.outbox_entries(status=None)] == ["PO-1", "PO-2", "PO-3"]
