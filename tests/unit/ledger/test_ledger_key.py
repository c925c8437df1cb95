"""The ledger key, signed heads and checkpoints (ledger.chain): what each refuses, and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockmesh.domain.errors import LedgerError
from stockmesh.ledger.chain import (
    head_signature_problem,
    key_from_env,
    key_id,
    make_checkpoint,
    new_key_file,
    read_checkpoint,
    sign_head,
)

KEY = bytes(range(32))
OTHER = bytes(range(1, 33))
HASH = "ab" * 32


def test_a_key_file_must_hold_a_hex_key_of_32_bytes(tmp_path: Path) -> None:
    made = tmp_path / "ledger.key"
    assert new_key_file(made) == key_id(bytes.fromhex(made.read_text().strip()))
    assert key_from_env({"STOCKMESH_LEDGER_KEY_FILE": str(made)}) is not None
    assert key_from_env({}) is None
    for name, text in (("short.key", "abcd\n"), ("words.key", "not a key at all, not hex" * 4)):
        (tmp_path / name).write_text(text)
        with pytest.raises(LedgerError, match=name):
            key_from_env({"STOCKMESH_LEDGER_KEY_FILE": str(tmp_path / name)})
    with pytest.raises(LedgerError, match="cannot read"):
        key_from_env({"STOCKMESH_LEDGER_KEY_FILE": str(tmp_path / "missing.key")})


@pytest.mark.parametrize(("key", "position", "signature", "words"), [
    (None, 7, None, None),  # an unkeyed ledger, written without a key
    (KEY, 0, None, None),  # an empty ledger needs no signature
    (KEY, 7, "good", None),
    (None, 7, "good", "needs its key"),
    (KEY, 7, None, "is not signed"),
    (KEY, 8, "good", "does not match"),  # the head moved past what was signed
    (OTHER, 7, "good", "another key"),
])
def test_which_heads_a_writer_may_extend(key: bytes | None, position: int, signature: str | None,
                                         words: str | None) -> None:
    stored = sign_head(KEY, 7, HASH) if signature == "good" else signature
    problem = head_signature_problem(key, position, HASH, stored)
    assert (problem is None) if words is None else (problem is not None and words in problem), problem


def test_a_checkpoint_holds_only_unaltered_and_under_its_key() -> None:
    checkpoint = make_checkpoint(KEY, "sqlite:///ledger.db", "cd" * 32, 41, HASH, "2026-12-08T02:00:00+00:00")
    assert read_checkpoint(KEY, dict(checkpoint)) == checkpoint
    for field, value in (("position", 40), ("hash", "ef" * 32), ("time", "2027-01-01"), ("first_hash", "00")):
        with pytest.raises(LedgerError, match="altered"):
            read_checkpoint(KEY, {**checkpoint, field: value})
    with pytest.raises(LedgerError, match="another key"):
        read_checkpoint(OTHER, checkpoint)
    with pytest.raises(LedgerError, match="not a stockmesh checkpoint"):
        read_checkpoint(KEY, [1, 2])
    with pytest.raises(LedgerError, match="malformed"):
        read_checkpoint(KEY, {**checkpoint, "position": "41"})
