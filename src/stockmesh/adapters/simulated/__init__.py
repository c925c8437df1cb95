"""The simulated world: production code used by the digital twin and the tests."""

from stockmesh.adapters.simulated.spec import WorldSpec, tile_spec
from stockmesh.adapters.simulated.world import Observation, RunTotals, SimulatedWorld

__all__ = ["Observation", "RunTotals", "SimulatedWorld", "WorldSpec", "tile_spec"]
