"""The write path's shortcuts write exactly what the general path writes: the plain folds
(``fold_plain``: sales, shipments, receipts) and the stock-state template (``execute.encode_state``)."""

from __future__ import annotations

import random

import pytest

from stockmesh.domain.errors import InsufficientStock, UnknownEntity
from stockmesh.domain.model import StockState
from stockmesh.ledger import codec
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.service import execute as execute_module
from stockmesh.service.execute import BatchRejected, encode_state, execute
from tests.support.commands import STORE, c, network

SKUS = ["OAT-MILK-1L", "RYE-BREAD-500G", "EGGS-6", "BUTTER-250G"]


def _store(negative_stock: str = "reject") -> MemoryEventStore:
    store = MemoryEventStore()
    store.init()
    execute(store, network(negative_stock) + [c("RegisterSku", sku=sku) for sku in SKUS[1:]])
    execute(store, [c("ReceiveStock", sku=sku, site=STORE, qty=20) for sku in SKUS])
    execute(store, [c("ReceiveStock", sku="EGGS-6", site=STORE, qty=5, lot="L1", expiry="2027-01-01")])
    return store


def _days() -> list[list[dict[str, object]]]:
    """Sales batches: plain ones, one with a lotted SKU, one selling a SKU twice, one too many."""
    return [
        [{"sku": "OAT-MILK-1L", "qty": 3}, {"sku": "RYE-BREAD-500G", "qty": 2}],
        [{"sku": "OAT-MILK-1L", "qty": 1}, {"sku": "EGGS-6", "qty": 22}],
        [{"sku": "BUTTER-250G", "qty": 4}, {"sku": "BUTTER-250G", "qty": 5}],
        [{"sku": "RYE-BREAD-500G", "qty": 18}, {"sku": "OAT-MILK-1L", "qty": 17}],
    ]


def _run(store: MemoryEventStore, negative_stock: str) -> list[object]:
    outcomes = []
    for day, lines in enumerate(_days()):
        key = f"sales:{negative_stock}:{day}"
        try:
            done = execute(store, [c("RecordSales", idempotency_key=key, site=STORE, lines=lines,
                                     occurred_at="2026-11-26T12:00:00Z")], metadata={"source": "pos"})
            outcomes.append([(o.status, o.first_position, o.last_position, o.events) for o in done])
        except BatchRejected as exc:
            outcomes.append((type(exc.error).__name__, exc.error.field, str(exc.error)))
    return outcomes


def _sales(store: MemoryEventStore) -> list[tuple[object, ...]]:
    return [(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata, e.occurred_at)
            for e in store.read_all() if '"RecordSales"' in e.metadata]


@pytest.mark.parametrize("negative_stock", ["reject", "allow"])
def test_plain_sales_fold_writes_what_the_general_path_writes(monkeypatch: pytest.MonkeyPatch,
                                                             negative_stock: str) -> None:
    folded: list[bool] = []
    real_fold = execute_module.fold_plain

    def spy(command, get):  # type: ignore[no-untyped-def]
        result = real_fold(command, get)
        if command.name == "RecordSales":
            folded.append(result is not None)
        return result

    monkeypatch.setattr(execute_module, "fold_plain", spy)
    fast = _store(negative_stock)
    fast_outcomes = _run(fast, negative_stock)
    assert folded == [True, False, False, False]  # lots, a SKU twice, too many: the general path
    monkeypatch.setattr(execute_module, "fold_plain", lambda command, get: None)
    general = _store(negative_stock)
    general_outcomes = _run(general, negative_stock)
    assert fast_outcomes == general_outcomes
    assert _sales(fast) == _sales(general) != []
    streams = [f"stock:{sku}@{STORE}" for sku in SKUS]
    with fast.write() as a, general.write() as b:
        assert a.load_states(streams) == b.load_states(streams)
    if negative_stock == "reject":
        assert fast_outcomes[3] == ("InsufficientStock", "lines[1].qty",
                                    "OAT-MILK-1L at STORE-LYON-02: 16 available, 17 asked")


def test_plain_sales_fold_names_the_bad_line_like_the_general_path() -> None:
    store = _store()
    with pytest.raises(BatchRejected) as info:
        execute(store, [c("RecordSales", site=STORE, lines=[{"sku": "OAT-MILK-1L", "qty": 1},
                                                            {"sku": "NO-SUCH-SKU", "qty": 1}])])
    assert isinstance(info.value.error, UnknownEntity) and info.value.error.field == "lines[1].sku"
    with pytest.raises(BatchRejected) as info:
        execute(store, [c("RecordSales", site=STORE, lines=[{"sku": "OAT-MILK-1L", "qty": 21}])])
    assert isinstance(info.value.error, InsufficientStock) and info.value.error.field == "lines[0].qty"


def test_stock_state_template_is_the_canonical_encoding() -> None:
    rng = random.Random(7)
    for _ in range(500):
        state = StockState(*(rng.randint(-10**12, 10**12) for _ in range(6)), flagged=rng.random() < 0.5)
        assert encode_state(state) == codec.encode_state(state)
    lotted = StockState(on_hand=5, lots={"L2": [2, 0, None], "L1": [3, 0, "2027-01-01"]})
    assert encode_state(lotted) == codec.encode_state(lotted)
    assert encode_state(None) == "null"


