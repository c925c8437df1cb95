"""Allocation of scarce stock, lateral rebalancing and shipment consolidation: pure numerics.

- ``allocate``: share a short source over its requests (LP with HiGHS, greedy, fair share by days of
  cover, proportional), integer units, every solve time-limited with a greedy fallback;
- ``rebalance``: lateral transfers between sites of one echelon (MIP with fixed lane costs);
- ``consolidate``: joint replenishment per supplier lane, truck fill, transport mode choice.
"""

from stockmesh.planning.allocation.allocate import METHODS, AllocationProblem, AllocationResult, allocate
from stockmesh.planning.allocation.errors import AllocationInputError

__all__ = ["METHODS", "AllocationInputError", "AllocationProblem", "AllocationResult", "allocate"]
