"""Order quantities: from a target and an inventory position to a quantity a supplier accepts.

quantity = max(0, need), rounded up to a whole number of ordering units (the least common multiple of
the pack size and the order multiple), lifted to the MOQ (itself rounded up to units), then capped by
the smaller of the maximum order and the supplier capacity (rounded down to units). When the cap is
below the MOQ no acceptable order exists: the quantity is 0 and the row is flagged.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntFlag

import numpy as np

from stockmesh.domain.errors import InvalidInput


class OrderFlag(IntFlag):
    """What the rounding did to a row's order (bit flags, stored as uint8)."""

    NONE = 0
    ROUNDED_UP = 1
    LIFTED_TO_MOQ = 2
    CAPPED = 4
    BLOCKED_CAP_BELOW_MOQ = 8


@dataclass(frozen=True, slots=True)
class OrderConstraints:
    """Per-row ordering rules in base units; scalars broadcast. ``inf`` means no cap."""

    pack_size: np.ndarray | int = 1
    order_multiple: np.ndarray | int = 1
    minimum_order_quantity: np.ndarray | float = 0
    maximum_order_quantity: np.ndarray | float = np.inf
    supplier_capacity: np.ndarray | float = np.inf


def _positive_integers(values: np.ndarray | int, field: str, size: int) -> np.ndarray:
    array = np.broadcast_to(np.asarray(values), (size,))
    if not np.all(np.isfinite(array)) or np.any(array < 1) or np.any(array != np.round(array)):
        bad = int(np.flatnonzero(~np.isfinite(array) | (array < 1) | (array != np.round(array)))[0])
        raise InvalidInput(f"row {bad}: must be a whole number >= 1, got {array[bad]!r}", field=field)
    return array.astype(np.int64)


def _non_negative(values: np.ndarray | float, field: str, size: int) -> np.ndarray:
    array = np.broadcast_to(np.asarray(values, dtype=float), (size,))
    bad_mask = np.isnan(array) | (array < 0)
    if np.any(bad_mask):
        bad = int(np.flatnonzero(bad_mask)[0])
        raise InvalidInput(f"row {bad}: must be >= 0, got {array[bad]!r}", field=field)
    return array


def round_order_quantity(need: np.ndarray, constraints: OrderConstraints) -> tuple[np.ndarray, np.ndarray]:
    """(quantities, flags) for the needs (target - position, any sign); float64 quantities, whole units."""
    need = np.asarray(need, dtype=float)
    size = need.shape[0]
    unit = np.lcm(
        _positive_integers(constraints.pack_size, "pack_size", size),
        _positive_integers(constraints.order_multiple, "order_multiple", size),
    ).astype(float)
    moq = _non_negative(constraints.minimum_order_quantity, "minimum_order_quantity", size)
    cap = np.minimum(
        _non_negative(constraints.maximum_order_quantity, "maximum_order_quantity", size),
        _non_negative(constraints.supplier_capacity, "supplier_capacity", size),
    )
    wanted = need / unit > 1e-9  # below a billionth of a unit is float noise, not a need
    # A tiny slack keeps 11.999999999 from becoming 12 + one more pack through float noise.
    quantity = np.where(wanted, np.ceil(need / unit - 1e-9) * unit, 0.0)
    flags = np.where(wanted & (quantity != need), OrderFlag.ROUNDED_UP, OrderFlag.NONE).astype(np.uint8)
    moq_units = np.ceil(moq / unit - 1e-9) * unit
    lift = wanted & (quantity < moq_units)
    quantity = np.where(lift, moq_units, quantity)
    flags |= np.where(lift, OrderFlag.LIFTED_TO_MOQ, 0).astype(np.uint8)
    cap_units = np.where(np.isfinite(cap), np.floor(cap / unit + 1e-9) * unit, np.inf)
    capped = wanted & (quantity > cap_units)
    quantity = np.where(capped, cap_units, quantity)
    flags |= np.where(capped, OrderFlag.CAPPED, 0).astype(np.uint8)
    blocked = wanted & (quantity < moq_units)
    quantity = np.where(blocked, 0.0, quantity)
    flags |= np.where(blocked, OrderFlag.BLOCKED_CAP_BELOW_MOQ, 0).astype(np.uint8)
    return quantity, flags
