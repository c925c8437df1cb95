"""Helpers for the forecast tests: demand CSV files written the way a WMS export would look."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def write_demand(tmp_path: Path) -> Callable[..., Path]:
    """Write a long CSV from ``{(sku, site): [qty per day]}`` starting on 2024-01-01."""

    def _write(
        series: dict[tuple[str, str], list[float]], name: str = "demand.csv", start: str = "2024-01-01"
    ) -> Path:
        day0 = np.datetime64(start, "D")
        lines = ["sku,site,date,qty"]
        for (sku, site), quantities in series.items():
            for offset, qty in enumerate(quantities):
                lines.append(f"{sku},{site},{day0 + offset},{qty:g}")
        path = tmp_path / name
        path.write_text("\n".join(lines) + "\n")
        return path

    return _write
