"""``stockmesh audit verify``: everything decisions rely on, checked against the events.

The hash chain alone proves little to someone who can write the database: they can re-chain it,
and decisions read more than the events. So the audit checks, each against a fold of the events:

- the chain (``ledger.chain.verify_chain``) and, with the key, the head's signature (every commit
  signs its head) and a checkpoint kept elsewhere (``--against``: the ledger still extends it);
- the write-side states (``streams``), which decide every command: each stream's version and state
  must be what ``domain.evolve`` makes of its events, and no state may lack its events;
- the idempotency records: an event carrying a key lies in that key's recorded span, and a
  record's span holds events carrying its key (a refusal record, or a command that wrote nothing,
  has no span and no event carries its key);
- governance (users, tokens, policies; ``governance.state``): each event is one the rules allow in
  the state before it (a token for a known, enabled user within its sites; an activation of a
  published version...);
- the read models (``projections.runner.verify``: the same fold ``replay --verify`` runs);
- invariants: no stock position below zero on hand, unflagged, at a ``negative_stock: reject`` site.

Memory stays bounded on any ledger: events are read in pages, in position order for the chain,
idempotency and governance, and in (stream, version) order for the states, one stream at a time;
records and states are looked up in chunks. Findings are kept up to ``KEEP`` per check (the count
is exact).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from stockmesh.domain.evolve import STATE_TYPES, evolve, stream_kind
from stockmesh.domain.model import SiteState, State, StockState
from stockmesh.governance.auth import ROLES
from stockmesh.governance.state import GovernanceState
from stockmesh.ledger import codec
from stockmesh.ledger.chain import head_signature_problem, read_checkpoint, verify_chain
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import RecordedEvent

KEEP = 20  # findings kept per check
_CHUNK = 500
_GOVERNANCE_KINDS = ("user", "token", "policy")

# What only the key can catch: said plainly when verify runs without one.
WITHOUT_KEY = (
    "events forged and appended with a valid plain hash (e.g. a TokenIssued) and the head moved to them",
    "events edited, swapped or inserted with the whole chain recomputed after them, "
    "together with the states, keys and read models",
    "the last events deleted and the head rewound to an earlier head (also caught with a key only against "
    "a checkpoint taken after them: `stockmesh audit checkpoint`)",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing found wrong: which check, where (position, stream, key) and what."""

    check: str
    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.check}: {self.where}: {self.message}"


@dataclass(slots=True)
class AuditReport:
    events: int = 0
    head_position: int = 0
    head_hash: str = ""
    keyed: bool = False  # verified with the key
    head_signed: bool = False
    checkpoint: dict[str, Any] | None = None
    findings: list[Finding] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # findings per check (all of them)
    checked: dict[str, int] = field(default_factory=dict)  # what each check looked at

    @property
    def ok(self) -> bool:
        return not self.counts

    def add(self, check: str, where: str, message: str) -> None:
        count = self.counts.get(check, 0)
        if count < KEEP:
            self.findings.append(Finding(check, where, message))
        self.counts[check] = count + 1

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "events": self.events, "head_position": self.head_position,
                "head_hash": self.head_hash, "keyed": self.keyed, "head_signed": self.head_signed,
                "checkpoint": None if self.checkpoint is None else {
                    k: self.checkpoint.get(k) for k in ("position", "hash", "time", "ledger")},
                "findings": [{"check": f.check, "where": f.where, "message": f.message} for f in self.findings],
                "counts": self.counts, "checked": self.checked,
                "not_caught_without_key": [] if self.keyed else list(WITHOUT_KEY)}


Progress = Callable[[int], None]


def audit(store: EventStore, *, key: bytes | None = None, checkpoint: Any = None,
          read_models: bool = True, progress: Progress | None = None) -> AuditReport:
    """Run every check; see the module docstring. ``checkpoint``: a parsed checkpoint document
    (needs ``key``; ``LedgerError`` if its signature does not hold). ``read_models``: compare the
    read models too (their checkpoint must be at the head: bring them up first)."""
    report = AuditReport(keyed=key is not None)
    report.checked["events"] = 0
    if checkpoint is not None:
        if key is None:
            raise ValueError("a checkpoint is checked with the key that signed it")
        report.checkpoint = read_checkpoint(key, checkpoint)
    position, head_hash = store.head()
    report.head_position, report.head_hash = position, head_hash
    signature = store.head_signature()
    report.head_signed = bool(signature)
    if key is not None:
        problem = head_signature_problem(key, position, head_hash, signature)
        if problem is not None:
            report.add("head", f"position {position}", problem)
    _walk_positions(store, report, progress)
    _check_checkpoint_head(report)
    _check_records(store, report)
    _check_states(store, report)
    if read_models:
        _check_read_models(store, report)
    return report


