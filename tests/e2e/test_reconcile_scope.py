"""A snapshot's scope: what it does not cover is out of scope, never zero. A snapshot of
one store must not write off every other site's stock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

pytest.importorskip("pandas")

SITES = ("STORE-A", "STORE-B", "STORE-C", "DC-NORTH")
SKUS = ("OAT-MILK-1L", "MUESLI-500G", "FLOUR-1KG")


@pytest.fixture
def db(tmp_path: Path) -> str:
    commands = [{"command": "RegisterSku", "sku": s} for s in SKUS]
    commands += [{"command": "RegisterSite", "site": t, "kind": "dc" if t.startswith("DC") else "store"} for t in SITES]
    commands += [{"command": "ReceiveStock", "sku": s, "site": t, "qty": 10 + i}
                 for i, (s, t) in enumerate((s, t) for s in SKUS for t in SITES)]
    path = tmp_path / "network.jsonl"
    path.write_text("\n".join(json.dumps({**c, "idempotency_key": f"k{n}"}) for n, c in enumerate(commands)))
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    result = CliRunner().invoke(app, ["ingest", str(path), "--db", url])
    assert result.exit_code == 0, result.output
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def on_hand(db: str) -> dict[tuple[str, str], int]:
    code, out = run("stock", "--json", "--db", db)
    assert code == 0
    return {(r["sku"], r["site"]): r["on_hand"] for r in json.loads(out)}


def test_a_snapshot_of_one_store_leaves_every_other_site_alone(db: str, tmp_path: Path) -> None:
    before = on_hand(db)
    snap = tmp_path / "store-a.csv"  # MUESLI-500G is not listed: the store says it has none
    snap.write_text("sku,site,on_hand,as_of\nOAT-MILK-1L,STORE-A,10,2100-01-01\nFLOUR-1KG,STORE-A,99,2100-01-01\n")
    code, out = run("reconcile", str(snap), "--json", "--db", db)
    assert code == 0, out
    report = json.loads(out)
    assert {(d["sku"], d["site"], d["class"]) for d in report["discrepancies"]} == {
        ("MUESLI-500G", "STORE-A", "missing_at_them"), ("FLOUR-1KG", "STORE-A", "quantity_mismatch")}
    assert report["scope"]["sites"] == ["STORE-A"] and report["scope"]["skus"] is None
    assert report["scope"]["declared_by"] == "rows" and report["scope"]["positions_out_of_scope"] == 9
    code, out = run("reconcile", str(snap), "--apply", "--db", db)
    assert code == 0 and "applied 2 correction(s)" in out
    assert "scope: sites STORE-A (the sites the snapshot lists), every SKU; not compared: 9 position(s)" in out
    after = on_hand(db)
    assert after[("MUESLI-500G", "STORE-A")] == 0 and after[("FLOUR-1KG", "STORE-A")] == 99
    assert {k: v for k, v in after.items() if k[1] != "STORE-A"} == {k: v for k, v in before.items()
                                                                     if k[1] != "STORE-A"}


def test_a_snapshot_declares_its_sites_and_skus(db: str, tmp_path: Path) -> None:
    snap = tmp_path / "wms.json"  # STORE-B is covered but lists nothing: it holds none of OAT-MILK-1L
    snap.write_text(json.dumps({"as_of": "2100-01-01T00:00:00Z", "sites": ["STORE-A", "STORE-B"],
                                "skus": ["OAT-MILK-1L"], "rows": [{"sku": "OAT-MILK-1L", "site": "STORE-A",
                                                                   "on_hand": 10}]}))
    code, out = run("reconcile", str(snap), "--json", "--db", db)
    assert code == 0, out
    report = json.loads(out)
    assert [(d["sku"], d["site"], d["class"]) for d in report["discrepancies"]] == [
        ("OAT-MILK-1L", "STORE-B", "missing_at_them")]
    assert report["scope"] == {"sites": ["STORE-A", "STORE-B"], "skus": ["OAT-MILK-1L"], "declared_by": "snapshot",
                               "positions_out_of_scope": 10, "units_out_of_scope": sum(10 + i for i in range(12))
                               - 10 - 11}


def test_the_scope_given_on_the_command_line(db: str, tmp_path: Path) -> None:
    snap = tmp_path / "a.csv"
    snap.write_text("sku,site,on_hand,as_of\nOAT-MILK-1L,STORE-A,10,2100-01-01\n")
    code, out = run("reconcile", str(snap), "--site", "STORE-A", "--site", "STORE-C", "--sku", "OAT-MILK-1L",
                    "--json", "--db", db)
    assert code == 0, out
    report = json.loads(out)
    assert [(d["site"], d["class"]) for d in report["discrepancies"]] == [("STORE-C", "missing_at_them")]
    assert report["scope"]["declared_by"] == "option"
    code, out = run("reconcile", str(snap), "--site", "STORE-B", "--db", db)  # the file lists STORE-A
    assert code == 1 and "STORE-A is not one of the given sites (STORE-B)" in out and "nothing written" in out


def test_a_row_outside_the_declared_scope_is_refused(db: str, tmp_path: Path) -> None:
    snap = tmp_path / "wms.json"
    snap.write_text(json.dumps({"site": "STORE-A", "rows": [{"sku": "OAT-MILK-1L", "site": "STORE-A", "on_hand": 1},
                                                            {"sku": "OAT-MILK-1L", "site": "STORE-B", "on_hand": 1}]}))
    head = run("audit", "verify", "--db", db)[1]
    code, out = run("reconcile", str(snap), "--apply", "--db", db)
    assert code == 1 and "line 2" in out and "STORE-B is not one of the snapshot's sites (STORE-A)" in out
    assert run("audit", "verify", "--db", db)[1] == head
    snap.write_text(json.dumps({"sites": [], "rows": []}))
    code, out = run("reconcile", str(snap), "--db", db)
    assert code == 1 and "field 'sites'" in out
