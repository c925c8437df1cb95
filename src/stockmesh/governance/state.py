"""The governance read model: policies and their rollout, proposals, users and tokens, the kill
switch, spend, data freshness, forecasts and service KPIs, folded from the ledger.

``GovernanceView`` folds incrementally (only events after its last position), so every request can
bring it up to date cheaply; the lock makes one refresh-and-read atomic for threaded servers.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from stockmesh.domain.errors import LedgerError
from stockmesh.domain.forecasts import daily_demand as published_demand
from stockmesh.domain.model import parse_stock_stream
from stockmesh.governance.policy import PolicyDocument, policy_from_event_document
from stockmesh.ledger.chain import head_signature_problem
from stockmesh.ledger.codec import chain_hash
from stockmesh.ledger.port import EventLog
from stockmesh.ledger.records import GENESIS_HASH, RecordedEvent


@dataclass(slots=True)
class Rollout:
    mode: str  # "canary" or "shadow"
    version: str
    share: float = 0.0
    max_regression: dict[str, float] = field(default_factory=dict)
    since: str = ""


@dataclass(slots=True)
class PolicyRecord:
    name: str
    versions: dict[str, PolicyDocument] = field(default_factory=dict)
    published: dict[str, dict[str, Any]] = field(default_factory=dict)
    active: str | None = None
    activations: list[str] = field(default_factory=list)  # for rollback: the versions activated, in order
    canary: Rollout | None = None
    shadow: Rollout | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    kpis: list[dict[str, Any]] = field(default_factory=list)


@dataclass(slots=True)
class ProposalRecord:
    proposal_id: str
    agent: str
    action: str
    sku: str
    site: str
    qty: int
    value: float
    command: dict[str, Any]
    reasons: list[str]
    provenance: dict[str, Any]
    tempo: str
    requested_by: str
    made_at: str
    status: str = "made"
    risk_score: float | None = None
    policy_version: str | None = None
    expires_at: str | None = None
    decided_by: str | None = None
    decision_reasons: list[str] = field(default_factory=list)
    updated_at: str = ""
    executed_position: int | None = None
    shadow: list[dict[str, Any]] = field(default_factory=list)

    @property
    def supplier(self) -> str | None:
        value = self.command.get("supplier")
        return value if isinstance(value, str) else None

    @property
    def sites(self) -> set[str]:
        out = {self.site}
        for key in ("from_site", "to_site"):
            if isinstance(self.command.get(key), str):
                out.add(self.command[key])
        return out

    def summary(self) -> dict[str, Any]:
        return {"proposal_id": self.proposal_id, "agent": self.agent, "action": self.action, "sku": self.sku,
                "site": self.site, "qty": self.qty, "value": self.value, "status": self.status,
                "risk_score": self.risk_score, "policy_version": self.policy_version, "expires_at": self.expires_at,
                "requested_by": self.requested_by, "decided_by": self.decided_by, "reasons": self.reasons,
                "decision_reasons": self.decision_reasons, "made_at": self.made_at, "updated_at": self.updated_at,
                "command": self.command, "tempo": self.tempo}


@dataclass(slots=True)
class User:
    user_id: str
    name: str
    role: str
    sites: list[str]
    disabled: bool = False


@dataclass(slots=True)
class Token:
    token_id: str
    user_id: str
    sites: list[str]
    expires_at: str | None
    revoked: bool = False


_SHIPPED = {"StockShipped", "ReservedStockShipped", "BackorderFilled", "TransferShippedOut"}
_DEMAND_SHIPPED = {"StockShipped", "ReservedStockShipped", "BackorderFilled"}
_DOC_OPEN = {"ReservationOpened", "TransferDispatched", "PurchaseOrderPlaced"}
_STATUS = {"ProposalQueued": "queued", "ProposalApproved": "approved", "ProposalExecuted": "executed",
           "ProposalFailed": "failed", "ProposalRejected": "rejected", "ProposalExpired": "expired",
           "ProposalSuperseded": "superseded"}


def period_start(day: date, period: str) -> date:
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())
    return day.replace(day=1)


@dataclass(slots=True)
class GovernanceState:
    position: int = 0
    policies: dict[str, PolicyRecord] = field(default_factory=dict)
    proposals: dict[str, ProposalRecord] = field(default_factory=dict)
    users: dict[str, User] = field(default_factory=dict)
    tokens: dict[str, Token] = field(default_factory=dict)
    token_by_hash: dict[str, str] = field(default_factory=dict)
    kill_switch: bool = False
    killed_sites: set[str] = field(default_factory=set)
    kill_switch_history: list[dict[str, Any]] = field(default_factory=list)
    spend: dict[tuple[str, str], dict[str, float]] = field(default_factory=lambda: defaultdict(dict))
    prior_executed: dict[tuple[str, str, str, str], int] = field(default_factory=lambda: defaultdict(int))
    last_order_qty: dict[tuple[str, str], int] = field(default_factory=dict)
    last_data_at: dict[str, str] = field(default_factory=dict)
    forecasts: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    shipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    backordered: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    daily_demand: dict[tuple[str, str], dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    unit_cost: dict[str, float] = field(default_factory=dict)
    sites: dict[str, str] = field(default_factory=dict)  # site -> kind
    doc_sites: dict[str, tuple[str, ...]] = field(default_factory=dict)
    events_by_type: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    # --- folding --------------------------------------------------------------------------------
    def apply(self, e: RecordedEvent) -> None:
        self.position = e.position
        t = e.type
        self.events_by_type[t] += 1
        sid = e.stream_id
        kind = sid.split(":", 1)[0]
        if kind == "stock":
            _, site = parse_stock_stream(sid)
            if e.recorded_at > self.last_data_at.get(site, ""):
                self.last_data_at[site] = e.recorded_at
            if t in _SHIPPED or t == "BackorderRecorded":
                self._stock_kpis(sid, t, orjson.loads(e.data), e.occurred_at)
            return
        if kind in ("reservation", "transfer", "po"):
            if t in _DOC_OPEN:
                d = orjson.loads(e.data)
                sites = tuple(s for s in (d.get("site"), d.get("from_site"), d.get("to_site")) if s)
                self.doc_sites[sid] = sites
                if t == "PurchaseOrderPlaced":
                    self.last_order_qty[(d["sku"], d["site"])] = int(d["qty"])
            return
        if kind == "proposal":
            self._proposal(e)
        elif kind == "policy":
            self._policy(e)
        elif kind in ("user", "token") or sid == "governance:killswitch":
            self._access(e)
        elif kind == "forecast":
            d = orjson.loads(e.data)
            sku, site = d.get("sku"), d.get("site")
            if not (isinstance(sku, str) and isinstance(site, str)) and "@" in sid:
                sku, site = parse_stock_stream("stock:" + sid.split(":", 1)[1])
            if isinstance(sku, str) and isinstance(site, str):
                self.forecasts[(sku, site)] = {"type": t, "position": e.position, "occurred_at": e.occurred_at,
                                               **d}
        elif kind == "sku" and t == "SkuRegistered":
            d = orjson.loads(e.data)
            self.unit_cost[d["sku"]] = float(d.get("unit_cost") or 0.0)
        elif kind == "site" and t == "SiteRegistered":
            d = orjson.loads(e.data)
            self.sites[d["site"]] = d.get("kind", "store")

    def _stock_kpis(self, sid: str, t: str, d: dict[str, Any], occurred_at: str) -> None:
        sku, site = parse_stock_stream(sid)
        qty = int(d.get("qty", 0))
        if t == "BackorderRecorded":
            self.backordered[site] += qty
        elif t in _DEMAND_SHIPPED:
            self.shipped[site] += qty
            day = occurred_at[:10]
            days = self.daily_demand[(sku, site)]
            days[day] = days.get(day, 0) + qty

    def _proposal(self, e: RecordedEvent) -> None:
        d = orjson.loads(e.data)
        pid = e.stream_id.split(":", 1)[1]
        t = e.type
        if t == "ProposalMade":
            meta = orjson.loads(e.metadata) if e.metadata else {}
            requested_by = (meta.get("actor") or d.get("provenance", {}).get("requested_by") or d["agent"])
            self.proposals[pid] = ProposalRecord(
                proposal_id=pid, agent=d["agent"], action=d["action"], sku=d["sku"], site=d["site"], qty=d["qty"],
                value=d["value"], command=d["command"], reasons=list(d.get("reasons") or []),
                provenance=dict(d.get("provenance") or {}), tempo=d.get("tempo", "deliberative"),
                requested_by=str(requested_by), made_at=e.recorded_at, updated_at=e.recorded_at)
            return
        record = self.proposals.get(pid)
        if record is None:
            return
        record.updated_at = e.recorded_at
        if t == "ShadowVerdictRecorded":
            record.shadow.append(d)
            return
        if t == "ProposalOutcomeRecorded":
            return
        record.status = _STATUS.get(t, record.status)
        if t == "ProposalQueued":
            record.risk_score, record.expires_at = d["risk_score"], d.get("expires_at")
            record.policy_version, record.decision_reasons = d.get("policy_version"), list(d["reasons"])
        elif t == "ProposalApproved":
            record.risk_score, record.decided_by = d["risk_score"], d["by"]
            record.policy_version = d.get("policy_version") or record.policy_version
            record.decision_reasons = [*record.decision_reasons, d["reason"]] if d["by"] != "governance" else [
                d["reason"]]
        elif t == "ProposalRejected":
            record.decided_by, record.decision_reasons = d["by"], list(d["reasons"])
            record.policy_version = d.get("policy_version") or record.policy_version
        elif t == "ProposalExecuted":
            record.executed_position = d.get("first_position")
            self.prior_executed[(record.agent, record.action, record.sku, record.site)] += 1
            day = e.recorded_at[:10]
            for key in (("site", record.site), ("supplier", record.supplier)):
                if key[1] is not None:
                    book = self.spend[(key[0], key[1])]
                    book[day] = book.get(day, 0.0) + float(record.value)
        elif t == "ProposalFailed":
            record.decision_reasons = [*record.decision_reasons, d["error"]]

    def _policy(self, e: RecordedEvent) -> None:
        d = orjson.loads(e.data)
        name = d["policy"]
        record = self.policies.setdefault(name, PolicyRecord(name))
        t = e.type
        entry = {"type": t, "position": e.position, "at": e.recorded_at, **{k: v for k, v in d.items()
                                                                              if k != "document"}}
        if t == "CanaryKpisRecorded":
            record.kpis.append(entry)
        record.history.append(entry)
        if t == "PolicyVersionPublished":
            record.versions[d["version"]] = policy_from_event_document(d["document"])
            record.published[d["version"]] = {"digest": d["digest"], "by": d["by"], "at": e.recorded_at}
        elif t == "PolicyActivated":
            record.active = d["version"]
            record.activations.append(d["version"])
            for mode in ("canary", "shadow"):
                rollout = getattr(record, mode)
                if rollout is not None and rollout.version == d["version"]:
                    setattr(record, mode, None)
        elif t == "PolicyRolledBack":
            record.active = d["to_version"]
            if record.canary is not None and record.canary.version == d["from_version"]:
                record.canary = None
            if d["to_version"] is not None:
                record.activations.append(d["to_version"])
        elif t == "PolicyCanaryStarted":
            record.canary = Rollout("canary", d["version"], d["share"], dict(d["max_regression"]), e.recorded_at)
        elif t == "PolicyShadowStarted":
            record.shadow = Rollout("shadow", d["version"], since=e.recorded_at)
        elif t == "PolicyRolloutStopped":
            setattr(record, d["mode"], None)

    def _access(self, e: RecordedEvent) -> None:
        d = orjson.loads(e.data)
        t = e.type
        if t == "UserCreated":
            self.users[d["user_id"]] = User(d["user_id"], d["name"], d["role"], list(d["sites"]))
        elif t == "UserDisabled" and d["user_id"] in self.users:
            self.users[d["user_id"]].disabled = True
        elif t == "TokenIssued":
            self.tokens[d["token_id"]] = Token(d["token_id"], d["user_id"], list(d["sites"]), d.get("expires_at"))
            self.token_by_hash[d["token_hash"]] = d["token_id"]
        elif t == "TokenRevoked" and d["token_id"] in self.tokens:
            self.tokens[d["token_id"]].revoked = True
        elif t == "KillSwitchSet":
            self.kill_switch_history.append({"at": e.recorded_at, "position": e.position, **d})
            if d["site"] is None:
                self.kill_switch = bool(d["engaged"])
            elif d["engaged"]:
                self.killed_sites.add(d["site"])
            else:
                self.killed_sites.discard(d["site"])

    # --- questions ------------------------------------------------------------------------------
    def spent(self, kind: str, key: str, now: datetime, period: str) -> float:
        start = period_start(now.date(), period).isoformat()
        end = now.date().isoformat()
        return sum(v for day, v in self.spend.get((kind, key), {}).items() if start <= day <= end)

    def data_age_hours(self, now: datetime) -> dict[str, float]:
        out = {}
        for site, at in self.last_data_at.items():
            try:
                out[site] = max((now - datetime.fromisoformat(at)).total_seconds() / 3600.0, 0.0)
            except ValueError:
                continue
        return out

    def demand_rate(self, sku: str, site: str, window_days: int = 28) -> float | None:
        """Mean daily demand: the latest forecast's mean when there is one, else recent shipments."""
        forecast = self.forecasts.get((sku, site))
        mean = _forecast_mean(forecast)
        if mean is not None:
            return mean
        days = self.daily_demand.get((sku, site))
        if not days:
            return None
        last = date.fromisoformat(max(days))
        start = (last - timedelta(days=window_days - 1)).isoformat()
        return sum(q for d, q in days.items() if d >= start) / window_days

    def sku_classes(self) -> dict[str, str]:
        """ABC classes by shipped value: A = the SKUs making the first 80 % of it, B the next 15 %, C the rest."""
        value: dict[str, float] = defaultdict(float)
        for (sku, _site), days in self.daily_demand.items():
            value[sku] += sum(days.values()) * max(self.unit_cost.get(sku, 0.0), 0.01)
        for sku in self.unit_cost:
            value.setdefault(sku, 0.0)
        total = sum(value.values())
        out: dict[str, str] = {}
        running = 0.0
        for sku, v in sorted(value.items(), key=lambda kv: (-kv[1], kv[0])):
            share = running / total if total > 0 else 1.0
            out[sku] = "A" if share < 0.8 and v > 0 else "B" if share < 0.95 and v > 0 else "C"
            running += v
        return out

    def stream_sites(self, stream_id: str) -> tuple[str, ...] | None:
        """The sites an event stream belongs to; None for network-wide streams (policies, SKUs)."""
        kind = stream_id.split(":", 1)[0]
        if kind == "stock":
            return (parse_stock_stream(stream_id)[1],)
        if kind in ("reservation", "transfer", "po"):
            return self.doc_sites.get(stream_id, ("?",))
        if kind == "proposal":
            record = self.proposals.get(stream_id.split(":", 1)[1])
            return tuple(sorted(record.sites)) if record else ("?",)
        if kind == "site":
            return (stream_id.split(":", 1)[1],)
        if kind == "forecast" and "@" in stream_id:
            return (stream_id.rpartition("@")[2],)
        if kind in ("user", "token"):
            return ("*admin*",)
        return None

    def service_level(self) -> float | None:
        shipped, short = sum(self.shipped.values()), sum(self.backordered.values())
        return shipped / (shipped + short) if shipped + short > 0 else None


