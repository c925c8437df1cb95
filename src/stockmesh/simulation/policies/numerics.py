"""Small inventory numerics shared by the oracle and the agents policy, vectorised over rows.

Kept here rather than in ``planning/`` while the planning policies (issue 4) land; each function is
a plain array formula so it can move there unchanged.
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
    """Quantile of the count distribution with this mean and variance: negative binomial when
    over-dispersed, Poisson otherwise (moment matching)."""
    from scipy.stats import nbinom, poisson

    mean = np.maximum(np.asarray(mean, dtype=np.float64), 1e-9)
    variance = np.asarray(variance, dtype=np.float64)
    over = variance > mean * 1.001
    safe_variance = np.where(over, variance, mean * 2)
    shape = mean**2 / (safe_variance - mean)
    success = mean / safe_variance
    quantile = np.where(over, nbinom.ppf(probability, shape, success), poisson.ppf(probability, mean))
    return np.nan_to_num(quantile, nan=0.0)


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
