"""The one strict JSON loader: commands (files and bus messages), EPCIS, snapshots, API bodies.

Parsers keep the last of repeated keys, so ``{"qty": 1, "qty": 500}`` would ship 500 from a text
that also says 1: here a key given twice in one object is an ``InvalidInput`` naming its path
(``epcisBody.eventList[0].quantity``). Nesting deeper than ``MAX_DEPTH`` is refused too (code that
walks a document recurses), and orjson already refuses NaN, infinities, numbers beyond a double
and invalid UTF-8, each with its line and column.

orjson parses; the exact repeated-key check (stdlib ``json`` with a pairs hook, several times
slower) runs only when the text may hold more keys than the parsed objects kept. A key is a string
followed by ``:``, so when no string is followed by white space, ``'":'`` occurs at least once per
key written; if it occurs exactly as often as the parsed objects hold keys, none was repeated.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from stockmesh.domain.errors import InvalidInput
from stockmesh.domain.inputs import MAX_DEPTH

# A container met on the walk: (the object, its depth, the index of its parent entry, its key there).
_Entry = tuple[Any, int, int, str | int | None]


def loads_json(raw: bytes | str, *, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON text strictly (see the module docstring). Raises ``InvalidInput``; a
    malformed text has no field, a repeated key or a too deep container names its path."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"malformed JSON: {exc}") from None
    if not isinstance(obj, (dict, list)):  # noqa: UP038 - the tuple is faster, and this runs per line
        return obj
    data = raw.encode() if isinstance(raw, str) else raw
    if data.count(b"{") + data.count(b"[") <= 1:
        keys = len(obj) if type(obj) is dict else 0
    else:
        keys = _walk(obj, max_depth)
    # written out, not any(...): a million command lines pass here
    if data.count(b'":') != keys or b'" ' in data or b'"\t' in data or b'"\n' in data or b'"\r' in data:
        _refuse_repeated_key(data)
    return obj


def _walk(root: Any, max_depth: int) -> int:
    """The number of keys in every object under ``root``; refuses a container nested too deeply."""
    entries: list[_Entry] = [(root, 1, -1, None)]
    keys = 0
    index = 0
    while index < len(entries):
        node, depth, _, _ = entries[index]
        if depth > max_depth:
            path = _path(entries, index)
            raise InvalidInput(f"malformed JSON: nested too deeply (more than {max_depth} levels)",
                               field=(path[:80] + "..." if len(path) > 80 else path) or None)
        if isinstance(node, dict):
            keys += len(node)
            entries.extend((v, depth + 1, index, k) for k, v in node.items() if isinstance(v, dict | list))
        else:
            entries.extend((v, depth + 1, index, i) for i, v in enumerate(node) if isinstance(v, dict | list))
        index += 1
    return keys


def _path(entries: list[_Entry], index: int) -> str:
    parts: list[str] = []
    while index > 0:
        _, _, parent, key = entries[index]
        parts.append(f"[{key}]" if isinstance(key, int) else f".{key}")
        index = parent
    return "".join(reversed(parts)).removeprefix(".")


def _refuse_repeated_key(data: bytes) -> None:
    """The exact check: raise naming the first key that appears twice in one object, if any."""
    repeated: list[tuple[dict[str, Any], str]] = []

    def pairs_hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        made = dict(pairs)
        if len(made) < len(pairs) and not repeated:
            seen: set[str] = set()
            for key, _ in pairs:
                if key in seen:
                    repeated.append((made, key))
                    break
                seen.add(key)
        return made

    try:
        root = json.loads(data, object_pairs_hook=pairs_hook)
    except (ValueError, RecursionError) as exc:  # orjson read it; the depth is bounded: not expected
        raise InvalidInput(f"malformed JSON: {exc}"[:200]) from None
    if not repeated:
        return
    holder, key = repeated[0]
    entries: list[_Entry] = [(root, 1, -1, None)]
    index = 0
    while entries[index][0] is not holder:
        node = entries[index][0]
        items = node.items() if isinstance(node, dict) else enumerate(node)
        entries.extend((v, 0, index, k) for k, v in items if isinstance(v, dict | list))
        index += 1
    where = _path(entries, index)
    raise InvalidInput("appears more than once in one object", field=f"{where}.{key}" if where else key)
