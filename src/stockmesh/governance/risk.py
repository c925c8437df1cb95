"""The risk score of a proposal: ``value x (1 + forecast CV) x novelty``.

- value: the money the action commits (order value, or value of the units moved);
- forecast CV: forecast sd / forecast mean for the SKU x site (1.0 when no forecast is known: an
  order made blind counts as uncertain as a coin toss); capped at 5;
- novelty: ``1 + 1 / (1 + n)`` where n counts earlier executed proposals of the same agent,
  action, SKU and site: 2.0 the first time, 1.5 the second, towards 1.0 for routine actions.

The score is in money units, so ``autonomy.auto_approve_max_risk`` reads as "let the agents act
alone on routine, well-forecast actions worth up to about this much".
"""

from __future__ import annotations

import math

UNKNOWN_CV = 1.0
MAX_CV = 5.0


def forecast_cv(mean: float | None, sd: float | None) -> float:
    if mean is None or sd is None or not math.isfinite(mean) or not math.isfinite(sd) or mean <= 0 or sd < 0:
        return UNKNOWN_CV
    return min(sd / mean, MAX_CV)


def novelty(prior_executed: int) -> float:
    return 1.0 + 1.0 / (1.0 + max(prior_executed, 0))


def risk_score(value: float, mean: float | None, sd: float | None, prior_executed: int) -> float:
    if not math.isfinite(value) or value < 0:
        return math.inf
    return round(value * (1.0 + forecast_cv(mean, sd)) * novelty(prior_executed), 4)
