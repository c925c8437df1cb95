"""Reading an EPCIS document: its events and their paths, eventIDs, list fields, quantities in base
units, ILMD attributes and the transfers a shipment opens. Every error names its field path."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson

from stockmesh.adapters.epcis.mapping import EpcisMapping
from stockmesh.adapters.epcis.vocabulary import BIZ_TRANSACTION_SPELLINGS, COUNT_UNITS, EVENT_TYPES, type_word
from stockmesh.domain.commands import MAX_QTY
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.inputs import UTF8_BOM
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.service.strict_json import loads_json

_TRANSFER_TYPES = ("desadv", "bol", "inv", "po", "prodorder")
_ID_BAD = re.compile(r"[^A-Za-z0-9._:/#+\-]")


def read_document(source: Path | str | bytes) -> Any:
    if isinstance(source, bytes):
        raw = source
    else:
        try:
            raw = Path(source).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read {source}: {exc.strerror}", field="FILE") from exc
    try:  # without a UTF-8 byte order mark, as some editors write; strictly: no key twice, no deep nesting
        return loads_json(raw.removeprefix(UTF8_BOM))
    except InvalidInput as exc:
        if exc.field is None:
            raise InvalidInput(f"not JSON: {exc.message.removeprefix('malformed JSON: ')}", field="FILE") from None
        raise


def event_id(event: Mapping[str, Any]) -> str:
    """The event's eventID, or a canonical hash of its content (recordTime excluded) without one."""
    given = event.get("eventID")
    if isinstance(given, str) and given:
        return given
    body = {k: v for k, v in event.items() if k not in ("recordTime", "eventID")}
    try:
        canonical = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
    except orjson.JSONEncodeError:  # an integer beyond 64 bits, from a caller's dict (files never give one)
        canonical = json.dumps(body, sort_keys=True, default=str).encode()
    digest = hashlib.sha256(canonical).hexdigest()
    return f"hash:{digest}"


def _member(parent: Mapping[str, Any], name: str, where: str) -> Mapping[str, Any]:
    value = parent.get(name)
    if not isinstance(value, Mapping):
        raise InvalidInput("must be an object", field=where)
    return value


def iter_events(doc: Any) -> Iterator[tuple[int, str, Mapping[str, Any]]]:
    """(index, field path, event) for a document, a query document, an event list or one event."""
    if isinstance(doc, Mapping) and doc.get("type") in ("EPCISDocument", "EPCISQueryDocument"):
        body = _member(doc, "epcisBody", "epcisBody")
        if "queryResults" in body:  # a query's answer; an EPCISDocument may carry one too
            results = _member(body, "queryResults", "epcisBody.queryResults")
            results_body = _member(results, "resultsBody", "epcisBody.queryResults.resultsBody")
            events, base = results_body.get("eventList", []), "epcisBody.queryResults.resultsBody.eventList"
        else:
            events, base = body.get("eventList"), "epcisBody.eventList"
        if not isinstance(events, list):
            raise InvalidInput("must be a list of events", field=base)
    elif isinstance(doc, list):
        events, base = doc, "events"
    elif isinstance(doc, Mapping) and "epcisBody" not in doc and (
            doc.get("type") in EVENT_TYPES or (isinstance(doc.get("type"), str) and "eventTime" in doc)):
        events, base = [doc], "event"  # one event, not wrapped (an extension type too)
    elif isinstance(doc, Mapping) and "@graph" in doc:
        raise InvalidInput("expanded or flattened JSON-LD (@graph) is not read; send the compacted EPCIS "
                           "JSON form (type EPCISDocument)", field="@graph")
    else:
        raise InvalidInput("not an EPCIS document (type EPCISDocument or EPCISQueryDocument), an event "
                           "(type and eventTime) nor a list of events", field="type")
    for i, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise InvalidInput("an event must be an object", field=f"{base}[{i}]")
        yield i, f"{base}[{i}]", event


