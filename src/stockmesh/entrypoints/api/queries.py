"""Read-side queries for the routes and the dashboard, always filtered to the caller's sites."""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import Any

import orjson

from stockmesh.domain.errors import UnknownEntity
from stockmesh.domain.evolve import evolve
from stockmesh.domain.model import StockState, stock_stream
from stockmesh.entrypoints.api.chaincheck import ChainCheck
from stockmesh.governance.auth import Forbidden, Principal
from stockmesh.governance.state import GovernanceState, GovernanceView, forecast_sd
from stockmesh.ledger import codec
from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.port import EventStore
from stockmesh.ledger.records import RecordedEvent
from stockmesh.projections.stock_positions import count_positions
from stockmesh.projections.stock_positions import positions as position_rows

SCAN_PAGE = 5_000  # rows per query when a route walks a read model: bounds its memory


def _visible_sites(principal: Principal, site: str | None) -> tuple[str, ...] | None:
    """The sites a query may return rows of (None: every site); another site named: 403."""
    if site is not None and not principal.sees(site):
        raise Forbidden(f"this token is not scoped to site {site}")
    return None if principal.all_sites else tuple(principal.sites)


def visible_positions(store: EventStore, principal: Principal, sku: str | None, site: str | None, *,
                      limit: int | None = None, offset: int = 0,
                      after_key: tuple[str, str] | None = None) -> list[dict[str, Any]]:
    """The positions the token may see; ``limit``/``offset``/``after_key``: one page, read as such."""
    sites = _visible_sites(principal, site)
    return position_rows(store, sku=sku, site=site, sites=sites, limit=limit, offset=offset, after_key=after_key)


def positions_page(store: EventStore, principal: Principal, sku: str | None, site: str | None, *, limit: int,
                   offset: int, after_key: tuple[str, str] | None = None) -> dict[str, Any]:
    """One page of positions, its total, and the cursor of the next page (``next``: pass it as
    ``after``); only the page's rows are read, never the whole table."""
    sites = _visible_sites(principal, site)
    rows = visible_positions(store, principal, sku, site, limit=limit, offset=offset, after_key=after_key)
    total = count_positions(store, sku=sku, site=site, sites=sites)
    last = rows[-1] if len(rows) == limit else None
    return {"total": total, "items": rows, "next": f"{last['sku']}|{last['site']}" if last else None}


def walk_positions(store: EventStore, principal: Principal, sku: str | None = None) -> Iterator[dict[str, Any]]:
    """Every visible position in key order (sku, site), a page of ``SCAN_PAGE`` rows at a time."""
    after: tuple[str, str] | None = None
    while True:
        page = visible_positions(store, principal, sku, None, limit=SCAN_PAGE, after_key=after)
        yield from page
        if len(page) < SCAN_PAGE:
            return
        after = (page[-1]["sku"], page[-1]["site"])


def network_availability(store: EventStore, principal: Principal, sku: str) -> dict[str, Any]:
    rows = visible_positions(store, principal, sku, None)
    return _availability(sku, rows)


