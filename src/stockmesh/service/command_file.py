"""Reading a JSON-lines file of commands: the ingest's parse, and its fingerprint worker's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stockmesh.domain.bulk import gc_paused
from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.inputs import UTF8_BOM
from stockmesh.service.strict_json import loads_json

def split_lines(data: bytes) -> list[bytes]:
    """The lines of a JSON-lines file as iterating over the open file gives them (split at \\n only),
    without the UTF-8 byte order mark some Windows tools put at the start of a file."""
    return data.removeprefix(UTF8_BOM).split(b"\n")


def loads_command_json(raw: bytes) -> Any:
    """One JSON text of commands, parsed strictly (``strict_json``): a key given twice in one
    object is an error, not "the last one wins" (``{"qty": 1, "qty": 500}`` would ship 500)."""
    return loads_json(raw)


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
