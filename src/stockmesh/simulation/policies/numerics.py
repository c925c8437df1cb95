"""Small inventory numerics shared by the oracle and the agents policy, vectorised over rows.

Each function is a plain array formula: the few the twin's own policies need. The planning
policies in full (demand models, service targets, policy kinds per row) are
``planning.policies.compute_policies``.
"""

from __future__ import annotations

import numpy as np


def economic_order_quantity(order_cost: np.ndarray, daily_demand: np.ndarray,
                            holding_cost_per_day: np.ndarray) -> np.ndarray:
    """EOQ = sqrt(2 K mu / h), with mu and h per day."""
    return np.sqrt(2 * order_cost * np.maximum(daily_demand, 0) / np.maximum(holding_cost_per_day, 1e-12))


def lost_sales_critical_ratio(lost_sale_penalty: np.ndarray, daily_demand: np.ndarray,
                              holding_cost_per_day: np.ndarray, order_quantity: np.ndarray) -> np.ndarray:
    """Cost-optimal probability of no stock-out per replenishment cycle under lost sales.

    Hadley-Whitin: P(lead-time demand <= s) = p D / (p D + h Q), with p the lost-sale penalty, D the
    demand rate, h the holding cost rate and Q the order quantity (all per day here).
    """
    gain = lost_sale_penalty * np.maximum(daily_demand, 0)
    cost = holding_cost_per_day * np.maximum(order_quantity, 1)
    return np.clip(gain / np.maximum(gain + cost, 1e-12), 0.5, 0.9999)


def negative_binomial_quantile(mean: np.ndarray, variance: np.ndarray, probability: np.ndarray) -> np.ndarray:
    """Smallest k with P(X <= k) >= probability, X negative binomial with this mean and variance
    (moment matching), or Poisson when not over-dispersed.

    A Cornish-Fisher guess, then integer bisection on the exact CDF (regularised incomplete beta /
    gamma functions) over the rows still open: a few vectorised ufunc calls, far cheaper than
    ``scipy.stats.nbinom.ppf``.
    """
    from scipy.special import betainc, gammaincc, ndtri

    mean = np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    variance = np.maximum(np.asarray(variance, dtype=np.float64), mean)
    probability = np.broadcast_to(np.asarray(probability, dtype=np.float64), mean.shape)
    over = variance > mean * 1.001
    shape = np.where(over, mean**2 / np.maximum(variance - mean, 1e-12), 1.0)
    success = np.where(over, mean / variance, 0.5)
    sd = np.sqrt(variance)
    skew = np.where(over, (2 - success) / np.sqrt(shape * np.maximum(1 - success, 1e-12)), 1 / np.sqrt(mean))
    z = ndtri(probability)
    guess = np.floor(mean + sd * (z + (z**2 - 1) * skew / 6))

    def cdf(k: np.ndarray, index: np.ndarray) -> np.ndarray:
        out = np.empty(index.size)
        nb = over[index]
        out[nb] = betainc(shape[index[nb]], k[nb] + 1, success[index[nb]])
        out[~nb] = gammaincc(k[~nb] + 1, mean[index[~nb]])
        return out

    everything = np.arange(mean.size)
    width = np.maximum(2.0, np.ceil(0.25 * sd))
    low = np.maximum(guess - width, -1)
    high = np.maximum(guess + width, 0)
    # widen the bracket where the guess was off: low must be below the quantile, high at or above
    too_high = (low >= 0) & (cdf(np.maximum(low, 0), everything) >= probability)
    low[too_high] = -1
    too_low = cdf(high, everything) < probability
    high[too_low] = np.ceil(mean[too_low] + 12 * sd[too_low] + 10)
    open_rows = np.flatnonzero(high - low > 1)
    while open_rows.size:
        middle = np.floor((low[open_rows] + high[open_rows]) / 2)
        reached = cdf(np.maximum(middle, 0), open_rows) >= probability[open_rows]
        high[open_rows[reached]] = middle[reached]
        low[open_rows[~reached]] = middle[~reached]
        open_rows = open_rows[high[open_rows] - low[open_rows] > 1]
    return high


def mixture_moments(cumulative_mean: np.ndarray, cumulative_variance: np.ndarray,
                    lead_time_pmf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and variance of demand over a random number of days.

    ``cumulative_mean[l, row]`` is the expected demand of the next ``l`` days (l = 0.. max),
    ``lead_time_pmf[row, l]`` the probability that the period lasts ``l`` days.
    """
    pmf = lead_time_pmf.T
    mean = (pmf * cumulative_mean).sum(axis=0)
    second = (pmf * (cumulative_variance + cumulative_mean**2)).sum(axis=0)
    return mean, np.maximum(second - mean**2, 0)
