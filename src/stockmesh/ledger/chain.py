"""The hash chain: sealing new events onto the head, and verifying a stored ledger; the key that
signs heads and checkpoints."""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stockmesh.domain.errors import LedgerError
from stockmesh.ledger.codec import chain_hash
from stockmesh.ledger.records import GENESIS_HASH, NewEvent, RecordedEvent


def seal(events: Sequence[NewEvent], expected_versions: Mapping[str, int], head_position: int, head_hash: str,
         recorded_at: str) -> list[tuple[Any, ...]]:
    """Give each event its global position, stream version, timestamp and chain hash.

    Returns rows in the column order of ``RecordedEvent`` (tuples: this runs per event on ingest)."""
    return seal_into(events, dict(expected_versions), head_position, head_hash, recorded_at)


def seal_into(events: Sequence[NewEvent] | Sequence[tuple[Any, ...]], versions: dict[str, int], head_position: int,
              head_hash: str, recorded_at: str) -> list[tuple[Any, ...]]:
    """``seal``, counting stream versions on in ``versions`` (each stream's last version so far,
    updated in place): a batch sealed in parts, part after part, gets the rows it would get whole."""
    position, prev_hash = head_position, head_hash
    rows: list[tuple[Any, ...]] = []
    append = rows.append
    get = versions.get
    for stream_id, type_name, schema_version, data, metadata, occurred_at in events:
        position += 1
        version = get(stream_id, 0) + 1
        versions[stream_id] = version
        digest = chain_hash(position, stream_id, version, type_name, schema_version, data, metadata, occurred_at,
                            recorded_at, prev_hash)
        append((position, stream_id, version, type_name, schema_version, data, metadata, occurred_at, recorded_at,
                prev_hash, digest))
        prev_hash = digest
    return rows


@dataclass(frozen=True, slots=True)
class ChainReport:
    ok: bool
    events: int
    head_position: int
    first_bad_position: int | None = None
    reason: str | None = None
    head_hash: str | None = None  # as the head row records it


def verify_chain(events: Iterable[RecordedEvent], head: tuple[int, str]) -> ChainReport:
    """Walk the ledger in position order; report the first position where it was tampered with."""
    expected_position = 1
    prev_hash = GENESIS_HASH
    count = 0
    for e in events:
        if e.position != expected_position:
            reason = (f"position {expected_position} is missing (next stored is {e.position})"
                      if e.position > expected_position else f"position {e.position} is out of order")
            return ChainReport(False, count, head[0], expected_position, reason, head[1])
        if e.prev_hash != prev_hash:
            return ChainReport(False, count, head[0], e.position,
                               "previous-hash link does not match the event before it", head[1])
        digest = chain_hash(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata,
                            e.occurred_at, e.recorded_at, e.prev_hash)
        if digest != e.hash:
            return ChainReport(False, count, head[0], e.position, "content does not match its hash", head[1])
        prev_hash = e.hash
        expected_position += 1
        count += 1
    last = expected_position - 1
    if (last, prev_hash) != head:
        if head[0] > last:
            return ChainReport(False, count, head[0], last + 1,
                               f"the chain ends at {last} but the head records {head[0]}", head[1])
        return ChainReport(False, count, head[0], head[0] + 1 if last > head[0] else last,
                           "the last event does not match the recorded head", head[1])
    return ChainReport(True, count, head[0], head_hash=head[1])


# -- keyed heads and checkpoints ---------------------------------------------------------------------
# The chain alone is plain SHA-256: whoever can write the database can re-chain it. A key kept
# outside the database signs what the writer vouches for, as Certificate Transparency's signed tree
# heads do: every commit signs its new head (position, hash), one HMAC per commit, and a checkpoint
# (kept elsewhere by the operator) signs a head with the ledger it belongs to and the time.

KEY_ENV = "STOCKMESH_LEDGER_KEY_FILE"
KEY_BYTES = 32
CHECKPOINT_FORMAT = "stockmesh-checkpoint/1"
_HEAD_CONTEXT = b"stockmesh-head/1\x1f"


class HeadSignatureError(LedgerError):
    """A write refused because the head it would extend is not signed as the key says it must be."""


@functools.lru_cache(maxsize=8)
def key_id(key: bytes) -> str:
    """A short public name for a key (it says which key signed, not the key)."""
    return hashlib.sha256(b"stockmesh-key-id\x1f" + key).hexdigest()[:16]


def read_key(path: str | os.PathLike[str]) -> bytes:
    """The key in a key file (hex, as ``new_key_file`` writes it); ``LedgerError`` naming the file."""
    try:
        text = Path(path).read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise LedgerError(f"cannot read the ledger key file {path}: {exc}") from exc
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) < KEY_BYTES:
        raise LedgerError(f"the ledger key file {path} does not hold a key of at least {KEY_BYTES} bytes in hex "
                          f"(make one with `stockmesh audit keygen`)")
    return key


