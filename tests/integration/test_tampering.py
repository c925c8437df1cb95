"""Tamper evidence. The chain: modify, delete, insert or reorder a stored event at a random position
and the chain check fails at exactly that position, 200 times out of 200. The battery: tampering
that re-chains, rewinds, forges with a valid hash or edits what decisions read besides the events
(states, keys, read models), each caught and named by ``audit verify`` on SQLite and PostgreSQL."""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stockmesh.domain.errors import LedgerError
from stockmesh.entrypoints.api.services import state_of, write
from stockmesh.governance import decisions
from stockmesh.governance.auth import authenticate, hash_token
from stockmesh.governance.policy import load_policy_text
from stockmesh.ledger.chain import make_checkpoint, verify_chain
from stockmesh.ledger.sql import now_iso
from stockmesh.ledger.sqlite import SqliteEventStore
from stockmesh.projections.rebuild import replay
from stockmesh.projections.runner import catch_up
from stockmesh.service.audit import AuditReport, audit
from stockmesh.service.execute import execute
from tests.conftest import drop_store, make_store
from tests.support.commands import DC, SKU, STORE, c, network
from tests.support.tamper import COLUMNS, Raw, reopen


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("tamper") / "pristine.db"
    store = SqliteEventStore(str(path))
    store.init()
    execute(store, network())
    for day in range(1, 60):
        execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=10 + day,
                          occurred_at=f"2026-{1 + day // 28:02d}-{1 + day % 28:02d}"),
                        c("ShipStock", sku=SKU, site=STORE, qty=5 + day % 4)])
    store.close()
    return path


def tamper(conn: sqlite3.Connection, kind: str, rng: random.Random, n: int) -> int:
    """Apply one kind of tampering; return the position where the chain must first break."""
    p = rng.randint(1, n)
    if kind == "modify":
        column = rng.choice(["data", "metadata", "occurred_at", "type", "stream_id", "recorded_at"])
        conn.execute(f"UPDATE events SET {column} = {column} || ' ' WHERE position = ?", (p,))
        return p
    if kind == "delete":
        conn.execute("DELETE FROM events WHERE position = ?", (p,))
        return p
    if kind == "insert":
        # A forged event slipped in at p: later rows are renumbered to make room.
        conn.execute("UPDATE events SET position = -position - 1 WHERE position >= ?", (p,))
        conn.execute("UPDATE events SET position = -position WHERE position < 0")
        source = conn.execute(f"SELECT {COLUMNS} FROM events WHERE position = ?", (p + 1,)).fetchone()
        forged = (p, source[1], 10_000 + p, *source[3:5], '{"qty":1000}', *source[6:])
        conn.execute(f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 11)})", forged)
        return p
    # reorder: two events swap places (everything but their positions)
    q = rng.randint(1, n)
    while q == p:
        q = rng.randint(1, n)
    first, second = sorted((p, q))
    rows = {pos: conn.execute(f"SELECT {COLUMNS} FROM events WHERE position = ?", (pos,)).fetchone()
            for pos in (first, second)}
    conn.execute("UPDATE events SET position = -1 WHERE position = ?", (first,))
    conn.execute("UPDATE events SET position = ? WHERE position = ?", (first, second))
    conn.execute("UPDATE events SET position = ? WHERE position = -1", (second,))
    assert rows[first] != rows[second]
    return first


def test_every_tampering_is_caught_at_its_position(pristine: Path, tmp_path: Path) -> None:
    rng = random.Random(20261126)
    store = SqliteEventStore(str(pristine))
    n = store.count_events()
    assert verify_chain(store.read_all(), store.head()).ok
    store.close()
    caught = 0
    kinds = ["modify", "delete", "insert", "reorder"]
    for trial in range(200):
        copy = tmp_path / f"trial-{trial}.db"
        shutil.copyfile(pristine, copy)
        with sqlite3.connect(copy) as conn:
            conn.execute("DROP INDEX events_stream_version")  # a forger would not be stopped by it either
            expected = tamper(conn, kinds[trial % 4], rng, n)
        store = SqliteEventStore(str(copy))
        report = verify_chain(store.read_all(), store.head())
        store.close()
        copy.unlink()
        assert not report.ok, (trial, kinds[trial % 4], expected)
        assert report.first_bad_position == expected, (trial, kinds[trial % 4], expected, report)
        caught += 1
    assert caught == 200


