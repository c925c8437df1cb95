"""Lead-time demand, safety stock and reorder points, vectorised over rows.

Demand over a protection interval of T = L + R periods (lead time L, review period R), with per-period
demand mean mu_d and sd sigma_d and lead-time mean L and sd sigma_L:
    mean  = mu_d * T
    sd    = sqrt(T * sigma_d^2 + mu_d^2 * sigma_L^2)
Targets:
* cycle service level alpha: P(D <= reorder point) >= alpha;
* fill rate beta: expected units short per replenishment cycle <= (1 - beta) * cycle quantity.
Normal rows use z = Phi^-1(alpha) or the inverse of the standard normal loss function; Poisson and
negative-binomial rows use exact integer quantiles and exact discrete loss functions; empirical rows
interpolate given quantiles of the protection-interval demand.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from scipy import special

_SQRT2 = math.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


def protection_demand_moments(
    demand_mean: np.ndarray,
    demand_sd: np.ndarray,
    lead_time_mean: np.ndarray,
    lead_time_sd: np.ndarray,
    review_period: np.ndarray | float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of demand over L + R periods, with demand and lead-time variability."""
    periods = lead_time_mean + review_period
    mean = demand_mean * periods
    sd = np.sqrt(periods * demand_sd**2 + demand_mean**2 * lead_time_sd**2)
    return mean, sd


def economic_order_quantity(
    demand_mean: np.ndarray, fixed_order_cost: np.ndarray, holding_cost: np.ndarray
) -> np.ndarray:
    """EOQ = sqrt(2 K mu_d / h) per row (0 when K = 0; inf when h = 0 and K > 0)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        quantity = np.sqrt(2.0 * fixed_order_cost * demand_mean / holding_cost)
    return np.where(fixed_order_cost * demand_mean == 0.0, 0.0, quantity)


def standard_normal_loss(z: np.ndarray) -> np.ndarray:
    """L(z) = E[(Z - z)+] for a standard normal Z."""
    return np.exp(-0.5 * z * z) * _INV_SQRT_2PI - z * 0.5 * special.erfc(z / _SQRT2)


_Z_TABLE = np.linspace(-8.0, 9.0, 17001)
_LOG_LOSS_TABLE = np.log(standard_normal_loss(_Z_TABLE))


def normal_fill_rate_safety_factor(target_loss: np.ndarray) -> np.ndarray:
    """z with L(z) = target_loss (> 0): table interpolation of log L, then two Newton steps."""
    log_target = np.log(np.asarray(target_loss, dtype=float))
    # log L is decreasing: interpolate on the reversed table.
    z = np.interp(-log_target, -_LOG_LOSS_TABLE, _Z_TABLE)
    for _ in range(2):
        loss = standard_normal_loss(z)
        tail = 0.5 * special.erfc(z / _SQRT2)
        z = z + (np.log(loss) - log_target) * loss / np.maximum(tail, 1e-300)
    return z


# ---- discrete distributions: Poisson(mean) and negative binomial (size n, success probability p) ----


def poisson_cdf(k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """P(D <= k) for integer k (k < 0 gives 0)."""
    return np.where(k >= 0, special.pdtr(np.maximum(k, 0), mean), 0.0)


def poisson_shortage(k: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """E[(D - k)+] for integer k >= 0: mean - k + k F(k) - mean F(k - 1), exact."""
    return mean - k + k * poisson_cdf(k, mean) - mean * poisson_cdf(k - 1, mean)


def negative_binomial_parameters(mean: np.ndarray, sd: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(size n, success probability p) with the given mean and sd (needs sd^2 > mean)."""
    variance = sd**2
    probability = mean / variance
    size = mean * probability / (1.0 - probability)
    return size, probability


