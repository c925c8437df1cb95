"""EPCIS documents of every shape the standard (and real producers) allow: each is read, or refused
naming the event's path and field; never an exception of ours, never a partial write."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stockmesh.adapters import epcis
from stockmesh.domain.errors import InvalidInput
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import execute
from tests.support.commands import c
from tests.unit.adapters.conftest import DATA, seed_network

DC_LYON = "urn:epc:id:sgln:0614141.07346.0"
STORE_LYON = "urn:epc:id:sgln:0012345.11111.0"
OAT_MILK = "urn:epc:idpat:sgtin:0614141.107346.*"
MUESLI = "urn:epc:idpat:sgtin:4012345.098765.*"
FLOUR_LOT = "urn:epc:class:lgtin:4012345.012345.L7"


@pytest.fixture
def mapping() -> epcis.EpcisMapping:
    return epcis.load_mapping(DATA / "epcis_mapping.yaml")


@pytest.fixture
def store() -> MemoryEventStore:
    store = MemoryEventStore()
    seed_network(store)
    execute(store, [c("ReceiveStock", sku="OAT-MILK-1L", site="DC-LYON", qty=10),
                    c("ReceiveStock", sku="MUESLI-500G", site="DC-LYON", qty=10)])
    return store


def receiving(**fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "ObjectEvent", "eventTime": "2026-11-26T10:00:00.000+01:00", "eventTimeZoneOffset": "+01:00",
        "action": "OBSERVE", "bizStep": "receiving", "disposition": "in_progress",
        "bizLocation": {"id": DC_LYON}, "quantityList": [{"epcClass": OAT_MILK, "quantity": 5}]}
    event.update(fields)
    return event


def document(*events: dict[str, Any]) -> dict[str, Any]:
    return {"@context": [epcis.EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": "2026-11-26T10:00:00Z", "epcisBody": {"eventList": list(events)}}


def on_hand(store: MemoryEventStore) -> dict[tuple[str, str], int]:
    catch_up(store)
    return {(r["sku"], r["site"]): r["on_hand"] for r in positions(store)}


def refused(store: MemoryEventStore, doc: Any, mapping: epcis.EpcisMapping) -> InvalidInput:
    """The document is refused with an InvalidInput (alone or in EpcisRejected), and nothing is written."""
    head = store.head()
    with pytest.raises((epcis.EpcisRejected, InvalidInput)) as info:
        epcis.ingest(store, doc, mapping)
    assert store.head() == head
    error = info.value
    return error.errors[0] if isinstance(error, epcis.EpcisRejected) else error


@pytest.mark.parametrize(("body", "field"), [
    ({"queryResults": None}, "epcisBody.queryResults"),
    ({"queryResults": []}, "epcisBody.queryResults"),
    ({"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": None}}, "epcisBody.queryResults.resultsBody"),
    ({"queryResults": {"queryName": "SimpleEventQuery", "resultsBody": {"eventList": {}}}},
     "epcisBody.queryResults.resultsBody.eventList"),
    ({"eventList": "none"}, "epcisBody.eventList"),
])
def test_a_malformed_body_is_refused_by_its_path(store, mapping, body, field) -> None:  # type: ignore[no-untyped-def]
    doc = {"type": "EPCISQueryDocument", "schemaVersion": "2.0", "epcisBody": body}
    assert refused(store, doc, mapping).field == field


def test_a_query_document_and_a_bare_event_read_like_a_document(store, mapping) -> None:  # type: ignore[no-untyped-def]
    query = {"@context": [epcis.EPCIS_CONTEXT], "type": "EPCISQueryDocument", "schemaVersion": "2.0",
             "creationDate": "2026-11-26T10:00:00Z",
             "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery", "subscriptionID": "sub-7",
                                            "resultsBody": {"eventList": [receiving(eventID="urn:uuid:q1")]}}}}
    assert epcis.ingest(store, query, mapping).applied == 1
    assert epcis.ingest(store, {"@context": [epcis.EPCIS_CONTEXT], **receiving(eventID="urn:uuid:q2")},
                        mapping).applied == 1
    assert on_hand(store)[("OAT-MILK-1L", "DC-LYON")] == 20
    assert epcis.ingest(store, query, mapping).duplicates == 1  # the same answer again: nothing new


@pytest.mark.parametrize(("fields", "field"), [
    ({"sourceList": 5}, "epcisBody.eventList[0].sourceList"),
    ({"sourceList": [{"type": "location", "source": STORE_LYON}], "bizTransactionList": "desadv-1"},
     "epcisBody.eventList[0].bizTransactionList"),
    ({"bizStep": "shipping", "destinationList": True}, "epcisBody.eventList[0].destinationList"),
])
def test_a_list_field_of_the_wrong_type_is_refused_by_its_path(store, mapping, fields, field) -> None:  # type: ignore[no-untyped-def]
    assert refused(store, document(receiving(**fields)), mapping).field == field


def test_one_object_where_a_list_is_due_counts_as_a_list_of_one(store, mapping) -> None:  # type: ignore[no-untyped-def]
    # GS1's own rail example writes sourceList and destinationList as single objects.
    ship = receiving(eventID="urn:uuid:s1", bizStep="shipping", disposition="in_transit",
                     destinationList={"type": "location", "destination": STORE_LYON},
                     bizTransactionList={"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:9"})
    report = epcis.ingest(store, document(ship), mapping)
    assert report.applied == 1
    catch_up(store)
    rows = {(r["sku"], r["site"]): r for r in positions(store)}
    assert rows[("OAT-MILK-1L", "STORE-LYON-02")]["in_transit"] == 5  # a transfer, not a sale


@pytest.mark.parametrize("quantity", [1e308, 1e30])
def test_a_quantity_too_large_to_book_is_refused(store, mapping, quantity) -> None:  # type: ignore[no-untyped-def]
    line = {"epcClass": FLOUR_LOT, "quantity": quantity, "uom": "KGM"}  # x 10 base units per KGM
    error = refused(store, document(receiving(quantityList=[line])), mapping)
    assert error.field == "epcisBody.eventList[0].quantityList[0].quantity"
    assert "at most" in str(error)


def test_an_event_without_id_and_a_huge_integer_still_has_a_stable_id() -> None:
    event = receiving(**{"example:serial": 10**30})
    assert epcis.event_id(event) == epcis.event_id(json.loads(json.dumps(event)))
    assert epcis.event_id(event).startswith("hash:")


def test_a_forged_echo_marker_past_the_head_is_not_an_echo(store, mapping) -> None:  # type: ignore[no-untyped-def]
    event = receiving(eventID="urn:uuid:e9", **{"stockmesh:ledgerEvent": {"position": 2**70, "hash": "x"}})
    report = epcis.ingest(store, document(event), mapping)
    assert report.echoes == 0 and report.applied == 1


def test_a_byte_order_mark_is_not_an_error(store, mapping) -> None:  # type: ignore[no-untyped-def]
    raw = b"\xef\xbb\xbf" + json.dumps(document(receiving(eventID="urn:uuid:b1"))).encode()
    assert epcis.ingest(store, epcis.read_document(raw), mapping).applied == 1


def test_expanded_json_ld_is_refused_with_the_reason(store, mapping) -> None:  # type: ignore[no-untyped-def]
    doc = {"@context": {"@vocab": "https://ref.gs1.org/epcis/"}, "@graph": {"@id": "urn:x", "bizStep": "shipping"}}
    error = refused(store, doc, mapping)
    assert error.field == "@graph" and "compacted" in str(error)


def test_an_event_of_an_unforeseen_shape_is_refused_by_its_path(store, mapping, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def broken(*args: Any, **kwargs: Any) -> None:
        raise TypeError("'int' object is not iterable")

    monkeypatch.setattr(epcis.inbound, "_site_of", broken)  # stands for any check the mapping does not have yet
    error = refused(store, document(receiving(eventID="urn:uuid:ok"), receiving()), mapping)
    assert error.field == "epcisBody.eventList[0]" and "cannot read this event" in str(error)


# --- the vocabulary in each of its spellings --------------------------------------------------

SPELLINGS = {
    "bare": lambda kind, word: word,
    "urn": lambda kind, word: f"urn:epcglobal:cbv:{kind.lower()}:{word}",  # bizstep, disp, sdt, btt
    "web": lambda kind, word: f"https://ref.gs1.org/cbv/{kind}-{word}",
    "compact": lambda kind, word: f"cbv:{kind}-{word}",
}


@pytest.mark.parametrize("spelling", sorted(SPELLINGS))
def test_every_spelling_of_a_transfer_maps_alike(store, mapping, spelling) -> None:  # type: ignore[no-untyped-def]
    def word(kind: str, value: str) -> str:
        return SPELLINGS[spelling](kind, value)

    desadv = [{"type": word("BTT", "po"), "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:PO-1"},
              {"type": word("BTT", "desadv"), "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:D-1"}]
    ship = receiving(eventID=f"urn:uuid:ship-{spelling}", bizStep=word("BizStep", "shipping"),
                     disposition=word("Disp", "in_transit"), bizTransactionList=desadv,
                     destinationList=[{"type": word("SDT", "location"), "destination": STORE_LYON}])
    arrive = receiving(eventID=f"urn:uuid:recv-{spelling}", bizStep=word("BizStep", "receiving"),
                       disposition=word("Disp", "in_progress"), bizLocation={"id": STORE_LYON},
                       bizTransactionList=desadv, sourceList=[{"type": word("SDT", "location"), "source": DC_LYON}])
    events, _, payloads = epcis.plan(document(ship, arrive), mapping, store)
    assert [e.kind for e in events] == ["transfer_out", "transfer_in"]
    assert {p["transfer_id"] for p in payloads} == {"epcglobal:cbv:bt:0614141073467:D-1"}  # desadv before po
    epcis.ingest(store, document(ship, arrive), mapping)
    assert on_hand(store)[("OAT-MILK-1L", "DC-LYON")] == 5
    assert on_hand(store)[("OAT-MILK-1L", "STORE-LYON-02")] == 5


def test_a_mapping_may_name_its_bizstep_target_in_any_spelling() -> None:
    table = epcis.load_mapping({"bizsteps": {"https://example.com/bs/put_away": "urn:epcglobal:cbv:bizstep:receiving"}})
    assert table.bizsteps == {"https://example.com/bs/put_away": "receiving"}


def test_an_extension_event_type_is_skipped_with_a_note(store, mapping) -> None:  # type: ignore[no-untyped-def]
    custom = {"type": "example:CustomEvent", "eventTime": "2026-11-26T10:00:00Z", "eventTimeZoneOffset": "+00:00"}
    report = epcis.ingest(store, document(receiving(eventID="urn:uuid:x1"), custom), mapping)
    assert report.applied == 1 and report.observed == 1
    assert "extension event type 'example:CustomEvent'" in report.notes[0]
    assert epcis.ingest(store, {"@context": [epcis.EPCIS_CONTEXT], **custom}, mapping).observed == 1  # alone too
    error = refused(store, document({**custom, "type": "StockEvent"}), mapping)
    assert error.field == "epcisBody.eventList[0].type"


def test_events_that_never_move_stock_are_not_held_to_our_vocabulary(store, mapping) -> None:  # type: ignore[no-untyped-def]
    association = {"type": "AssociationEvent", "eventTime": "2026-11-26T10:00:00Z", "action": "ADD",
                   "bizStep": "https://example.com/steps/mounting", "parentID": "urn:epc:id:grai:4012345.55555.987",
                   "childEPCs": ["urn:epc:id:giai:4000001.12345"], "readPoint": {"id": "geo:45.76,4.83"}}
    declared = receiving(eventID="urn:uuid:old-1", disposition="https://example.com/disp/odd",
                         errorDeclaration={"declarationTime": "2026-11-27T10:00:00Z", "reason": "incorrect_data",
                                           "correctiveEventIDs": ["urn:uuid:new-1"]})
    report = epcis.ingest(store, document(association, declared, receiving(eventID="urn:uuid:new-1")), mapping)
    assert report.applied == 1 and report.observed == 2
    assert "declares event urn:uuid:old-1 in error (reason incorrect_data)" in report.notes[0]
    assert "urn:uuid:new-1" in report.notes[0]
    # the same custom disposition on an event that moves stock is still refused
    error = refused(store, document(receiving(disposition="https://example.com/disp/odd")), mapping)
    assert error.field == "epcisBody.eventList[0].disposition"


# --- quantities and lots ----------------------------------------------------------------------

@pytest.mark.parametrize("uom", ["EA", "H87", "C62"])
def test_a_count_unit_is_our_base_unit(store, mapping, uom) -> None:  # type: ignore[no-untyped-def]
    line = {"epcClass": OAT_MILK, "quantity": 4, "uom": uom}
    assert epcis.ingest(store, document(receiving(eventID=f"urn:uuid:{uom}", quantityList=[line])), mapping).applied == 1
    assert on_hand(store)[("OAT-MILK-1L", "DC-LYON")] == 14


def test_a_mapped_unit_still_wins_over_the_count_units(store) -> None:  # type: ignore[no-untyped-def]
    table = epcis.load_mapping({"products": {OAT_MILK: {"sku": "OAT-MILK-1L", "units_per": {"EA": 6}}},
                                "locations": {DC_LYON: "DC-LYON"}})
    line = {"epcClass": OAT_MILK, "quantity": 2, "uom": "EA"}  # this producer's "each" is a case of six
    epcis.ingest(store, document(receiving(quantityList=[line])), table)
    assert on_hand(store)[("OAT-MILK-1L", "DC-LYON")] == 22


@pytest.mark.parametrize("key", ["cbvmda:lotNumber", "urn:epcglobal:cbv:mda:lotNumber"])
def test_commissioned_objects_take_the_lot_and_expiry_of_their_ilmd(store, mapping, key) -> None:  # type: ignore[no-untyped-def]
    commissioning = receiving(action="ADD", bizStep="commissioning", disposition="active", quantityList=None,
                              epcList=["urn:epc:id:sgtin:0614141.107346.2017", "urn:epc:id:sgtin:0614141.107346.2018"],
                              ilmd={key: "LOT-42", "cbvmda:itemExpirationDate": "2027-03-15"})
    transformation = {"type": "TransformationEvent", "eventTime": "2026-11-26T11:00:00Z",
                      "eventTimeZoneOffset": "+00:00", "bizStep": "commissioning", "readPoint": {"id": DC_LYON},
                      "inputQuantityList": [{"epcClass": MUESLI, "quantity": 4}],
                      "outputQuantityList": [{"epcClass": OAT_MILK, "quantity": 3}],
                      "ilmd": {key: "LOT-43", "cbvmda:itemExpirationDate": "2027-04-01"}}
    _, _, payloads = epcis.plan(document(commissioning, transformation), mapping, store)
    assert {(p["lot"], p["expiry"][:10]) for p in payloads if p["command"] == "ReceiveStock"} == {
        ("LOT-42", "2027-03-15"), ("LOT-43", "2027-04-01")}
    epcis.ingest(store, document(commissioning, transformation), mapping)
    catch_up(store)
    lots = {(r[0], r[1], r[2]): r[3] for r in store.load_view("lot_positions")}
    assert lots[("OAT-MILK-1L", "DC-LYON", "LOT-42")] == 2
    assert lots[("OAT-MILK-1L", "DC-LYON", "LOT-43")] == 3
    assert on_hand(store)[("MUESLI-500G", "DC-LYON")] == 6


def test_a_lot_of_its_own_wins_over_the_ilmd_lot(store, mapping) -> None:  # type: ignore[no-untyped-def]
    event = receiving(quantityList=[{"epcClass": FLOUR_LOT, "quantity": 2, "uom": "KGM"}], ilmd={"cbvmda:lotNumber": "L9"})
    _, _, payloads = epcis.plan(document(event), mapping, store)
    assert [(p["lot"], p["qty"]) for p in payloads] == [("L7", 20)]


# --- transfers between our sites --------------------------------------------------------------

DESADV = [{"type": "desadv", "bizTransaction": "urn:epcglobal:cbv:bt:0614141073467:D-77"}]
TWO_LINES = [{"epcClass": OAT_MILK, "quantity": 2}, {"epcClass": MUESLI, "quantity": 3}]


def shipment_to_store(**fields: Any) -> dict[str, Any]:
    return receiving(**{"eventID": "urn:uuid:ship-77", "bizStep": "shipping", "disposition": "in_transit",
                        "bizTransactionList": DESADV, "quantityList": TWO_LINES,
                        "destinationList": [{"type": "location", "destination": STORE_LYON}], **fields})


def receipt_from_dc(**fields: Any) -> dict[str, Any]:
    return receiving(**{"eventID": "urn:uuid:recv-77", "bizLocation": {"id": STORE_LYON}, "bizTransactionList": DESADV,
                        "quantityList": list(reversed(TWO_LINES)),
                        "sourceList": [{"type": "location", "source": DC_LYON}], **fields})


def in_transit(store: MemoryEventStore) -> dict[str, int]:
    catch_up(store)
    return {r["sku"]: r["in_transit"] for r in positions(store) if r["site"] == "STORE-LYON-02"}


@pytest.mark.parametrize("same_document", [True, False])
def test_a_shipment_of_several_skus_is_received_line_by_line(store, mapping, same_document) -> None:  # type: ignore[no-untyped-def]
    if same_document:
        epcis.ingest(store, document(shipment_to_store(), receipt_from_dc()), mapping)
    else:
        epcis.ingest(store, document(shipment_to_store()), mapping)
        assert in_transit(store) == {"OAT-MILK-1L": 2, "MUESLI-500G": 3}
        report = epcis.ingest(store, document(receipt_from_dc()), mapping)
        assert report.notes == []
    assert in_transit(store) == {"OAT-MILK-1L": 0, "MUESLI-500G": 0}
    assert on_hand(store)[("OAT-MILK-1L", "STORE-LYON-02")] == 2
    assert on_hand(store)[("MUESLI-500G", "STORE-LYON-02")] == 3
    assert on_hand(store)[("MUESLI-500G", "DC-LYON")] == 7
    head = store.head()
    epcis.ingest(store, document(shipment_to_store(), receipt_from_dc()), mapping)
    assert store.head() == head  # idempotent


def test_a_receipt_from_our_site_without_its_shipment_is_a_receipt_with_a_note(store, mapping) -> None:  # type: ignore[no-untyped-def]
    report = epcis.ingest(store, document(receipt_from_dc()), mapping)
    assert report.applied == 2
    assert "no transfer 'epcglobal:cbv:bt:0614141073467:D-77' from DC-LYON" in report.notes[0]
    assert on_hand(store)[("MUESLI-500G", "STORE-LYON-02")] == 3
    assert on_hand(store)[("MUESLI-500G", "DC-LYON")] == 10  # nothing left the DC: no shipping event
    again = epcis.ingest(store, document(receipt_from_dc()), mapping)
    assert again.duplicates == 2 and again.applied == 0


def test_a_receipt_pairs_only_the_lines_its_shipment_had(store, mapping) -> None:  # type: ignore[no-untyped-def]
    epcis.ingest(store, document(shipment_to_store(quantityList=TWO_LINES[:1])), mapping)  # oat milk only
    report = epcis.ingest(store, document(receipt_from_dc()), mapping)
    assert "for MUESLI-500G: booked as a receipt" in report.notes[0]
    assert in_transit(store)["OAT-MILK-1L"] == 0
    assert on_hand(store)[("OAT-MILK-1L", "STORE-LYON-02")] == 2
    assert on_hand(store)[("MUESLI-500G", "STORE-LYON-02")] == 3


# --- what a refusal says ----------------------------------------------------------------------

def test_a_business_rule_failure_names_the_event_path_its_id_and_command(store, mapping) -> None:  # type: ignore[no-untyped-def]
    ship = receiving(eventID="urn:uuid:too-many", bizStep="shipping", disposition="in_transit",
                     quantityList=[{"epcClass": OAT_MILK, "quantity": 16}])  # 10 + 5 on hand
    error = refused(store, document(receiving(eventID="urn:uuid:fine"), ship), mapping)
    assert error.field == "epcisBody.eventList[1]"
    assert "ShipStock refused" in error.message and "urn:uuid:too-many" in error.message


def test_a_command_field_error_names_the_event_path_and_the_command_field(store, mapping) -> None:  # type: ignore[no-untyped-def]
    event = receiving(quantityList=[{"epcClass": FLOUR_LOT, "quantity": 1, "uom": "KGM"}],
                      ilmd={"cbvmda:itemExpirationDate": "next spring"})
    error = refused(store, document(event), mapping)
    assert error.field == "epcisBody.eventList[0] -> ReceiveStock.expiry"


def test_one_eventid_for_two_different_events_is_refused(store, mapping) -> None:  # type: ignore[no-untyped-def]
    twice = document(receiving(eventID="urn:uuid:same"),
                     receiving(eventID="urn:uuid:same", quantityList=[{"epcClass": OAT_MILK, "quantity": 7}]))
    error = refused(store, twice, mapping)
    assert error.field == "epcisBody.eventList[1].eventID" and "epcisBody.eventList[0]" in error.message
    # an error declaration shares the id of the event it declares: that is not a clash
    declared = receiving(eventID="urn:uuid:same", errorDeclaration={"declarationTime": "2026-11-27T00:00:00Z"})
    assert epcis.ingest(store, document(receiving(eventID="urn:uuid:same"), declared), mapping).applied == 1
