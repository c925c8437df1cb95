"""Out: our physical stock events as EPCIS 2.0 ObjectEvents. Each carries ``stockmesh:ledgerEvent``
(position and hash), so re-importing our own export is recognised as an echo."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import quote

from stockmesh.adapters.epcis.mapping import EpcisMapping
from stockmesh.adapters.epcis.vocabulary import ADJUSTING, EPCIS_CONTEXT, NS
from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.domain.model import parse_stock_stream
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore

_EVENT_NS = uuid.UUID("9b5c1f2e-4d0a-5e7b-8c3f-6a1d2e3f4a5b")


def _lots_split(qty: int, lots: Any) -> list[tuple[str | None, int]]:
    out: list[tuple[str | None, int]] = []
    taken = 0
    for lot, q in lots or ():
        out.append((str(lot), int(q)))
        taken += int(q)
    if qty - taken > 0:
        out.append((None, qty - taken))
    return out


def export_events(store: EventStore, mapping: EpcisMapping | None = None, *, after: int = 0) -> Iterator[dict[str, Any]]:
    """Our physical stock events as EPCIS 2.0 ObjectEvents, in ledger order."""
    mapping = mapping or EpcisMapping()
    transfers: dict[str, tuple[str, str]] = {}
    for e in store.read_all(after=after):
        if e.stream_id.startswith("transfer:") and e.type == "TransferDispatched":
            data = codec.loads(e.data)
            transfers[data["transfer_id"]] = (data["from_site"], data["to_site"])
        if not e.stream_id.startswith("stock:"):
            continue
        exported = _export_one(e, mapping, transfers)
        if exported is not None:
            yield exported


def _export_one(e: Any, mapping: EpcisMapping, transfers: Mapping[str, tuple[str, str]]) -> dict[str, Any] | None:
    sku, site = parse_stock_stream(e.stream_id)
    data = codec.loads(e.data)
    t = e.type
    lines: list[tuple[str | None, int]]
    extra: dict[str, Any] = {}
    if t in ("StockReceived", "PurchaseOrderStockReceived", "TransferStockReceived"):
        step, disp, lines = "receiving", "in_progress", [(data.get("lot"), data["qty"])]
        if t == "PurchaseOrderStockReceived":
            extra["bizTransactionList"] = [{"type": "po", "bizTransaction":
                                            f"urn:stockmesh:po:{quote(data['po_id'], safe='')}"}]
        if t == "TransferStockReceived":
            extra["bizTransactionList"] = [{"type": "desadv", "bizTransaction":
                                            f"urn:stockmesh:transfer:{quote(data['transfer_id'], safe='')}"}]
            pair = transfers.get(data["transfer_id"])
            if pair:
                extra["sourceList"] = [{"type": "location", "source": mapping.location_uri(pair[0])}]
    elif t in ("StockShipped", "ReservedStockShipped", "BackorderFilled"):
        step, disp, lines = "shipping", "in_transit", _lots_split(data["qty"], data.get("lots"))
    elif t == "TransferShippedOut":
        step, disp, lines = "shipping", "in_transit", _lots_split(data["qty"], data.get("lots"))
        extra["bizTransactionList"] = [{"type": "desadv", "bizTransaction":
                                        f"urn:stockmesh:transfer:{quote(data['transfer_id'], safe='')}"}]
        extra["destinationList"] = [{"type": "location", "destination": mapping.location_uri(data["to_site"])}]
    elif t == "StockAdjusted":
        delta = int(data["delta"])
        step, disp = ADJUSTING, None
        lines = _lots_split(abs(delta), data.get("lots")) if delta < 0 else [(None, delta)]
        if delta > 0 and data.get("lots"):
            lines = [(str(lot), int(q)) for lot, q in data["lots"]]
        extra["stockmesh:delta"] = delta
        extra["stockmesh:reason"] = data.get("reason")
    elif t == "StockCounted":
        step, disp, lines = "cycle_counting", None, [(data.get("lot"), data["counted"])]
    elif t == "StockQuarantined":
        step, disp, lines = "holding", "non_sellable_other", _lots_split(data["qty"], data.get("lots"))
    elif t == "QuarantineReleased":
        step, disp, lines = "inspecting", "conformant", _lots_split(data["qty"], data.get("lots"))
    elif t == "LotExpired":
        total = int(data["on_hand"]) + int(data["quarantined"])
        step, disp, lines = "holding", "expired", [(data["lot"], total)]
    else:
        return None
    location = mapping.location_uri(site)
    event: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventID": f"urn:uuid:{uuid.uuid5(_EVENT_NS, e.hash)}",
        "eventTime": e.occurred_at,
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "bizStep": step,
        "readPoint": {"id": location},
        "bizLocation": {"id": location},
        "quantityList": [{"epcClass": mapping.product_uri(sku, lot), "quantity": q} for lot, q in lines],
    }
    if disp is not None:
        event["disposition"] = disp
    event.update({k: v for k, v in extra.items() if v is not None})
    event["stockmesh:ledgerEvent"] = {"position": e.position, "hash": e.hash, "type": t}
    return event


def export_document(store: EventStore, mapping: EpcisMapping | None = None, *, after: int = 0,
                    events: Iterable[dict[str, Any]] | None = None, clock: Clock = SYSTEM_CLOCK) -> dict[str, Any]:
    """An EPCISDocument with our stock events (valid against the GS1 EPCIS 2.0 JSON schema)."""
    listed = list(events if events is not None else export_events(store, mapping, after=after))
    return {
        "@context": [EPCIS_CONTEXT, {"stockmesh": NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": clock.now().isoformat(),
        "epcisBody": {"eventList": listed},
    }
