"""The clock port: the system clock reads the time, a manual clock moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from stockmesh.domain.clock import SYSTEM_CLOCK, ManualClock
from stockmesh.ledger import sql


def test_a_manual_clock_stands_still_until_moved() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 13, 59, 1, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 11, 26, 12, 59, 1, tzinfo=UTC) and clock.now().tzinfo is UTC
    assert clock.now_iso() == "2026-11-26T12:59:01.000000+00:00"
    clock.advance(timedelta(hours=49))
    assert clock.now() == datetime(2026, 11, 28, 13, 59, 1, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now_iso() == "2027-01-01T00:00:00.000000+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 11, 26))


def test_the_ledger_stamps_writes_with_the_system_clock() -> None:
    before = datetime.now(UTC)
    stamped = datetime.fromisoformat(sql.now_iso())
    now = SYSTEM_CLOCK.now()
    assert before <= stamped <= now <= datetime.now(UTC) and now.tzinfo is not None


def test_the_adapters_stamp_with_the_clock_they_are_given(tmp_path: Path) -> None:
    import json

    from stockmesh.adapters import x12
    from stockmesh.adapters.epcis import export_document
    from stockmesh.adapters.fake_wms import FakeWms
    from stockmesh.ledger.memory import MemoryEventStore
    from stockmesh.service.outbox import message_for
    from stockmesh.service.sink import OutboundMessage
    from tests.support.commands import c

    clock = ManualClock(datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC))
    wms = FakeWms(clock=clock)
    wms.set_stock("OAT-MILK-1L", "STORE-LYON-02", 12)
    assert {row["as_of"] for row in wms.snapshot()} == {"2031-02-03T04:05:06+00:00"}
    assert export_document(MemoryEventStore(), clock=clock)["creationDate"] == "2031-02-03T04:05:06+00:00"
    placed = c("PlacePurchaseOrder", po_id="PO-1", sku="OAT-MILK-1L", site="STORE-LYON-02", supplier="SUP-OATLY",
               qty=48)
    assert message_for(placed, clock=clock).created_at == "2031-02-03T04:05:06+00:00"
    payload = placed.payload()
    x12.X12OrderSink(tmp_path, clock=clock).deliver(
        OutboundMessage("out:PO-1", "purchase_order.placed", payload, json.dumps(payload).encode(), ""))
    (written,) = tmp_path.glob("*.850")
    assert "BEG*00*SA*PO-1**20310203" in written.read_text()
