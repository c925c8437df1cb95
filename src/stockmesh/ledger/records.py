"""What the ledger stores: recorded events, events about to be appended, idempotency records."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple


class NewEvent(NamedTuple):
    """An event ready to append: its stream, its payload already encoded as canonical JSON.

    A named tuple rather than a dataclass: a million of them are built per batch ingest."""

    stream_id: str
    type: str
    schema_version: int
    data: str
    metadata: str
    occurred_at: str


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    """One row of the ledger, as stored. ``data`` and ``metadata`` are the stored JSON texts."""

    position: int
    stream_id: str
    version: int
    type: str
    schema_version: int
    data: str
    metadata: str
    occurred_at: str
    recorded_at: str
    prev_hash: str
    hash: str

    def as_row(self) -> tuple[Any, ...]:
        return (self.position, self.stream_id, self.version, self.type, self.schema_version, self.data,
                self.metadata, self.occurred_at, self.recorded_at, self.prev_hash, self.hash)


class IdempotencyRecord(NamedTuple):
    """An idempotency key, kept for good: the payload it came with and what became of it.

    Two shapes, told apart by ``refusal``:
    - applied: ``refusal`` is None; ``first_position``..``last_position`` are the events the command
      wrote (both None when it wrote none); those events carry the key in their metadata;
    - refused: ``refusal`` is the error the command was refused with, as canonical JSON
      ``{"error": CLASS, "field": FIELD or null, "message": TEXT}`` (CLASS a ``domain.errors``
      name: ``InsufficientStock``, ``UnknownEntity``...); both positions are None and no event
      carries the key. The same key and payload get that error again, never a new decision.
    """

    key: str
    payload_hash: str
    first_position: int | None
    last_position: int | None
    recorded_at: str
    refusal: str | None = None


EVENT_COLUMNS = ("position", "stream_id", "version", "type", "schema_version", "data", "metadata",
                 "occurred_at", "recorded_at", "prev_hash", "hash")
GENESIS_HASH = "0" * 64
IDEMPOTENCY_COLUMNS = ("key", "payload_hash", "first_position", "last_position", "recorded_at", "refusal")


class OutboxMessage(NamedTuple):
    """A message for the outside world (a WMS, an ERP, a carrier, the bus), written in the same
    transaction as the events that decided it. ``message_id`` is its idempotency key downstream:
    enqueuing the same id twice keeps one message."""

    message_id: str
    topic: str
    payload: str
    created_at: str


class OutboxEntry(NamedTuple):
    """A stored outbox message with its delivery state (``pending``, ``delivered`` or ``dead``)."""

    seq: int
    message_id: str
    topic: str
    payload: str
    created_at: str
    status: str
    attempts: int
    next_attempt_at: str | None
    last_error: str | None
    delivered_at: str | None


OUTBOX_COLUMNS = ("seq", "message_id", "topic", "payload", "created_at", "status", "attempts", "next_attempt_at",
                  "last_error", "delivered_at")
