"""Expected shortage and overage of normally approximated demand, vectorised over rows.

Demand over a horizon is approximated by a normal distribution with mean ``mean`` and standard
deviation ``sd`` (from a forecast's moments, or fitted to its quantiles with
``normal_from_quantiles``). With stock ``S`` at the start of the horizon:

    E[(D - S)+] = sd * L((S - mean) / sd),   L(z) = phi(z) - z (1 - Phi(z))   (standard loss)
    E[(S - D)+] = S - mean + E[(D - S)+]

A zero ``sd`` degenerates to the deterministic ``max(mean - S, 0)``.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, ndtri

_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def standard_loss(z: np.ndarray) -> np.ndarray:
    """L(z) = E[(Z - z)+] for a standard normal Z."""
    z = np.asarray(z, dtype=np.float64)
    return _INV_SQRT_2PI * np.exp(-0.5 * z * z) - z * (1.0 - ndtr(z))


def expected_shortage(stock: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """E[(D - stock)+] for D ~ Normal(mean, sd), elementwise (broadcasting)."""
    stock, mean, sd = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (stock, mean, sd)))
    spread = sd > 1e-9
    scale = np.where(spread, sd, 1.0)
    return np.where(spread, scale * standard_loss((stock - mean) / scale), np.maximum(mean - stock, 0.0))


def stockout_probability(stock: np.ndarray, mean: np.ndarray, sd: np.ndarray) -> np.ndarray:
    """P(D > stock) for D ~ Normal(mean, sd)."""
    stock, mean, sd = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (stock, mean, sd)))
    spread = sd > 1e-9
    scale = np.where(spread, sd, 1.0)
    return np.where(spread, 1.0 - ndtr((stock - mean) / scale), (mean > stock).astype(np.float64))


def newsvendor_cost(stock: np.ndarray, mean: np.ndarray, sd: np.ndarray, shortage_cost: np.ndarray,
                    overage_cost: np.ndarray) -> np.ndarray:
    """p E[(D - S)+] + h E[(S - D)+]: the expected cost of starting the horizon with ``stock``."""
    short = expected_shortage(stock, mean, sd)
    over = np.asarray(stock, dtype=np.float64) - mean + short
    return shortage_cost * short + overage_cost * over


def normal_from_quantiles(levels: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and sd of the normal closest (least squares on z) to forecast quantiles.

    ``levels`` are probabilities (k,), ``values`` the quantiles per row (rows, k).
    """
    levels = np.asarray(levels, dtype=np.float64)
    values = np.atleast_2d(np.asarray(values, dtype=np.float64))
    if levels.ndim != 1 or values.shape[1] != levels.size or levels.size < 2:
        raise ValueError("give at least two quantile levels and one value per level and row")
    if ((levels <= 0) | (levels >= 1)).any():
        raise ValueError("quantile levels must lie strictly between 0 and 1")
    z = ndtri(levels)
    z_mean = z.mean()
    slope = ((z - z_mean) * (values - values.mean(axis=1, keepdims=True))).sum(axis=1) / ((z - z_mean) ** 2).sum()
    sd = np.maximum(slope, 0.0)
    mean = values.mean(axis=1) - sd * z_mean
    return mean, sd
