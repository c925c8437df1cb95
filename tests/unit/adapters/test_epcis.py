"""EPCIS 2.0: the GS1 examples ingest to the right positions; export validates against the GS1
schema and re-imports as a no-op; hostile events are refused naming the field, nothing written."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from stockmesh.adapters import epcis
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import execute
from tests.support.commands import c
from tests.unit.adapters.conftest import DATA, seed_network

EXAMPLES = ("ex_Example_9.6.1-ObjectEvent.jsonld", "ex_Example_9.6.3-AggregationEvent.jsonld",
            "ex_Example-TransactionEvents-2020_07_03y.jsonld", "ex_object_event_all_possible_fields.jsonld")


@pytest.fixture
def mapping() -> epcis.EpcisMapping:
    return epcis.load_mapping(DATA / "epcis_mapping.yaml")


@pytest.fixture
def schema(shared_data: Path):  # type: ignore[no-untyped-def]
    jsonschema = pytest.importorskip("jsonschema")
    return jsonschema.Draft7Validator(json.loads((shared_data / "epcis" / "epcis_schema.json").read_text()),
                                      format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def on_hand(store) -> dict[tuple[str, str], int]:  # type: ignore[no-untyped-def]
    catch_up(store)
    return {(r["sku"], r["site"]): r["on_hand"] for r in positions(store) if r["on_hand"] or r["in_transit"]}


def stocked(mapping) -> MemoryEventStore:  # type: ignore[no-untyped-def]
    store = MemoryEventStore()
    seed_network(store)
    execute(store, [c("ReceiveStock", sku="OAT-MILK-1L", site="DC-LYON", qty=10)])
    return store


def test_identifiers() -> None:
    assert epcis.gtin14("0614141", "107346") == "10614141073464"
    assert epcis.gln13("0614141", "07346") == "0614141073467"
    assert epcis.parse_product("urn:epc:class:lgtin:4012345.012345.998877").lot == "998877"
    assert "04012345123456" in epcis.parse_product("https://id.gs1.org/01/04012345123456/10/L1").candidates


def test_examples_ingest_to_the_right_positions(shared_data: Path, mapping, schema) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    reports = {}
    for name in EXAMPLES:
        doc = epcis.read_document(shared_data / "epcis" / name)
        assert not list(schema.iter_errors(doc)), name
        reports[name] = epcis.ingest(store, doc, mapping)
    assert on_hand(store) == {
        ("OAT-MILK-1L", "DC-LYON"): 8,  # 9.6.1: two SGTINs shipped from the readPoint's GLN
        ("OAT-MILK-1L", "STORE-LYON-02"): 1,  # 9.6.1: one received at the bizLocation
        ("OAT-MILK-1L", "STORE-PARIS-01"): 2,  # 9.6.3: the pallet's two child SGTINs received
        ("MUESLI-500G", "STORE-PARIS-01"): 10,  # 9.6.3: childQuantityList, class pattern
        ("FLOUR-1KG", "STORE-PARIS-01"): 2005,  # 9.6.3: 200.5 KGM x 10 base units per kg, lot 998877
    }
    assert reports[EXAMPLES[2]].observed == 2  # custom bizStep (mapped to ignore) and transporting
    assert reports[EXAMPLES[3]].notes  # declared in error: not applied
    catch_up(store)
    lots = {(r[0], r[1], r[2]): r[3] for r in store.load_view("lot_positions")}
    assert lots[("FLOUR-1KG", "STORE-PARIS-01", "998877")] == 2005
    head = store.head()
    for name in EXAMPLES:  # every example again: nothing new
        epcis.ingest(store, epcis.read_document(shared_data / "epcis" / name), mapping)
    assert store.head() == head


def test_all_fields_example_without_its_error_declaration(shared_data: Path, mapping) -> None:  # type: ignore[no-untyped-def]
    doc = epcis.read_document(shared_data / "epcis" / "ex_object_event_all_possible_fields.jsonld")
    del doc["epcisBody"]["eventList"][0]["errorDeclaration"]
    store = stocked(mapping)
    report = epcis.ingest(store, doc, mapping)
    assert report.applied == 2  # one SGTIN in epcList and 200 KGM of an LGTIN in quantityList
    assert on_hand(store)[("FLOUR-1KG", "STORE-LYON-02")] == 2000  # source location is not ours: a receipt
    assert on_hand(store)[("OAT-MILK-1L", "STORE-LYON-02")] == 1


def test_export_validates_and_reimport_changes_nothing(shared_data: Path, mapping, schema) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    execute(store, [c("ReceiveStock", sku="FLOUR-1KG", site="DC-LYON", qty=50, lot="L7", expiry="2027-01-01"),
                    c("DispatchTransfer", transfer_id="T-1", sku="FLOUR-1KG", from_site="DC-LYON",
                      to_site="STORE-LYON-02", qty=20, lot="L7"),
                    c("ReceiveTransfer", transfer_id="T-1", qty=20),
                    c("ShipStock", sku="OAT-MILK-1L", site="DC-LYON", qty=3),
                    c("AdjustStock", sku="OAT-MILK-1L", site="DC-LYON", delta=-1, reason="broken"),
                    c("RecordCount", sku="OAT-MILK-1L", site="DC-LYON", counted=6),
                    c("QuarantineStock", sku="FLOUR-1KG", site="STORE-LYON-02", qty=5, lot="L7"),
                    c("ReleaseQuarantine", sku="FLOUR-1KG", site="STORE-LYON-02", qty=2, lot="L7"),
                    c("ExpireLot", sku="FLOUR-1KG", site="DC-LYON", lot="L7")])
    for name in EXAMPLES:
        epcis.ingest(store, epcis.read_document(shared_data / "epcis" / name), mapping)
    doc = json.loads(json.dumps(epcis.export_document(store, mapping)))
    errors = [e.message for e in schema.iter_errors(doc)]
    assert errors == []
    assert len(doc["epcisBody"]["eventList"]) >= 14
    before, head = on_hand(store), store.head()
    report = epcis.ingest(store, doc, mapping)
    assert report.echoes == len(doc["epcisBody"]["eventList"]) and report.applied == 0
    assert store.head() == head and on_hand(store) == before
    # another ledger imports the same export by eventID and reaches the same positions
    other = MemoryEventStore()
    seed_network(other)
    epcis.ingest(other, copy.deepcopy(doc), mapping)
    assert on_hand(other) == before
    assert epcis.ingest(other, copy.deepcopy(doc), mapping).applied == 0  # de-duplicated by eventID


def _event(**fields):  # type: ignore[no-untyped-def]
    event = {"type": "ObjectEvent", "eventTime": "2026-11-26T10:00:00Z", "eventTimeZoneOffset": "+00:00",
             "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
             "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
             "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 5}]}
    event.update(fields)
    return {"@context": [epcis.EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-26T10:00:00Z", "epcisBody": {"eventList": [event]}}


@pytest.mark.parametrize(("fields", "field", "words"), [
    ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": -5}]},
     "epcisBody.eventList[0].quantityList[0].quantity", "negative"),
    ({"bizStep": "teleporting"}, "epcisBody.eventList[0].bizStep", "unknown bizStep"),
    ({"bizStep": "https://example.com/steps/sneaking"}, "epcisBody.eventList[0].bizStep", "unknown bizStep"),
    ({"bizLocation": {"id": "urn:epc:id:sgln:9999999.99999.0"}}, "epcisBody.eventList[0].bizLocation.id",
     "unknown location"),
    ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 5, "uom": "KGM"}]},
     "epcisBody.eventList[0].quantityList[0].uom", "no conversion"),
    ({"quantityList": [{"epcClass": "urn:epc:idpat:sgtin:7777777.777777.*", "quantity": 5}]},
     "epcisBody.eventList[0].quantityList[0].epcClass", "unknown product"),
    ({"disposition": "expired", "bizStep": "holding"}, "epcisBody.eventList[0].quantityList", "needs a lot"),
])
def test_hostile_events_are_refused_naming_the_field(mapping, fields, field, words) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    good = _event(eventID="urn:uuid:00000000-0000-4000-8000-000000000001")
    bad = _event(**fields)
    doc = {**good, "epcisBody": {"eventList": good["epcisBody"]["eventList"] + bad["epcisBody"]["eventList"]}}
    head = store.head()
    with pytest.raises(epcis.EpcisRejected) as info:
        epcis.ingest(store, doc, mapping)
    error = info.value.errors[0]
    assert error.field == field.replace("[0]", "[1]", 1)
    assert words in str(error)
    assert store.head() == head  # the valid first event was not written either


def test_business_rule_failure_writes_nothing(mapping) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    doc = _event(bizStep="shipping", bizLocation={"id": "urn:epc:id:sgln:0012345.11111.0"})  # nothing there
    head = store.head()
    with pytest.raises(epcis.EpcisRejected, match="available"):
        epcis.ingest(store, doc, mapping)
    assert store.head() == head


def test_event_without_id_deduplicates_by_canonical_hash(mapping) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    doc = _event()
    assert epcis.ingest(store, doc, mapping).applied == 1
    again = json.loads(json.dumps(doc))
    again["epcisBody"]["eventList"][0]["recordTime"] = "2026-11-27T00:00:00Z"  # recordTime is not content
    assert epcis.ingest(store, again, mapping).duplicates == 1


def test_transfers_in_transit_quarantine_and_counts(mapping) -> None:  # type: ignore[no-untyped-def]
    store = stocked(mapping)
    dc = {"id": "urn:epc:id:sgln:0614141.07346.0"}
    store_loc = "urn:epc:id:sgln:0012345.11111.0"
    desadv = [{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:1152"}]
    ship = _event(eventID="urn:uuid:e1", bizStep="shipping", disposition="in_transit", bizLocation=dc,
                  destinationList=[{"type": "location", "destination": store_loc}], bizTransactionList=desadv)
    epcis.ingest(store, ship, mapping)
    catch_up(store)
    rows = {(r["sku"], r["site"]): r for r in positions(store)}
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["in_transit"] == 5
    receive = _event(eventID="urn:uuid:e2", sourceList=[{"type": "location", "source": dc["id"]}],
                     bizTransactionList=desadv)
    epcis.ingest(store, receive, mapping)
    hold = _event(eventID="urn:uuid:e3", bizStep="holding", disposition="damaged",
                  quantityList=[{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 2}])
    count = _event(eventID="urn:uuid:e4", bizStep="cycle_counting", disposition=None, bizLocation=dc,
                   quantityList=[{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 4}])
    epcis.ingest(store, {**hold, "epcisBody": {"eventList": hold["epcisBody"]["eventList"]
                                               + count["epcisBody"]["eventList"]}}, mapping)
    catch_up(store)
    rows = {(r["sku"], r["site"]): r for r in positions(store)}
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["in_transit"] == 0
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["on_hand"] == 3
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["quarantined"] == 2
    assert rows[("OAT-MILK-1L", "DC-LYON")]["on_hand"] == 4