def negative_binomial_cdf(k: np.ndarray, size: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """P(D <= k) = I_p(n, k + 1) for integer k (k < 0 gives 0)."""
    return np.where(k >= 0, special.betainc(size, np.maximum(k, 0) + 1.0, probability), 0.0)


def negative_binomial_shortage(k: np.ndarray, size: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """E[(D - k)+], exact, using k P(k; n, p) = mean P(k - 1; n + 1, p)."""
    mean = size * (1.0 - probability) / probability
    below = mean * negative_binomial_cdf(k - 1, size + 1.0, probability)  # E[D; D <= k]
    return mean - k + k * negative_binomial_cdf(k, size, probability) - below


def smallest_integer_where(
    predicate: Callable[[np.ndarray, np.ndarray], np.ndarray], guess: np.ndarray, lowest: int = 0
) -> np.ndarray:
    """Smallest integer k >= lowest with predicate(k, rows) true, per row; predicate monotone in k.

    Starts from ``guess`` (a good approximation keeps it to two or three vectorised evaluations),
    gallops to a bracket, then bisects; only unresolved rows are evaluated again.
    """
    k = np.maximum(np.asarray(guess, dtype=float), lowest)
    rows = np.arange(k.shape[0])
    holds = predicate(k, rows)
    high = np.where(holds, k, np.nan)
    low = np.where(holds, np.nan, k)
    # Gallop up from rows that fail, down from rows that hold, until each row is bracketed.
    step = np.ones_like(k)
    upward = rows[~holds]
    for _ in range(200):  # doubling steps: 200 reaches any float; a predicate never true stays at inf
        if not upward.size:
            break
        trial = low[upward] + step[upward]
        ok = predicate(trial, upward)
        high[upward[ok]] = trial[ok]
        low[upward[~ok]] = trial[~ok]
        step[upward] *= 2.0
        upward = upward[~ok]
    high[upward] = np.inf
    low[upward] = np.inf
    step[:] = 1.0
    downward = rows[holds & (k > lowest)]
    while downward.size:
        trial = np.maximum(high[downward] - step[downward], lowest)
        ok = predicate(trial, downward)
        low[downward[~ok]] = trial[~ok]
        high[downward[ok]] = trial[ok]
        step[downward] *= 2.0
        downward = downward[ok & (trial > lowest)]
    low = np.where(np.isnan(low), lowest - 1.0, low)
    # Bisection between low (fails, or below the range) and high (holds).
    active = rows[np.isfinite(high) & (high - low > 1.0)]
    while active.size:
        middle = np.floor(0.5 * (low[active] + high[active]))
        ok = predicate(middle, active)
        high[active[ok]] = middle[ok]
        low[active[~ok]] = middle[~ok]
        active = active[high[active] - low[active] > 1.0]
    return high


def discrete_guess(mean: np.ndarray, sd: np.ndarray, skewness: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Cornish-Fisher start for an integer quantile search."""
    return np.ceil(mean + sd * (z + skewness * (z * z - 1.0) / 6.0) - 0.5)


def empirical_quantile(levels: np.ndarray, quantiles: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Per row, the demand quantile at ``probability``, interpolating the row's quantile array linearly.

    ``levels`` (K,) increasing in (0, 1); ``quantiles`` (N, K) non-decreasing along each row. Beyond the
    end levels the end quantiles are used (no extrapolation).
    """
    position = np.clip(np.searchsorted(levels, probability, side="right") - 1, 0, len(levels) - 2)
    left_level, right_level = levels[position], levels[position + 1]
    rows = np.arange(quantiles.shape[0])
    left, right = quantiles[rows, position], quantiles[rows, position + 1]
    weight = np.clip((probability - left_level) / (right_level - left_level), 0.0, 1.0)
    return left + weight * (right - left)


def empirical_shortage(levels: np.ndarray, quantiles: np.ndarray, reorder_point: np.ndarray) -> np.ndarray:
    """E[(D - r)+] ~ integral over u of (q(u) - r)+ du, trapezoid over the given levels."""
    excess = np.maximum(quantiles - reorder_point[:, None], 0.0)
    widths = np.diff(levels)
    inner = 0.5 * (excess[:, 1:] + excess[:, :-1]) @ widths
    # The upper tail beyond the last level is taken as flat at the last quantile (a lower bound).
    return inner + excess[:, -1] * (1.0 - levels[-1])


def empirical_mean(levels: np.ndarray, quantiles: np.ndarray) -> np.ndarray:
    """Mean implied by the quantiles (trapezoid, end quantiles held flat in the tails)."""
    widths = np.diff(levels)
    return (
        0.5 * (quantiles[:, 1:] + quantiles[:, :-1]) @ widths
        + quantiles[:, 0] * levels[0]
        + quantiles[:, -1] * (1.0 - levels[-1])
    )
