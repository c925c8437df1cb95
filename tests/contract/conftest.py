"""Fixtures of the contract suites: the backends that claim a port, by port."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import drop_store, make_store


@pytest.fixture(params=["sqlite", "postgres"])
def rebuildable_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    """A fresh store of each backend that claims ``Rebuildable`` (memory does not)."""
    store = make_store(request.param, tmp_path)
    yield store
    drop_store(store)
