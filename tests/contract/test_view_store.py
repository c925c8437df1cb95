"""The ``ViewStore`` port over memory, SQLite and PostgreSQL: rows by key and the checkpoint move
together, in one transaction (the pages of ``load_view`` are in ``test_view_pages.py``)."""

from __future__ import annotations

from typing import Any

import pytest

from stockmesh.ledger.port import ViewStore

LYON, NICE = ("OAT-MILK-1L", "STORE-LYON-02"), ("OAT-MILK-1L", "STORE-NICE-01")


def _position(on_hand: int) -> tuple[Any, ...]:
    return (on_hand, 0, 0, 0, 0, 0, 0, None, "", 0, None)


@pytest.fixture
def views(store: Any) -> Any:
    assert isinstance(store, ViewStore)
    return store


def test_save_upserts_deletes_and_moves_the_checkpoint(views: Any) -> None:
    assert views.view_checkpoint() == 0
    views.save_views({"stock_positions": {LYON: _position(12), NICE: _position(3)}}, 7)
    assert views.view_checkpoint() == 7
    views.save_views({"stock_positions": {LYON: _position(10), NICE: None}}, 9)
    assert views.load_view("stock_positions") == [LYON + _position(10)]
    assert views.view_checkpoint() == 9
    assert views.count_view("stock_positions") == 1


def test_rows_by_key_give_only_the_keys_that_have_a_row(views: Any) -> None:
    views.save_views({"stock_positions": {LYON: _position(12)}}, 1)
    assert views.load_view_rows("stock_positions", [LYON, NICE]) == {LYON: _position(12)}
    assert views.load_view_rows("stock_positions", []) == {}


def test_a_failed_save_changes_neither_rows_nor_checkpoint(views: Any) -> None:
    views.save_views({"stock_positions": {LYON: _position(12)}}, 4)
    with pytest.raises(KeyError):
        views.save_views({"stock_positions": {LYON: _position(99), NICE: _position(1)},
                          "no_such_view": {("x",): ("y",)}}, 5)
    assert views.load_view("stock_positions") == [LYON + _position(12)]
    assert views.view_checkpoint() == 4


def test_reset_empties_every_view_and_the_checkpoint(views: Any) -> None:
    views.save_views({"stock_positions": {LYON: _position(12)},
                      "documents": {("po:PO-1",): ("po", "OAT-MILK-1L", "STORE-LYON-02", "SUP-1", 60, 0, "open",
                                                   None, "2026-01-01", "{}")}}, 3)
    views.reset_views()
    assert views.view_checkpoint() == 0
    assert views.load_view("stock_positions") == [] and views.load_view("documents") == []


def test_filters_compare_by_column(views: Any) -> None:
    rows = {(sid, f"2026-01-0{d}", d): (10 * d, 0, 0, 0, 0, 0) for d in (1, 2, 3) for sid in ("stock:A@S", "stock:B@S")}
    views.save_views({"stock_snapshots": rows}, 1)
    picked = views.load_view("stock_snapshots", {"stream_id": "stock:A@S"}, since=("occurred_at", "2026-01-02"),
                             until=("occurred_at", "2026-01-03"), after=("position", 2))
    assert [r[:3] for r in picked] == [("stock:A@S", "2026-01-03", 3)]
    with pytest.raises(KeyError):
        views.load_view("stock_snapshots", {"no_such_column": 1})
