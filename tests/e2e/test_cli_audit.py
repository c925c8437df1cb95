"""`stockmesh audit` end to end, on SQLite and PostgreSQL: keygen, signed heads, checkpoints, and
tampering caught through the CLI with its exit code and the finding it names."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app
from stockmesh.governance.auth import hash_token
from stockmesh.ledger.chain import read_key, sign_head
from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.projections.runner import catch_up
from stockmesh.service.audit import audit
from stockmesh.service.execute import execute
from stockmesh.service.ingest import ingest_file
from tests.conftest import POSTGRES_URL, need, postgres_available
from tests.support.commands import SKU, STORE, c, network
from tests.support.tamper import Raw

runner = CliRunner()

SETUP = [
    {"command": "RegisterSku", "idempotency_key": "s1", "sku": "OAT-MILK-1L", "unit_cost": 1.1},
    {"command": "RegisterSite", "idempotency_key": "s2", "site": "STORE-LYON-02", "kind": "store"},
    {"command": "ReceiveStock", "idempotency_key": "k-1", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 460},
    {"command": "ShipStock", "idempotency_key": "k-2", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 10},
]
MORE = [{"command": "ShipStock", "idempotency_key": "k-3", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 4}]


def lines(path: Path, commands: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(x) + "\n" for x in commands))
    return path


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


class Ledger:
    """A ledger by URL for the CLI, and a store on it for the tampering (``Raw``)."""

    def __init__(self, kind: str, tmp_path: Path) -> None:
        self.kind = kind
        self.schema: str | None = None
        if kind == "sqlite":
            self.path = tmp_path / "ledger.db"
            self.url = f"sqlite:///{self.path}"
        else:
            need(postgres_available(), f"PostgreSQL not reachable at {POSTGRES_URL}")
            import psycopg

            self.schema = f"test_{uuid.uuid4().hex[:12]}"
            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'CREATE SCHEMA "{self.schema}"')
            self.url = f"{POSTGRES_URL}?options=-csearch_path%3D{self.schema}"

    def raw(self) -> Raw:
        class Handle:  # what Raw needs of a store
            path = str(getattr(self, "path", ""))
            schema = self.schema

        return Raw(Handle())

    def drop(self) -> None:
        if self.schema:
            import psycopg

            with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA IF EXISTS "{self.schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def keyed(request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Ledger]:
    """A ledger written with a key set in STOCKMESH_LEDGER_KEY_FILE."""
    ledger = Ledger(request.param, tmp_path)
    key = tmp_path / "ledger.key"
    assert invoke("audit", "keygen", str(key)).exit_code == 0
    monkeypatch.setenv("STOCKMESH_LEDGER_KEY_FILE", str(key))
    result = invoke("ingest", str(lines(tmp_path / "setup.jsonl", SETUP)), "--db", ledger.url)
    assert result.exit_code == 0, result.output
    ledger.key = key  # type: ignore[attr-defined]
    yield ledger
    ledger.drop()


def test_keygen_writes_a_private_key_and_never_overwrites_one(tmp_path: Path) -> None:
    path = tmp_path / "ledger.key"
    made = invoke("audit", "keygen", str(path))
    assert made.exit_code == 0 and "mode 0600" in made.output
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    before = path.read_bytes()
    assert len(read_key(path)) == 32
    again = invoke("audit", "keygen", str(path))
    assert again.exit_code == 2 and "never overwritten" in again.output
    assert path.read_bytes() == before


def test_a_clean_keyed_ledger_verifies_with_its_head_hash(keyed: Ledger) -> None:
    result = invoke("audit", "verify", "--db", keyed.url)
    assert result.exit_code == 0, result.output
    assert "the head is signed with the ledger key" in result.output
    report = json.loads(invoke("audit", "verify", "--json", "--db", keyed.url).output)
    assert report["ok"] and report["head_position"] == 4 and len(report["head_hash"]) == 64


def test_a_resent_command_after_its_key_was_deleted_is_named(keyed: Ledger, tmp_path: Path) -> None:
    db = keyed.raw()
    db("DELETE FROM idempotency WHERE key = 'k-2'")
    db.close()
    again = invoke("ingest", str(tmp_path / "setup.jsonl"), "--db", keyed.url)
    assert again.exit_code == 0 and "applied 1 command" in again.output  # shipped twice
    result = invoke("audit", "verify", "--db", keyed.url)
    assert result.exit_code == 1
    assert "finding: idempotency: key 'k-2'" in result.output and "fails the audit" in result.output


def test_a_forged_token_is_caught_only_with_the_key_and_the_cli_says_so(keyed: Ledger, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    db = keyed.raw()
    db.append("user:root", "UserCreated", {"user_id": "root", "name": "root", "role": "admin", "sites": ["*"],
                                           "by": "cli"}, {"actor": "cli"})
    position = db.append("token:00000000deadbeef", "TokenIssued",
                         {"token_id": "00000000deadbeef", "user_id": "root", "token_hash": hash_token("x"),
                          "sites": ["*"], "expires_at": None, "by": "root"}, {"actor": "root"})
    db.close()
    with_key = invoke("audit", "verify", "--db", keyed.url)
    assert with_key.exit_code == 1
    assert f"finding: head: position {position}: the signature of the ledger's head" in with_key.output
    monkeypatch.delenv("STOCKMESH_LEDGER_KEY_FILE")
    without = invoke("audit", "verify", "--db", keyed.url)
    assert without.exit_code == 0  # a valid plain hash: only the key tells
    assert "not checked without the ledger key" in without.output and "TokenIssued" in without.output
    refused = invoke("ingest", str(lines(tmp_path / "more.jsonl", MORE)), "--db", keyed.url)
    assert refused.exit_code == 1 and "needs its key" in refused.output  # nor may a keyless writer extend it


def test_a_checkpoint_catches_a_ledger_put_back_to_an_earlier_genuine_state(keyed: Ledger, tmp_path: Path) -> None:
    db = keyed.raw()
    saved = db.snapshot()  # a backup: genuine head, genuine signature
    assert invoke("ingest", str(lines(tmp_path / "more.jsonl", MORE)), "--db", keyed.url).exit_code == 0
    checkpoint = tmp_path / "checkpoint.json"
    made = invoke("audit", "checkpoint", "--out", str(checkpoint), "--db", keyed.url)
    assert made.exit_code == 0 and "position 5" in made.output
    assert json.loads(checkpoint.read_text())["position"] == 5
    assert invoke("audit", "checkpoint", "--out", str(checkpoint), "--db", keyed.url).exit_code == 2  # no overwrite
    assert invoke("audit", "verify", "--against", str(checkpoint), "--db", keyed.url).exit_code == 0
    db.restore(saved)
    db.close()
    assert invoke("audit", "verify", "--db", keyed.url).exit_code == 0  # consistent and signed: a checkpoint's job
    result = invoke("audit", "verify", "--against", str(checkpoint), "--db", keyed.url)
    assert result.exit_code == 1
    assert "finding: checkpoint: position 5: the ledger's head is at 4, behind the checkpoint's 5" in result.output


def test_a_checkpoint_altered_or_read_without_its_key_is_refused(keyed: Ledger, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    checkpoint = tmp_path / "checkpoint.json"
    assert invoke("audit", "checkpoint", "--out", str(checkpoint), "--db", keyed.url).exit_code == 0
    document = json.loads(checkpoint.read_text())
    document["position"] = 2
    altered = tmp_path / "altered.json"
    altered.write_text(json.dumps(document))
    result = invoke("audit", "verify", "--against", str(altered), "--db", keyed.url)
    assert result.exit_code == 1 and "signature does not match its content" in result.output
    monkeypatch.delenv("STOCKMESH_LEDGER_KEY_FILE")
    keyless = invoke("audit", "verify", "--against", str(checkpoint), "--db", keyed.url)
    assert keyless.exit_code == 2 and "needs the key" in keyless.output


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_an_old_ledger_gets_the_signature_column_and_adopts_a_key(kind: str, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    ledger = Ledger(kind, tmp_path)
    try:
        assert invoke("ingest", str(lines(tmp_path / "setup.jsonl", SETUP)), "--db", ledger.url).exit_code == 0
        db = ledger.raw()
        db("ALTER TABLE ledger_head DROP COLUMN signature")  # the head row as it was before signed heads
        db.close()
        assert invoke("init", "--db", ledger.url).exit_code == 0  # the migration
        db = ledger.raw()
        assert db("SELECT position, signature FROM ledger_head") == [(4, None)]
        db.close()
        key = tmp_path / "ledger.key"
        assert invoke("audit", "keygen", str(key)).exit_code == 0
        monkeypatch.setenv("STOCKMESH_LEDGER_KEY_FILE", str(key))
        refused = invoke("ingest", str(lines(tmp_path / "more.jsonl", MORE)), "--db", ledger.url)
        assert refused.exit_code == 1 and "is not signed" in refused.output and "audit sign" in refused.output
        signed = invoke("audit", "sign", "--db", ledger.url)
        assert signed.exit_code == 0, signed.output
        assert invoke("ingest", str(tmp_path / "more.jsonl"), "--db", ledger.url).exit_code == 0
        result = invoke("audit", "verify", "--db", ledger.url)
        assert result.exit_code == 0 and "position 5" in result.output and "signed with the ledger key" in result.output
    finally:
        ledger.drop()


def test_every_writer_signs_the_head(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = bytes(range(32))
    memory = MemoryEventStore()
    memory.head_key = key
    execute(memory, [*network(), c("ReceiveStock", sku=SKU, site=STORE, qty=5)])
    assert memory.head_signature() == sign_head(key, *memory.head())
    catch_up(memory)
    assert audit(memory, key=key).ok
    # a big ingest: the SQL in the writer process (ledger.bulk.writer), which gets the key from its caller
    path = tmp_path / "ledger.db"
    store = SqliteEventStore(str(path))
    store.init()
    store.head_key = key
    monkeypatch.setenv("STOCKMESH_HELPERS_FROM_BYTES", "0")
    commands = [*SETUP, *({**MORE[0], "idempotency_key": f"m-{i}", "qty": 1} for i in range(40))]
    report = ingest_file(store, lines(tmp_path / "big.jsonl", commands), writer_process=True)
    assert report.applied == 44
    assert store.head()[0] == 44 and store.head_signature() == sign_head(key, *store.head())
    store.close()
    copy = tmp_path / "copy.db"
    shutil.copyfile(path, copy)
    with sqlite3.connect(copy) as conn:
        conn.execute("UPDATE ledger_head SET signature = replace(signature, 'a', 'b')")
    tampered = SqliteEventStore(str(copy))
    assert not audit(tampered, key=key, read_models=False).ok
    tampered.close()


def test_no_checkpoint_of_a_head_whose_signature_does_not_hold(keyed: Ledger, tmp_path: Path) -> None:
    db = keyed.raw()
    db.append("user:root", "UserCreated", {"user_id": "root", "name": "root", "role": "admin", "sites": ["*"],
                                           "by": "cli"}, {"actor": "cli"})
    db.close()
    out = tmp_path / "checkpoint.json"
    result = invoke("audit", "checkpoint", "--out", str(out), "--db", keyed.url)
    assert result.exit_code == 1 and "no checkpoint of this head" in result.output and not out.exists()
