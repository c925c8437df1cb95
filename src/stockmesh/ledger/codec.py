"""Encoding of events and stream states, and the hash chain.

JSON is canonical (no spaces; dict keys sorted, event fields in their declared order) so that a
payload hashes the same on every machine.
The chain hash of an event covers every stored column and the previous event's hash, so any
modified, deleted, inserted or reordered row breaks the chain at that row.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from stockmesh.domain.events import EVENT_TYPES, Event
from stockmesh.domain.evolve import STATE_TYPES, stream_kind
from stockmesh.domain.model import State, StockState
from stockmesh.ledger.upcasting import upcast

_OPTS = orjson.OPT_SORT_KEYS
_sha256 = hashlib.sha256


def dumps(obj: Any) -> str:
    return orjson.dumps(obj, option=_OPTS).decode()


def loads(text: str | bytes) -> Any:
    return orjson.loads(text)


def encode_event(event: Event) -> str:
    return orjson.dumps(event, option=_OPTS).decode()


def decode_event(type_name: str, schema_version: int, data: str) -> Event:
    payload = upcast(type_name, schema_version, orjson.loads(data))
    return EVENT_TYPES[type_name](**payload)


def encode_state(state: State) -> str:
    return orjson.dumps(state, option=_OPTS).decode()


def decode_state(stream_id: str, text: str) -> State:
    cls = StockState if stream_id.startswith("stock:") else STATE_TYPES[stream_kind(stream_id)]
    state: State = cls(**orjson.loads(text))
    return state


def chain_hash(position: int, stream_id: str, version: int, type_name: str, schema_version: int, data: str,
               metadata: str, occurred_at: str, recorded_at: str, prev_hash: str) -> str:
    text = (f"{position}\x1f{stream_id}\x1f{version}\x1f{type_name}\x1f{schema_version}\x1f{occurred_at}\x1f"
            f"{recorded_at}\x1f{prev_hash}\x1f{data}\x1f{metadata}")
    return _sha256(text.encode()).hexdigest()


def command_fingerprint(command: Any) -> str:
    """Fingerprint of a validated command, for idempotency (same key + other payload = error).

    Taken over the command's name and its normalised fields (times in UTC, defaults filled in), so
    the same command hashes the same whether it came from a file, the API or an agent. 128 bits of
    SHA-256: ample to tell two payloads of one key apart."""
    digest = _sha256(command.name.encode())
    digest.update(orjson.dumps(command, option=_OPTS))
    return digest.hexdigest()[:32]
