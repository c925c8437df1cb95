"""The hash chain: sealing new events onto the head, and verifying a stored ledger."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stockmesh.ledger.codec import chain_hash
from stockmesh.ledger.records import GENESIS_HASH, NewEvent, RecordedEvent


def seal(events: Sequence[NewEvent], expected_versions: Mapping[str, int], head_position: int, head_hash: str,
         recorded_at: str) -> list[tuple[Any, ...]]:
    """Give each event its global position, stream version, timestamp and chain hash.

    Returns rows in the column order of ``RecordedEvent`` (tuples: this runs per event on ingest)."""
    return seal_into(events, dict(expected_versions), head_position, head_hash, recorded_at)


def seal_into(events: Sequence[NewEvent] | Sequence[tuple[Any, ...]], versions: dict[str, int], head_position: int,
              head_hash: str, recorded_at: str) -> list[tuple[Any, ...]]:
    """``seal``, counting stream versions on in ``versions`` (each stream's last version so far,
    updated in place): a batch sealed in parts, part after part, gets the rows it would get whole."""
    position, prev_hash = head_position, head_hash
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    get = versions.get
    for stream_id, type_name, schema_version, data, metadata, occurred_at in events:
        position += 1
        version = get(stream_id, 0) + 1
        versions[stream_id] = version
        digest = chain_hash(position, stream_id, version, type_name, schema_version, data, metadata, occurred_at,
                            recorded_at, prev_hash)
        append((position, stream_id, version, type_name, schema_version, data, metadata, occurred_at, recorded_at,
                prev_hash, digest))
        prev_hash = digest
    return rows


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    head_position: int
    first_bad_position: int | None = None
    reason: str | None = None


def verify_chain(events: Iterable[RecordedEvent], head: tuple[int, str]) -> ChainReport:
    """Walk the ledger in position order; report the first position where it was tampered with."""
    expected_position = 1
    prev_hash = GENESIS_HASH
    count = 0
    for e in events:
        if e.position != expected_position:
            reason = (f"position {expected_position} is missing (next stored is {e.position})"
                      if e.position > expected_position else f"position {e.position} is out of order")
            return ChainReport(False, count, head[0], expected_position, reason)
        if e.prev_hash != prev_hash:
            return ChainReport(False, count, head[0], e.position,
                               "previous-hash link does not match the event before it")
        digest = chain_hash(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata,
                            e.occurred_at, e.recorded_at, e.prev_hash)
        if digest != e.hash:
            return ChainReport(False, count, head[0], e.position, "content does not match its hash")
        prev_hash = e.hash
        expected_position += 1
        count += 1
    last = expected_position - 1
    if (last, prev_hash) != head:
        if head[0] > last:
            return ChainReport(False, count, head[0], last + 1,
                               f"the chain ends at {last} but the head records {head[0]}")
        return ChainReport(False, count, head[0], head[0] + 1 if last > head[0] else last,
                           "the last event does not match the recorded head")
    return ChainReport(True, count, head[0])
