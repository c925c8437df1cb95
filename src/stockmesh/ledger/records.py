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
    """An idempotency key, kept for good: the payload it came with and the events it produced."""

    key: str
    payload_hash: str
    first_position: int | None
    last_position: int | None
    recorded_at: str


EVENT_COLUMNS = ("position", "stream_id", "version", "type", "schema_version", "data", "metadata",
                 "occurred_at", "recorded_at", "prev_hash", "hash")
GENESIS_HASH = "0" * 64
