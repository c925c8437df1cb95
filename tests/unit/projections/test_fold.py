"""The read-model fold: its fast paths (linear stock effects, document openers and counters) agree
with ``evolve`` on every event, in any batching."""

from __future__ import annotations

import random
from dataclasses import fields, replace

import pytest

from stockmesh.domain.events import EVENT_TYPES
from stockmesh.domain.evolve import STATE_TYPES, STOCK_EVENT_TYPES
from stockmesh.domain.model import StockState
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.projections import fold as fold_module
from stockmesh.projections.fold import (
    DOCUMENT_COUNTERS,
    DOCUMENT_OPENERS,
    LINEAR_EFFECTS,
    ViewFolder,
    effect,
    quantities,
)
from stockmesh.projections.parallel import partitions
from stockmesh.projections.rebuild import replay
from stockmesh.projections.runner import catch_up, view_digest
from stockmesh.service.execute import execute
from tests.support.commands import DC, STORE, SUPPLIER, c, network

SKUS = ("OAT-MILK-1L", "RYE-BREAD", "EGGS-12")


def test_linear_effects_are_evolve_on_any_amount() -> None:
    """The table the fast path adds from is evolve's own effect, for any amount and start."""
    rng = random.Random(7)
    assert {"StockReceived", "StockShipped", "StockReserved", "TransferInboundRecorded"} <= set(LINEAR_EFFECTS)
    assert "LotExpired" not in LINEAR_EFFECTS and "PositionFlagged" not in LINEAR_EFFECTS
    by_name = {cls.type: cls for cls in STOCK_EVENT_TYPES}
    for name, (_, amount_field, _lot_field, first, coefficient, others) in LINEAR_EFFECTS.items():
        coefficients = ((first, coefficient), *others)
        cls = by_name[name]
        for _ in range(20):
            amount = rng.randint(-500, 500)
            start = StockState(*(rng.randint(0, 1000) for _ in range(6)))
            event = cls(**{**{f.name: None for f in fields(cls)}, amount_field: amount})
            expected = [0] * 6
            for index, coefficient in coefficients:
                expected[index] = coefficient * amount
            assert effect("stock:x@y", event) == tuple(expected)
            after = fold_module.evolve("stock:x@y", start, event)
            assert quantities(after) == tuple(a + b for a, b in zip(quantities(start), expected, strict=True))


def test_document_effects_are_evolve_on_any_values() -> None:
    """The document events the fold applies without evolve: openers build ``StateClass(**payload)``
    and counters add to one field, exactly as evolve does, from any state."""
    rng = random.Random(5)
    assert set(DOCUMENT_OPENERS) == {"PurchaseOrderPlaced", "TransferDispatched", "ReservationOpened"}
    assert set(DOCUMENT_COUNTERS) == {"PurchaseOrderReceived", "PurchaseOrderCancelled", "TransferReceived",
                                      "TransferLost", "ReservationReleased", "ReservationFulfilled"}
    assert "PurchaseOrderExpedited" not in DOCUMENT_OPENERS and "PurchaseOrderExpedited" not in DOCUMENT_COUNTERS

    def value(name: str) -> object:
        if name == "qty":
            return rng.randint(1, 500)
        return None if rng.random() < 0.3 else f"{name}-{rng.randint(1, 99)}"

    for name, (_, kind, cls, names) in DOCUMENT_OPENERS.items():
        assert STATE_TYPES[kind] is cls and names == {f.name for f in fields(EVENT_TYPES[name])}
        for _ in range(20):
            payload = {n: value(n) for n in names}
            first = fold_module.evolve(f"{kind}:x", None, EVENT_TYPES[name](**payload))
            assert cls(**payload) == first
            payload = {n: value(n) for n in names}  # over an open document: opened afresh
            assert cls(**payload) == fold_module.evolve(f"{kind}:x", first, EVENT_TYPES[name](**payload))
    for name, (_, cls, amount_field, field, coefficient) in DOCUMENT_COUNTERS.items():
        kind = next(k for k, c in STATE_TYPES.items() if c is cls)
        event_fields = [f.name for f in fields(EVENT_TYPES[name])]
        for _ in range(20):
            state = cls(**{f.name: rng.randint(0, 900) if f.type == "int" else value(f.name) for f in fields(cls)})
            event = EVENT_TYPES[name](**{n: rng.randint(-50, 500) if n == amount_field else value(n)
                                         for n in event_fields})
            expected = replace(state, **{field: getattr(state, field) + coefficient * getattr(event, amount_field)})
            assert fold_module.evolve(f"{kind}:x", state, event) == expected


