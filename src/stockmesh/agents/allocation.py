"""AllocationAgent (stand-in until the allocation issue lands): fair share of a short DC.

When the stores' requests for a SKU exceed what its DC has available, every request gets the same
share of it (floored to whole units, the remainder to the largest requests), so no store is
starved and the DC never promises units it does not have.
"""

from __future__ import annotations

import numpy as np


class AllocationAgent:
    name = "allocation"

    @staticmethod
    def fair_share(requested: np.ndarray, source: np.ndarray, available: np.ndarray) -> np.ndarray:
        """Allocated units per request; ``source[i]`` indexes ``available`` (the DC row of request i)."""
        requested = np.maximum(requested.astype(np.int64), 0)
        total = np.bincount(source, weights=requested, minlength=available.shape[0])
        share = np.ones(available.shape[0])
        short = total > available
        share[short] = np.maximum(available[short], 0) / total[short]
        allocated = np.floor(requested * share[source]).astype(np.int64)
        # hand out what flooring left, one unit at a time, largest requests first
        left = np.maximum(available, 0).astype(np.int64) - np.bincount(source, weights=allocated,
                                                                        minlength=available.shape[0]).astype(np.int64)
        for dc in np.flatnonzero(short & (left > 0)):
            members = np.flatnonzero((source == dc) & (allocated < requested))
            for i in members[np.argsort(-requested[members], kind="stable")][: int(left[dc])]:
                allocated[i] += 1
        return allocated
