"""A big batch's SQL in a second process, while the first decides the next commands.

An ingest of a million commands spends about a third of its time sealing (the hash chain) and
inserting rows, and the rest in Python that parses, validates and decides. Threads cannot overlap
the two (the GIL), processes can: ``pipelined_write(store)`` hands the batch's transaction to a
writer process and gives the caller a write session whose events go to that process in parts as
they are decided. The writer seals each part onto the chain and inserts it at once; at the end it
writes the stream states, idempotency keys and head, and commits.

Why it is the same transaction as ``store.write()``: the writer takes SQLite's write lock (``BEGIN
IMMEDIATE``) before anything is read; only then does the caller open a read transaction on its own
connection, so it reads exactly the committed ledger the writer appends to, and nobody else can
commit until the writer does. The session checks that both see the same head. If the caller fails
or dies, the writer sees its input end without a finish and rolls back; if the writer fails or
dies, SQLite rolls its transaction back and the caller gets the error at its next part or when it
finishes. Either way nothing of the batch is written.

Frames on the pipes: one tag byte, an 8-byte little-endian length, a ``marshal`` body (plain
tuples, lists, dicts, str and int; both ends are the same interpreter).
  caller -> writer: ``O`` (path, busy timeout s, head key or None): open and take the lock;
                    ``E`` (versions of streams new to the batch, recorded_at, events, idempotency
                          records): append the events, record the keys;
                    ``F`` (states, the remaining idempotency records, outbox): finish and commit.
  writer -> caller: ``H`` (position, hash): the head, after ``O`` and after the commit;
                    ``X`` (kind, message): failed, rolled back (kind ``integrity`` or ``ledger``).
"""

from __future__ import annotations

import marshal
import queue
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import IO, Any, TypeGuard

from stockmesh.domain.errors import ConcurrencyError, LedgerError
from stockmesh.ledger.records import IdempotencyRecord, NewEvent, OutboxMessage
from stockmesh.ledger.sql import SqlWriteSession
from stockmesh.ledger.sqlite import SqliteEventStore

_HEADER = 9  # tag + length


def encode_frame(tag: bytes, payload: Any) -> bytes:
    body = marshal.dumps(payload)
    return tag + len(body).to_bytes(8, "little") + body


def write_frame(stream: IO[bytes], tag: bytes, payload: Any) -> None:
    stream.write(encode_frame(tag, payload))
    stream.flush()


def read_frame(stream: IO[bytes]) -> tuple[bytes, Any] | None:
    """The next frame, or None when the stream ends (also in the middle of a frame)."""
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header[1:], "little")
    body = stream.read(size)
    if len(body) < size:
        return None
    return header[:1], marshal.loads(body)


def serve(inp: IO[bytes], out: IO[bytes]) -> int:
    """The writer process: one transaction, as the module docstring describes."""
    frame = read_frame(inp)
    if frame is None or frame[0] != b"O":
        return 2
    path, busy_timeout_s, head_key = frame[1]
    store = SqliteEventStore(path, busy_timeout_s=busy_timeout_s)
    store.head_key = head_key  # the caller's key (or None): the writer signs the head it commits
    conn = None
    try:
        conn = store.connection()
        conn.execute("BEGIN IMMEDIATE")
        session = SqlWriteSession(store, conn.cursor())
        write_frame(out, b"H", (session.head_position, session.head_hash))
        versions: dict[str, int] = {}
        while True:
            frame = read_frame(inp)
            if frame is None:  # the caller gave up or died: nothing of the batch is written
                conn.execute("ROLLBACK")
                return 0
            tag, body = frame
            if tag == b"E":
                bases, recorded_at, events, keys = body
                versions.update(bases)
                session.append_events(events, versions, recorded_at)
                session.insert_keys(keys)
            elif tag == b"F":
                states, idempotency, outbox = body
                session.finish({sid: (version, text) for sid, version, text in states}, idempotency,
                               [OutboxMessage(*m) for m in outbox])
                conn.execute("COMMIT")
                write_frame(out, b"H", (session.head_position, session.head_hash))
                return 0
            else:
                raise LedgerError(f"writer: unknown frame {tag!r}")
    except (ConcurrencyError, LedgerError, sqlite3.Error) as exc:
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")
        kind = "integrity" if isinstance(exc, ConcurrencyError) else "ledger"
        try:
            write_frame(out, b"X", (kind, str(exc)))
        except OSError:
            pass
        return 1
    finally:
        store.close()


PENDING_FRAMES = 4  # parts decided and not yet taken by the writer process (about 4 x 2.5 MB)


