"""Reading a JSON-lines file of commands: the ingest's parse, and its fingerprint worker's."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from stockmesh.domain.commands import Command, parse_command
from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.inputs import UTF8_BOM
from stockmesh.ledger.bulk.gc_pause import gc_paused
from stockmesh.service.strict_json import loads_json


def split_lines(data: bytes, *, at_start: bool = True) -> list[bytes]:
    """The lines of a JSON-lines file as iterating over the open file gives them (split at \\n only),
    without the UTF-8 byte order mark some Windows tools put at the start of a file (``at_start``:
    ``data`` begins the file, not a later chunk of it)."""
    return (data.removeprefix(UTF8_BOM) if at_start else data).split(b"\n")


# One JSON text of commands, parsed strictly (``strict_json``): a key given twice in one object is
# an error, not "the last one wins" (``{"qty": 1, "qty": 500}`` would ship 500). An alias, not a
# wrapper: it runs once per line of a file of millions.
loads_command_json = loads_json


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="FILE") from exc


CHUNK_BYTES = 8 << 20  # a big file is read, parsed and decided this many bytes (whole lines) at a time


def file_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="FILE") from exc


def read_chunks(path: Path, chunk_bytes: int | None = None) -> Iterator[tuple[int, bytes]]:
    """The file in chunks of whole lines, about ``chunk_bytes`` each (a longer line is a chunk of its
    own): (the number of the chunk's first line, its bytes). Only one chunk is held at a time."""
    size = CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    try:
        with path.open("rb") as handle:
            line = 1
            rest = b""
            while block := handle.read(size):
                data = rest + block
                cut = data.rfind(b"\n")
                if cut < 0:
                    rest = data
                    continue
                rest = data[cut + 1:]
                yield line, data[:cut + 1]
                line += data.count(b"\n", 0, cut + 1)
            if rest:
                yield line, rest
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="FILE") from exc


def parse_lines(data: bytes, first_line: int = 1) -> tuple[list[Command], list[dict[str, Any]], list[int],
                                                           list[InvalidInput]]:
    """Parse the bytes of a JSON-lines file of commands (or of a chunk of one that starts at line
    ``first_line``). Blank lines are skipped; each error names its line."""
    commands: list[Command] = []
    payloads: list[dict[str, Any]] = []
    lines: list[int] = []
    errors: list[InvalidInput] = []
    with gc_paused():
        for number, raw in enumerate(split_lines(data, at_start=first_line == 1), start=first_line):
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