def _availability(sku: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    by_site = [{"site": r["site"], "available": r["available"], "on_hand": r["on_hand"],
                "in_transit": r["in_transit"], "on_order": r["on_order"]} for r in rows]
    return {"sku": sku, "sites": by_site, "available": sum(r["available"] for r in rows),
            "in_transit": sum(r["in_transit"] for r in rows), "on_order": sum(r["on_order"] for r in rows)}


def network_availability_all(store: EventStore, principal: Principal, max_skus: int = 500) -> dict[str, Any]:
    """``network_availability`` of the first ``max_skus`` SKUs (in order), from one walk of their rows."""
    items: list[dict[str, Any]] = []
    current: list[dict[str, Any]] = []
    for row in walk_positions(store, principal):
        if current and row["sku"] != current[0]["sku"]:
            items.append(_availability(current[0]["sku"], current))
            current = []
            if len(items) == max_skus:
                break
        current.append(row)
    if current and len(items) < max_skus:
        items.append(_availability(current[0]["sku"], current))
    return {"items": items}


def posture(store: EventStore, view: GovernanceView, principal: Principal) -> dict[str, Any]:
    """Days of cover per site x SKU class (ABC by shipped value): the network stock posture.

    The positions are read a page at a time, and the governance state is held (its lock) only
    while a page's demand rates are looked up: authentication, which needs that lock, is not kept
    waiting for a walk over the whole read model."""
    with view.current() as state:
        classes = state.sku_classes()
    cells: dict[tuple[str, str], dict[str, float]] = {}
    page: list[dict[str, Any]] = []

    def add(rows: list[dict[str, Any]]) -> None:
        with view.current() as state:
            rates = [state.demand_rate(r["sku"], r["site"]) or 0.0 for r in rows]
        for r, rate in zip(rows, rates, strict=True):
            cls = classes.get(r["sku"], "C")
            cell = cells.setdefault((r["site"], cls), {"available": 0, "daily_demand": 0.0, "skus": 0})
            cell["available"] += max(r["available"], 0)
            cell["daily_demand"] += rate
            cell["skus"] += 1

    for r in walk_positions(store, principal):
        page.append(r)
        if len(page) == SCAN_PAGE:
            add(page)
            page = []
    add(page)
    out = []
    for (site, cls), c in sorted(cells.items()):
        cover = c["available"] / c["daily_demand"] if c["daily_demand"] > 0 else None
        out.append({"site": site, "sku_class": cls, "skus": int(c["skus"]), "available": int(c["available"]),
                    "daily_demand": round(c["daily_demand"], 3),
                    "days_of_cover": round(cover, 1) if cover is not None else None})
    return {"cells": out, "sites": sorted({c["site"] for c in out}), "classes": ["A", "B", "C"]}


def stock_detail(store: EventStore, state: GovernanceState, principal: Principal, sku: str, site: str,
                 horizon: int = 28, *, today: date) -> dict[str, Any]:
    """History, forecast fan, projected inventory and open orders of one SKU x site."""
    if not principal.sees(site):
        raise Forbidden(f"this token is not scoped to site {site}")
    events = store.read_stream(stock_stream(sku, site))
    if not events:
        raise UnknownEntity(f"no stock recorded for {sku} at {site}", field="sku")
    history = []
    stock: StockState | None = None
    for e in events:
        stock = evolve(e.stream_id, stock, codec.decode_event(e.type, e.schema_version, e.data))  # type: ignore[assignment]
        history.append({"at": e.occurred_at, "type": e.type, "on_hand": stock.on_hand,
                        "available": stock.on_hand - stock.reserved, "position": e.position})
    history = history[-500:]
    current = position_rows(store, sku=sku, site=site)
    row = current[0] if current else None
    mean = state.demand_rate(sku, site) or 0.0
    sd = forecast_sd(state.forecasts.get((sku, site)))
    if sd is None:
        sd = math.sqrt(mean) if mean > 0 else 0.0  # Poisson-like spread when no forecast says otherwise
    open_orders = [
        {"doc_id": d[0], "kind": d[1], "qty": d[5], "done": d[6], "counterparty": d[4], "expected_at": d[8]}
        for d in store.load_view("documents", {"sku": sku, "site": site, "status": "open"})
    ]
    arrivals: dict[str, int] = {}
    for o in open_orders:
        if o["kind"] == "po":
            day = (o["expected_at"] or today.isoformat())[:10]
            arrivals[day] = arrivals.get(day, 0) + (o["qty"] - o["done"])
    level = float(row["available"]) if row else 0.0
    fan, projected = [], []
    for t in range(1, horizon + 1):
        day = (today + timedelta(days=t)).isoformat()
        spread = sd * math.sqrt(t)
        fan.append({"day": day, "p10": max(mean * t - 1.2816 * spread, 0.0), "p50": mean * t,
                    "p90": mean * t + 1.2816 * spread})
        level += sum(q for d, q in arrivals.items() if d == day or (t == 1 and d < day)) - mean
        projected.append({"day": day, "available": round(level, 2)})
    return {"sku": sku, "site": site, "position": row, "history": history, "daily_demand": mean, "daily_sd": sd,
            "forecast": state.forecasts.get((sku, site)), "forecast_fan": fan, "projected": projected,
            "open_orders": open_orders}


def visible_proposal(state: GovernanceState, principal: Principal, proposal_id: str) -> Any:
    record = state.proposals.get(proposal_id)
    if record is None or not all(principal.sees(s) for s in record.sites):
        raise UnknownEntity(f"unknown proposal {proposal_id[:80]!r}", field="proposal_id")
    return record


def proposal_summary(record: Any, now: datetime) -> dict[str, Any]:
    out = record.summary()
    if record.status == "queued" and record.expires_at and record.expires_at <= now.isoformat():
        out["status"] = "expired"
    if out["risk_score"] is not None and not math.isfinite(out["risk_score"]):
        out["risk_score"] = None
    return out


def list_proposals(state: GovernanceState, principal: Principal, status: str | None, limit: int, offset: int,
                   now: datetime) -> dict[str, Any]:
    """A page of the decision feed, newest first. Only the page's proposals are summarised (a
    summary is a dict of 19 fields: building one per proposal of a long-running network, then
    sorting them all, cost every call time and memory in proportion to the whole history)."""
    moment = now.isoformat()

    def status_of(record: Any) -> str:
        expired = record.status == "queued" and record.expires_at and record.expires_at <= moment
        return "expired" if expired else str(record.status)

    chosen = [r for r in state.proposals.values()
              if all(principal.sees(s) for s in r.sites) and (status is None or status_of(r) == status)]
    page = heapq.nlargest(offset + limit, chosen, key=lambda r: r.updated_at)[offset:]
    return {"total": len(chosen), "items": [proposal_summary(r, now) for r in page]}


def explanation(store: EventStore, state: GovernanceState, principal: Principal, proposal_id: str,
                now: datetime) -> dict[str, Any]:
    """A proposal's full story: what was proposed and why, every decision with its policy version
    and reasons, the events its command wrote, and the policy document that decided."""
    record = visible_proposal(state, principal, proposal_id)
    history = [_event_row(e) for e in store.read_stream(f"proposal:{proposal_id}")]
    executed: list[dict[str, Any]] = []
    if record.executed_position is not None:
        last = next((h["data"].get("last_position") for h in history if h["type"] == "ProposalExecuted"), None)
        first = record.executed_position
        if last is not None:
            executed = [_event_row(e) for e in store.read_all(after=first - 1, limit=min(last - first + 1, 200))]
    policy = None
    if record.policy_version and "@" in record.policy_version:
        name, _, version = record.policy_version.partition("@")
        doc = state.policies.get(name, None)
        if doc is not None and version in doc.versions:
            policy = doc.versions[version].to_dict()
    return {"proposal": proposal_summary(record, now), "provenance": record.provenance,
            "reasons": record.reasons, "history": history, "executed_events": executed, "policy": policy,
            "shadow_verdicts": record.shadow}


def _event_row(e: RecordedEvent) -> dict[str, Any]:
    return {"position": e.position, "stream_id": e.stream_id, "version": e.version, "type": e.type,
            "data": orjson.loads(e.data), "metadata": orjson.loads(e.metadata) if e.metadata else {},
            "occurred_at": e.occurred_at, "recorded_at": e.recorded_at, "hash": e.hash}


SCAN_EVENTS = 20_000  # events one audit-trail request reads at most, however few of them it may show


def audit_events(store: EventStore, state: GovernanceState, principal: Principal, *, after: int, limit: int,
                 stream: str | None, newest_first: bool, before: int | None = None) -> dict[str, Any]:
    """A page of the audit trail the token may see. A token scoped to a quiet site could make the
    old loop read the whole ledger for one page; a request now reads at most ``SCAN_EVENTS`` events
    and says where to go on: ``next_after`` (oldest first) or ``next_before`` (newest first), None
    when there is nothing further."""
    def visible(e: RecordedEvent) -> bool:
        sites = state.stream_sites(e.stream_id)
        if sites is None:
            return True
        if "*admin*" in sites:
            return principal.can("govern")
        return principal.all_sites or all(principal.sees(s) for s in sites)

    head = store.head()[0]
    cursor_out: dict[str, int | None] = {}
    if stream is not None:
        events = store.read_stream(stream)
        events = [e for e in events if e.position > after and visible(e)][:limit]
    elif newest_first:
        cursor = head if before is None else min(head, before - 1)
        events = []
        scanned = 0
        while cursor > 0 and len(events) < limit and scanned < SCAN_EVENTS:
            start = max(cursor - min(max(limit * 4, 200), SCAN_EVENTS - scanned), 0)
            events.extend(reversed([e for e in store.read_all(after=start, limit=cursor - start) if visible(e)]))
            scanned += cursor - start
            cursor = start
        if len(events) >= limit:
            events = events[:limit]
            cursor = events[-1].position - 1
        cursor_out["next_before"] = cursor + 1 if cursor > 0 else None
    else:
        events = []
        cursor = after
        scanned = 0
        exhausted = False
        while len(events) < limit and scanned < SCAN_EVENTS:
            chunk = list(store.read_all(after=cursor, limit=min(max(limit * 4, 200), SCAN_EVENTS - scanned)))
            if not chunk:
                exhausted = True
                break
            events.extend(e for e in chunk if visible(e))
            scanned += len(chunk)
            cursor = chunk[-1].position
        if len(events) >= limit:
            events = events[:limit]
            cursor = events[-1].position
        cursor_out["next_after"] = None if exhausted or cursor >= head else cursor
    return {"items": [_event_row(e) for e in events], "head": head, **cursor_out}


def verify(store: EventStore, chain: ChainCheck | None = None) -> dict[str, Any]:
    """The verify route's answer: through ``chain``, the events appended since this server last
    checked (bounded, see chaincheck); without it, a walk of the whole chain (admins, one at a time)."""
    if chain is not None:
        return chain.check()
    report = verify_chain(store.read_all(), store.head())
    return {"ok": report.ok, "events": report.events, "head_position": report.head_position,
            "head_hash": report.head_hash, "first_bad_position": report.first_bad_position, "reason": report.reason,
            "mode": "full",
            "verified_through": report.events if report.ok else None, "complete": report.ok,
            "checked_now": report.events, "in_progress": False}


def kpis(store: EventStore, state: GovernanceState, principal: Principal, now: datetime) -> dict[str, Any]:
    sites = sorted(set(state.shipped) | set(state.backordered) | set(state.last_data_at))
    per_site = []
    for site in sites:
        if not principal.sees(site):
            continue
        shipped, short = state.shipped.get(site, 0), state.backordered.get(site, 0)
        age = state.data_age_hours(now).get(site)
        per_site.append({"site": site, "shipped": shipped, "backordered": short,
                         "service_level": shipped / (shipped + short) if shipped + short else None,
                         "data_age_hours": round(age, 3) if age is not None else None,
                         "spend_this_month": round(state.spent("site", site, now, "month"), 2),
                         "kill_switch": state.kill_switch or site in state.killed_sites})
    counts: dict[str, int] = {}
    auto = 0
    for r in state.proposals.values():
        if not all(principal.sees(s) for s in r.sites):
            continue
        counts[r.status] = counts.get(r.status, 0) + 1
        auto += r.decided_by == "governance" and r.status in ("executed", "approved", "failed")
    decided = sum(v for k, v in counts.items() if k != "made")
    shipped_all = sum(s["shipped"] for s in per_site)
    short_all = sum(s["backordered"] for s in per_site)
    return {"service_level": shipped_all / (shipped_all + short_all) if shipped_all + short_all else None,
            "sites": per_site, "proposals": counts, "approval_queue": counts.get("queued", 0),
            "auto_approval_rate": auto / decided if decided else None, "ledger_head": store.head()[0],
            "kill_switch": state.kill_switch, "killed_sites": sorted(state.killed_sites)}


def forecasts(state: GovernanceState, principal: Principal, sku: str | None, site: str | None, limit: int
              ) -> dict[str, Any]:
    if site is not None and not principal.sees(site):
        raise Forbidden(f"this token is not scoped to site {site}")
    keys = [k for k in state.forecasts
            if principal.sees(k[1]) and (sku is None or k[0] == sku) and (site is None or k[1] == site)]
    rows = [{"sku": k[0], "site": k[1], **state.forecasts[k]} for k in heapq.nsmallest(limit, keys)]
    return {"items": rows, "total": len(keys)}


def policies(state: GovernanceState) -> list[dict[str, Any]]:
    out = []
    for name, record in sorted(state.policies.items()):
        out.append({
            "name": name, "active": record.active,
            "canary": None if record.canary is None else {"version": record.canary.version,
                                                          "share": record.canary.share,
                                                          "max_regression": record.canary.max_regression,
                                                          "since": record.canary.since},
            "shadow": None if record.shadow is None else {"version": record.shadow.version,
                                                          "since": record.shadow.since},
            "versions": [{"version": v, **record.published[v]} for v in record.versions],
            "history": record.history[-50:], "kpis": record.kpis[-20:]})
    return out

