"""Per-series model selection by rolling-origin cross-validation.

Every candidate model forecasts ``horizon`` periods after each of the selection windows' cutoffs;
each series is scored per model on those windows (RMSE for RMSSE, MAE for MASE, or the pinball loss
of in-sample conformal quantiles). Choosing freely per series on a few windows over-fits noise,
most of all on intermittent data, so selection is regularised: each demand class first gets a
default, the candidate with the best mean *scaled* score over the class's series, and a series
leaves the default only when its own best candidate beats the default significantly on the series'
own windows (a paired test on the pointwise losses, see :func:`choose_models`). Long daily series
thus get their own model more often than short monthly ones, whose few windows prove little.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from stockmesh.planning.forecast.accuracy import Scales, pinball_loss
from stockmesh.planning.forecast.classify import CLASSES
from stockmesh.planning.forecast.conformal import conformal_rank_quantile

Metric = Literal["rmsse", "mase", "pinball"]
METRICS: tuple[str, ...] = ("rmsse", "mase", "pinball")
QUANTILE_LEVELS: tuple[float, ...] = (0.5, 0.9, 0.95, 0.99)
SWITCH_Z = 3.0


def candidate_mask(model_names: list[str], candidates: dict[str, tuple[str, ...]]) -> np.ndarray:
    """``(n_classes, n_models)``: may a series of this class use this model?"""
    mask = np.zeros((len(CLASSES), len(model_names)), dtype=bool)
    for class_index, class_name in enumerate(CLASSES):
        for model_index, name in enumerate(model_names):
            mask[class_index, model_index] = name in candidates.get(class_name, ())
    return mask


def fallback_model(allowed: np.ndarray, class_index: int) -> int:
    """The model a class gets when none of its series can be scored (no window, or no scale).

    Among the class's candidates, the one allowed in the fewest classes, i.e. the most specific to
    it (Croston before the moving average for intermittent demand), the first of those on a tie.
    """
    candidates = np.flatnonzero(allowed[class_index])
    if candidates.size == 0:
        return -1
    breadth = allowed[:, candidates].sum(axis=0)
    return int(candidates[int(np.argmin(breadth))])


def pointwise_losses(residuals: np.ndarray, metric: Metric) -> np.ndarray:
    """Loss of each residual (NaN stays NaN): squared for RMSSE, absolute for MASE, else the mean
    pinball loss over :data:`QUANTILE_LEVELS` of in-sample conformal quantiles of the same residuals."""
    if metric == "rmsse":
        return residuals * residuals
    if metric == "mase":
        return np.abs(residuals)
    loss = np.zeros_like(residuals)
    for level in QUANTILE_LEVELS:
        offset = np.nan_to_num(conformal_rank_quantile(residuals, level))
        loss += pinball_loss(residuals, offset[:, None], level)
    return loss / len(QUANTILE_LEVELS)


def window_scores(losses: np.ndarray, metric: Metric) -> np.ndarray:
    """Per series the raw score from pointwise ``losses`` ``(n_series, n_points)``; NaN if no point.

    RMSE for ``rmsse`` (the root of the mean squared error), else the mean loss.
    """
    observed = ~np.isnan(losses)
    count = observed.sum(axis=1)
    mean = np.where(observed, losses, 0.0).sum(axis=1) / np.maximum(count, 1)
    raw = np.sqrt(mean) if metric == "rmsse" else mean
    return np.where(count > 0, raw, np.nan)


def choose_models(
    losses: np.ndarray,
    demand_class: np.ndarray,
    allowed: np.ndarray,
    scales: Scales,
    metric: Metric,
    switch_z: float = SWITCH_Z,
) -> tuple[np.ndarray, np.ndarray]:
    """Pick a model per series from pointwise ``losses`` ``(n_models, n_series, n_points)``.

    The class default is the allowed model with the best mean scaled score over the class. A series
    switches to its own best model only if that model's losses are lower than the default's by a
    paired test (Diebold–Mariano style): ``mean(d) < -switch_z * sd(d) / sqrt(n)`` for the
    differences ``d`` between the two models' losses point by point. Returns the chosen model per
    series and the default per class (``-1`` for a class without series).
    """
    n_models, n_series, _ = losses.shape
    scores = np.stack([window_scores(losses[index], metric) for index in range(n_models)], axis=1)
    scale = np.sqrt(scales.squared) if metric == "rmsse" else scales.absolute
    usable = np.isfinite(scale) & (scale > 0)
    scaled = scores / np.where(usable, scale, np.nan)[:, None]
    defaults = np.full(len(CLASSES), -1)
    chosen = np.full(n_series, -1)
    rows_all = np.arange(n_series)
    for class_index in range(len(CLASSES)):
        members = demand_class == class_index
        if not members.any():
            continue
        candidates = np.flatnonzero(allowed[class_index])
        class_scaled = scaled[np.ix_(members, candidates)]
        scored = np.isfinite(class_scaled).all(axis=1)
        default = (
            candidates[int(np.argmin(class_scaled[scored].mean(axis=0)))]
            if scored.any()
            else fallback_model(allowed, class_index)
        )
        defaults[class_index] = default
        rows = rows_all[members]
        own = scores[np.ix_(rows, candidates)]
        has_score = np.isfinite(own).all(axis=1)
        best = candidates[np.argmin(np.where(np.isfinite(own), own, np.inf), axis=1)]
        difference = losses[best, rows] - losses[default, rows]
        observed = ~np.isnan(difference)
        n = observed.sum(axis=1)
        mean = np.where(observed, difference, 0.0).sum(axis=1) / np.maximum(n, 1)
        variance = np.where(observed, (difference - mean[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(
            n - 1, 1
        )
        switch = (
            has_score
            & (n >= 2)
            & (best != default)
            & (mean < -switch_z * np.sqrt(variance / np.maximum(n, 1)))
        )
        chosen[rows] = np.where(switch, best, default)
    return chosen, defaults


def reselect_with_expensive(
    losses: np.ndarray,
    current: np.ndarray,
    rows: np.ndarray,
    expensive: np.ndarray,
    demand_class: np.ndarray,
    scales: Scales,
    metric: Metric,
    switch_z: float = SWITCH_Z,
) -> np.ndarray:
    """Second stage for the ``rows`` that the expensive models were run on.

    Among each row's current (cheap) choice and the ``expensive`` model indices, the same rule as
    :func:`choose_models` applies, within the evaluated rows of each class: a default by mean
    scaled score, left only on a significant paired test. A row keeps its cheap model where the
    picked expensive model has no score (its fit failed). Returns the updated choice per series.
    """
    if rows.size == 0 or expensive.size == 0:
        return current
    stage = np.concatenate([current[rows][None, :], np.repeat(expensive[:, None], rows.size, axis=1)])
    sub_losses = losses[stage, rows[None, :]]
    allowed = np.ones((len(CLASSES), stage.shape[0]), dtype=bool)
    sub_scales = Scales(squared=scales.squared[rows], absolute=scales.absolute[rows])
    pick, _ = choose_models(sub_losses, demand_class[rows], allowed, sub_scales, metric, switch_z)
    picked = stage[pick, np.arange(rows.size)]
    scored = np.isfinite(window_scores(losses[picked, rows], metric))
    updated = current.copy()
    updated[rows] = np.where(scored, picked, current[rows])
    return updated
