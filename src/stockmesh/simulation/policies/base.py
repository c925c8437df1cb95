"""The policy seam of the twin: observation arrays in, order quantities (and their reasons) out.

A ``Policy`` is asked once per echelon per day with the rows of that echelon. It must only use the
``Observation`` (what a real deployment sees); the oracle and hindsight baselines are the declared
exceptions and receive the world's spec when they are built.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from stockmesh.adapters.simulated.world import Observation


@dataclass(frozen=True, kw_only=True)
class Decision:
    """Per-row targets and orders for ``rows``, with the provenance an explanation needs.

    ``inputs`` and ``parameters`` hold arrays aligned with ``rows`` (or scalars); ``formula``
    says how ``order_quantity`` follows from them.
    """

    policy: str
    rows: np.ndarray
    reorder_point: np.ndarray
    order_up_to: np.ndarray
    order_quantity: np.ndarray
    formula: str
    inputs: dict[str, np.ndarray | float] = field(default_factory=dict)
    parameters: dict[str, np.ndarray | float] = field(default_factory=dict)

    def explain(self, row: int) -> dict[str, object]:
        """The provenance of one row's decision, as plain numbers."""
        (position,) = np.flatnonzero(self.rows == row)

        def pick(value: np.ndarray | float) -> float:
            return float(value[position]) if isinstance(value, np.ndarray) and value.ndim else float(value)

        return {
            "policy": self.policy,
            "formula": self.formula,
            "reorder_point": float(self.reorder_point[position]),
            "order_up_to": float(self.order_up_to[position]),
            "order_quantity": float(self.order_quantity[position]),
            "inputs": {k: pick(v) for k, v in self.inputs.items()},
            "parameters": {k: pick(v) for k, v in self.parameters.items()},
        }


class Policy(Protocol):
    """Decides the day's orders for ``rows`` from the observation alone."""

    name: str

    def decide(self, observation: Observation, rows: np.ndarray) -> Decision: ...


def reorder_to_target(policy: str, rows: np.ndarray, inventory_position: np.ndarray, reorder_point: np.ndarray,
                      order_up_to: np.ndarray, formula: str, **provenance: dict[str, np.ndarray | float]) -> Decision:
    """(s, S): when the position is at or below s, order up to S."""
    order = np.where(inventory_position <= reorder_point, np.maximum(order_up_to - inventory_position, 0), 0)
    return Decision(policy=policy, rows=rows, reorder_point=reorder_point, order_up_to=order_up_to,
                    order_quantity=np.ceil(order).astype(np.int64), formula=formula,
                    inputs=provenance.get("inputs", {}), parameters=provenance.get("parameters", {}))
