"""Which ledger ``stockmesh demo`` writes, and how it replaces an earlier demo's without touching
anything else.

The demo writes its own ledger: ``sqlite:///stockmesh.db`` (what the README's next commands read),
or a ``--db`` named on its command line. ``STOCKMESH_DB`` from the environment is not a choice
made for the demo, so the demo ignores it (and says so). A ledger that is there already is
replaced only if it is an earlier demo's, unchanged since (the table ``demo_run`` holds the head
the demo left: it must still be the head), or empty; anything else is refused, before anything is
written.

On SQLite the demo writes a fresh file beside the target and, once finished, renames it over the
target in one step: an interrupted run leaves the earlier demo ledger as it was. The rename is
refused while another process has the target open (a ``stockmesh serve`` on it would otherwise
go on serving the replaced file without noticing): stop it first. PostgreSQL cannot be swapped
like that, so there the demo writes only into a database without a ledger or with an empty one.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stockmesh.bootstrap import DEFAULT_DB, LEDGER_TABLE, LedgerMissing, open_store, sqlite_path
from stockmesh.domain.errors import InvalidInput, LedgerError
from stockmesh.ledger.port import EventStore

DEMO_TABLE = "demo_run"
# SQLite (unix) keeps one byte of the -shm file share-locked by every process that has a WAL
# database open (the "DMS" lock at offset 120 + 8 of its lock bytes): if we cannot lock it
# exclusively, someone else has the ledger open.
_SHM_DMS_BYTE = 128


class DemoLedgerRefused(InvalidInput):
    """The ledger the demo was pointed at is not the demo's to write."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="db")


@dataclass(slots=True)
class DemoLedger:
    """``url``: where the demo's ledger is once it has run; ``work_url``: where it writes
    meanwhile (a fresh file beside ``url`` on SQLite, else ``url`` itself)."""

    url: str
    work_url: str
    notes: list[str] = field(default_factory=list)

    @property
    def swaps(self) -> bool:
        return self.work_url != self.url

    def open(self) -> EventStore:
        return open_store(self.work_url, create=True)

    def discard(self) -> None:
        """Remove the fresh file of a run that did not finish (the target is untouched)."""
        if self.swaps:
            work = sqlite_path(self.work_url)
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{work}{suffix}").unlink(missing_ok=True)

    def install(self, *, scenario: str, seed: int, created_at: str) -> None:
        """Mark the finished ledger as the demo's and, on SQLite, put it in place of the target."""
        if not self.url.startswith("sqlite:///") or sqlite_path(self.url) == ":memory:":
            return
        work = sqlite_path(self.work_url)
        conn = sqlite3.connect(work, isolation_level=None)
        try:
            position, head_hash = conn.execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone()
            conn.execute(f"CREATE TABLE IF NOT EXISTS {DEMO_TABLE} (id INTEGER PRIMARY KEY CHECK (id = 1), "
                         "position INTEGER NOT NULL, hash TEXT NOT NULL, scenario TEXT NOT NULL, "
                         "seed INTEGER NOT NULL, created_at TEXT NOT NULL)")
            conn.execute(f"INSERT OR REPLACE INTO {DEMO_TABLE} VALUES (1, ?, ?, ?, ?, ?)",
                         (position, head_hash, scenario, seed, created_at))
            if self.swaps:
                conn.execute("PRAGMA journal_mode=DELETE")  # one self-contained file: no -wal to carry over
        finally:
            conn.close()
        if not self.swaps:
            return
        target = sqlite_path(self.url)
        try:
            refusal(target)  # again: the target may have been opened or written while the demo ran
        except DemoLedgerRefused as exc:
            raise DemoLedgerRefused(f"{exc.message}; the new demo ledger is left at {work}") from exc
        for suffix in ("-wal", "-shm"):  # the old file's: stale beside the new one (nobody has it open)
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        os.replace(work, target)