# -- the battery: tampering that re-chains, or edits what decisions read besides the events --------------
# Each case tampers with a ledger as someone who can write the database would (plain SQL), then
# `audit verify` must name what it found. Cases marked KEY are caught only with the ledger key (the
# head's signature); CHECKPOINT cases only against a checkpoint kept elsewhere; the others without
# the key too. Every case runs on SQLite and PostgreSQL.



KEY = bytes(range(32))
REPO = Path(__file__).resolve().parents[2]
STOCK = f"stock:{SKU}@{STORE}"


def checkpoint_of(store: Any) -> dict[str, Any]:
    position, head_hash = store.head()
    first = next(iter(store.read_all(limit=1)))
    return make_checkpoint(KEY, store.url, first.hash, position, head_hash, now_iso())


def build(store: Any) -> dict[str, Any]:
    """A small network with stock moves, users, tokens and policies; every write signed with KEY."""
    store.head_key = KEY
    execute(store, network())
    for day in range(1, 9):
        execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=40, occurred_at=f"2026-11-{day:02d}T08:00:00Z"),
                        c("ShipStock", sku=SKU, site=STORE, qty=5 + day, occurred_at=f"2026-11-{day:02d}T17:00:00Z")])
    ship = c("ShipStock", sku=SKU, site=STORE, qty=7, idempotency_key="ship-rk")
    execute(store, [ship])
    write(store, decisions.create_user(state_of(store), "ana", "Ana", "admin", ["*"], "cli"), "cli")
    write(store, decisions.create_user(state_of(store), "bo", "Bo", "planner", [STORE], "cli"), "cli")
    emitted, secret = decisions.issue_token(state_of(store), "bo", "ana")
    write(store, emitted, "ana")
    token_id = emitted[0][1].token_id  # type: ignore[attr-defined]
    emitted, _ = decisions.issue_token(state_of(store), "bo", "ana")
    write(store, emitted, "ana")
    revoked = emitted[0][1].token_id  # type: ignore[attr-defined]
    write(store, decisions.revoke_token(state_of(store), revoked, "ana"), "ana")
    for name in ("default.yaml", "cautious.yaml"):
        doc = load_policy_text((REPO / "policies" / name).read_bytes())
        write(store, decisions.publish_policy(state_of(store), doc, "ana"), "ana")
    write(store, decisions.activate_policy(state_of(store), "default", "2026.11.1", "ana", "go"), "ana")
    execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=12), c("ShipStock", sku=SKU, site=STORE, qty=3)])
    catch_up(store)
    return {"ship": ship, "token": token_id, "secret": secret, "revoked": revoked}


def run_audit(store: Any, key: bytes | None, checkpoint: dict[str, Any] | None = None) -> AuditReport:
    """What `stockmesh audit verify` does: bring the read models up, then every check."""
    fresh = reopen(store)
    try:
        try:
            catch_up(fresh)
            views = True
        except Exception:
            views = False
        report = audit(fresh, key=key, checkpoint=checkpoint, read_models=views)
        if not views:
            report.add("read-models", "read models", "cannot be brought up to the head")
        return report
    finally:
        fresh.close()


@dataclass
class Case:
    expect: dict[str, str]  # check -> text its finding must contain
    checkpoint: dict[str, Any] | None = None


# each case: (store, raw SQL, what build() made) -> what audit verify must find
CASES: dict[str, Callable[[Any, Raw, dict[str, Any]], Case]] = {}


def case(fn: Callable[[Any, Raw, dict[str, Any]], Case]) -> Callable[[Any, Raw, dict[str, Any]], Case]:
    CASES[fn.__name__.replace("_", "-")] = fn
    return fn