# -- one pass in position order: chain, checkpoint, idempotency keys, governance rules ---------------

def _walk_positions(store: EventStore, report: AuditReport, progress: Progress | None) -> None:
    cp = report.checkpoint
    cp_position = cp["position"] if cp else None
    seen_at_checkpoint: list[str] = []
    keyed: list[tuple[str, int]] = []  # (key, position) of events carrying a key, checked in chunks
    governance = _GovernanceRules(report)
    counted = [0]

    def observed() -> Iterator[RecordedEvent]:
        for event in store.read_all():
            counted[0] += 1
            if progress is not None and counted[0] % 20_000 == 0:
                progress(20_000)
            if event.position == cp_position:
                seen_at_checkpoint.append(event.hash)
            if cp is not None and event.position == 1 and cp_position and event.hash != cp.get("first_hash"):
                report.add("checkpoint", "position 1", "the ledger's first event is not the checkpoint's: "
                                                       "another ledger, or rewritten from its start")
            if '"idempotency_key"' in event.metadata:
                key = _key_of(event.metadata)
                if key is not None:
                    keyed.append((key, event.position))
                    if len(keyed) >= _CHUNK:
                        _check_keys(store, keyed, report)
                        keyed.clear()
            kind = stream_kind(event.stream_id)
            if kind in _GOVERNANCE_KINDS or event.stream_id == "governance:killswitch":
                governance.check(event)
            yield event

    chain = verify_chain(observed(), (report.head_position, report.head_hash))
    if keyed:
        _check_keys(store, keyed, report)
    report.events = chain.events
    report.checked["events"] = counted[0]
    if not chain.ok:
        report.add("chain", f"position {chain.first_bad_position}", str(chain.reason))
    if cp is not None and cp_position and cp_position <= report.head_position:
        if seen_at_checkpoint and seen_at_checkpoint[0] != cp["hash"]:
            report.add("checkpoint", f"position {cp_position}",
                       "the event at the checkpoint's position has another hash than the checkpoint: the ledger "
                       "was rewritten at or before it (re-chained)")
        elif not seen_at_checkpoint and chain.ok:
            report.add("checkpoint", f"position {cp_position}", "the checkpoint's event is missing")


def _check_checkpoint_head(report: AuditReport) -> None:
    cp = report.checkpoint
    if cp is None:
        return
    if report.head_position < cp["position"]:
        report.add("checkpoint", f"position {cp['position']}",
                   f"the ledger's head is at {report.head_position}, behind the checkpoint's {cp['position']} "
                   f"(taken {cp.get('time')}): events were removed and the head rewound")
    elif report.head_position == cp["position"] and report.head_hash != cp["hash"]:
        report.add("checkpoint", f"position {cp['position']}", "the head has another hash than the checkpoint's")


def _check_keys(store: EventStore, keyed: list[tuple[str, int]], report: AuditReport) -> None:
    """Each event carrying a key lies in the span its key's record gives."""
    spans = {key: (first, last) for key, first, last in store.idempotency_spans([k for k, _ in keyed])}
    report.checked["keyed events"] = report.checked.get("keyed events", 0) + len(keyed)
    for key, position in keyed:
        span = spans.get(key)
        if span is None:
            report.add("idempotency", f"key {key!r}",
                       f"the event at position {position} carries this key but no idempotency record has it "
                       f"(deleted: the command would be applied again if resent)")
        elif span[0] is None or span[1] is None:
            report.add("idempotency", f"key {key!r}",
                       f"the event at position {position} carries this key but its record says the command "
                       f"wrote no event (or was refused)")
        elif not span[0] <= position <= span[1]:
            report.add("idempotency", f"key {key!r}",
                       f"the event at position {position} carries this key but its record points at positions "
                       f"{span[0]}..{span[1]} (the command was applied twice, or the record was rewritten)")