def key_from_env(environ: Mapping[str, str] | None = None) -> bytes | None:
    """The key named by ``STOCKMESH_LEDGER_KEY_FILE``, or None when it is not set."""
    path = (os.environ if environ is None else environ).get(KEY_ENV)
    return read_key(path) if path else None


def new_key_file(path: str | os.PathLike[str]) -> str:
    """Write a new random key to ``path`` (mode 0600); refuse if the file exists. Returns its id."""
    key = secrets.token_bytes(KEY_BYTES)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError as exc:
        raise LedgerError(f"{path} exists: a key file is never overwritten (a ledger signed with it would no "
                          f"longer verify); choose another path") from exc
    except OSError as exc:
        raise LedgerError(f"cannot create the key file {path}: {exc}") from exc
    with os.fdopen(fd, "w", encoding="ascii") as out:
        os.fchmod(out.fileno(), 0o600)  # whatever the umask
        out.write(key.hex() + "\n")
    return key_id(key)


def sign_head(key: bytes, position: int, head_hash: str) -> str:
    """The signature of a head, as stored in the head row: ``hmac-sha256:KEY_ID:MAC``."""
    mac = hmac.digest(key, _HEAD_CONTEXT + f"{position}\x1f{head_hash}".encode(), "sha256").hex()
    return f"hmac-sha256:{key_id(key)}:{mac}"


def head_signature_problem(key: bytes | None, position: int, head_hash: str, signature: str | None) -> str | None:
    """Why the stored head (position, hash, signature) is not what a writer with ``key`` (or with none)
    may extend, or None when it is. An empty ledger needs no signature."""
    if key is None:
        if signature:
            return ("the ledger's head is signed: writing to it needs its key "
                    f"(set {KEY_ENV} to the key file)")
        return None
    if signature is None or signature == "":
        if position == 0:
            return None
        return (f"the ledger's head (position {position}) is not signed: a keyed ledger's head always is, so "
                "it was changed without the key, or the ledger was never keyed (then adopt the key once "
                "with `stockmesh audit sign`, which verifies the ledger first)")
    if not hmac.compare_digest(signature, sign_head(key, position, head_hash)):
        parts = signature.split(":")
        if len(parts) == 3 and parts[1] != key_id(key):
            return f"the ledger's head is signed with another key (id {parts[1]}; this key is {key_id(key)})"
        return (f"the signature of the ledger's head (position {position}) does not match it: the head or the "
                "events under it were changed without the key")
    return None


def check_head(key: bytes | None, position: int, head_hash: str, signature: str | None) -> None:
    """Raise ``HeadSignatureError`` unless a writer with ``key`` may extend this head; run by every
    write session when it opens, so that a forged head is never signed over by the next commit."""
    problem = head_signature_problem(key, position, head_hash, signature)
    if problem is not None:
        raise HeadSignatureError(f"write refused: {problem}" + ("; run `stockmesh audit verify`" if key else ""))


def _checkpoint_text(body: Mapping[str, Any]) -> bytes:
    fields = ("format", "ledger", "first_hash", "position", "hash", "time", "key_id")
    return "\x1f".join(str(body.get(name)) for name in fields).encode()


def make_checkpoint(key: bytes, ledger: str, first_hash: str, position: int, head_hash: str,
                    time: str) -> dict[str, Any]:
    """A signed checkpoint of a head: keep it outside the database (``audit verify --against``)."""
    body: dict[str, Any] = {"format": CHECKPOINT_FORMAT, "ledger": ledger, "first_hash": first_hash,
                            "position": position, "hash": head_hash, "time": time, "key_id": key_id(key)}
    body["signature"] = hmac.digest(key, _checkpoint_text(body), "sha256").hex()
    return body


def read_checkpoint(key: bytes, document: Any) -> dict[str, Any]:
    """A checkpoint whose signature holds under ``key``; ``LedgerError`` saying what is wrong."""
    if not isinstance(document, dict) or document.get("format") != CHECKPOINT_FORMAT:
        raise LedgerError(f"not a stockmesh checkpoint (expected format {CHECKPOINT_FORMAT!r})")
    position, head_hash = document.get("position"), document.get("hash")
    if not (isinstance(position, int) and not isinstance(position, bool) and position >= 0
            and isinstance(head_hash, str) and isinstance(document.get("signature"), str)):
        raise LedgerError("the checkpoint's position, hash or signature is missing or malformed")
    if document.get("key_id") != key_id(key):
        raise LedgerError(f"the checkpoint was signed with another key (id {document.get('key_id')}; this key is "
                          f"{key_id(key)})")
    expected = hmac.digest(key, _checkpoint_text(document), "sha256").hex()
    if not hmac.compare_digest(expected, document["signature"]):
        raise LedgerError("the checkpoint's signature does not match its content: it was altered")
    return document
