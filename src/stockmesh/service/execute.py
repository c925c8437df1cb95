"""Executing commands against the ledger: the unit of work behind every write.

Inside one writer-locked transaction: look up idempotency keys, load the states of the streams the
commands touch, decide each command in order against the states as the earlier commands left them,
fold the events in, then append everything at once with the stream versions it was decided on.
Either the whole batch is written or, with ``all_or_nothing=False``, exactly its valid commands.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from stockmesh.domain.commands import Command
from stockmesh.domain.decide import decide
from stockmesh.domain.errors import IdempotencyConflict, StockmeshError
from stockmesh.domain.evolve import evolve
from stockmesh.domain.model import State, stock_stream
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import IdempotencyRecord, NewEvent


@dataclass(slots=True)
class Outcome:
    """What became of one command: ``applied``, ``duplicate`` (its key was seen with the same
    payload: nothing new written) or ``rejected`` (``error`` says why)."""

    index: int
    status: str
    first_position: int | None = None
    last_position: int | None = None
    events: int = 0
    error: StockmeshError | None = None


class BatchRejected(StockmeshError):
    """An all-or-nothing batch in which a command failed: nothing was written."""

    def __init__(self, index: int, error: StockmeshError) -> None:
        self.index = index
        self.error = error
        super().__init__(f"command {index + 1}: {error}")


@dataclass(slots=True)
class _Cache:
    session: Any
    states: dict[str, tuple[int, State | None]] = field(default_factory=dict)
    loaded_versions: dict[str, int] = field(default_factory=dict)

    def prefetch(self, stream_ids: list[str]) -> None:
        missing = [s for s in dict.fromkeys(stream_ids) if s not in self.states]
        found = self.session.load_states(missing)
        for sid in missing:
            if sid in found:
                version, text = found[sid]
                self.states[sid] = (version, codec.decode_state(sid, text))
            else:
                self.states[sid] = (0, None)
            self.loaded_versions[sid] = self.states[sid][0]

    def get(self, stream_id: str) -> State | None:
        entry = self.states.get(stream_id)
        if entry is None:
            self.prefetch([stream_id])
            entry = self.states[stream_id]
        return entry[1]


def _streams_of(command: Command) -> list[str]:
    """The streams a command will surely read, so they can be fetched in one query."""
    out = []
    sku = getattr(command, "sku", None)
    if sku is not None:
        out.append(f"sku:{sku}")
    for attr in ("site", "from_site", "to_site", "supplier"):
        site = getattr(command, attr, None)
        if site is not None:
            out.append(f"site:{site}")
            if sku is not None and attr != "supplier":
                out.append(stock_stream(sku, site))
    for attr, prefix in (("reservation_id", "reservation"), ("transfer_id", "transfer"), ("po_id", "po")):
        value = getattr(command, attr, None)
        if value is not None:
            out.append(f"{prefix}:{value}")
    return out


def execute(store: EventStore, commands: Sequence[Command], *, all_or_nothing: bool = True,
            metadata: Mapping[str, Any] | None = None,
            payloads: Sequence[Mapping[str, Any]] | None = None) -> list[Outcome]:
    """Decide and append ``commands`` in one transaction; see the module docstring.

    ``payloads`` are the commands as received (for the idempotency fingerprint); by default each
    command's own ``payload()``. Raises ``BatchRejected`` when ``all_or_nothing`` and any fails.
    """
    base_meta = dict(metadata or {})
    now = datetime.now(UTC).isoformat()
    fingerprints = [codec.payload_hash(dict(p) if payloads else c.payload())
                    for c, p in zip(commands, payloads or commands, strict=True)]
    outcomes: list[Outcome] = []
    with store.write() as session:
        seen = session.find_idempotency([c.idempotency_key for c in commands])
        cache = _Cache(session)
        wanted: list[str] = []
        for c in commands:
            wanted.extend(_streams_of(c))
        cache.prefetch(wanted)
        new_events: list[NewEvent] = []
        pending: list[tuple[int, IdempotencyRecord]] = []  # (index into new_events of its first event, record)
        batch_keys: dict[str, tuple[str, int]] = {}
        for index, (command, fingerprint) in enumerate(zip(commands, fingerprints, strict=True)):
            key = command.idempotency_key
            prior = seen.get(key)
            earlier = batch_keys.get(key)
            try:
                if prior is not None or earlier is not None:
                    prior_hash = prior.payload_hash if prior is not None else earlier[0]  # type: ignore[index]
                    if prior_hash != fingerprint:
                        raise IdempotencyConflict(key)
                    if prior is not None:
                        outcomes.append(Outcome(index, "duplicate", prior.first_position, prior.last_position))
                    else:
                        first = outcomes[earlier[1]]  # type: ignore[index]
                        outcomes.append(Outcome(index, "duplicate", first.first_position, first.last_position))
                    continue
                decision = decide(command, cache.get)
            except StockmeshError as exc:
                if all_or_nothing:
                    raise BatchRejected(index, exc) from exc
                outcomes.append(Outcome(index, "rejected", error=exc))
                continue
            meta = dict(base_meta)
            meta.update(command=command.name, idempotency_key=key,
                        correlation_id=base_meta.get("correlation_id") or key)
            if command.actor:
                meta["actor"] = command.actor
            meta_text = codec.dumps(meta)
            occurred_at = command.occurred_at or now
            start = len(new_events)
            for stream_id, event in decision:
                state = cache.get(stream_id)
                version = cache.states[stream_id][0]
                cache.states[stream_id] = (version + 1, evolve(stream_id, state, event))
                new_events.append(NewEvent(stream_id, event.type, event.schema_version, codec.encode_event(event),
                                           meta_text, occurred_at))
            batch_keys[key] = (fingerprint, index)
            outcomes.append(Outcome(index, "applied", events=len(decision)))
            pending.append((start, IdempotencyRecord(key, fingerprint, None, None, now)))
        # Positions follow from the head: the k-th new event (from 0) gets head + k + 1.
        head = session.head_position
        records = []
        applied = [o for o in outcomes if o.status == "applied"]
        for (start, record), outcome in zip(pending, applied, strict=True):
            if outcome.events:
                outcome.first_position = head + start + 1
                outcome.last_position = head + start + outcome.events
            records.append(IdempotencyRecord(record.key, record.payload_hash, outcome.first_position,
                                             outcome.last_position, record.recorded_at))
        for outcome in outcomes:  # a key repeated inside the batch points at its first command
            if outcome.status == "duplicate" and outcome.first_position is None:
                first = outcomes[batch_keys[commands[outcome.index].idempotency_key][1]]
                outcome.first_position, outcome.last_position = first.first_position, first.last_position
        touched = {e.stream_id for e in new_events}
        states = {sid: (cache.states[sid][0], codec.encode_state(cache.states[sid][1]))  # type: ignore[arg-type]
                  for sid in touched}
        expected = {sid: cache.loaded_versions[sid] for sid in touched}
        session.append(new_events, states, records, expected)
    return outcomes
