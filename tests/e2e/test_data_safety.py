"""A user's data is sacred: no command makes a ledger it was not asked to make, and the
demo never touches a ledger it did not create for itself."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from stockmesh.entrypoints.cli import app

REPO = Path(__file__).resolve().parents[2]

# The commands that may create a ledger: each says so in its --help.
CREATING = {"init", "ingest", "epcis ingest", "x12 ingest", "snapshot ingest", "user add", "demo"}


def read_only_commands(files: Path) -> dict[str, list[str]]:
    """Every other command that takes --db, with arguments that get it as far as the ledger."""
    snapshot = files / "wms.csv"
    if files.is_dir():
        snapshot.write_text("sku,site,on_hand\nOAT-MILK-1L,STORE-LYON-02,4\n")
    return {
        "stock": ["stock"], "history": ["history", "po:PO-1"], "replay": ["replay"],
        "audit verify": ["audit", "verify"], "audit checkpoint": ["audit", "checkpoint"],
        "audit sign": ["audit", "sign"], "serve": ["serve", "--host", "999.0.0.1"],
        "relay": ["relay", "--x12-dir", str(files / "edi")],
        "outbox relay": ["outbox", "relay", "--x12-dir", str(files / "edi")],
        "outbox list": ["outbox", "list"], "outbox replay": ["outbox", "replay", "1"],
        "outbox status": ["outbox", "status"], "reconcile": ["reconcile", str(snapshot)],
        "explain": ["explain", "PO-1"], "allocate": ["allocate", "--sku", "OAT-MILK-1L"],
        "rebalance": ["rebalance", "--dry-run"], "policy compute": ["policy", "compute"],
        "forecast run": ["forecast", "run"], "export epcis": ["export", "epcis"],
        "user disable": ["user", "disable", "ada"], "token issue": ["token", "issue", "ada"],
        "token revoke": ["token", "revoke", "T-1"],
        "governance publish": ["governance", "publish", str(REPO / "policies" / "default.yaml")],
        "governance activate": ["governance", "activate", "default", "2026.11.1"],
        "governance rollback": ["governance", "rollback", "default"],
        "governance canary": ["governance", "canary", "default", "2026.11.1"],
        "governance shadow": ["governance", "shadow", "default", "2026.11.1"],
        "governance kill-switch": ["governance", "kill-switch", "on"],
        "governance status": ["governance", "status"],
    }


def commands_with_db(group: Any, prefix: str = "") -> set[str]:
    found: set[str] = set()
    if hasattr(group, "commands"):  # a group (typer ships its own click: no isinstance)
        for name, sub in group.commands.items():
            found |= commands_with_db(sub, f"{prefix} {name}".strip())
    elif any("--db" in getattr(p, "opts", ()) for p in group.params):
        found.add(prefix)
    return found


EVERY = commands_with_db(get_command(app))


@pytest.mark.parametrize("name", sorted(set(read_only_commands(Path("unused"))) & EVERY))
def test_a_command_on_a_missing_ledger_says_so_and_creates_nothing(name: str, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STOCKMESH_DB", raising=False)
    files = tmp_path / "files"
    files.mkdir()
    args = read_only_commands(files)[name]
    url = f"sqlite:///{tmp_path / 'usr.db'}"  # meant user.db
    result = CliRunner().invoke(app, [*args, "--db", url])
    assert result.exit_code != 0, result.output
    assert f"error: no ledger at {url}" in result.output
    assert f"create one with stockmesh init --db {url}" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["files"]  # no usr.db, -wal or -shm


def test_an_empty_file_is_no_ledger_and_stays_empty_until_init(tmp_path: Path) -> None:
    empty = tmp_path / "typo.db"
    empty.touch()
    url = f"sqlite:///{empty}"
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    assert result.exit_code == 1 and "no ledger at" in result.output and "ok:" not in result.output
    assert empty.stat().st_size == 0
    assert CliRunner().invoke(app, ["init", "--db", url]).exit_code == 0
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    assert result.exit_code == 0 and "ok: 0 events" in result.output


def test_every_command_with_db_is_classified_and_those_that_create_say_so(tmp_path: Path) -> None:
    unclassified = EVERY - set(read_only_commands(tmp_path / "unused")) - CREATING
    assert not unclassified, ("classify each command: may it create a ledger (CREATING, and say so in its "
                              f"--help) or not (read_only_commands)? {sorted(unclassified)}")
    runner = CliRunner()

    def help_text(*args: str) -> str:  # rich wraps the help in a box: words only
        return " ".join(runner.invoke(app, [*args, "--help"]).output.replace("│", " ").split())

    for name in CREATING - {"init"}:
        assert "Creates the ledger if there is none" in help_text(*name.split()), name
    assert "--init" in help_text("serve") and "Create the ledger if there is none" in help_text("serve")
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"command": "RegisterSku", "sku": "OAT-MILK-1L", "idempotency_key": "k1"}) + "\n")
    url = f"sqlite:///{tmp_path / 'new.db'}"
    result = runner.invoke(app, ["ingest", str(path), "--db", url])
    assert result.exit_code == 0, result.output
    assert runner.invoke(app, ["audit", "verify", "--db", url]).output.startswith("ok: 1 events")


def test_the_api_refuses_to_start_on_a_missing_ledger_unless_told_to_create(tmp_path: Path) -> None:
    from stockmesh.bootstrap import LedgerMissing
    from stockmesh.entrypoints.api import Settings, create_app

    url = f"sqlite:///{tmp_path / 'usr.db'}"
    with pytest.raises(LedgerMissing, match="no ledger at"):
        create_app(Settings(db_url=url))
    assert not list(tmp_path.iterdir())
    created = create_app(Settings(db_url=url), create=True)
    created.state.runtime.store.close()
    assert (tmp_path / "usr.db").is_file()


def test_postgres_without_our_tables_is_no_ledger(pg_url: str) -> None:
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    try:
        runner = CliRunner()
        result = runner.invoke(app, ["audit", "verify", "--db", url])
        assert result.exit_code == 1 and f"no ledger at {url}" in result.output
        with psycopg.connect(pg_url) as conn:
            tables = conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = %s",
                                  (schema,)).fetchone()
        assert tables == (0,)
        assert runner.invoke(app, ["init", "--db", url]).exit_code == 0
        result = runner.invoke(app, ["audit", "verify", "--db", url])
        assert result.exit_code == 0 and "ok: 0 events" in result.output
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


# ---- stockmesh demo: only a ledger of its own ------------------------------------------------------------------


def tiny_scenario(folder: Path) -> Path:
    import yaml

    raw = yaml.safe_load((REPO / "scenarios" / "default.yaml").read_text())
    raw["skus"]["count"] = 4
    raw["horizon"].update(warmup_days=7, measured_days=7)
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def demo(folder: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(app, ["demo", "--scenario", str(tiny_scenario(folder)), "--policy",
                                    str(REPO / "policies" / "default.yaml"), "--report-dir", str(folder / "reports"),
                                    *args], env=env)


def a_real_ledger(path: Path) -> str:
    commands = path.parent / "real.jsonl"
    commands.write_text("\n".join(json.dumps(c) for c in (
        {"command": "RegisterSku", "sku": "OAT-MILK-1L", "idempotency_key": "k1"},
        {"command": "RegisterSite", "site": "STORE-LYON-02", "idempotency_key": "k2"},
        {"command": "ReceiveStock", "sku": "OAT-MILK-1L", "site": "STORE-LYON-02", "qty": 54,
         "idempotency_key": "k3"})))
    url = f"sqlite:///{path}"
    assert CliRunner().invoke(app, ["ingest", str(commands), "--db", url]).exit_code == 0
    return url


def events(url: str) -> int:
    result = CliRunner().invoke(app, ["audit", "verify", "--db", url])
    assert result.exit_code == 0, result.output
    return int(result.output.split("ok: ")[1].split()[0].replace(",", ""))


def test_the_demo_never_touches_the_ledger_stockmesh_db_names(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = a_real_ledger(tmp_path / "real.db")
    before = (tmp_path / "real.db").read_bytes()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    result = CliRunner().invoke(app, ["demo", "--scenario", "missing.yaml"], env={"STOCKMESH_DB": real})
    assert result.exit_code == 1 and "missing.yaml" in result.output
    assert (tmp_path / "real.db").read_bytes() == before and events(real) == 3
    assert not list(work.iterdir())  # and no demo ledger either
    result = demo(work, env={"STOCKMESH_DB": real})
    assert result.exit_code == 0, result.output
    assert f"STOCKMESH_DB ({real}) is not used by the demo" in result.output
    assert events(real) == 3
    assert events("sqlite:///stockmesh.db") > 100  # its own default file, in the working folder
    assert "stockmeshstock--siteDC-NORTH--dbsqlite:///stockmesh.db" in "".join(result.output.split())  # rich wraps


def test_the_demo_refuses_a_named_ledger_unless_it_is_an_earlier_unchanged_demo(tmp_path: Path) -> None:
    real = a_real_ledger(tmp_path / "real.db")
    result = demo(tmp_path, "--db", real)
    assert result.exit_code == 1 and "holds a ledger (3 event(s)) that is not an earlier demo's" in result.output
    assert events(real) == 3
    notes = tmp_path / "notes.db"
    notes.write_text("my notes\n")
    result = demo(tmp_path, "--db", f"sqlite:///{notes}")
    assert result.exit_code == 1 and "not a stockmesh ledger" in result.output
    assert notes.read_text() == "my notes\n"
    mine = f"sqlite:///{tmp_path / 'demo.db'}"
    assert demo(tmp_path, "--db", mine).exit_code == 0
    first = events(mine)
    inode = (tmp_path / "demo.db").stat().st_ino
    assert demo(tmp_path, "--db", mine, "--seed", "7").exit_code == 0  # an earlier demo: replaced
    assert (tmp_path / "demo.db").stat().st_ino != inode and events(mine) != first
    assert sorted(p.name for p in tmp_path.glob("demo.db*")) == ["demo.db"]  # no work file left
    commands = tmp_path / "more.jsonl"
    commands.write_text(json.dumps({"command": "RegisterSku", "sku": "MUESLI-500G", "idempotency_key": "m1"}))
    assert CliRunner().invoke(app, ["ingest", str(commands), "--db", mine]).exit_code == 0
    written = events(mine)
    result = demo(tmp_path, "--db", mine)
    assert result.exit_code == 1 and "an earlier demo's ledger written to since" in result.output
    assert events(mine) == written


def test_the_demo_checks_every_argument_before_it_writes(tmp_path: Path) -> None:
    mine = f"sqlite:///{tmp_path / 'demo.db'}"
    assert demo(tmp_path, "--db", mine).exit_code == 0
    stamp = (tmp_path / "demo.db").stat()
    bad_policy = tmp_path / "bad.yaml"
    bad_policy.write_text("name: default\nname: again\n")
    for args, field in ((["--seed", "-1"], "seed"), (["--max-auto-value", "-5"], "max-auto-value"),
                        (["--policy", str(tmp_path / "nope.yaml")], "policy"), (["--policy", str(bad_policy)], "policy")):
        result = demo(tmp_path, "--db", mine, *args)
        assert result.exit_code == 1 and f"field '{field}'" in result.output, (args, result.output)
        now = (tmp_path / "demo.db").stat()
        assert (now.st_ino, now.st_mtime_ns, now.st_size) == (stamp.st_ino, stamp.st_mtime_ns, stamp.st_size)


def test_the_demo_will_not_replace_a_ledger_another_process_has_open(tmp_path: Path) -> None:
    import subprocess
    import sys

    mine = f"sqlite:///{tmp_path / 'demo.db'}"
    assert demo(tmp_path, "--db", mine).exit_code == 0
    inode = (tmp_path / "demo.db").stat().st_ino
    reader = subprocess.Popen(
        [sys.executable, "-c", "import sys, sqlite3; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('PRAGMA journal_mode=WAL'); c.execute('SELECT count(*) FROM events').fetchone(); "
         "print('open', flush=True); sys.stdin.read()", str(tmp_path / "demo.db")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert reader.stdout is not None and reader.stdout.readline() == "open\n"
        result = demo(tmp_path, "--db", mine)
        assert result.exit_code == 1 and "is open in another process" in result.output
        assert (tmp_path / "demo.db").stat().st_ino == inode
    finally:
        reader.communicate("")
    assert demo(tmp_path, "--db", mine).exit_code == 0  # closed: replaced
    assert (tmp_path / "demo.db").stat().st_ino != inode


def test_the_demo_writes_postgresql_only_without_a_ledger_there(tmp_path: Path, pg_url: str) -> None:
    import psycopg

    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    url = f"{pg_url}?options=-csearch_path%3D{schema}"
    try:
        commands = tmp_path / "real.jsonl"
        commands.write_text(json.dumps({"command": "RegisterSku", "sku": "OAT-MILK-1L", "idempotency_key": "k1"}))
        assert CliRunner().invoke(app, ["ingest", str(commands), "--db", url]).exit_code == 0
        result = demo(tmp_path, "--db", url)
        assert result.exit_code == 1 and "holds a ledger (1 event(s))" in result.output
        assert events(url) == 1
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