class PipelinedWriteSession(SqlWriteSession):
    """The caller's side of a pipelined write: reads (keys, states) in its own read transaction,
    events sent to the writer process with ``stream`` as they are decided, the rest with ``append``."""

    def __init__(self, store: SqliteEventStore, cursor: Any, proc: subprocess.Popen[bytes]) -> None:
        super().__init__(store, cursor, migrate=False)  # a read transaction: the writer migrates
        self.proc = proc
        self.committed = False
        self._sent = 0
        self._keys_sent = 0
        self._based: set[str] = set()
        # Frames go out from a thread: while the writer works through one part, this process
        # decides the next instead of waiting for the pipe. At most PENDING_FRAMES wait: when the
        # writer falls behind (inserts slow down as the file outgrows the cache), the decider waits
        # too, instead of keeping the rest of a big file's events in memory.
        self._frames: queue.Queue[bytes | None] = queue.Queue(maxsize=PENDING_FRAMES)
        self._send_failed = False
        self._sender = threading.Thread(target=self._pump, name="ledger-writer-feed", daemon=True)
        self._sender.start()

    def _pump(self) -> None:
        stdin = self.proc.stdin
        assert stdin is not None
        while (frame := self._frames.get()) is not None:
            if not self._send_failed:
                try:
                    stdin.write(frame)
                    stdin.flush()
                except (OSError, ValueError):
                    self._send_failed = True  # the writer stopped: the reply says why

    def stream(self, events: Sequence[NewEvent], versions: Mapping[str, int], recorded_at: str,
               idempotency: Sequence[IdempotencyRecord] = ()) -> None:
        """Send what ``events`` and ``idempotency`` (the batch's lists so far) hold that was not sent
        yet; ``versions`` has each stream's version before the batch."""
        part = events[self._sent:]
        keys = list(map(tuple, idempotency[self._keys_sent:]))
        if not part and not keys:
            return
        based = self._based
        bases = {}
        for event in part:
            sid = event[0]
            if sid not in based:
                based.add(sid)
                bases[sid] = versions[sid]
        self._send(b"E", (bases, recorded_at, list(map(tuple, part)), keys))
        self._sent = len(events)
        self._keys_sent += len(keys)

    def next_chunk(self) -> None:
        """The lists given to ``stream`` start again, empty (a batch read a chunk at a time): what was
        sent stays sent, and the head as this side counts it moves past it."""
        self.head_position += self._sent
        self._sent = 0
        self._keys_sent = 0

    def append(self, events: Sequence[NewEvent], states: Mapping[str, tuple[int, str]],
               idempotency: Sequence[IdempotencyRecord], expected_versions: Mapping[str, int],
               outbox: Sequence[OutboxMessage] = (), recorded_at: str | None = None) -> None:
        self.stream(events, expected_versions, recorded_at or self.store.clock.now_iso())
        self._send(b"F", ([(sid, version, text) for sid, (version, text) in states.items()],
                          list(map(tuple, idempotency[self._keys_sent:])), list(map(tuple, outbox))))
        self.head_position, self.head_hash = self._reply()
        self.committed = True

    def _send(self, tag: bytes, payload: Any) -> None:
        if self._send_failed:
            self._reply()
        self._frames.put(encode_frame(tag, payload))

    def _reply(self) -> tuple[int, str]:
        """Wait until every frame is out, then for the writer's answer."""
        self.stop_sending()
        if self._send_failed:
            _reply(self.proc)  # raises the writer's error, if it gave one
            raise LedgerError("the ledger's writer process stopped: nothing was written")
        return _reply(self.proc)

    def stop_sending(self) -> None:
        if self._sender.is_alive():
            self._frames.put(None)
            self._sender.join()


def _send(proc: subprocess.Popen[bytes], tag: bytes, payload: Any) -> None:
    assert proc.stdin is not None
    try:
        write_frame(proc.stdin, tag, payload)
    except OSError:  # the writer stopped: it says why, or the reply is missing
        _reply(proc)
        raise LedgerError("the ledger's writer process stopped: nothing was written") from None


def _reply(proc: subprocess.Popen[bytes]) -> tuple[int, str]:
    """The writer's next answer: the head (position, hash), or its error raised here."""
    assert proc.stdout is not None
    frame = read_frame(proc.stdout)
    if frame is None:
        raise LedgerError("the ledger's writer process stopped without an answer: nothing was written")
    tag, body = frame
    if tag == b"X":
        kind, message = body
        raise (ConcurrencyError if kind == "integrity" else LedgerError)(message)
    return int(body[0]), str(body[1])


def can_pipeline(store: object) -> TypeGuard[SqliteEventStore]:
    """Whether ``pipelined_write`` works on this store: a SQLite file (another process opens it)."""
    return isinstance(store, SqliteEventStore) and store.path != ":memory:" and not store.view_suffix


@contextmanager
def pipelined_write(store: SqliteEventStore) -> Iterator[PipelinedWriteSession]:
    """``store.write()`` with the SQL in a writer process (see the module docstring)."""
    proc = subprocess.Popen([sys.executable, "-m", "stockmesh.ledger.bulk.writer"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None
    conn = None
    session = None
    try:
        _send(proc, b"O", (store.path, store.busy_timeout_s, store.head_key))
        head = _reply(proc)
        conn = store.connection()
        conn.execute("BEGIN")  # a read transaction, its snapshot taken below, after the writer took the lock
        session = PipelinedWriteSession(store, conn.cursor(), proc)
        if (session.head_position, session.head_hash) != head:
            raise LedgerError("the writer process and this one see different ledger heads")
        yield session
        if not session.committed:
            raise LedgerError("a pipelined write ended without its append: nothing was written")
    except BaseException:
        if proc.poll() is None:
            proc.kill()  # mid-transaction: SQLite drops what it had not committed
        raise
    finally:
        if session is not None:
            session.stop_sending()
        if conn is not None and conn.in_transaction:
            conn.execute("ROLLBACK")  # the read transaction: it wrote nothing
        if not proc.stdin.closed:
            try:
                proc.stdin.close()  # a writer still waiting rolls back
            except OSError:
                pass
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    store._committed()  # reached only after the commit: the checkpointer has pages to move


def main() -> int:
    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    raise SystemExit(main())
