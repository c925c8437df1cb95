"""Fixtures for the integration adapters: a small network that reads like the domain."""

from __future__ import annotations

from pathlib import Path

import pytest

from stockmesh.ledger.memory import MemoryEventStore
from stockmesh.service.execute import execute
from tests.support.commands import c

DATA = Path(__file__).parent / "data"
SKUS = ("OAT-MILK-1L", "MUESLI-500G", "FLOUR-1KG")
SITES = (("DC-LYON", "dc"), ("STORE-LYON-02", "store"), ("DC-PARIS", "dc"), ("STORE-PARIS-01", "store"),
         ("SUP-OATLY", "supplier"))


def seed_network(store) -> None:  # type: ignore[no-untyped-def]
    execute(store, [c("RegisterSku", sku=s, pack_size=6 if s == "OAT-MILK-1L" else 1) for s in SKUS]
            + [c("RegisterSite", site=s, kind=k) for s, k in SITES])


@pytest.fixture
def network_store() -> MemoryEventStore:
    store = MemoryEventStore()
    seed_network(store)
    return store