def choose(explicit: str | None, env: Mapping[str, str]) -> DemoLedger:
    """The demo's ledger: ``explicit`` (its own ``--db``) or the default file; refused, before
    anything is written, if it holds anything but an earlier, unchanged demo."""
    url = explicit or DEFAULT_DB
    notes = []
    from_env = env.get("STOCKMESH_DB")
    if explicit is None and from_env and from_env != DEFAULT_DB:
        notes.append(f"STOCKMESH_DB ({from_env}) is not used by the demo, which writes only a ledger of its own: "
                     f"{url}; name another with stockmesh demo --db URL")
    if url.startswith("memory://"):
        return DemoLedger(url, url, notes)
    if url.startswith(("postgresql://", "postgres://")):
        try:
            store = open_store(url, create=False)
        except LedgerMissing:
            return DemoLedger(url, url, notes)
        try:
            position = store.head()[0]
        finally:
            store.close()
        if position:
            raise DemoLedgerRefused(f"{url} holds a ledger ({position:,} event(s)): the demo writes only to a "
                                    "PostgreSQL database without a ledger, or with an empty one")
        return DemoLedger(url, url, notes)
    if not url.startswith("sqlite:///"):
        open_store(url, create=False)  # the usual error for an unsupported URL
    target = sqlite_path(url)
    if target == ":memory:":
        return DemoLedger(url, url, notes)
    if not Path(target).parent.is_dir():
        raise DemoLedgerRefused(f"cannot write {url}: folder {Path(target).parent} does not exist")
    refusal(target)
    work = f"{target}.demo-{os.getpid()}.db"
    DemoLedger(url, f"sqlite:///{work}").discard()  # a leftover of a killed run with our pid
    return DemoLedger(url, f"sqlite:///{work}", notes)


def refusal(path: str) -> None:
    """Raise ``DemoLedgerRefused`` unless the SQLite file at ``path`` may be replaced by a demo:
    absent, empty, an empty ledger, or an earlier demo's ledger with nothing written since."""
    target = Path(path)
    if not target.exists():
        return
    if not target.is_file():
        raise DemoLedgerRefused(f"{path} is not a file")
    if target.stat().st_size == 0:
        return
    if _held_by_another_process(path):
        raise DemoLedgerRefused(f"{path} is open in another process (a stockmesh serve?): stop it first; the demo "
                                "replaces the file, and that process would go on with the old one unawares")
    try:
        conn = sqlite3.connect(f"{target.resolve().as_uri()}?mode=rw", uri=True)
        try:
            tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
            head = conn.execute("SELECT position, hash FROM ledger_head WHERE id = 1").fetchone() \
                if LEDGER_TABLE in tables else None
            demo = conn.execute(f"SELECT position, hash FROM {DEMO_TABLE} WHERE id = 1").fetchone() \
                if DEMO_TABLE in tables else None
        finally:
            conn.close()
    except sqlite3.Error as exc:
        raise DemoLedgerRefused(f"{path} is not a stockmesh ledger ({exc}): the demo will not replace it") from exc
    if not tables:
        return
    if head is None:
        raise DemoLedgerRefused(f"{path} is a SQLite database but not a stockmesh ledger: the demo will not "
                                "replace it")
    if head[0] == 0:
        return
    if demo is None:
        raise DemoLedgerRefused(f"{path} holds a ledger ({head[0]:,} event(s)) that is not an earlier demo's: the demo "
                                "will not replace it; give it another file with stockmesh demo --db sqlite:///FILE "
                                "(a demo ledger from an older stockmesh is not marked: delete it yourself)")
    if tuple(demo) != tuple(head):
        raise DemoLedgerRefused(f"{path} is an earlier demo's ledger written to since (head at position {head[0]:,}, "
                                f"the demo left it at {demo[0]:,}): the demo will not replace it")


def _held_by_another_process(path: str) -> bool:
    try:
        import fcntl
    except ImportError:  # not unix: no way to tell; the docs say to stop a server first
        return False
    try:
        fd = os.open(f"{path}-shm", os.O_RDWR)
    except FileNotFoundError:
        return False  # no process has it open in WAL mode (every one would have the -shm)
    except OSError as exc:
        raise LedgerError(f"cannot check whether {path} is in use: {exc.strerror}") from exc
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, _SHM_DMS_BYTE)
    except OSError:
        return True
    else:
        with contextlib.suppress(OSError):
            fcntl.lockf(fd, fcntl.LOCK_UN, 1, _SHM_DMS_BYTE)
        return False
    finally:
        os.close(fd)