def test_a_repeated_command_that_wrote_nothing_is_a_duplicate() -> None:
    """Re-registering a SKU identically writes no event; sending it again under the same key (a
    retry) is a duplicate without positions, not an error (schemathesis found this one)."""
    store = _store()
    again = c("RegisterSku", idempotency_key="retry-1", sku="OAT-MILK-1L", unit_cost=1.2, pack_size=6)
    (first,) = execute(store, [again])
    assert (first.status, first.events, first.first_position) == ("applied", 0, None)
    (second,) = execute(store, [again])
    assert (second.status, second.first_position, second.last_position) == ("duplicate", None, None)
    repeated = execute(store, [c("RegisterSku", idempotency_key="retry-2", sku="EGGS-6")] * 2)
    assert [o.status for o in repeated] == ["applied", "duplicate"]
    assert repeated[1].first_position == repeated[0].first_position is None


def _ledger(store: MemoryEventStore) -> list[tuple[object, ...]]:
    return [(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata)
            for e in store.read_all()]


@pytest.mark.parametrize("seed", range(6))
def test_plain_receipts_and_shipments_write_what_the_general_path_writes(monkeypatch: pytest.MonkeyPatch,
                                                                         seed: int) -> None:
    """Random receipts and shipments (lots or not, more than available, reserved stock, unknown
    SKUs and sites, sites that allow negative stock, positions never received), in batches that
    continue or reject: the plain folds and ``decide`` give the same outcomes, ledger and states."""
    rng = random.Random(seed)
    sites = [STORE, "STORE-NEG"]
    skus = [*SKUS, "NO-SUCH-SKU"]
    batches = []
    for b in range(25):
        batch = []
        for i in range(rng.randint(1, 12)):
            sku, site = rng.choice(skus), rng.choice([*sites, "NO-SUCH-SITE"])
            key = f"k-{b}-{i}"
            roll = rng.random()
            if roll < 0.45:
                lot = {"lot": "L1", "expiry": "2027-01-01"} if rng.random() < 0.15 else {}
                batch.append(c("ReceiveStock", idempotency_key=key, sku=sku, site=site, qty=rng.randint(1, 30),
                               **lot))
            elif roll < 0.9:
                lot = {"lot": "L1"} if rng.random() < 0.1 else {}
                batch.append(c("ShipStock", idempotency_key=key, sku=sku, site=site, qty=rng.randint(1, 40), **lot))
            else:
                batch.append(c("ReserveStock", idempotency_key=key, sku=sku, site=site, qty=rng.randint(1, 10),
                               reservation_id=f"R-{b}-{i}"))
        batches.append((batch, rng.random() < 0.5))

    def run(store: MemoryEventStore) -> list[object]:
        outcomes: list[object] = []
        for batch, all_or_nothing in batches:
            try:
                done = execute(store, batch, all_or_nothing=all_or_nothing)
                outcomes.append([(o.status, o.first_position, o.last_position, o.events,
                                  None if o.error is None else (type(o.error).__name__, o.error.field, str(o.error)))
                                 for o in done])
            except BatchRejected as exc:
                outcomes.append((exc.index, type(exc.error).__name__, exc.error.field, str(exc.error)))
        return outcomes

    setup = [network() + [c("RegisterSku", sku=sku) for sku in SKUS[1:]]
             + [c("RegisterSite", site="STORE-NEG", kind="store", negative_stock="allow")],
             [c("ReceiveStock", sku=sku, site=STORE, qty=20) for sku in SKUS],
             [c("ReceiveStock", sku="EGGS-6", site=STORE, qty=5, lot="L1", expiry="2027-01-01")]]

    def fresh() -> MemoryEventStore:  # the same commands, keys included, for both stores
        store = MemoryEventStore()
        store.init()
        for commands in setup:
            execute(store, commands)
        return store

    folded: list[bool] = []
    real_fold = execute_module.fold_plain

    def spy(command, get):  # type: ignore[no-untyped-def]
        result = real_fold(command, get)
        folded.append(result is not None)
        return result

    monkeypatch.setattr(execute_module, "fold_plain", spy)
    fast = fresh()
    fast_outcomes = run(fast)
    assert any(folded) and not all(folded)  # both paths were taken
    monkeypatch.setattr(execute_module, "fold_plain", lambda command, get: None)
    general = fresh()
    assert run(general) == fast_outcomes
    assert _ledger(fast) == _ledger(general)
    streams = [f"stock:{sku}@{site}" for sku in SKUS for site in sites]
    with fast.write() as a, general.write() as b:
        assert a.load_states(streams) == b.load_states(streams)


@pytest.mark.parametrize("time_ns", [0, 1_764_158_341_000_000_000, 1_764_158_341_999_999_999, 4_102_444_799_000_001_000])
def test_now_iso_is_datetime_isoformat(time_ns: int) -> None:
    from datetime import UTC, datetime, timedelta

    from stockmesh.domain.clock import SystemClock

    def iso(ns: int) -> str:
        moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=ns // 1000)
        return moment.isoformat(timespec="microseconds")

    source = [time_ns]
    clock = SystemClock(time_ns=lambda: source[0])
    assert clock.now_iso() == iso(time_ns)
    assert clock.now_iso() == iso(time_ns)  # from the cached second
    source[0] = time_ns + 1_000_000_000  # the next second
    assert clock.now_iso() == iso(time_ns + 1_000_000_000)
    assert clock.now().isoformat(timespec="microseconds") == iso(time_ns + 1_000_000_000)