def _forecast_mean(forecast: dict[str, Any] | None) -> float | None:
    return published_demand(forecast)[0]


def forecast_sd(forecast: dict[str, Any] | None) -> float | None:
    return published_demand(forecast)[1]


class GovernanceView:
    """A ``GovernanceState`` kept up to date with one store; thread-safe.

    On a keyed ledger (the store has a ``head_key``) the users, tokens and policies that authorise
    people are folded only from events under a head whose signature holds, each linked to the one
    before by the chain: a token forged into the database without the key (a ``TokenIssued`` with a
    valid plain hash, the head moved to it) is refused here, not only by ``audit verify``. Without a
    key the events are folded as read (the twin, and ledgers that were never keyed)."""

    def __init__(self, store: EventLog) -> None:
        self.store = store
        self.state = GovernanceState()
        self._lock = threading.RLock()
        self._last_hash = GENESIS_HASH  # the hash of the last event folded (keyed ledgers)

    def refresh(self) -> GovernanceState:
        with self._lock:
            if self.store.head_key is not None:
                return self._refresh_signed(self.store.head_key)
            apply = self.state.apply
            for event in self.store.read_all(after=self.state.position):
                apply(event)
            return self.state

    def _refresh_signed(self, key: bytes) -> GovernanceState:
        folded = self.state.position
        position, head_hash = self.store.head()
        if position == folded and head_hash == self._last_hash:
            return self.state
        read_signature = getattr(self.store, "head_signature", lambda: None)
        for _ in range(20):  # the head and its signature in one reading: a write may land between them
            signature = read_signature()
            again = self.store.head()
            if again == (position, head_hash):
                break
            position, head_hash = again
        problem = head_signature_problem(key, position, head_hash, signature)
        if problem is None and position < folded:
            problem = f"the head (position {position}) is behind what was already read (position {folded})"
        if problem is not None:
            raise LedgerError(f"users, tokens and policies not read: {problem}")
        prev = self._last_hash
        expected = folded + 1
        try:
            for e in self.store.read_all(after=folded, limit=position - folded):
                digest = chain_hash(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data,
                                    e.metadata, e.occurred_at, e.recorded_at, e.prev_hash)
                if e.position != expected or e.prev_hash != prev or digest != e.hash:
                    raise LedgerError(f"users, tokens and policies not read: the event at position "
                                      f"{expected} does not chain to the signed head (run stockmesh audit verify)")
                self.state.apply(e)
                prev, expected = e.hash, expected + 1
            if expected != position + 1 or prev != head_hash:
                raise LedgerError("users, tokens and policies not read: the events do not end at the signed "
                                  "head (run stockmesh audit verify)")
        except BaseException:
            self.state, self._last_hash = GovernanceState(), GENESIS_HASH  # nothing of a bad read is kept
            raise
        self._last_hash = prev
        return self.state

    @contextmanager
    def current(self) -> Iterator[GovernanceState]:
        """Bring the state up to date and hold it still while the caller reads it."""
        with self._lock:
            yield self.refresh()