def listed(event: Mapping[str, Any], name: str, where: str) -> list[Mapping[str, Any]]:
    """The objects of a list field (sourceList, bizTransactionList...); one object alone counts as a list
    of one, as some producers write it."""
    value = event.get(name)
    if value is None:
        return []
    if isinstance(value, Mapping):
        return [value]
    if not isinstance(value, list):
        raise InvalidInput("must be a list of objects", field=f"{where}.{name}")
    return [item for item in value if isinstance(item, Mapping)]


class Quantities:
    """(sku, lot) -> units of an event's EPC list and quantity list, validated and converted."""

    def __init__(self, mapping: EpcisMapping, where: str, *, allow_zero: bool) -> None:
        self.mapping = mapping
        self.where = where
        self.allow_zero = allow_zero
        self.units: dict[tuple[str, str | None], int] = {}

    def epcs(self, values: Any, name: str) -> None:
        if values is None:
            return
        if not isinstance(values, list):
            raise InvalidInput("must be a list of EPC URIs", field=f"{self.where}.{name}")
        for j, epc in enumerate(values):
            path = f"{self.where}.{name}[{j}]"
            if not isinstance(epc, str):
                raise InvalidInput("must be an EPC URI string", field=path)
            found = self.mapping.product(epc)
            if found is None:
                raise InvalidInput(f"unknown product {epc!r}: not in the mapping table"[:200], field=path)
            key = (found[0].sku, found[1])
            self.units[key] = self.units.get(key, 0) + 1

    def quantities(self, values: Any, name: str) -> None:
        if values is None:
            return
        if not isinstance(values, list):
            raise InvalidInput("must be a list of quantity elements", field=f"{self.where}.{name}")
        for j, element in enumerate(values):
            path = f"{self.where}.{name}[{j}]"
            if not isinstance(element, Mapping) or not isinstance(element.get("epcClass"), str):
                raise InvalidInput("must be an object with an epcClass", field=path)
            found = self.mapping.product(element["epcClass"])
            if found is None:
                raise InvalidInput(f"unknown product {element['epcClass']!r}: not in the mapping table"[:200],
                                   field=f"{path}.epcClass")
            product, lot = found
            qty = element.get("quantity")
            if qty is None:
                raise InvalidInput("a quantity is required (stockmesh counts units)", field=f"{path}.quantity")
            if isinstance(qty, bool) or not isinstance(qty, int | float):
                raise InvalidInput(f"must be a number, got {qty!r}"[:120], field=f"{path}.quantity")
            if qty < 0 or (qty == 0 and not self.allow_zero):
                raise InvalidInput(f"must be positive, got {qty} (the EPCIS schema allows negative "
                                   f"quantities; stockmesh does not)", field=f"{path}.quantity")
            uom = element.get("uom")
            if uom is not None:
                factor = product.units_per.get(str(uom)) or (1.0 if uom in COUNT_UNITS else None)
                if factor is None:
                    raise InvalidInput(f"unit {uom!r} has no conversion for SKU {product.sku} in the mapping "
                                       f"(products.*.units_per)", field=f"{path}.uom")
                qty = qty * factor
            if not math.isfinite(qty) or qty > MAX_QTY:
                raise InvalidInput(f"{qty:g} base units is more than one line can book (at most {MAX_QTY})",
                                   field=f"{path}.quantity")
            units = round(qty)
            if abs(units - qty) > 1e-9:
                raise InvalidInput(f"{qty} is not a whole number of base units", field=f"{path}.quantity")
            key = (product.sku, lot)
            self.units[key] = self.units.get(key, 0) + int(units)