def _key_of(metadata: str) -> str | None:
    """The idempotency key an event's metadata carries (None: none, or metadata that is no JSON object)."""
    try:
        parsed = orjson.loads(metadata)
    except orjson.JSONDecodeError:
        return None
    key = parsed.get("idempotency_key") if isinstance(parsed, dict) else None
    return key if isinstance(key, str) else None


def _check_records(store: EventStore, report: AuditReport) -> None:
    """Each record's span is within the ledger and its first and last events carry its key."""
    after: str | None = None
    checked = 0
    head = report.head_position
    while True:
        page = store.idempotency_spans(after=after, limit=20_000)
        if not page:
            break
        after = page[-1][0]
        checked += len(page)
        for start in range(0, len(page), _CHUNK):
            part = page[start:start + _CHUNK]
            ends = {p for _, first, last in part if first is not None and last is not None for p in (first, last)}
            metadata = store.metadata_at(ends)
            for key, first, last in part:
                if first is None and last is None:
                    continue  # a refusal, or a command that wrote nothing: no event carries the key
                if first is None or last is None or not 1 <= first <= last <= head:
                    report.add("idempotency", f"key {key!r}",
                               f"the record points at positions {first}..{last}, outside the ledger (1..{head})")
                    continue
                for position in (first, last):
                    text = metadata.get(position)
                    found = _key_of(text) if text else None
                    if found != key:
                        report.add("idempotency", f"key {key!r}",
                                   f"the record points at position {position}, whose event carries "
                                   + (f"key {found!r}" if found else "no such key"))
                        break
    report.checked["idempotency records"] = checked


# -- one pass in (stream, version) order: write-side states and invariants ----------------------------

def _check_states(store: EventStore, report: AuditReport) -> None:
    folded: list[tuple[str, int, str, int]] = []  # (stream, version, state json, last position)
    sites: dict[str, str] = {}  # site -> negative_stock, from the events
    negative: list[tuple[str, int, int]] = []  # (stream, on hand, last position): judged once sites are known
    streams = 0

    def finish(stream_id: str, version: int, state: State | None, position: int) -> None:
        nonlocal streams
        streams += 1
        folded.append((stream_id, version, codec.dumps(state) if state is not None else "null", position))
        if isinstance(state, SiteState):
            sites[state.site] = state.negative_stock
        elif isinstance(state, StockState) and state.on_hand < 0 and not state.flagged:
            negative.append((stream_id, state.on_hand, position))
        if len(folded) >= _CHUNK:
            _compare_states(store, folded, report)
            folded.clear()

    after: tuple[str, int] | None = None
    current: str | None = None
    version = 0
    state: State | None = None
    last_position = 0
    typed = False
    while True:
        rows = store.read_by_stream(after, 20_000)
        if not rows:
            break
        after = (rows[-1][0], rows[-1][1])
        for stream_id, stored_version, position, type_name, schema_version, data in rows:
            if stream_id != current:
                if current is not None:
                    finish(current, version, state, last_position)
                current, version, state = stream_id, 0, None
                typed = stream_id.startswith("stock:") or stream_kind(stream_id) in STATE_TYPES
            version += 1
            last_position = position
            if stored_version != version:
                report.add("streams", f"stream {stream_id}",
                           f"version {stored_version} at position {position} follows version {version - 1}")
                version = stored_version
            if typed:
                try:
                    state = evolve(stream_id, state, codec.decode_event(type_name, schema_version, data))
                except Exception as exc:  # a forged event the domain cannot fold
                    report.add("streams", f"stream {stream_id}",
                               f"the event at position {position} does not fold: {type(exc).__name__}: {exc}")
    if current is not None:
        finish(current, version, state, last_position)
    if folded:
        _compare_states(store, folded, report)
    for stream_id in store.streams_without_events(KEEP + 1):
        report.add("streams", f"stream {stream_id}", "a write-side state with no events in the ledger")
    for stream_id, on_hand, position in negative:
        site = stream_id.rpartition("@")[2]
        if sites.get(site, "reject") == "reject":
            report.add("invariant", f"stream {stream_id}",
                       f"{on_hand} on hand (after position {position}) at site {site}, whose negative_stock is "
                       "reject: a move was decided on another state than the events give")
    report.checked["streams"] = streams


