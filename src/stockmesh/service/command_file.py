"""Reading a JSON-lines file of commands: the ingest's parse, and its fingerprint worker's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from stockmesh.domain.bulk import gc_paused
from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import InvalidInput

BOM = b"\xef\xbb\xbf"


def split_lines(data: bytes) -> list[bytes]:
    """The lines of a JSON-lines file as iterating over the open file gives them (split at \\n only),
    without the UTF-8 byte order mark some Windows tools put at the start of a file."""
    return (data[len(BOM):] if data.startswith(BOM) else data).split(b"\n")


def _repeated_key(raw: bytes) -> str | None:
    """The first key that appears twice in one object of ``raw`` (valid JSON), at any depth."""
    repeated: list[str] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen and not repeated:
                repeated.append(key)
            seen.add(key)
        return dict(pairs)

    try:
        json.loads(raw, object_pairs_hook=pairs_hook)
    except RecursionError:  # orjson takes 1,024 levels, json fewer; no command nests like that
        raise InvalidInput("malformed JSON: nested too deeply") from None
    return repeated[0] if repeated else None


def loads_command_json(raw: bytes) -> Any:
    """One JSON text of commands. A key given twice in one object is an error, not "the last one
    wins": ``{"qty": 1, "qty": 500}`` would otherwise ship 500 from a line that also says 1.

    orjson keeps the last of repeated keys, so the parse counts the keys it can see in the text:
    the exact (slower) check runs only when the text may hold more keys than the object kept, or
    when a string is followed by white space (a key written ``"qty" : 1``)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    if (raw.count(b'":') > (len(obj) if isinstance(obj, dict) else 0) or b'" ' in raw or b'"\t' in raw) and (
            key := _repeated_key(raw)) is not None:
        raise InvalidInput("appears more than once in one object", field=key)
    return obj


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="FILE") from exc


def parse_lines(data: bytes) -> tuple[list[Command], list[dict[str, Any]], list[int], list[InvalidInput]]:
    """Parse the bytes of a JSON-lines file of commands. Blank lines are skipped; each error names its line."""
    commands: list[Command] = []
    payloads: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[InvalidInput] = []
    with gc_paused():
        for number, raw in enumerate(split_lines(data), start=1):
            if not raw.strip():
                continue
            try:
                obj = loads_command_json(raw)
                commands.append(parse_command(obj))
                payloads.append(obj)
                lines.append(number)
            except InvalidInput as exc:
                errors.append(exc.at_line(number))
    return commands, payloads, lines, errors
