"""X12: 846 as counts, 856 as stock in transit, control numbers de-duplicate, hostile
interchanges are refused naming segment and element with nothing written; 850 and 997 written."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from stockmesh.adapters import x12
from stockmesh.domain.errors import Rejected
from stockmesh.projections.runner import catch_up
from stockmesh.projections.stock_positions import positions
from stockmesh.service.sink import OutboundMessage
from tests.unit.adapters.conftest import DATA

T846 = (DATA / "x12_846.edi").read_text()
T856 = (DATA / "x12_856.edi").read_text()


def rows(store):  # type: ignore[no-untyped-def]
    catch_up(store)
    return {(r["sku"], r["site"]): r for r in positions(store)}


def test_846_counts_then_856_puts_stock_in_transit_once(network_store) -> None:  # type: ignore[no-untyped-def]
    report = x12.ingest_x12(network_store, T846)
    assert (report.interchange, report.applied) == ("000000101", 2)
    report = x12.ingest_x12(network_store, T856)
    assert report.applied == 2
    for _ in range(2):  # the same interchange again: its control numbers are known
        assert x12.ingest_x12(network_store, T856).duplicates == 2
    r = rows(network_store)
    assert r[("OAT-MILK-1L", "DC-LYON")]["on_hand"] == 96
    assert r[("OAT-MILK-1L", "STORE-LYON-02")]["in_transit"] == 24
    assert r[("FLOUR-1KG", "STORE-LYON-02")]["in_transit"] == 6
    catch_up(network_store)
    lots = {(a, b, c): d for a, b, c, d, *_ in network_store.load_view("lot_positions")}
    assert lots[("FLOUR-1KG", "DC-LYON", "L2611")] == 34


def test_delimiters_come_from_the_isa_segment() -> None:
    text = T846.replace("*", "|").replace("~", "'")
    ix = x12.parse_interchange(text)
    assert (ix.delimiters.element, ix.delimiters.segment, ix.delimiters.component) == ("|", "'", ">")
    assert ix.groups[0].sets[0].code == "846"


def _resized(text: str, old: str, new: str) -> str:
    return text.replace(old, new, 1)


@pytest.mark.parametrize(("text", "field", "words"), [
    (_resized(T846, "WMSLYON        ", "WMSLYON "), "segment 1 ISA06", "15 characters"),
    (_resized(T846, "*000000101*", "*00000101*"), "segment 1 ISA13", "9 characters"),
    (T846.replace("SE*10*0001", "SE*9*0001"), "segment 12 SE01", "says 9 segments"),
    (T846.replace("SE*10*0001", "SE*10*0002"), "segment 12 SE02", "does not match ST02"),
    (T846.replace("QTY*17*40*EA~", "QTY*17*40*EA~\nZZZ*1~").replace("SE*10*0001", "SE*11*0001"),
     "segment 12 ZZZ", "unknown segment"),
    (T846.replace("IEA*1*000000101", "IEA*1*000000999"), "segment 14 IEA02", "does not match ISA13"),
    (T846.replace("GE*1*101", "GE*2*101"), "segment 13 GE01", "says 2 sets"),
    (T846.replace("QTY*17*40*EA", "QTY*17*-40*EA"), "segment 11 QTY02", "non-negative"),
    (T856.replace("SN1**24*EA", "SN1**2.5*EA"), "segment 14 SN102", "whole"),
    (T846.replace("\nIEA*1*000000101~", ""), "IEA", "no IEA"),
])
def test_hostile_interchanges_are_refused_naming_the_element(network_store, text, field, words) -> None:  # type: ignore[no-untyped-def]
    head = network_store.head()
    with pytest.raises(Rejected) as info:
        x12.ingest_x12(network_store, text)
    assert info.value.error.field == field
    assert words in str(info.value)
    assert network_store.head() == head


def test_unknown_site_is_a_clear_error_and_writes_nothing(network_store) -> None:  # type: ignore[no-untyped-def]
    head = network_store.head()
    with pytest.raises(Rejected, match="unknown site"):
        x12.ingest_x12(network_store, T846.replace("DC-LYON", "DC-NOWHERE"))
    assert network_store.head() == head


def test_850_writer_round_trips_through_the_tokenizer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    order = {"command": "PlacePurchaseOrder", "po_id": "PO-77", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
             "supplier": "SUP-OATLY", "qty": 48, "expected_at": "2026-12-01T00:00:00+00:00"}
    text = x12.write_850(order, sender="STOCKMESH", receiver="OATLY", control=42,
                         when=datetime(2026, 11, 26, 9, 30, tzinfo=UTC))
    ix = x12.parse_interchange(text)
    header, items = x12.extract(ix.groups[0].sets[0])
    assert header["po_id"][0] == "PO-77" and header["supplier"][0] == "SUP-OATLY"
    assert items[0].fields["qty"][0] == "48" and items[0].products["SK"][0] == "OAT-MILK-1L"
    sink = x12.X12OrderSink(tmp_path)
    message = OutboundMessage("out:po-77", "purchase_order.placed", order, b"{}", "2026-11-26T09:30:00+00:00")
    sink.deliver(message)
    sink.deliver(message)  # redelivered: same control number, same file, written once
    files = list(tmp_path.glob("*.850"))
    assert len(files) == 1 and f"{x12.control_number('out:po-77'):09d}" in files[0].name


def test_997_acknowledges_and_is_read_back(network_store) -> None:  # type: ignore[no-untyped-def]
    ack = x12.write_997(x12.parse_interchange(T856))
    report = x12.ingest_x12(network_store, ack)
    assert report.applied == 0
    (a,) = report.acknowledgements
    assert (a.group_control, a.group_status, a.sets) == ("102", "A", [("856", "0001", "A")])