def transfer_id(event: Mapping[str, Any], where: str) -> str:
    items = listed(event, "bizTransactionList", where)
    rank = {kind: n for n, kind in enumerate(_TRANSFER_TYPES)}
    items.sort(key=lambda t: rank.get(type_word(t, BIZ_TRANSACTION_SPELLINGS) or "", 99))
    for item in items:
        value = item.get("bizTransaction")
        if not isinstance(value, str) or not value:
            continue
        if value.startswith("urn:stockmesh:transfer:"):
            return unquote(value.removeprefix("urn:stockmesh:transfer:"))
        body = re.sub(r"^(https?://|urn:)", "", value)
        cleaned = _ID_BAD.sub("-", body).lstrip("._:/#+-")[:128]
        if cleaned:
            return cleaned
    raise InvalidInput("a movement between two of our sites needs a bizTransaction (desadv or bol) to pair its "
                       "shipping and receiving events", field=f"{where}.bizTransactionList")


def _line_prefix(transfer: str) -> str:
    return f"{transfer[:120]}#"


def line_transfer(transfer: str, n: int) -> str:
    """The transfer id of line ``n`` of a shipment of several SKUs or lots: ``<bizTransaction>#<n + 1>``."""
    return f"{_line_prefix(transfer)}{n + 1}"


class Transfers:
    """The transfers a receipt from one of our sites can close: those in the ledger, and those an earlier
    event of the same document dispatches. A shipment of several lines is one transfer per line
    (``T#1``, ``T#2``...), so a receipt pairs each of its lines with the open line of the same SKU (and
    lot, when it names one)."""

    def __init__(self, store: EventStore | None) -> None:
        self.store = store
        self.planned: dict[str, tuple[str, str | None, str]] = {}  # transfer id -> sku, lot, to_site

    def dispatched(self, transfer_id: str, sku: str, lot: str | None, to_site: str) -> None:
        self.planned[transfer_id] = (sku, lot, to_site)

    def _lines(self, transfer: str) -> dict[str, tuple[str, str | None, str]]:
        found = {t: line for t, line in self.planned.items() if t == transfer or t.startswith(_line_prefix(transfer))}
        if self.store is not None:
            for stream in (f"transfer:{transfer}", *self.store.stream_ids(f"transfer:{_line_prefix(transfer)}")):
                tid = stream.removeprefix("transfer:")
                first = self.store.read_stream(stream)[:1] if tid not in found else []
                if first and first[0].type == "TransferDispatched":
                    data = codec.loads(first[0].data)
                    found[tid] = (data["sku"], data.get("lot"), data["to_site"])
        return found

    def receive(self, transfer: str, site: str, units: list[tuple[tuple[str, str | None], int]],
                base: Any) -> tuple[list[dict[str, Any]], list[tuple[tuple[str, str | None], int]]]:
        """ReceiveTransfer for each line that pairs with a transfer to ``site``; the lines that do not."""
        open_lines = sorted((t, sku, lot) for t, (sku, lot, to) in self._lines(transfer).items() if to == site)
        taken: set[str] = set()
        cmds: list[dict[str, Any]] = []
        unpaired: list[tuple[tuple[str, str | None], int]] = []
        for (sku, lot), qty in units:
            match = next((t for t, t_sku, t_lot in open_lines
                          if t not in taken and t_sku == sku and (lot is None or t_lot == lot)), None)
            if match is None:
                unpaired.append(((sku, lot), qty))
                continue
            taken.add(match)
            cmds.append(base(command="ReceiveTransfer", transfer_id=match, qty=qty))
        return cmds, unpaired


def ilmd(event: Mapping[str, Any], name: str) -> str | None:
    """A CBV master data attribute of the event's ILMD (instance/lot master data), in any of the names the
    EPCIS 2.0 context allows for it: ``cbvmda:lotNumber``, ``urn:epcglobal:cbv:mda:lotNumber``..."""
    ilmd = event.get("ilmd")
    if not isinstance(ilmd, Mapping):
        return None
    for key in (f"cbvmda:{name}", f"urn:epcglobal:cbv:mda:{name}", f"urn:epcglobal:cbv:mda#{name}", name):
        value = ilmd.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):  # a lot written as a number
            return str(value)
    return None
