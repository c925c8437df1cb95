"""Why an order exists: its document, the proposal that made it, the decision trail and outcome."""

from __future__ import annotations

from typing import Any

from stockmesh.domain.errors import UnknownEntity
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventLog


def _events(store: EventLog, stream_id: str) -> list[dict[str, Any]]:
    return [{"position": e.position, "type": e.type, "occurred_at": e.occurred_at, "data": codec.loads(e.data),
             "metadata": codec.loads(e.metadata)} for e in store.read_stream(stream_id)]


def _proposal(store: EventLog, stream_id: str, out: dict[str, Any]) -> dict[str, Any] | None:
    """Put a proposal's ``ProposalMade`` data and its decision trail into ``out``; return the former."""
    trail = _events(store, stream_id)
    made = next((e for e in trail if e["type"] == "ProposalMade"), None)
    out["proposal"] = made["data"] if made else None
    out["decision"] = [{"type": e["type"], "occurred_at": e["occurred_at"], **e["data"]}
                       for e in trail if e["type"] != "ProposalMade"]
    return made


def explain(store: EventLog, order_id: str) -> dict[str, Any]:
    """The full provenance of a purchase order, a transfer or a proposal, by its id.

    Raises ``UnknownEntity`` when nothing has that id."""
    candidates = [order_id] if ":" in order_id else [f"po:{order_id}", f"transfer:{order_id}",
                                                     f"proposal:{order_id}"]
    for stream_id in candidates:
        history = _events(store, stream_id)
        if history:
            break
    else:
        raise UnknownEntity(f"no purchase order, transfer or proposal {order_id!r}", field="ORDER_ID")
    out: dict[str, Any] = {"id": order_id, "stream": stream_id}
    if stream_id.startswith("proposal:"):
        proposal_stream = stream_id
    else:
        out["document"] = history
        key = history[0]["metadata"].get("idempotency_key", "")
        out["placed_by"] = history[0]["metadata"].get("actor") or history[0]["metadata"].get("source")
        proposal_stream = key if key.startswith("proposal:") else None
    if proposal_stream is None:
        out["proposal"] = None
        out["summary"] = "entered by a person or a system of record (no agent proposal)"
        return out
    made = _proposal(store, proposal_stream, out)
    if "document" in out:
        # later agent actions on the same document (an expedite of a late order...), each with its
        # own proposal and decision trail
        out["actions"] = []
        for event in history[1:]:
            key = event["metadata"].get("idempotency_key", "")
            if key.startswith("proposal:") and key != proposal_stream:
                action: dict[str, Any] = {"event": event["type"], "occurred_at": event["occurred_at"]}
                _proposal(store, key, action)
                out["actions"].append(action)
    if made:
        p = made["data"]
        prov = p.get("provenance", {})
        out["summary"] = (f"{p['agent']} agent proposed {p['action']} of {p['qty']} {p['sku']} for {p['site']} "
                          f"(value {p['value']:,.2f}): {'; '.join(p.get('reasons', []))}. "
                          f"Formula: {prov.get('formula', 'n/a')}.")
    return out
