"""Errors of the allocation numerics: bad inputs are refused with the field they came from.

    InvalidInput (stockmesh.domain.errors)
     └── AllocationInputError    negative costs, NaNs, an unknown source or site, an infeasible lane
"""

from __future__ import annotations

import numpy as np

from stockmesh.domain.errors import InvalidInput


class AllocationInputError(InvalidInput):
    """An allocation, rebalancing or consolidation input that cannot be planned with."""


def check_finite_non_negative(field: str, values: np.ndarray | float, *, allow_inf: bool = False) -> None:
    """Refuse NaN and negative numbers (and infinities unless ``allow_inf``), naming ``field``."""
    array = np.asarray(values, dtype=np.float64)
    if np.isnan(array).any():
        raise AllocationInputError(f"{field} contains NaN", field=field)
    if not allow_inf and np.isinf(array).any():
        raise AllocationInputError(f"{field} must be finite", field=field)
    if (array < 0).any():
        worst = float(array.min())
        raise AllocationInputError(f"{field} must not be negative (got {worst:g})", field=field)


def check_index(field: str, index: np.ndarray, size: int, what: str) -> None:
    """Every entry of ``index`` must point into an array of ``size`` entries."""
    index = np.asarray(index)
    if index.size and (index.min() < 0 or index.max() >= size):
        bad = int(index[(index < 0) | (index >= size)][0])
        raise AllocationInputError(f"unknown {what} {bad} (expected 0..{size - 1})", field=field)
