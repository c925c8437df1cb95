"""GS1 EPCIS 2.0 JSON / JSON-LD: events in as ledger commands, our events out as EPCIS.

**In.** Each event's bizStep, disposition and action choose what happens to stock (below); its
products (EPCs, EPC classes, GTINs) map to SKUs and its location (bizLocation, else readPoint;
SGLN or GLN) to a site through a *mapping table* the user supplies (YAML or JSON)::

    products:                                    # EPC class, EPC, GTIN-14 (or 8/12/13) -> SKU
      "urn:epc:idpat:sgtin:0614141.107346.*": OAT-MILK-1L
      "04012345123456": {sku: FLOUR-1KG, units_per: {KGM: 10}}   # 1 KGM = 10 base units
    locations:                                   # SGLN, GLN-13 -> site
      "urn:epc:id:sgln:0614141.07346.0": DC-LYON
      "0012345111118": STORE-LYON-02
    bizsteps:                                    # optional: a custom bizStep URI -> a CBV step or ignore
      "http://epcis.example.org/hc/bizstep/summarising_discharge": ignore

| bizStep / disposition / action                      | commands                                      |
|-----------------------------------------------------|-----------------------------------------------|
| receiving, commissioning                            | ReceiveStock (+ QuarantineStock when the disposition is damaged, recalled, expired, non-sellable...); an ILMD lotNumber / itemExpirationDate gives objects without a lot of their own theirs |
| receiving from one of our sites, with a bizTransaction | ReceiveTransfer per line, paired with the open transfer line of its SKU (and lot); a line with none: ReceiveStock, and a note |
| shipping to one of our sites (destinationList)      | DispatchTransfer: in transit to that site (one transfer per line, ``T#1``, ``T#2``..., when several) |
| shipping elsewhere, retail_selling                  | ShipStock                                     |
| destroying, decommissioning, ObjectEvent DELETE     | AdjustStock (negative)                        |
| cycle_counting, stock_taking                        | RecordCount (the quantity is the count)       |
| disposition expired                                 | ExpireLot (needs a lot: an LGTIN class)       |
| quarantine dispositions (holding, storing...)       | QuarantineStock                               |
| inspecting + conformant / sellable_accessible       | ReleaseQuarantine                             |
| TransformationEvent                                 | AdjustStock (inputs, negative) + ReceiveStock (outputs) |
| arriving, departing, loading, packing, ...          | nothing: observations                         |
| AssociationEvent, an extension event type (a URI)   | nothing (an extension type with a note)       |
| an errorDeclaration                                 | nothing, and a note (an earlier import is not reversed) |

Read: an EPCISDocument (``epcisBody.eventList``), an EPCISQueryDocument (its
``queryResults.resultsBody.eventList``), a list of events or one event alone. CBV words in any of
their spellings: ``shipping``, ``urn:epcglobal:cbv:bizstep:shipping``,
``https://ref.gs1.org/cbv/BizStep-shipping``, ``cbv:BizStep-shipping`` (likewise dispositions,
source/destination types and bizTransaction types). A ``uom`` of EA, H87 or C62 is our base unit,
as no ``uom`` is; other units need ``units_per``. A sourceList (destinationList,
bizTransactionList) written as one object counts as a list of one.

Validated beyond the standard: a negative (or, outside counts, zero) quantity, a fractional unit
count, a quantity in a unit the mapping does not convert, an unknown bizStep or disposition, an
unknown location or product, one eventID for two different events: each an ``InvalidInput`` naming
the field path (``epcisBody.eventList[3].quantityList[0].uom``), and nothing written; a business-rule
failure names the event's path, its eventID and the command refused.
Events de-duplicate by ``eventID`` (else by a canonical hash of the event), each command keyed
``epcis:<eventID>#<n>``.

**Out.** ``export_document`` turns our physical stock events into ObjectEvents. Each carries
``stockmesh:ledgerEvent`` (position and hash): re-importing our own export is recognised (the
position holds that hash in our ledger) and changes nothing; another ledger imports it by eventID.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import orjson

from stockmesh.domain.commands import ID_PATTERN, MAX_QTY, Command, parse_command, parse_instant
from stockmesh.domain.errors import InvalidInput, Rejected
from stockmesh.domain.inputs import UTF8_BOM
from stockmesh.domain.model import parse_stock_stream
from stockmesh.governance.strict_yaml import load_yaml
from stockmesh.ledger import codec
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import BatchRejected, execute, tally
from stockmesh.service.inbox import inbox_key
from stockmesh.service.strict_json import loads_json

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
NS = "https://stockmesh.dev/ns/epcis/"
ADJUSTING = f"{NS}bizstep/adjusting"  # our own bizStep for book adjustments (CBV has none)
_EVENT_NS = uuid.UUID("9b5c1f2e-4d0a-5e7b-8c3f-6a1d2e3f4a5b")

BIZSTEPS = frozenset({
    "accepting", "arriving", "assembling", "collecting", "commissioning", "consigning",
    "creating_class_instance", "cycle_counting", "decommissioning", "departing", "destroying",
    "disassembling", "dispensing", "encoding", "entering_exiting", "holding", "inspecting", "installing",
    "killing", "loading", "other", "packing", "picking", "receiving", "removing", "repackaging",
    "repairing", "replacing", "reserving", "retail_selling", "shipping", "staging_outbound",
    "stock_taking", "stocking", "storing", "transporting", "unloading", "unpacking", "void_shipping",
    "sensor_reporting", "sampling",
})
DISPOSITIONS = frozenset({
    "active", "container_closed", "damaged", "destroyed", "dispensed", "disposed", "encoded", "expired",
    "in_progress", "in_transit", "inactive", "no_pedigree_match", "non_sellable_other",
    "partially_dispensed", "recalled", "reserved", "retail_sold", "returned", "sellable_accessible",
    "sellable_not_accessible", "stolen", "unknown", "available", "completeness_verified",
    "completeness_inferred", "conformant", "container_open", "mismatch_instance", "mismatch_class",
    "mismatch_quantity", "needs_replacement", "non_conformant", "unavailable",
})
QUARANTINE = frozenset({"damaged", "non_sellable_other", "recalled", "non_conformant", "needs_replacement",
                        "mismatch_instance", "mismatch_class", "mismatch_quantity", "unavailable",
                        "sellable_not_accessible", "expired", "no_pedigree_match"})
RELEASE = frozenset({"conformant", "sellable_accessible", "available"})
WRITE_OFF_DISPOSITIONS = frozenset({"destroyed", "disposed", "stolen"})
RECEIPT_STEPS = frozenset({"receiving", "commissioning"})
SHIP_STEPS = frozenset({"shipping", "retail_selling"})
WRITE_OFF_STEPS = frozenset({"destroying", "decommissioning"})
COUNT_STEPS = frozenset({"cycle_counting", "stock_taking"})
EVENT_TYPES = ("ObjectEvent", "AggregationEvent", "TransactionEvent", "TransformationEvent", "AssociationEvent")


def _cbv_spellings(urn: str, web: str) -> tuple[str, ...]:
    """The prefixes a CBV word is written with besides the bare word: its CBV 1.x URN, its GS1 web URI
    (CBV 2.0), and the compact IRIs the EPCIS 2.0 JSON-LD context allows for the latter."""
    return (f"urn:epcglobal:cbv:{urn}:", f"https://ref.gs1.org/cbv/{web}-", f"https://gs1.org/voc/{web}-",
            f"cbv:{web}-", f"gs1:{web}-")


BIZSTEP_SPELLINGS = _cbv_spellings("bizstep", "BizStep")
DISPOSITION_SPELLINGS = _cbv_spellings("disp", "Disp")
SOURCE_DEST_SPELLINGS = _cbv_spellings("sdt", "SDT")  # sourceList / destinationList types
BIZ_TRANSACTION_SPELLINGS = _cbv_spellings("btt", "BTT")


def cbv_word(value: str, spellings: tuple[str, ...]) -> str:
    """``shipping`` for ``urn:epcglobal:cbv:bizstep:shipping``, ``https://ref.gs1.org/cbv/BizStep-shipping``
    or ``shipping``; any other URI unchanged."""
    for prefix in spellings:
        if value.startswith(prefix):
            return value[len(prefix):]
    return value


def _type_word(item: Mapping[str, Any], spellings: tuple[str, ...]) -> str | None:
    kind = item.get("type")
    return cbv_word(kind, spellings) if isinstance(kind, str) else None

COUNT_UNITS = frozenset({"EA", "H87", "C62"})  # UN/ECE Rec 20: each, piece, one: our base unit, as no uom
_TRANSFER_TYPES = ("desadv", "bol", "inv", "po", "prodorder")
_ID_BAD = re.compile(r"[^A-Za-z0-9._:/#+\-]")


# --- GS1 identifiers -------------------------------------------------------------------------

def check_digit(body: str) -> str:
    """GS1 mod-10 check digit of a digit string (GTIN, GLN, SSCC)."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return str((10 - total % 10) % 10)


