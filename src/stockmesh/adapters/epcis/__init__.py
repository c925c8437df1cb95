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

The package: ``vocabulary`` (the CBV words and their spellings), ``identifiers`` (GS1 keys of
products and locations), ``mapping`` (the user's table and its loader), ``reading`` (the events,
paths, quantities and transfers of a document), ``inbound`` (the table above as data, ``RULES``,
with ``plan`` and ``ingest``) and ``outbound`` (the export). The names below are its public face.
"""

from __future__ import annotations

from stockmesh.adapters.epcis.identifiers import (
    ProductId,
    check_digit,
    gln13,
    gtin14,
    location_candidates,
    parse_product,
)
from stockmesh.adapters.epcis.inbound import (
    RULES,
    EpcisEvent,
    EpcisReport,
    Rule,
    classify,
    ingest,
    map_event,
    plan,
)
from stockmesh.adapters.epcis.mapping import EpcisMapping, ProductMapping, load_mapping
from stockmesh.adapters.epcis.outbound import export_document, export_events
from stockmesh.adapters.epcis.reading import event_id, iter_events, read_document
from stockmesh.adapters.epcis.vocabulary import (
    ADJUSTING,
    BIZSTEPS,
    DISPOSITIONS,
    EPCIS_CONTEXT,
    EVENT_TYPES,
    NS,
    cbv_word,
)
from stockmesh.domain.errors import Rejected

EpcisRejected = Rejected  # the name callers used before every format shared ``Rejected``

__all__ = [
    "ADJUSTING", "BIZSTEPS", "DISPOSITIONS", "EPCIS_CONTEXT", "EVENT_TYPES", "NS", "RULES", "EpcisEvent",
    "EpcisMapping", "EpcisRejected", "EpcisReport", "ProductId", "ProductMapping", "Rejected", "Rule", "cbv_word",
    "check_digit", "classify", "event_id", "export_document", "export_events", "gln13", "gtin14", "ingest",
    "iter_events", "load_mapping", "location_candidates", "map_event", "parse_product", "plan", "read_document",
]
