"""One contract for the event store port, run against memory, SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from stockmesh.domain.errors import ConcurrencyError, IdempotencyConflict
from stockmesh.ledger import codec
from stockmesh.ledger.chain import verify_chain
from stockmesh.ledger.records import GENESIS_HASH, IdempotencyRecord, NewEvent
from stockmesh.projections.rebuild import replay
from stockmesh.projections.runner import catch_up, verify, view_digest
from stockmesh.projections.stock_positions import positions
from stockmesh.service.execute import BatchRejected, execute
from tests.support.commands import DC, SKU, STORE, SUPPLIER, c, network


def _new(stream: str, n: int = 1) -> list[NewEvent]:
    return [NewEvent(stream, "StockReceived", 1, codec.dumps({"qty": i + 1, "lot": None, "expiry": None}), "{}",
                     "2026-01-01T00:00:00+00:00") for i in range(n)]


def test_empty_store_has_genesis_head(store):
    assert store.head() == (0, GENESIS_HASH)
    assert store.count_events() == 0
    assert list(store.read_all()) == []


def test_positions_are_gapless_and_versions_per_stream(store):
    with store.write() as s:
        s.append(_new("stock:A@S", 3) + _new("stock:B@S", 2), {}, [], {})
    events = list(store.read_all())
    assert [e.position for e in events] == [1, 2, 3, 4, 5]
    assert [(e.stream_id, e.version) for e in events] == [
        ("stock:A@S", 1), ("stock:A@S", 2), ("stock:A@S", 3), ("stock:B@S", 1), ("stock:B@S", 2)]
    assert [e.version for e in store.read_stream("stock:A@S", after_version=1)] == [2, 3]
    assert store.head() == (5, events[-1].hash)
    assert verify_chain(store.read_all(), store.head()).ok


def test_wrong_expected_version_is_refused(store):
    with store.write() as s:
        s.append(_new("stock:A@S", 2), {"stock:A@S": (2, "{}")}, [], {})
    with pytest.raises(ConcurrencyError), store.write() as s:
        s.append(_new("stock:A@S"), {"stock:A@S": (2, "{}")}, [], {"stock:A@S": 0})
    assert store.count_events() == 2


def test_failed_write_leaves_nothing(store):
    with pytest.raises(RuntimeError), store.write() as s:
        s.append(_new("stock:A@S", 2), {}, [IdempotencyRecord("k", "h", 1, 2, "t")], {})
        raise RuntimeError("crash before commit")
    assert store.count_events() == 0
    with store.write() as s:
        assert s.find_idempotency(["k"]) == {}


def test_read_all_pages_and_limits(store):
    with store.write() as s:
        s.append(_new("stock:A@S", 25), {}, [], {})
    assert [e.position for e in store.read_all(after=20)] == [21, 22, 23, 24, 25]
    assert [e.position for e in store.read_all(after=3, limit=2)] == [4, 5]


def test_idempotent_commands_return_first_result(store):
    commands = network() + [c("ReceiveStock", idempotency_key="rcv-1", sku=SKU, site=STORE, qty=24)]
    first = execute(store, commands)
    again = execute(store, commands)
    assert [o.status for o in again] == ["duplicate"] * len(commands)
    assert again[-1].first_position == first[-1].first_position
    assert store.count_events() == sum(o.events for o in first)
    with pytest.raises(BatchRejected) as info:
        execute(store, [c("ReceiveStock", idempotency_key="rcv-1", sku=SKU, site=STORE, qty=25)])
    assert isinstance(info.value.error, IdempotencyConflict)


def test_all_or_nothing_and_continue_on_error(store):
    execute(store, network())
    before = store.count_events()
    batch = [c("ReceiveStock", sku=SKU, site=STORE, qty=10), c("ShipStock", sku=SKU, site=STORE, qty=11)]
    with pytest.raises(BatchRejected) as info:
        execute(store, batch)
    assert info.value.index == 1 and info.value.error.field == "qty"
    assert store.count_events() == before
    outcomes = execute(store, batch, all_or_nothing=False)
    assert [o.status for o in outcomes] == ["applied", "rejected"]
    assert store.count_events() == before + 1


def test_full_lifecycle_projects_positions(store):
    execute(store, network() + [
        c("ReceiveStock", sku=SKU, site=DC, qty=100, lot="L-2611", expiry="2027-01-15"),
        c("ReserveStock", reservation_id="R-1", sku=SKU, site=DC, qty=30),
        c("DispatchTransfer", transfer_id="T-1", sku=SKU, from_site=DC, to_site=STORE, qty=50),
        c("ReceiveTransfer", transfer_id="T-1", qty=45),
        c("DeclareTransferLoss", transfer_id="T-1", qty=5, reason="pallet dropped"),
        c("PlacePurchaseOrder", po_id="PO-1", sku=SKU, site=STORE, supplier=SUPPLIER, qty=60),
        c("ReceivePurchaseOrder", po_id="PO-1", qty=20),
        c("FulfilReservation", reservation_id="R-1", qty=10),
        c("ReleaseReservation", reservation_id="R-1"),
        c("QuarantineStock", sku=SKU, site=STORE, qty=5, reason="damaged packaging"),
        c("RecordBackorder", sku=SKU, site=STORE, qty=3),
    ])
    catch_up(store)
    rows = {(r["sku"], r["site"]): r for r in positions(store)}
    dc, st = rows[(SKU, DC)], rows[(SKU, STORE)]
    assert (dc["on_hand"], dc["reserved"], dc["available"]) == (40, 0, 40)
    assert (st["on_hand"], st["in_transit"], st["on_order"], st["quarantined"], st["backordered"]) == (60, 0, 40, 5, 3)
    assert st["inventory_position"] == 60 + 40 - 3
    docs = {r[0]: r for r in store.load_view("documents")}
    assert docs["transfer:T-1"][7] == "closed" and docs["po:PO-1"][7] == "open"
    assert store.load_view("lot_positions") == [(SKU, DC, "L-2611", 40, 0, "2027-01-15")]
    assert verify(store).ok
    digest = view_digest(store)
    replay(store)
    assert view_digest(store) == digest


def test_back_dated_correction_refolds_its_stream(store):
    execute(store, network() + [
        c("ReceiveStock", sku=SKU, site=STORE, qty=100, occurred_at="2026-03-01"),
        c("ShipStock", sku=SKU, site=STORE, qty=10, occurred_at="2026-03-05"),
        c("ShipStock", sku=SKU, site=STORE, qty=10, occurred_at="2026-03-09"),
    ])
    catch_up(store)
    execute(store, [c("AdjustStock", sku=SKU, site=STORE, delta=-7, reason="count error found later",
                      occurred_at="2026-03-03")])
    catch_up(store)
    on_hand_at = {d: positions(store, as_of=d)[0]["on_hand"] for d in ("2026-03-02", "2026-03-04", "2026-03-06",
                                                                       "2026-03-10")}
    assert on_hand_at == {"2026-03-02": 100, "2026-03-04": 93, "2026-03-06": 83, "2026-03-10": 73}
    assert positions(store)[0]["on_hand"] == 73
    assert verify(store).ok


def test_verify_names_the_first_difference(store):
    execute(store, network() + [c("ReceiveStock", sku=SKU, site=STORE, qty=5)])
    catch_up(store)
    store.save_views({"stock_positions": {(SKU, STORE): (6, 0, 0, 0, 0, 0, 0, None, None, 0, None)}}, store.head()[0])
    report = verify(store)
    assert not report.ok and "stock_positions" in (report.difference or "")


def test_idempotency_keys_survive_reopen(tmp_path):
    from stockmesh.ledger.sqlite import SqliteEventStore

    path = str(tmp_path / "l.db")
    s1 = SqliteEventStore(path)
    s1.init()
    execute(s1, network())
    s1.close()
    s2 = SqliteEventStore(path)
    out = execute(s2, network())
    assert {o.status for o in out} == {"applied"}  # fresh keys: network() makes new ones
    cmds = [c("ReceiveStock", idempotency_key="same", sku=SKU, site=STORE, qty=1)]
    execute(s2, cmds)
    s2.close()
    s3 = SqliteEventStore(path)
    assert execute(s3, cmds)[0].status == "duplicate"
    s3.close()


def test_snapshots_take_back_dated_events_and_answer_as_of(store):
    from stockmesh.projections.fold import ViewFolder

    execute(store, network() + [c("ReceiveStock", sku=SKU, site=STORE, qty=1000, occurred_at="2026-01-01")])
    for day in range(2, 28):
        execute(store, [c("ShipStock", sku=SKU, site=STORE, qty=day, occurred_at=f"2026-01-{day:02d}")])
    folder = ViewFolder(store, snapshot_every=4)
    events = store.read_fold_rows()
    store.save_views(folder.fold(events[:10]), events[9][0])
    store.save_views(folder.fold(events[10:]), events[-1][0])
    assert len(store.load_view("stock_snapshots")) >= 5
    # a correction dated the 5th arrives last: every snapshot from the 5th on moves, none before
    before = {r[1]: r[3] for r in store.load_view("stock_snapshots")}
    execute(store, [c("AdjustStock", sku=SKU, site=STORE, delta=-100, reason="found late",
                      occurred_at="2026-01-05T12:00:00")])
    new = store.read_fold_rows(after=events[-1][0])
    store.save_views(folder.fold(new), new[-1][0])
    after = {r[1]: r[3] for r in store.load_view("stock_snapshots")}
    for moment, on_hand in before.items():
        assert after[moment] == on_hand - (100 if moment >= "2026-01-05T12" else 0)
    expected = {"2026-01-03": 1000 - 5, "2026-01-05": 1000 - 14, "2026-01-06": 1000 - 20 - 100,
                "2026-01-27": 1000 - sum(range(2, 28)) - 100}
    for day, on_hand in expected.items():
        assert positions(store, as_of=day)[0]["on_hand"] == on_hand, day


def test_facts_and_outbox_commit_with_the_commands(store):
    from stockmesh.domain.proposals import ProposalApproved, ProposalExecuted
    from stockmesh.ledger.records import OutboxMessage
    from stockmesh.service.execute import Fact

    execute(store, network())

    def after(index, command, outcome):  # type: ignore[no-untyped-def]
        return ([Fact("proposal:P-1", ProposalExecuted(command=command.name, first_position=outcome.first_position,
                                                      last_position=outcome.last_position))],
                [OutboxMessage("po:PO-7", "erp.purchase_order", '{"po_id":"PO-7"}', "2026-01-01")])

    outcomes = execute(
        store, [c("PlacePurchaseOrder", po_id="PO-7", sku=SKU, site=STORE, supplier=SUPPLIER, qty=12)],
        facts=[Fact("proposal:P-1", ProposalApproved(by="governance", reason="low risk", risk_score=0.1),
                    occurred_at="2026-01-01T00:00:00+00:00")],
        after_each=after)
    history = store.read_stream("proposal:P-1")
    assert [e.type for e in history] == ["ProposalApproved", "ProposalExecuted"]
    assert codec.loads(history[1].data)["first_position"] == outcomes[0].first_position
    pending = store.outbox_entries()
    assert [(e.message_id, e.status, e.attempts) for e in pending] == [("po:PO-7", "pending", 0)]
    # the same message enqueued again (a retry) stays one message
    execute(store, [], outbox=[OutboxMessage("po:PO-7", "erp.purchase_order", "{}", "2026-01-02")])
    assert len(store.outbox_entries(status=None)) == 1
    store.outbox_update(pending[0].seq, status="delivered", attempts=1, delivered_at="2026-01-01T00:01:00")
    assert store.outbox_entries() == []
    assert store.outbox_entries(status="delivered")[0].attempts == 1
    # a failing batch leaves neither facts nor outbox messages
    with pytest.raises(BatchRejected):
        execute(store, [c("ShipStock", sku=SKU, site=STORE, qty=1)],
                outbox=[OutboxMessage("never", "t", "{}", "2026")],
                facts=[Fact("proposal:P-2", ProposalApproved(by="x", reason="y", risk_score=0))])
    assert store.read_stream("proposal:P-2") == []
    assert len(store.outbox_entries(status=None)) == 1
    assert verify_chain(store.read_all(), store.head()).ok


def test_streams_written_without_being_read_keep_their_versions(store):
    # ReceivePurchaseOrder decides from the order's stream and writes the stock stream unread
    execute(store, network() + [c("PlacePurchaseOrder", po_id="PO-9", sku=SKU, site=STORE, supplier=SUPPLIER,
                                  qty=10)])
    execute(store, [c("ReceivePurchaseOrder", po_id="PO-9", qty=4)])
    execute(store, [c("ReceivePurchaseOrder", po_id="PO-9", qty=6)])
    assert [e.version for e in store.read_stream(f"stock:{SKU}@{STORE}")] == [1, 2, 3]
