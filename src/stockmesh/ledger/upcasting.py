"""Upcasters lift events stored in an older shape to the current one, on read.

Register one function per (type, from_version); ``upcast`` applies them in a chain until the
payload reaches the current schema version of its event class. Stored rows are never rewritten.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stockmesh.domain.events import EVENT_TYPES

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}


def upcaster(type_name: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    def register(func: Upcaster) -> Upcaster:
        _UPCASTERS[(type_name, from_version)] = func
        return func

    return register


def upcast(type_name: str, schema_version: int, payload: dict[str, Any]) -> dict[str, Any]:
    current = EVENT_TYPES[type_name].schema_version
    version = schema_version
    while version < current:
        step = _UPCASTERS.get((type_name, version))
        if step is None:
            raise LookupError(f"no upcaster for {type_name} v{version}")
        payload = step(payload)
        version += 1
    return payload


@upcaster("StockAdjusted", 0)
def _adjusted_v0(payload: dict[str, Any]) -> dict[str, Any]:
    """v0 (pre-release) called the reason ``note`` and had no lots."""
    payload = dict(payload)
    payload["reason"] = payload.pop("note", "unspecified")
    payload.setdefault("lots", None)
    return payload