def gtin14(company_prefix: str, item_ref: str) -> str:
    """GTIN-14 from an SGTIN's company prefix and item reference (indicator digit first)."""
    body = item_ref[:1] + company_prefix + item_ref[1:]
    return body + check_digit(body)


def gln13(company_prefix: str, location_ref: str) -> str:
    body = company_prefix + location_ref
    return body + check_digit(body)


def _norm_gtin(value: str) -> str | None:
    return value.zfill(14) if value.isdigit() and len(value) in (8, 12, 13, 14) else None


@dataclass(frozen=True, slots=True)
class ProductId:
    candidates: tuple[str, ...]  # keys to look up in the mapping, most specific first
    lot: str | None = None


def parse_product(uri: str) -> ProductId:
    """The lookup keys of an EPC or EPC class: itself, its class pattern, its GTIN-14; and a lot."""
    if uri.startswith("urn:stockmesh:sku:"):
        body = uri.removeprefix("urn:stockmesh:sku:")
        sku, _, lot = body.partition(":lot:")
        return ProductId((uri, "sku:" + unquote(sku)), unquote(lot) if lot else None)
    m = re.fullmatch(r"urn:epc:(id|idpat):sgtin:(\d+)\.(\d+)\.(.+)", uri)
    if m:
        cp, ir = m.group(2), m.group(3)
        return ProductId((uri, f"urn:epc:idpat:sgtin:{cp}.{ir}.*", gtin14(cp, ir)))
    m = re.fullmatch(r"urn:epc:class:lgtin:(\d+)\.(\d+)\.(.+)", uri)
    if m:
        cp, ir, lot = m.groups()
        return ProductId((uri, f"urn:epc:idpat:sgtin:{cp}.{ir}.*", gtin14(cp, ir)), unquote(lot))
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/01/(\d{14})(?:/10/([^/?#]+))?(?:/21/[^/?#]+)?/?(?:[?#].*)?", uri)
    if m:
        return ProductId((uri, m.group(1)), unquote(m.group(2)) if m.group(2) else None)
    gtin = _norm_gtin(uri)
    return ProductId((uri, gtin) if gtin else (uri,))


def location_candidates(uri: str) -> tuple[str, ...]:
    if uri.startswith("urn:stockmesh:site:"):
        return (uri, "site:" + unquote(uri.removeprefix("urn:stockmesh:site:")))
    m = re.fullmatch(r"urn:epc:id:sgln:(\d+)\.(\d+)\.(.*)", uri)
    if m:
        cp, lr, ext = m.groups()
        return (uri, f"urn:epc:id:sgln:{cp}.{lr}.0", gln13(cp, lr))
    m = re.fullmatch(r"https?://[^/]+(?:/.*)?/414/(\d{13})(?:/254/[^/?#]+)?/?", uri)
    if m:
        return (uri, m.group(1))
    return (uri,)


# --- the mapping table -----------------------------------------------------------------------

@dataclass(slots=True)
class ProductMapping:
    sku: str
    units_per: dict[str, float] = field(default_factory=dict)


@dataclass(slots=True)
class EpcisMapping:
    """The user's mapping table: products -> SKUs, locations -> sites, custom bizSteps."""

    products: dict[str, ProductMapping] = field(default_factory=dict)
    locations: dict[str, str] = field(default_factory=dict)
    bizsteps: dict[str, str] = field(default_factory=dict)

    def product(self, uri: str) -> tuple[ProductMapping, str | None] | None:
        pid = parse_product(uri)
        for key in pid.candidates:
            if key.startswith("sku:"):
                return ProductMapping(key[4:]), pid.lot
            found = self.products.get(key)
            if found is not None:
                return found, pid.lot
        return None

    def site(self, uri: str) -> str | None:
        for key in location_candidates(uri):
            if key.startswith("site:"):
                return key[5:]
            found = self.locations.get(key)
            if found is not None:
                return found
        return None

    def product_uri(self, sku: str, lot: str | None) -> str:
        """Our SKU (and lot) as an EPC class, through the mapping when it names the SKU."""
        for key, pm in self.products.items():
            if pm.sku != sku:
                continue
            if key.isdigit():
                return f"https://id.gs1.org/01/{key}" + (f"/10/{quote(lot, safe='')}" if lot else "")
            m = re.fullmatch(r"urn:epc:idpat:sgtin:(\d+)\.(\d+)\.\*", key)
            if m:
                return (f"urn:epc:class:lgtin:{m.group(1)}.{m.group(2)}.{quote(lot, safe='')}" if lot else key)
        return f"urn:stockmesh:sku:{quote(sku, safe='')}" + (f":lot:{quote(lot, safe='')}" if lot else "")

    def location_uri(self, site: str) -> str:
        for key, value in self.locations.items():
            if value == site:
                return f"https://id.gs1.org/414/{key}" if key.isdigit() else key
        return f"urn:stockmesh:site:{quote(site, safe='')}"


def _identifier(value: Any, where: str) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"must map to a valid identifier, got {value!r}"[:160], field=where)
    return value


def load_mapping(source: Path | str | Mapping[str, Any] | None) -> EpcisMapping:
    """Read a mapping table (YAML or JSON file, or an already-loaded dict). None: identity only
    (our own ``urn:stockmesh:`` identifiers)."""
    if source is None:
        return EpcisMapping()
    if isinstance(source, Mapping):
        raw: Any = source
    else:
        try:
            text = Path(source).read_bytes()
        except OSError as exc:
            raise InvalidInput(f"cannot read mapping {source}: {exc.strerror}", field="mapping") from exc
        try:
            raw = load_yaml(text)
        except InvalidInput as exc:
            raise InvalidInput(f"mapping {source}: {exc}"[:300], field="mapping") from None
    if not isinstance(raw, Mapping):
        raise InvalidInput("mapping must be an object with products and locations", field="mapping")
    unknown = set(raw) - {"products", "locations", "bizsteps"}
    if unknown:
        raise InvalidInput(f"unknown section {sorted(unknown)[0]!r}", field="mapping")
    out = EpcisMapping()
    for key, value in (raw.get("products") or {}).items():
        where = f"products.{key}"
        key = str(key)
        norm = _norm_gtin(key) or key
        if isinstance(value, Mapping):
            units = value.get("units_per") or {}
            if not isinstance(units, Mapping) or not all(
                    isinstance(f, int | float) and not isinstance(f, bool) and f > 0 for f in units.values()):
                raise InvalidInput("units_per must map a unit code to a positive factor", field=where)
            out.products[norm] = ProductMapping(_identifier(value.get("sku"), where + ".sku"),
                                                {str(k): float(v) for k, v in units.items()})
        else:
            out.products[norm] = ProductMapping(_identifier(value, where))
    for key, value in (raw.get("locations") or {}).items():
        key = str(key)
        norm = key.zfill(13) if key.isdigit() and len(key) <= 13 else key
        out.locations[norm] = _identifier(value, f"locations.{key}")
    for key, value in (raw.get("bizsteps") or {}).items():
        step = cbv_word(str(value), BIZSTEP_SPELLINGS)
        if step != "ignore" and step not in BIZSTEPS:
            raise InvalidInput(f"must be a CBV bizStep or 'ignore', got {step!r}", field=f"bizsteps.{key}")
        out.bizsteps[str(key)] = step
    return out


# --- reading events ---------------------------------------------------------------------------

@dataclass(slots=True)
class EpcisEvent:
    """One event with the commands it maps to (none for an observation or an echo of ours)."""

    index: int
    event_id: str
    kind: str  # receipt, shipment, transfer_out, transfer_in, write_off, count, expiry, quarantine, ...
    commands: list[dict[str, Any]]
    echo: bool = False
    note: str | None = None
    where: str = ""  # its path in the document, e.g. epcisBody.eventList[3]


@dataclass(slots=True)
class EpcisReport:
    events: int = 0
    applied: int = 0  # commands written
    duplicates: int = 0  # commands already in the ledger (a re-sent event)
    observed: int = 0  # events with no effect on stock
    echoes: int = 0  # our own exported events coming back
    ledger_events: int = 0
    notes: list[str] = field(default_factory=list)


EpcisRejected = Rejected  # the name callers used before every format shared ``Rejected``


def _norm_vocab(value: Any, where: str, known: frozenset[str], custom: Mapping[str, str],
                spellings: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidInput("must be a string", field=where)
    if value in custom:
        return custom[value]
    value = cbv_word(value, spellings)
    if value in known or value == ADJUSTING:
        return value
    kind = where.rsplit(".", 1)[-1]
    raise InvalidInput(f"unknown {kind} {value!r}: not in the CBV 2.0 vocabulary nor the mapping's bizsteps"[:240],
                       field=where)


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


def _listed(event: Mapping[str, Any], name: str, where: str) -> list[Mapping[str, Any]]:
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


class _Quantities:
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


def _site_of(mapping: EpcisMapping, event: Mapping[str, Any], where: str) -> str:
    for name in ("bizLocation", "readPoint"):
        loc = event.get(name)
        if loc is None:
            continue
        if not isinstance(loc, Mapping) or not isinstance(loc.get("id"), str):
            raise InvalidInput("must be an object with an id", field=f"{where}.{name}")
        site = mapping.site(loc["id"])
        if site is None:
            raise InvalidInput(f"unknown location {loc['id']!r}: not in the mapping table"[:200],
                               field=f"{where}.{name}.id")
        return site
    raise InvalidInput("the event moves stock but names no bizLocation or readPoint", field=f"{where}.bizLocation")


def _our_site(mapping: EpcisMapping, event: Mapping[str, Any], list_name: str, key: str, where: str) -> str | None:
    for item in _listed(event, list_name, where):
        if _type_word(item, SOURCE_DEST_SPELLINGS) in ("location", None) and isinstance(item.get(key), str):
            site = mapping.site(item[key])
            if site is not None:
                return site
    return None


def _transfer_id(event: Mapping[str, Any], where: str) -> str:
    items = _listed(event, "bizTransactionList", where)
    rank = {kind: n for n, kind in enumerate(_TRANSFER_TYPES)}
    items.sort(key=lambda t: rank.get(_type_word(t, BIZ_TRANSACTION_SPELLINGS) or "", 99))
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


def _line_transfer(transfer: str, n: int) -> str:
    """The transfer id of line ``n`` of a shipment of several SKUs or lots: ``<bizTransaction>#<n + 1>``."""
    return f"{_line_prefix(transfer)}{n + 1}"


class _Transfers:
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


def _ilmd(event: Mapping[str, Any], name: str) -> str | None:
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


def _received(base: Any, units: Iterable[tuple[tuple[str, str | None], int]], site: str,
              event: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ReceiveStock per line; objects without a lot of their own (SGTINs, GTINs) take the ILMD's lot,
    as commissioning events carry it, and a lot its expiry date."""
    ilmd_lot, expiry = _ilmd(event, "lotNumber"), _ilmd(event, "itemExpirationDate")
    return [base(command="ReceiveStock", sku=sku, site=site, qty=qty, lot=lot or ilmd_lot,
                 expiry=expiry if lot or ilmd_lot else None) for (sku, lot), qty in units]


def _declared_in_error(event: Mapping[str, Any], where: str, eid: str) -> str:
    declaration = event.get("errorDeclaration")
    reason = declaration.get("reason") if isinstance(declaration, Mapping) else None
    corrective = declaration.get("correctiveEventIDs") if isinstance(declaration, Mapping) else None
    said = f" (reason {reason})" if isinstance(reason, str) else ""
    fixes = (f"; its corrective events: {', '.join(str(c) for c in corrective)}"
             if isinstance(corrective, list) and corrective else "")
    return (f"{where}: declares event {eid} in error{said}: not applied, and an earlier import of that event "
            f"is not reversed{fixes}")[:400]


def _ledger_echo(event: Mapping[str, Any], store: EventStore | None) -> bool:
    marker = event.get("stockmesh:ledgerEvent")
    if store is None or not isinstance(marker, Mapping):
        return False
    position, digest = marker.get("position"), marker.get("hash")
    if not isinstance(position, int) or not 1 <= position <= store.head()[0] or not isinstance(digest, str):
        return False
    found = next(iter(store.read_all(after=position - 1, limit=1)), None)
    return found is not None and found.position == position and found.hash == digest


def map_event(index: int, where: str, event: Mapping[str, Any], mapping: EpcisMapping,
              store: EventStore | None = None, transfers: _Transfers | None = None) -> EpcisEvent:
    """Validate one event and map it to command objects (without idempotency keys). ``transfers`` carries
    the transfers that the document's earlier events dispatch, for its later receipts."""
    etype = event.get("type")
    if etype not in EVENT_TYPES:
        if isinstance(etype, str) and ":" in etype:  # EPCIS 2.0 lets a producer define event types (URIs)
            return EpcisEvent(index, event_id(event), "observed", [],
                              note=f"{where}: extension event type {etype!r}"[:200] + ": nothing to map; skipped")
        raise InvalidInput(f"unsupported event type {etype!r}: not one of {', '.join(EVENT_TYPES)} nor an "
                           f"extension type (a URI)"[:240], field=f"{where}.type")
    eid = event_id(event)
    if _ledger_echo(event, store):
        return EpcisEvent(index, eid, "echo", [], echo=True)
    when = event.get("eventTime")
    if not isinstance(when, str):
        raise InvalidInput("eventTime is required", field=f"{where}.eventTime")
    occurred_at = parse_instant(f"{where}.eventTime", when)
    # Events that never move stock are not held to our vocabulary: a custom bizStep there harms nothing.
    if "errorDeclaration" in event:
        return EpcisEvent(index, eid, "declared_in_error", [], note=_declared_in_error(event, where, eid))
    if etype == "AssociationEvent":
        return EpcisEvent(index, eid, "observed", [])
    action = event.get("action")
    if etype != "TransformationEvent" and action not in ("ADD", "OBSERVE", "DELETE"):
        raise InvalidInput(f"must be ADD, OBSERVE or DELETE, got {action!r}"[:120], field=f"{where}.action")
    step = _norm_vocab(event.get("bizStep"), f"{where}.bizStep", BIZSTEPS, mapping.bizsteps, BIZSTEP_SPELLINGS)
    disposition = _norm_vocab(event.get("disposition"), f"{where}.disposition", DISPOSITIONS, {},
                              DISPOSITION_SPELLINGS)
    if step == "ignore":
        return EpcisEvent(index, eid, "observed", [])

    def base(**fields: Any) -> dict[str, Any]:
        return {"occurred_at": occurred_at, **{k: v for k, v in fields.items() if v is not None}}

    if etype == "TransformationEvent":
        site = _site_of(mapping, event, where)
        inputs = _Quantities(mapping, where, allow_zero=False)
        inputs.epcs(event.get("inputEPCList"), "inputEPCList")
        inputs.quantities(event.get("inputQuantityList"), "inputQuantityList")
        outputs = _Quantities(mapping, where, allow_zero=False)
        outputs.epcs(event.get("outputEPCList"), "outputEPCList")
        outputs.quantities(event.get("outputQuantityList"), "outputQuantityList")
        if not inputs.units and not outputs.units:
            raise InvalidInput("a transformation needs inputs or outputs", field=f"{where}.inputQuantityList")
        cmds = [base(command="AdjustStock", sku=sku, site=site, delta=-qty, lot=lot,
                     reason="EPCIS transformation input") for (sku, lot), qty in inputs.units.items()]
        cmds += _received(base, outputs.units.items(), site, event)
        return EpcisEvent(index, eid, "transformation", cmds)

    list_names = (("childEPCs", "childQuantityList") if etype == "AggregationEvent"
                  else ("epcList", "quantityList"))
    if etype in ("AggregationEvent", "TransactionEvent") and action == "DELETE":
        return EpcisEvent(index, eid, "observed", [])
    if step == ADJUSTING:
        kind = "adjustment"
    elif action == "DELETE" or step in WRITE_OFF_STEPS or (
            disposition in WRITE_OFF_DISPOSITIONS and step not in RECEIPT_STEPS | SHIP_STEPS):
        kind = "write_off"
    elif step in RECEIPT_STEPS:
        kind = "receipt"
    elif step in SHIP_STEPS:
        kind = "shipment"
    elif step in COUNT_STEPS:
        kind = "count"
    elif disposition == "expired":
        kind = "expiry"
    elif step == "inspecting" and disposition in RELEASE:
        kind = "release"
    elif disposition in QUARANTINE:
        kind = "quarantine"
    else:
        return EpcisEvent(index, eid, "observed", [])

    qty = _Quantities(mapping, where, allow_zero=kind == "count")
    qty.epcs(event.get(list_names[0]), list_names[0])
    qty.quantities(event.get(list_names[1]), list_names[1])
    if not qty.units:
        raise InvalidInput("the event moves stock but lists no products", field=f"{where}.{list_names[0]}")
    site = _site_of(mapping, event, where)
    units = qty.units.items()
    cmds: list[dict[str, Any]] = []
    note: str | None = None
    if kind == "adjustment":
        delta = event.get("stockmesh:delta")
        sign = -1 if isinstance(delta, int) and delta < 0 else 1
        cmds = [base(command="AdjustStock", sku=s, site=site, delta=sign * q, lot=lot,
                     reason=str(event.get("stockmesh:reason") or "EPCIS adjustment")) for (s, lot), q in units]
    elif kind == "write_off":
        cmds = [base(command="AdjustStock", sku=s, site=site, delta=-q, lot=lot,
                     reason=f"EPCIS {step or action}: {disposition or 'written off'}") for (s, lot), q in units]
    elif kind == "receipt":
        source = _our_site(mapping, event, "sourceList", "source", where)
        plain = list(units)
        if source is not None and source != site and _listed(event, "bizTransactionList", where):
            transfer = _transfer_id(event, where)
            cmds, plain = (transfers or _Transfers(store)).receive(transfer, site, plain, base)
            if cmds:
                kind = "transfer_in"
            if plain:
                note = (f"{where}: no transfer {transfer!r} from {source} in transit to {site} for "
                        f"{', '.join(sorted({sku for (sku, _), _ in plain}))}: booked as a receipt")[:300]
        for receipt in _received(base, plain, site, event):
            cmds.append(receipt)
            if disposition in QUARANTINE:
                cmds.append(base(command="QuarantineStock", sku=receipt["sku"], site=site, qty=receipt["qty"],
                                 lot=receipt.get("lot"), reason=f"received {disposition}"))
    elif kind == "shipment":
        destination = _our_site(mapping, event, "destinationList", "destination", where)
        if destination is not None and destination != site and step == "shipping":
            transfer = _transfer_id(event, where)
            several = len(qty.units) > 1
            cmds = [base(command="DispatchTransfer", transfer_id=_line_transfer(transfer, n) if several else transfer,
                         sku=s, from_site=site, to_site=destination, qty=q, lot=lot)
                    for n, ((s, lot), q) in enumerate(units)]
            if transfers is not None:
                for dispatch in cmds:
                    transfers.dispatched(dispatch["transfer_id"], dispatch["sku"], dispatch.get("lot"), destination)
            kind = "transfer_out"
        else:
            cmds = [base(command="ShipStock", sku=s, site=site, qty=q, lot=lot) for (s, lot), q in units]
    elif kind == "count":
        cmds = [base(command="RecordCount", sku=s, site=site, counted=q, lot=lot) for (s, lot), q in units]
    elif kind == "expiry":
        for (s, lot), _ in units:
            if lot is None:
                raise InvalidInput("an expired disposition needs a lot (an LGTIN class or /10/ lot)",
                                   field=f"{where}.{list_names[1]}")
            cmds.append(base(command="ExpireLot", sku=s, site=site, lot=lot))
    elif kind == "release":
        cmds = [base(command="ReleaseQuarantine", sku=s, site=site, qty=q, lot=lot) for (s, lot), q in units]
    else:
        cmds = [base(command="QuarantineStock", sku=s, site=site, qty=q, lot=lot, reason=f"EPCIS {disposition}")
                for (s, lot), q in units]
    return EpcisEvent(index, eid, kind, cmds, note=note)


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


def plan(doc: Any, mapping: EpcisMapping, store: EventStore | None = None) -> tuple[list[EpcisEvent],
                                                                               list[Command], list[dict[str, Any]]]:
    """Map every event and build the keyed commands; collect every error before raising."""
    events: list[EpcisEvent] = []
    errors: list[InvalidInput] = []
    transfers = _Transfers(store)
    for index, where, event in iter_events(doc):
        try:
            mapped = map_event(index, where, event, mapping, store, transfers)
            mapped.where = where
            events.append(mapped)
        except InvalidInput as exc:
            errors.append(exc)
        except (TypeError, ValueError, AttributeError, KeyError, ArithmeticError) as exc:
            # An event of a shape the checks above did not foresee: refused by its path like any other
            # invalid event, not a traceback (the mapping reads untrusted JSON of any shape).
            errors.append(InvalidInput(f"cannot read this event: {type(exc).__name__}: {exc}"[:240], field=where))
    moving: dict[str, EpcisEvent] = {}  # eventID -> the first event with it that moves stock
    for mapped in events:
        first = moving.setdefault(mapped.event_id, mapped) if mapped.commands else mapped
        if first is not mapped and first.commands != mapped.commands:
            errors.append(InvalidInput(f"eventID {mapped.event_id} is also the id of {first.where}, with other "
                                       f"content: an eventID names one event"[:300], field=f"{mapped.where}.eventID"))
    commands: list[Command] = []
    payloads: list[dict[str, Any]] = []
    for mapped in events:
        for n, obj in enumerate(mapped.commands):
            payload = {**obj, "idempotency_key": inbox_key("epcis", mapped.event_id, n)}
            try:
                commands.append(parse_command(payload))
            except InvalidInput as exc:
                errors.append(InvalidInput(f"{exc.message} (eventID {mapped.event_id})"[:300],
                                           field=f"{mapped.where} -> {obj['command']}.{exc.field}"))
                continue
            payloads.append(payload)
    if errors:
        raise Rejected(errors)
    return events, commands, payloads


def ingest(store: EventStore, doc: Any, mapping: EpcisMapping, *, source: str = "epcis") -> EpcisReport:
    """Validate a whole document, then write its commands all or nothing."""
    events, commands, payloads = plan(doc, mapping, store)
    report = EpcisReport(events=len(events))
    report.echoes = sum(1 for e in events if e.echo)
    report.observed = sum(1 for e in events if not e.commands and not e.echo)
    report.notes = [e.note for e in events if e.note]
    if not commands:
        return report
    try:
        outcomes = execute(store, commands, metadata={"source": source})
    except BatchRejected as exc:
        where, eid, command = _event_of(events, exc.index)
        raise Rejected([InvalidInput(f"{command} refused: {exc.error} (eventID {eid})"[:400],
                                          field=where)]) from exc
    counts = tally(outcomes)
    report.applied, report.duplicates, report.ledger_events = counts.applied, counts.duplicates, counts.events
    return report


def _event_of(events: list[EpcisEvent], command_index: int) -> tuple[str, str, str]:
    """(path, eventID, command name) of the event whose commands hold the batch's ``command_index``."""
    n = 0
    for e in events:
        if command_index < n + len(e.commands):
            return e.where or f"event {e.index}", e.event_id, str(e.commands[command_index - n]["command"])
        n += len(e.commands)
    return "event", "?", "a command"


# --- export ----------------------------------------------------------------------------------

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
                    events: Iterable[dict[str, Any]] | None = None) -> dict[str, Any]:
    """An EPCISDocument with our stock events (valid against the GS1 EPCIS 2.0 JSON schema)."""
    listed = list(events if events is not None else export_events(store, mapping, after=after))
    return {
        "@context": [EPCIS_CONTEXT, {"stockmesh": NS}],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": datetime.now(UTC).isoformat(),
        "epcisBody": {"eventList": listed},
    }
