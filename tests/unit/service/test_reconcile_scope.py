"""reconcile() compares only the snapshot's scope: the sites it lists (or declares), its SKUs where
it declares them; our positions elsewhere are left out, not read as zero."""

from __future__ import annotations

import pytest

from stockmesh.domain.errors import InvalidInput
from stockmesh.service import reconcile as rc

pd = pytest.importorskip("pandas")


def ours() -> object:
    rows = [(sku, site, 5) for sku in ("OAT-MILK-1L", "MUESLI-500G") for site in ("STORE-A", "STORE-B", "DC-NORTH")]
    return pd.DataFrame({"sku": [r[0] for r in rows], "site": [r[1] for r in rows], "on_hand": [r[2] for r in rows],
                         "in_transit": [0] * len(rows)})


def theirs(*rows: tuple[str, str, int]) -> object:
    return pd.DataFrame({"sku": [r[0] for r in rows], "site": [r[1] for r in rows], "on_hand": [r[2] for r in rows]})


def classes(result: rc.Reconciliation) -> set[tuple[str, str, str]]:
    rows = result.discrepancies
    return set(zip(rows["sku"], rows["site"], rows["cls"], strict=True))


def test_without_a_declaration_the_scope_is_the_sites_listed() -> None:
    result = rc.reconcile(ours(), theirs(("OAT-MILK-1L", "STORE-A", 5)))
    assert classes(result) == {("MUESLI-500G", "STORE-A", "missing_at_them")}
    assert result.scope["sites"] == ["STORE-A"] and result.scope["positions_out_of_scope"] == 4
    assert [p.site for p in result.proposals()] == ["STORE-A"]


def test_declared_sites_and_skus() -> None:
    scope = rc.Scope(sites=frozenset({"STORE-A", "DC-NORTH"}), skus=frozenset({"OAT-MILK-1L"}), declared_by="snapshot")
    result = rc.reconcile(ours(), theirs(("OAT-MILK-1L", "STORE-A", 7)), scope=scope)
    assert classes(result) == {("OAT-MILK-1L", "STORE-A", "quantity_mismatch"),
                               ("OAT-MILK-1L", "DC-NORTH", "missing_at_them")}
    assert result.scope["skus"] == ["OAT-MILK-1L"] and result.scope["units_out_of_scope"] == 20
    with pytest.raises(InvalidInput, match="MUESLI-500G at STORE-A is outside the snapshot's scope"):
        rc.reconcile(ours(), theirs(("MUESLI-500G", "STORE-A", 1)), scope=scope)