def _compare_states(store: EventStore, folded: list[tuple[str, int, str, int]], report: AuditReport) -> None:
    stored = store.stored_states([sid for sid, *_ in folded])
    for stream_id, version, text, position in folded:
        row = stored.get(stream_id)
        if row is None:
            report.add("streams", f"stream {stream_id}",
                       f"its events (to position {position}) have no write-side state: the next command on it "
                       "would be decided on an empty state")
            continue
        stored_version, stored_text = row
        if stored_version != version:
            report.add("streams", f"stream {stream_id}",
                       f"the write-side state is at version {stored_version}, the events at {version}")
        elif _loads(stored_text) != orjson.loads(text):
            report.add("streams", f"stream {stream_id}",
                       f"the write-side state {_short(stored_text)} is not what its events give {_short(text)}")


def _loads(text: str) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


def _short(text: str, limit: int = 160) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


# -- governance ----------------------------------------------------------------------------------------

class _GovernanceRules:
    """Folds users, tokens, policies and the kill switch (``GovernanceState``) and checks that each
    event is one ``governance.decisions`` would have emitted in the state before it."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report
        self.state = GovernanceState()

    def check(self, e: RecordedEvent) -> None:
        try:
            d = orjson.loads(e.data)
            problem = self._problem(e, d)
            if problem is None:
                self.state.apply(e)
        except Exception as exc:  # a shape the governance events never have
            problem = f"unreadable {e.type}: {type(exc).__name__}: {exc}"
        if problem is not None:
            self.report.add("governance", f"position {e.position} ({e.type} on {e.stream_id})", problem)
            return
        self.report.checked["governance events"] = self.report.checked.get("governance events", 0) + 1

    def _problem(self, e: RecordedEvent, d: dict[str, Any]) -> str | None:
        s, t = self.state, e.type
        if t == "UserCreated":
            if e.stream_id != f"user:{d['user_id']}":
                return f"user {d['user_id']!r} created on another user's stream"
            if d["user_id"] in s.users:
                return f"user {d['user_id']!r} created twice"
            if d["role"] not in ROLES:
                return f"unknown role {d['role']!r}"
        elif t == "UserDisabled" and d["user_id"] not in s.users:
            return f"unknown user {d['user_id']!r} disabled"
        elif t == "TokenIssued":
            user = s.users.get(d["user_id"])
            if e.stream_id != f"token:{d['token_id']}":
                return f"token {d['token_id']!r} issued on another token's stream"
            if d["token_id"] in s.tokens or d["token_hash"] in s.token_by_hash:
                return f"token {d['token_id']!r} issued twice"
            if user is None:
                return f"token {d['token_id']!r} issued for unknown user {d['user_id']!r}"
            if user.disabled:
                return f"token {d['token_id']!r} issued for disabled user {d['user_id']!r}"
            if "*" not in user.sites and any(site not in user.sites for site in d["sites"]):
                return f"token {d['token_id']!r} reaches sites {d['sites']} beyond its user's {user.sites}"
        elif t == "TokenRevoked" and d["token_id"] not in s.tokens:
            return f"unknown token {d['token_id']!r} revoked"
        elif e.stream_id.startswith("policy:"):
            record = s.policies.get(d["policy"])
            published = set(record.versions) if record else set()
            if e.stream_id != f"policy:{d['policy']}":
                return f"policy {d['policy']!r} changed on another policy's stream"
            if t == "PolicyVersionPublished" and d["version"] in published:
                return f"{d['policy']}@{d['version']} published twice"
            if t in ("PolicyActivated", "PolicyShadowStarted", "PolicyCanaryStarted") and d["version"] not in published:
                return f"{d['policy']}@{d['version']} was never published"
            if t == "PolicyActivated" and d.get("previous_version") != (record.active if record else None):
                return (f"activation says the active version was {d.get('previous_version')!r}, the events say "
                        f"{record.active if record else None!r}")
            if t == "PolicyRolledBack":
                if record is None or d["from_version"] != record.active:
                    return f"roll back from {d['from_version']!r}, which is not the active version"
                if d["to_version"] is not None and d["to_version"] not in published:
                    return f"roll back to {d['policy']}@{d['to_version']}, which was never published"
        return None


# -- read models ---------------------------------------------------------------------------------------

def _check_read_models(store: EventStore, report: AuditReport) -> None:
    from stockmesh.projections.runner import verify

    result = verify(store)
    report.checked["read-model rows"] = sum(result.rows.values())
    if not result.ok:
        report.add("read-models", "read models", str(result.difference))
