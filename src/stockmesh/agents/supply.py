"""SupplyChainAgent: learns lead times per supplier and lane from receipts, keeps a scorecard,
flags late orders and proposes expediting them.

Each receipt is one observation: the lane, the days from order to receipt, whether it came on
time (by the expected date) and in full. Estimates are shrunk towards the quoted lead time until a
lane has enough receipts of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class LaneStats:
    receipts: int = 0
    lead_time_sum: float = 0.0
    lead_time_sumsq: float = 0.0
    on_time: int = 0
    in_full: int = 0
    recent: list[float] = field(default_factory=list)  # last lead times, for the trend


@dataclass(frozen=True)
class Scorecard:
    lane: str
    receipts: int
    lead_time_mean: float
    lead_time_sd: float
    on_time_in_full: float
    trend_days: float  # recent mean minus overall mean: > 0 means getting slower


class SupplyChainAgent:
    name = "supply"

    def __init__(self, prior_receipts: float = 5.0, recent: int = 10) -> None:
        self.prior_receipts = prior_receipts
        self.recent = recent
        self.lanes: dict[str, LaneStats] = {}

    def observe_receipt(self, lane: str, lead_time_days: float, on_time: bool, in_full: bool) -> None:
        stats = self.lanes.setdefault(lane, LaneStats())
        stats.receipts += 1
        stats.lead_time_sum += lead_time_days
        stats.lead_time_sumsq += lead_time_days**2
        stats.on_time += on_time
        stats.in_full += in_full
        stats.recent.append(lead_time_days)
        del stats.recent[:-self.recent]

    def lead_time(self, lane: str, quoted_mean: float) -> tuple[float, float]:
        """(mean, sd) of the lane's lead time, shrunk towards ``quoted_mean`` while receipts are few."""
        stats = self.lanes.get(lane)
        if stats is None or stats.receipts == 0:
            return quoted_mean, 0.25 * quoted_mean
        n, k = stats.receipts, self.prior_receipts
        observed_mean = stats.lead_time_sum / n
        variance = max(stats.lead_time_sumsq / n - observed_mean**2, 0.0)
        mean = (n * observed_mean + k * quoted_mean) / (n + k)
        sd = float(np.sqrt((n * variance + k * (0.25 * quoted_mean) ** 2) / (n + k)))
        return float(mean), sd

    def scorecard(self) -> list[Scorecard]:
        out = []
        for lane, s in sorted(self.lanes.items()):
            mean = s.lead_time_sum / s.receipts
            sd = float(np.sqrt(max(s.lead_time_sumsq / s.receipts - mean**2, 0.0)))
            trend = float(np.mean(s.recent)) - mean if s.recent else 0.0
            out.append(Scorecard(lane, s.receipts, mean, sd, min(s.on_time, s.in_full) / s.receipts, trend))
        return out

    @staticmethod
    def late_orders(expected_day: np.ndarray, today: int, open_qty: np.ndarray, grace_days: int = 1) -> np.ndarray:
        """Indices of open orders past their expected day by more than ``grace_days``."""
        return np.flatnonzero((open_qty > 0) & (today > expected_day + grace_days))
