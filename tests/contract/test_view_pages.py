"""Pages of a read model, done by the backend (memory, SQLite, PostgreSQL alike): ``load_view`` with
``any_of``, a keyset cursor, ``offset`` and ``limit``, and ``count_view``."""

from __future__ import annotations

from typing import Any

SKUS = ("COFFEE-1KG", "OAT-MILK-1L", "TEA-100G")
SITES = ("STORE-LYON-02", "STORE-NICE-01", "STORE-PARIS-01")


def _fill(store: Any) -> list[tuple[str, str]]:
    rows = {(sku, site): (10 * i + j, 0, 0, 0, 0, 0, 0, None, "", 0, None)
            for i, sku in enumerate(SKUS) for j, site in enumerate(SITES)}
    store.save_views({"stock_positions": rows}, 0)
    return sorted(rows)


def test_a_page_in_key_order_from_a_cursor(store: Any) -> None:
    keys = _fill(store)
    page = store.load_view("stock_positions", limit=4)
    assert [r[:2] for r in page] == keys[:4]
    after = store.load_view("stock_positions", after_key=page[-1][:2], limit=4)
    assert [r[:2] for r in after] == keys[4:8]
    assert [r[:2] for r in store.load_view("stock_positions", offset=7)] == keys[7:]
    assert [r[:2] for r in store.load_view("stock_positions", offset=2, limit=2)] == keys[2:4]
    assert store.load_view("stock_positions", after_key=keys[-1]) == []
    assert store.load_view("stock_positions", limit=0) == []


def test_any_of_and_count(store: Any) -> None:
    keys = _fill(store)
    lyon_nice = ("STORE-LYON-02", "STORE-NICE-01")
    rows = store.load_view("stock_positions", any_of={"site": lyon_nice})
    assert [r[:2] for r in rows] == [k for k in keys if k[1] in lyon_nice]
    assert store.count_view("stock_positions", any_of={"site": lyon_nice}) == 6
    assert store.count_view("stock_positions", {"sku": "TEA-100G"}, any_of={"site": lyon_nice}) == 2
    assert store.count_view("stock_positions") == 9
    assert store.load_view("stock_positions", any_of={"site": ()}) == []
    assert store.count_view("stock_positions", any_of={"site": ()}) == 0
    page = store.load_view("stock_positions", {"sku": "OAT-MILK-1L"}, any_of={"site": lyon_nice}, limit=1,
                           after_key=("OAT-MILK-1L", "STORE-LYON-02"))
    assert [r[:2] for r in page] == [("OAT-MILK-1L", "STORE-NICE-01")]