@case
def truncate_rewind_replay(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    keep = db.head()[0] - 3
    db("DELETE FROM events WHERE position > ?", (keep,))
    db("UPDATE ledger_head SET position = ?, hash = (SELECT hash FROM events WHERE position = ?) WHERE id = 1",
       (keep, keep))
    fresh = reopen(store)
    replay(fresh, workers=1)
    fresh.close()
    return Case({"head": "does not match", "streams": f"stream {STOCK}", "idempotency": "outside the ledger"})


@case
def edit_event_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    p = db.position_of(STOCK, 4)  # a ShipStock of day 2
    db("UPDATE events SET data = ? WHERE position = ?", ('{"lots":null,"qty":1}', p))
    db.rechain(p)
    return Case({"head": "does not match", "streams": f"stream {STOCK}", "read-models": "stock_positions"})


@case
def swap_events_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    first, second = db.position_of(STOCK, 3), db.position_of("site:" + STORE, 1)
    cols = "stream_id, version, type, schema_version, data, metadata, occurred_at, recorded_at"
    a = db(f"SELECT {cols} FROM events WHERE position = ?", (first,))[0]
    b = db(f"SELECT {cols} FROM events WHERE position = ?", (second,))[0]
    sets = ", ".join(f"{name.strip()} = ?" for name in cols.split(","))
    db("UPDATE events SET stream_id = 'swap', version = -1 WHERE position = ?", (first,))
    db(f"UPDATE events SET {sets} WHERE position = ?", (*a, second))
    db(f"UPDATE events SET {sets} WHERE position = ?", (*b, first))
    db.rechain(min(first, second))
    return Case({"head": "does not match", "idempotency": f"position {first}"})


@case
def delete_key_and_resend(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    db("DELETE FROM idempotency WHERE key = 'ship-rk'")
    fresh = reopen(store)
    outcome = execute(fresh, [made["ship"]])[0]
    fresh.close()
    assert outcome.status == "applied"  # the attack worked: shipped twice
    return Case({"idempotency": "key 'ship-rk'"})


@case
def edit_stream_state_then_ship(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    import orjson

    state = orjson.loads(db("SELECT state FROM streams WHERE stream_id = ?", (STOCK,))[0][0])
    on_hand = state["on_hand"]
    state["on_hand"] = on_hand + 50_000
    db("UPDATE streams SET state = ? WHERE stream_id = ?", (orjson.dumps(state).decode(), STOCK))
    fresh = reopen(store)
    outcome = execute(fresh, [c("ShipStock", sku=SKU, site=STORE, qty=50_000)])[0]
    fresh.close()
    assert outcome.status == "applied"  # accepted with on_hand on hand at a reject site
    return Case({"streams": f"stream {STOCK}", "invariant": "negative_stock is reject"})


@case
def edit_read_model(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    db("UPDATE stock_positions SET on_hand = on_hand + 1000 WHERE sku = ? AND site = ?", (SKU, STORE))
    return Case({"read-models": "stock_positions"})


@case
def forged_token_appended(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # KEY
    secret = "smk_00000000deadbeef_" + "A" * 43
    position = db.append("token:00000000deadbeef", "TokenIssued",
                         {"token_id": "00000000deadbeef", "user_id": "ana", "token_hash": hash_token(secret),
                          "sites": ["*"], "expires_at": None, "by": "ana"}, {"actor": "ana", "source": "cli"})
    fresh = reopen(store)
    fresh.head_key = None
    from datetime import UTC, datetime

    principal = authenticate(state_of(fresh), secret, datetime.now(UTC))
    fresh.close()
    assert principal.role == "admin" and principal.all_sites  # the forgery authenticates
    return Case({"head": f"position {position}"})


@case
def forged_policy_activation(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # KEY
    db.append("policy:default", "PolicyActivated",
              {"policy": "default", "version": "2026.11.2-cautious", "previous_version": "2026.11.1", "by": "ana",
               "reason": "forged"}, {"actor": "ana"})
    return Case({"head": "does not match"})


@case
def forged_token_for_unknown_user(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    position = db.append("token:00000000cafebabe", "TokenIssued",
                         {"token_id": "00000000cafebabe", "user_id": "mallory", "token_hash": "0" * 64,
                          "sites": ["*"], "expires_at": None, "by": "ana"}, {"actor": "ana"})
    return Case({"head": "does not match", "governance": f"position {position} (TokenIssued"})


@case
def head_rewound_to_earlier_genuine_head(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # CHECKPOINT
    saved = db.snapshot()  # a backup, genuine head signature and all
    execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=3), c("ShipStock", sku=SKU, site=STORE, qty=2)])
    catch_up(store)
    checkpoint = checkpoint_of(store)
    db.restore(saved)
    return Case({"checkpoint": "behind the checkpoint"}, checkpoint)


@case
def truncate_after_checkpoint(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # CHECKPOINT
    checkpoint = checkpoint_of(store)
    keep = checkpoint["position"] - 4
    db("DELETE FROM events WHERE position > ?", (keep,))
    db("DELETE FROM idempotency WHERE last_position > ?", (keep,))
    db("UPDATE ledger_head SET position = ?, hash = (SELECT hash FROM events WHERE position = ?) WHERE id = 1",
       (keep, keep))
    fresh = reopen(store)
    replay(fresh, workers=1)
    fresh.close()
    return Case({"checkpoint": f"head is at {keep}", "head": "does not match"}, checkpoint)


@case
def insert_in_the_middle_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    p = db.position_of(STOCK, 6)
    db("UPDATE events SET position = -position - 1 WHERE position >= ?", (p,))
    db("UPDATE events SET position = -position WHERE position < 0")
    db(f"INSERT INTO events ({COLUMNS}) VALUES ({', '.join('?' * 11)})",
       (p, f"stock:{SKU}@{DC}", 1, "StockReceived", 1, '{"expiry":null,"lot":null,"qty":1000}', "{}",
        "2026-11-03T00:00:00Z", now_iso(), "", ""))
    db.rechain(p)
    return Case({"head": "does not match", "idempotency": "whose event carries",
                 "streams": f"stream stock:{SKU}@{DC}"})


@case
def edit_occurred_at_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # KEY
    p = db.position_of(STOCK, 5)
    db("UPDATE events SET occurred_at = '2025-01-01T00:00:00Z' WHERE position = ?", (p,))
    db.rechain(p)
    return Case({"head": "does not match"})


@case
def delete_token_state_row(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    db("DELETE FROM streams WHERE stream_id = ?", (f"token:{made['token']}",))
    return Case({"streams": f"stream token:{made['token']}"})


@case
def unrevoke_token_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    stream = f"token:{made['revoked']}"
    p = db.position_of(stream, 2)
    db("DELETE FROM events WHERE position = ?", (p,))
    db("UPDATE events SET position = position - 1 WHERE position > ?", (p,))
    db.rechain(p)
    return Case({"head": "does not match", "streams": f"stream {stream}"})


@case
def site_allows_negative_in_its_state(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    db("UPDATE streams SET state = replace(state, '\"negative_stock\":\"reject\"', '\"negative_stock\":\"allow\"') "
       "WHERE stream_id = ?", (f"site:{STORE}",))
    return Case({"streams": f"stream site:{STORE}"})


@case
def key_record_points_at_nothing(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    beyond = db.head()[0] + 10
    db("UPDATE idempotency SET first_position = ?, last_position = ? WHERE key = 'ship-rk'", (beyond, beyond))
    return Case({"idempotency": "outside the ledger"})


@case
def state_without_events(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    db("INSERT INTO streams (stream_id, version, state) VALUES (?, 1, ?)",
       (f"stock:GHOST@{STORE}", '{"on_hand":99,"reserved":0,"in_transit":0,"on_order":0,"backordered":0,'
                                '"quarantined":0,"flagged":false,"lots":{}}'))
    return Case({"streams": f"stream stock:GHOST@{STORE}"})


@case
def head_signature_removed(store: Any, db: Raw, made: dict[str, Any]) -> Case:  # KEY
    db("UPDATE ledger_head SET signature = NULL WHERE id = 1")
    return Case({"head": "is not signed"})


@case
def edit_event_not_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    p = db.position_of(STOCK, 2)
    db("UPDATE events SET data = ? WHERE position = ?", ('{"lots":null,"qty":1}', p))
    return Case({"chain": f"position {p}"})


@case
def metadata_made_unreadable_rechained(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    p = db("SELECT first_position FROM idempotency WHERE key = 'ship-rk'")[0][0]
    db("UPDATE events SET metadata = 'not json' WHERE position = ?", (p,))
    db.rechain(p)
    return Case({"head": "does not match", "idempotency": "key 'ship-rk'"})


@case
def forged_policy_document_unreadable(store: Any, db: Raw, made: dict[str, Any]) -> Case:
    position = db.append("policy:default", "PolicyVersionPublished",
                         {"policy": "default", "version": "9", "document": {"nonsense": True}, "digest": "x",
                          "by": "ana"}, {"actor": "ana"})
    return Case({"head": "does not match", "governance": f"position {position} (PolicyVersionPublished"})


KEY_ONLY = {"head", "checkpoint"}


@pytest.fixture(params=["sqlite", "postgres"])
def keyed_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Raw, dict[str, Any]]]:
    store = make_store(request.param, tmp_path)
    made = build(store)
    db = Raw(store)
    yield store, db, made
    db.close()
    drop_store(store)


def test_the_untouched_ledger_passes_every_check(keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    store, _, _ = keyed_ledger
    report = run_audit(store, KEY, checkpoint_of(store))
    assert report.ok, report.findings
    assert report.head_signed and report.checked["streams"] >= 8 and report.checked["governance events"] == 8
    assert run_audit(store, None).ok


@pytest.mark.parametrize("name", list(CASES))
def test_tampering_is_caught_and_named(name: str, keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    store, db, made = keyed_ledger
    found = CASES[name](store, db, made)
    report = run_audit(store, KEY, found.checkpoint)
    assert not report.ok, name
    for check, text in found.expect.items():
        named = [str(f) for f in report.findings if f.check == check]
        assert any(text in f for f in named), (name, check, text, [str(f) for f in report.findings])
    without_key = {check: text for check, text in found.expect.items() if check not in KEY_ONLY}
    if without_key:  # caught without the key too, by the same findings
        report = run_audit(store, None)
        for check, text in without_key.items():
            assert any(text in str(f) for f in report.findings if f.check == check), (name, check, report.findings)


def test_a_keyed_writer_refuses_to_sign_over_a_forged_head(keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    store, db, _ = keyed_ledger
    before = db.head()
    forged_token_appended(store, db, {})
    fresh = reopen(store)
    with pytest.raises(LedgerError, match="does not match"):
        execute(fresh, [c("ReceiveStock", sku=SKU, site=STORE, qty=1)])
    fresh.head_key = None  # nor does a writer without the key extend a keyed ledger
    with pytest.raises(LedgerError, match="needs its key"):
        execute(fresh, [c("ReceiveStock", sku=SKU, site=STORE, qty=1)])
    fresh.close()
    assert db.head()[0] == before[0] + 1  # only the forged event: nothing was signed over it


def test_a_record_without_events_is_no_finding(keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    """A refused command's record (records.IdempotencyRecord) or one that wrote nothing: no span, and
    no event carries its key. Given a span, the same record is a finding."""
    store, db, _ = keyed_ledger
    db("INSERT INTO idempotency (key, payload_hash, first_position, last_position, recorded_at) "
       "VALUES ('refused-rk', 'f00d', NULL, NULL, ?)", (now_iso(),))
    assert run_audit(store, KEY).ok
    db("UPDATE idempotency SET first_position = 3, last_position = 3 WHERE key = 'refused-rk'")
    report = run_audit(store, None)
    assert any("key 'refused-rk'" in str(f) for f in report.findings), report.findings


def test_a_keyed_server_refuses_a_forged_token_and_keeps_the_genuine_ones(
        keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    """The governance fold behind every sign-in checks the head signature and the chain of what it
    folds: the forged admin token of ``forged_token_appended`` authenticates without the key (that
    case shows it) and is refused with it."""
    from datetime import UTC, datetime

    from stockmesh.governance.state import GovernanceView

    store, db, made = keyed_ledger
    view = GovernanceView(reopen(store))
    assert authenticate(view.refresh(), made["secret"], datetime.now(UTC)).user_id == "bo"
    execute(store, [c("ReceiveStock", sku=SKU, site=STORE, qty=2)])  # a genuine, signed write: read on
    genuine = view.refresh().position
    assert genuine == store.head()[0]
    forged_token_appended(store, db, {})
    with pytest.raises(LedgerError, match="not read: the signature of the ledger's head"):
        view.refresh()
    assert view.state.position == genuine  # what it holds is what was signed; the forgery is not in it
    with pytest.raises(LedgerError, match="not read"):
        state_of(reopen(store))  # a fresh server, too
    view.store.close()


def test_a_keyed_server_refuses_an_event_edited_under_a_genuine_head(
        keyed_ledger: tuple[Any, Raw, dict[str, Any]]) -> None:
    store, db, made = keyed_ledger
    token = db.position_of(f"token:{made['token']}", 1)
    db("UPDATE events SET data = replace(data, '\"sites\"', '\"sites\":[\"*\"],\"was\"') WHERE position = ?",
       (token,))
    with pytest.raises(LedgerError, match=f"event at position {token} does not chain"):
        state_of(reopen(store))
