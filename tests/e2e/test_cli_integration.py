"""The integration commands end to end through the CLI, on a SQLite ledger."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

DATA = Path(__file__).resolve().parents[1] / "unit" / "adapters" / "data"
NETWORK = [
    {"command": "RegisterSku", "sku": "OAT-MILK-1L", "pack_size": 6},
    {"command": "RegisterSku", "sku": "MUESLI-500G"},
    {"command": "RegisterSku", "sku": "FLOUR-1KG"},
    {"command": "RegisterSite", "site": "DC-LYON", "kind": "dc"},
    {"command": "RegisterSite", "site": "STORE-LYON-02"},
    {"command": "RegisterSite", "site": "DC-PARIS", "kind": "dc"},
    {"command": "RegisterSite", "site": "STORE-PARIS-01"},
    {"command": "RegisterSite", "site": "SUP-OATLY", "kind": "supplier"},
    {"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": "DC-LYON", "qty": 10},
    {"command": "PlacePurchaseOrder", "po_id": "PO-1", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
     "supplier": "SUP-OATLY", "qty": 12},
]


@pytest.fixture
def db(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'ledger.db'}"
    lines = "\n".join(json.dumps({**cmd, "idempotency_key": f"k{i}"}) for i, cmd in enumerate(NETWORK))
    (tmp_path / "network.jsonl").write_text(lines)
    result = CliRunner().invoke(app, ["ingest", str(tmp_path / "network.jsonl"), "--db", url])
    assert result.exit_code == 0, result.output
    return url


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def stock(db: str) -> dict[tuple[str, str], int]:
    code, out = run("stock", "--json", "--db", db)
    assert code == 0
    return {(r["sku"], r["site"]): r["on_hand"] for r in json.loads(out)}


def test_epcis_ingest_export_reimport(db: str, tmp_path: Path, shared_data: Path) -> None:
    example = shared_data / "epcis" / "ex_Example_9.6.1-ObjectEvent.jsonld"
    code, out = run("epcis", "ingest", str(example), "--mapping", str(DATA / "epcis_mapping.yaml"), "--db", db)
    assert code == 0 and "2 command(s) applied" in out
    code, out = run("epcis", "ingest", str(example), "--mapping", str(DATA / "epcis_mapping.yaml"), "--db", db)
    assert "2 duplicate(s)" in out
    assert stock(db)[("OAT-MILK-1L", "DC-LYON")] == 8
    export = tmp_path / "export.json"
    code, _ = run("export", "epcis", "--out", str(export), "--db", db)
    assert code == 0
    before = stock(db)
    code, out = run("epcis", "ingest", str(export), "--db", db)
    assert code == 0 and "0 command(s) applied" in out and "3 echo(es)" in out
    assert stock(db) == before


def test_epcis_hostile_names_the_field(db: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"type": "EPCISDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T00:00:00Z",
                               "epcisBody": {"eventList": [{
                                   "type": "ObjectEvent", "eventTime": "2026-01-01T00:00:00Z", "action": "OBSERVE",
                                   "bizStep": "receiving", "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
                                   "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*",
                                                     "quantity": -3}]}]}}))
    code, out = run("epcis", "ingest", str(bad), "--mapping", str(DATA / "epcis_mapping.yaml"), "--db", db)
    assert code == 1 and "quantityList[0].quantity" in out and "nothing written" in out


def _epcis_file(tmp_path: Path, name: str, doc: object) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(doc))
    return str(path)


def test_epcis_query_document_in_other_spellings_then_malformed_documents(db: str, tmp_path: Path) -> None:
    receipt = {"type": "ObjectEvent", "eventID": "urn:uuid:6a0f7d4e-0000-4000-8000-000000000001",
               "eventTime": "2026-01-01T08:00:00+01:00", "eventTimeZoneOffset": "+01:00", "action": "OBSERVE",
               "bizStep": "https://ref.gs1.org/cbv/BizStep-receiving",
               "disposition": "urn:epcglobal:cbv:disp:in_progress",
               "bizLocation": {"id": "urn:epc:id:sgln:0012345.11111.0"},
               "quantityList": [{"epcClass": "urn:epc:idpat:sgtin:0614141.107346.*", "quantity": 4, "uom": "EA"}],
               "stockmesh:ledgerEvent": {"position": 2**70, "hash": "forged"}}  # past the head: not an echo
    custom = {"type": "example:CustomEvent", "eventTime": "2026-01-01T08:00:00Z"}
    query = _epcis_file(tmp_path, "query.json", {
        "type": "EPCISQueryDocument", "schemaVersion": "2.0", "creationDate": "2026-01-01T08:00:00Z",
        "epcisBody": {"queryResults": {"queryName": "SimpleEventQuery",
                                       "resultsBody": {"eventList": [receipt, custom]}}}})
    mapping = str(DATA / "epcis_mapping.yaml")
    code, out = run("epcis", "ingest", query, "--mapping", mapping, "--db", db)
    assert code == 0, out
    assert "1 command(s) applied" in out and "extension event type 'example:CustomEvent'" in out
    assert stock(db)[("OAT-MILK-1L", "STORE-LYON-02")] == 4
    code, out = run("epcis", "ingest", query, "--mapping", mapping, "--db", db)
    assert code == 0 and "0 command(s) applied" in out and "1 duplicate(s)" in out
    before = run("audit", "verify", "--db", db)
    malformed = [({"type": "EPCISQueryDocument", "epcisBody": {"queryResults": {"resultsBody": None}}},
                  "epcisBody.queryResults.resultsBody"),
                 ({"type": "EPCISDocument", "epcisBody": {"eventList": [{**receipt, "eventID": "urn:uuid:x",
                                                                         "sourceList": 7}]}},
                  "epcisBody.eventList[0].sourceList")]
    for n, (doc, field) in enumerate(malformed):
        result = CliRunner().invoke(app, ["epcis", "ingest", _epcis_file(tmp_path, f"bad{n}.json", doc),
                                          "--mapping", mapping, "--db", db])
        assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
        assert field in result.output and "nothing written" in result.output
    assert run("audit", "verify", "--db", db) == before
    assert run("replay", "--verify", "--db", db)[0] == 0


def test_x12_ingest_with_ack_and_hostile(db: str, tmp_path: Path) -> None:
    ack = tmp_path / "ack.edi"
    code, out = run("x12", "ingest", str(DATA / "x12_846.edi"), "--ack", str(ack), "--db", db)
    assert code == 0 and "2 command(s) applied" in out
    assert "AK5*A" in ack.read_text()
    bad = tmp_path / "bad.edi"
    bad.write_text((DATA / "x12_856.edi").read_text().replace("SE*17*", "SE*16*"))
    code, out = run("x12", "ingest", str(bad), "--db", db)
    assert code == 1 and "SE01" in out and "nothing written" in out


def test_snapshot_ingest_and_reconcile(db: str, tmp_path: Path) -> None:
    snap = tmp_path / "wms.csv"
    snap.write_text("sku,site,on_hand,as_of\nOAT-MILK-1L,DC-LYON,7,2100-01-01\nMUESLI-500G,DC-LYON,5,2100-01-01\n"
                    "GHOST-SKU,DC-LYON,1,2100-01-01\n")
    code, out = run("reconcile", str(snap), "--json", "--db", db)
    assert code == 0
    report = json.loads(out)
    classes = {(d["sku"], d["class"]) for d in report["discrepancies"]}
    assert classes == {("OAT-MILK-1L", "quantity_mismatch"), ("MUESLI-500G", "missing_at_us"),
                       ("GHOST-SKU", "unknown_sku")}
    assert report["applied"] == 0 and len(report["proposals"]) == 2
    code, out = run("reconcile", str(snap), "--apply", "--db", db)
    assert code == 0 and "applied 2 correction(s)" in out
    assert stock(db)[("OAT-MILK-1L", "DC-LYON")] == 7
    good = tmp_path / "count.csv"
    good.write_text("sku,site,on_hand\nOAT-MILK-1L,DC-LYON,9\n")
    code, out = run("snapshot", "ingest", str(good), "--db", db)
    assert code == 0 and "1 count(s) applied" in out
    code, out = run("snapshot", "ingest", str(good), "--db", db)
    assert "1 duplicate(s)" in out


def test_outbox_relay_list_replay(db: str, tmp_path: Path) -> None:
    from stockmesh.bootstrap import open_store
    from stockmesh.ledger.records import OutboxMessage
    from stockmesh.service.execute import execute

    store = open_store(db)
    execute(store, [], outbox=[OutboxMessage("out:PO-1", "purchase_order.placed", json.dumps(
        {"command": "PlacePurchaseOrder", "po_id": "PO-1", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02",
         "supplier": "SUP-OATLY", "qty": 12}), "2026-11-26T00:00:00+00:00"),
        OutboxMessage("out:PO-bad", "purchase_order.placed", json.dumps({"po_id": "PO*BAD"}),
                      "2026-11-26T00:00:00+00:00")])
    store.close()
    code, out = run("outbox", "relay", "--x12-dir", str(tmp_path / "edi"), "--db", db)
    assert code == 0 and "delivered 1" in out and "dead 1" in out
    assert len(list((tmp_path / "edi").glob("*.850"))) == 1
    code, out = run("outbox", "list", "--status", "dead", "--json", "--db", db)
    (dead,) = json.loads(out)
    assert "cannot write an 850" in dead["last_error"]
    code, out = run("outbox", "replay", str(dead["seq"]), "--db", db)
    assert code == 0 and "pending again" in out
    code, out = run("outbox", "status", "--db", db)
    assert "pending 1" in out and "delivered 1" in out
    code, out = run("outbox", "relay", "--db", db)
    assert code == 1 and "nowhere to deliver" in out


def test_the_issue_forms_ingest_format_reconcile_wms_erp_relay(db: str, tmp_path: Path, shared_data: Path) -> None:
    code, out = run("ingest", "--format", "x12", str(DATA / "x12_846.edi"), "--db", db)
    assert code == 0 and "2 command(s) applied" in out
    example = shared_data / "epcis" / "ex_Example_9.6.1-ObjectEvent.jsonld"
    code, out = run("ingest", "--format", "epcis", str(example), "--mapping", str(DATA / "epcis_mapping.yaml"),
                    "--db", db)
    assert code == 0 and "command(s) applied" in out
    snap = tmp_path / "snap.csv"
    snap.write_text("sku,site,on_hand\nFLOUR-1KG,STORE-PARIS-01,4\n")
    code, out = run("ingest", "--format", "snapshot", str(snap), "--db", db)
    assert code == 0 and "1 count(s) applied" in out
    assert run("ingest", "--format", "csv", str(snap), "--db", db)[0] == 2
    wms, erp = tmp_path / "wms.csv", tmp_path / "erp.csv"
    wms.write_text("sku,site,on_hand,as_of\nFLOUR-1KG,STORE-PARIS-01,4,2100-01-01\n")
    erp.write_text("sku,site,on_hand,as_of\nFLOUR-1KG,STORE-PARIS-01,6,2100-01-01\n")
    code, out = run("reconcile", "--wms", str(wms), "--erp", str(erp), "--json", "--db", db)
    assert code == 0
    report = json.loads(out)
    assert set(report) == {"wms", "erp"}
    flour = {name: [d["class"] for d in r["discrepancies"] if d["sku"] == "FLOUR-1KG" and d["site"] == "STORE-PARIS-01"]
             for name, r in report.items()}
    assert flour == {"wms": [], "erp": ["quantity_mismatch"]}
    assert run("reconcile", "--db", db)[0] == 2
    code, out = run("relay", "--db", db)
    assert code == 1 and "nowhere to deliver" in out
    code, out = run("outbox", "status", "--db", db)
    assert code == 0


def test_reconciliation_goes_through_governance_and_leaves_a_report(db: str, tmp_path: Path) -> None:
    costly = tmp_path / "costly.jsonl"
    costly.write_text(json.dumps({"command": "RegisterSku", "idempotency_key": "gold", "sku": "GOLD-BAR",
                                  "unit_cost": 900.0}) + "\n" +
                      json.dumps({"command": "ReceiveStock", "idempotency_key": "gold-in", "sku": "GOLD-BAR",
                                  "site": "DC-LYON", "qty": 10}))
    assert run("ingest", str(costly), "--db", db)[0] == 0
    snap = tmp_path / "wms.csv"
    snap.write_text("sku,site,on_hand,as_of\nGOLD-BAR,DC-LYON,7,2100-01-01\nMUESLI-500G,DC-LYON,2,2100-01-01\n")
    code, out = run("reconcile", str(snap), "--apply", "--json", "--db", db)
    assert code == 0, out
    report = json.loads(out)
    assert report["applied"] >= 1 and report["queued"] == 1  # 3 x 900 waits for an approver; the cheap ones run
    assert stock(db)[("GOLD-BAR", "DC-LYON")] == 10 and stock(db)[("MUESLI-500G", "DC-LYON")] == 2
    code, out = run("history", "reconciliation:" + report["proposals"][0]["proposal_id"].split(":")[1], "--json",
                    "--db", db)
    assert code == 0 and json.loads(out.splitlines()[0])["type"] == "ReconciliationCompleted"
