"""Commands that read like the domain, for tests."""

from __future__ import annotations

import itertools
from typing import Any

from stockmesh.domain.commands import Command, parse_command

_keys = itertools.count()

SKU = "OAT-MILK-1L"
STORE = "STORE-LYON-02"
DC = "DC-LYON"
SUPPLIER = "SUP-OATLY"


def c(name: str, **fields: Any) -> Command:
    fields.setdefault("idempotency_key", f"test-{next(_keys)}")
    return parse_command({"command": name, **fields})


def network(negative_stock: str = "reject") -> list[Command]:
    return [
        c("RegisterSku", sku=SKU, unit_cost=1.2, pack_size=6),
        c("RegisterSite", site=STORE, kind="store", negative_stock=negative_stock),
        c("RegisterSite", site=DC, kind="dc"),
        c("RegisterSite", site=SUPPLIER, kind="supplier"),
    ]