def _evolve_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every event through evolve: no fast path at all."""
    for table in ("LINEAR_EFFECTS", "DOCUMENT_OPENERS", "DOCUMENT_COUNTERS"):
        monkeypatch.setattr(fold_module, table, {})


def _pick(rng: random.Random, i: int, commands: int) -> tuple[str, str, str]:
    """A SKU, a site and the business time of the i-th of ``commands`` random commands: March in
    order, but one in twenty arrives late, dated in February."""
    sku, site = rng.choice(SKUS), rng.choice((STORE, DC))
    day = f"2026-03-{1 + i * 27 // commands:02d}T{rng.randint(0, 23):02d}:00:00+00:00"
    if rng.random() < 0.05:
        day = f"2026-02-{rng.randint(1, 28):02d}T12:00:00+00:00"  # arrives late, dated earlier
    return sku, site, day


def _random_ledger(store: MemoryEventStore, seed: int, commands: int = 400) -> None:
    """Receipts with and without lots, sales, reservations, transfers, quarantine, counts, expiry,
    negative stock (flags) and back-dated corrections, over a few positions."""
    rng = random.Random(seed)
    execute(store, network(negative_stock="allow") + [c("RegisterSku", sku=s, unit_cost=2.0, pack_size=1)
                                                      for s in SKUS[1:]])
    lots: dict[tuple[str, str], list[str]] = {}
    open_reservations: list[str] = []
    open_transfers: list[str] = []
    for i in range(commands):
        sku, site, day = _pick(rng, i, commands)
        u = rng.random()
        if u < 0.3:
            lot = f"L{rng.randint(1, 3)}" if rng.random() < 0.4 else None
            extra = {"lot": lot, "expiry": "2026-06-01"} if lot else {}
            if lot:
                lots.setdefault((sku, site), []).append(lot)
            cmd = c("ReceiveStock", sku=sku, site=site, qty=rng.randint(1, 50), occurred_at=day, **extra)
        elif u < 0.55:
            cmd = c("ShipStock", sku=sku, site=site, qty=rng.randint(1, 30), occurred_at=day)
        elif u < 0.62:
            rid = f"R{i}"
            open_reservations.append(rid)
            cmd = c("ReserveStock", reservation_id=rid, sku=sku, site=site, qty=rng.randint(1, 5), occurred_at=day)
        elif u < 0.68 and open_reservations:
            rid = open_reservations.pop(rng.randrange(len(open_reservations)))
            name = rng.choice(("FulfilReservation", "ReleaseReservation"))
            cmd = c(name, reservation_id=rid, occurred_at=day)
        elif u < 0.74:
            tid = f"T{i}"
            open_transfers.append(tid)
            cmd = c("DispatchTransfer", transfer_id=tid, sku=sku, from_site=DC, to_site=STORE,
                    qty=rng.randint(1, 10), occurred_at=day)
        elif u < 0.79 and open_transfers:
            cmd = c("ReceiveTransfer", transfer_id=open_transfers.pop(0), qty=rng.randint(1, 10), occurred_at=day)
        elif u < 0.84:
            cmd = c("AdjustStock", sku=sku, site=site, delta=rng.choice((-3, -1, 2, 5)), reason="damage",
                    occurred_at=day)
        elif u < 0.88:
            cmd = c("RecordCount", sku=sku, site=site, counted=rng.randint(0, 60), occurred_at=day)
        elif u < 0.92:
            cmd = c("QuarantineStock", sku=sku, site=site, qty=rng.randint(1, 3), reason="inspect", occurred_at=day)
        elif u < 0.95 and lots.get((sku, site)):
            cmd = c("ExpireLot", sku=sku, site=site, lot=rng.choice(lots[(sku, site)]), occurred_at=day)
        else:
            cmd = c("PlacePurchaseOrder", po_id=f"PO{i}", sku=sku, site=site, supplier=SUPPLIER,
                    qty=rng.randint(10, 40), expected_at="2026-04-01", occurred_at=day)
        execute(store, [cmd], all_or_nothing=False)  # some are rejected (e.g. a release of nothing)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_fast_fold_equals_the_evolve_fold_in_any_batching(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryEventStore()
    _random_ledger(store, seed)
    assert any(e.type == "LotExpired" for e in store.read_all()) or seed != 1
    _assert_fast_fold_equals_evolve_fold(store, monkeypatch, (1, 7, 64, 1000))


def _assert_fast_fold_equals_evolve_fold(store: MemoryEventStore, monkeypatch: pytest.MonkeyPatch,
                                         batches: tuple[int, ...]) -> str:
    """Replay with the fast paths and with ``evolve`` only, then catch up in each batch size: the
    same read models every time. Returns their digest."""
    replay(store)
    fast = view_digest(store)
    _evolve_only(monkeypatch)
    replay(store)
    assert view_digest(store) == fast
    monkeypatch.undo()
    for batch in batches:
        store.reset_views()
        assert catch_up(store, batch_size=batch) == store.count_events()
        assert view_digest(store) == fast, batch
    return fast


def _fold_in_partitions(store: MemoryEventStore, *, parts: int, batch: int) -> None:
    """Fold the ledger as parallel-replay workers do: a fresh folder per partition of the streams,
    batches with gaps, stock rows handed out at flush."""
    for streams in partitions(store.sample_stream_ids(100), parts):
        folder = ViewFolder(store, fresh=True)
        after = 0
        while rows := store.read_fold_rows(after=after, limit=batch, streams=streams):
            store.save_views(folder.fold(rows), 0)
            after = rows[-1][0]
            folder.saved(after)
        store.save_views(folder.flush(), 0)


def _document_ledger(store: MemoryEventStore, seed: int, commands: int = 400) -> None:
    """Many documents: reservations fulfilled or released in parts, transfers (with and without
    lots) received in parts or lost, purchase orders received, cancelled and expedited; some
    commands are rejected (more than is open, an unknown document)."""
    rng = random.Random(seed)
    execute(store, network(negative_stock="allow") + [c("RegisterSku", sku=s, unit_cost=2.0, pack_size=1)
                                                      for s in SKUS[1:]])
    for sku in SKUS:
        for site in (STORE, DC):
            execute(store, [c("ReceiveStock", sku=sku, site=site, qty=500, lot="L1", expiry="2026-09-01"),
                            c("ReceiveStock", sku=sku, site=site, qty=500)])
    reservations: list[str] = []
    transfers: list[str] = []
    orders: list[str] = []
    for i in range(commands):
        sku, site, day = _pick(rng, i, commands)
        qty = rng.choice((None, rng.randint(1, 6)))
        u = rng.random()
        if u < 0.2:
            reservations.append(f"R{i}")
            cmd = c("ReserveStock", reservation_id=f"R{i}", sku=sku, site=site, qty=rng.randint(1, 8), occurred_at=day)
        elif u < 0.35 and reservations:
            cmd = c(rng.choice(("FulfilReservation", "ReleaseReservation")), reservation_id=rng.choice(reservations),
                    qty=qty, occurred_at=day)
        elif u < 0.5:
            transfers.append(f"T{i}")
            extra = {"lot": "L1"} if rng.random() < 0.3 else {}
            cmd = c("DispatchTransfer", transfer_id=f"T{i}", sku=sku, from_site=DC, to_site=STORE,
                    qty=rng.randint(1, 10), occurred_at=day, **extra)
        elif u < 0.65 and transfers:
            cmd = c(rng.choice(("ReceiveTransfer", "DeclareTransferLoss")), transfer_id=rng.choice(transfers),
                    qty=rng.randint(1, 6), occurred_at=day)
        elif u < 0.75:
            orders.append(f"PO{i}")
            cmd = c("PlacePurchaseOrder", po_id=f"PO{i}", sku=sku, site=site, supplier=SUPPLIER,
                    qty=rng.randint(10, 40), expected_at=rng.choice((None, "2026-04-01")), occurred_at=day)
        elif u < 0.85 and orders:
            extra = {"lot": "L2", "expiry": "2026-10-01"} if rng.random() < 0.3 else {}
            cmd = c("ReceivePurchaseOrder", po_id=rng.choice(orders), qty=rng.randint(1, 15), occurred_at=day, **extra)
        elif u < 0.9 and orders:
            cmd = c("CancelPurchaseOrder", po_id=rng.choice(orders), occurred_at=day)
        elif u < 0.95 and orders:
            cmd = c("ExpeditePurchaseOrder", po_id=rng.choice(orders), expected_at=rng.choice((None, "2026-03-20")),
                    occurred_at=day)
        else:
            cmd = c("ShipStock", sku=sku, site=site, qty=rng.randint(1, 5), occurred_at=day)
        execute(store, [cmd], all_or_nothing=False)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_document_fast_paths_equal_the_evolve_fold_in_any_batching(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    store = MemoryEventStore()
    _document_ledger(store, seed)
    types = {e.type for e in store.read_all()}
    assert set(DOCUMENT_OPENERS) | set(DOCUMENT_COUNTERS) | {"PurchaseOrderExpedited"} <= types
    fast = _assert_fast_fold_equals_evolve_fold(store, monkeypatch, (1, 5, 64, 1000))
    store.reset_views()  # a parallel replay's folders: one partition each, batches with gaps
    _fold_in_partitions(store, parts=3, batch=30)
    assert view_digest(store) == fast


def test_catch_up_after_more_writes_uses_kept_rows_correctly() -> None:
    """A folder that keeps its rows between batches must still see rows another fold saved."""
    store = MemoryEventStore()
    _random_ledger(store, 11, commands=150)
    catch_up(store, batch_size=50)
    folder = ViewFolder(store)
    for round_ in range(3):
        execute(store, [c("ReceiveStock", sku=SKUS[round_], site=STORE, qty=10 + round_)])
        rows = store.read_fold_rows(after=store.view_checkpoint())
        store.save_views(folder.fold(rows), rows[-1][0])
        folder.saved(rows[-1][0])
    incremental = view_digest(store)
    replay(store)
    assert view_digest(store) == incremental


@pytest.mark.parametrize("keep_limit", [2, 500_000])
def test_a_fresh_folder_hands_out_stock_rows_at_flush_and_when_over_its_limit(
        keep_limit: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """A parallel-replay worker's folder: batches with gaps (one partition), stock rows written at
    the end, or as soon as it keeps more than its limit."""
    store = MemoryEventStore()
    _random_ledger(store, 4)
    replay(store)
    expected = view_digest(store)
    store.reset_views()
    monkeypatch.setattr(ViewFolder, "KEEP_LIMIT", keep_limit)
    _fold_in_partitions(store, parts=2, batch=40)
    assert view_digest(store) == expected


def test_partitions_cut_at_quantiles_of_the_sample_and_cover_everything() -> None:
    sample = ["e"] * 50 + ["a", "b", "c", "d"] * 10 + ["f"] * 10  # e: half of the events
    ranges = partitions(sample, 3)
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(ranges[i][1] == ranges[i + 1][0] for i in range(len(ranges) - 1))  # contiguous
    assert partitions(sample, 1) == [(None, None)]
    assert partitions([], 4) == [(None, None)]
    assert partitions(["only"] * 9, 3) == [(None, None)]  # one stream: nothing to cut
    assert partitions([str(i) for i in range(10, 90)], 4) == [(None, "30"), ("30", "50"), ("50", "70"), ("70", None)]
    for count in (2, 3, 4):
        ranges = partitions(sample, count)
        for stream in set(sample):
            owners = [r for r in ranges if (r[0] is None or stream >= r[0]) and (r[1] is None or stream < r[1])]
            assert len(owners) == 1  # each stream in exactly one range
