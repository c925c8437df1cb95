"""statsforecast's AutoETS, AutoTheta and AutoARIMA as optional, expensive candidates.

These models are fitted series by series (tens to hundreds of milliseconds each here, against
about 0.05 ms per series for a cheap vectorised model), so they are run only on a bounded subset of
the smooth and erratic series, where the cheap models did worst (see :func:`pick_expensive_rows`),
and only while a wall-clock budget lasts. statsforecast is the ``[forecast]`` extra: it is imported
lazily, and without it this module reports itself unavailable and the selection keeps to the cheap
models.

Each model is fitted afresh at every cutoff, on the history before it, so no forecast sees the
window it is scored on. (Fitting once at the first cutoff and re-applying the parameters with
statsforecast's ``forward`` is several times cheaper, but on the hospital data it lost most of
AutoETS's accuracy: RMSSE 0.99 against 0.86 on a sample of 80 series.)
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from stockmesh.planning.forecast.classify import ERRATIC, SMOOTH

EXPENSIVE_MODELS: tuple[str, ...] = ("AutoETS", "AutoTheta", "AutoARIMA")
DEFAULT_EXPENSIVE_MODELS: tuple[str, ...] = ("AutoETS", "AutoTheta")
MIN_FIT_PERIODS = 8


def statsforecast_available() -> bool:
    """Is the ``[forecast]`` extra installed?"""
    try:
        import statsforecast.models  # noqa: F401
    except ImportError:
        return False
    return True


@dataclass
class ExpensiveBudget:
    """What is left of the expensive-model budget of one ``forecast_series`` or ``backtest`` call.

    ``share`` bounds the share of series (per chunk of rows) that may be evaluated; ``seconds`` is
    the wall-clock time the fits may take, counted from the first one (statsforecast's import and
    compilation included), after which no further series is started.
    """

    models: tuple[str, ...]
    share: float
    seconds: float
    deadline: float | None = None
    evaluated: int = 0
    failed_fits: int = 0
    stopped_by_time: bool = False

    @staticmethod
    def start(models: tuple[str, ...], share: float, seconds: float) -> ExpensiveBudget | None:
        """A budget, or ``None`` when nothing may be spent (no models, no share, no statsforecast)."""
        if not models or share <= 0 or seconds <= 0 or not statsforecast_available():
            return None
        unknown = [name for name in models if name not in EXPENSIVE_MODELS]
        if unknown:
            raise ValueError(f"unknown expensive model(s) {unknown}; choose from {EXPENSIVE_MODELS}")
        return ExpensiveBudget(models=models, share=share, seconds=seconds)

    def describe(self) -> dict[str, Any]:
        return {
            "models": list(self.models),
            "share": self.share,
            "seconds": self.seconds,
            "series_evaluated": self.evaluated,
            "failed_fits": self.failed_fits,
            "stopped_by_time": self.stopped_by_time,
        }


def pick_expensive_rows(
    classes: np.ndarray,
    best_cheap_scaled: np.ndarray,
    n_observed: np.ndarray,
    share: float,
    priority: np.ndarray | None = None,
) -> np.ndarray:
    """Rows worth an expensive fit, worst first: smooth or erratic series with a finite scaled CV
    score of their best cheap model and enough history, at most ``floor(share * n_series)``.

    ``priority`` rows (e.g. series that keep an expensive model chosen earlier) come first, on top
    of that share."""
    limit = int(np.floor(share * classes.shape[0]))
    eligible = (
        ((classes == SMOOTH) | (classes == ERRATIC))
        & np.isfinite(best_cheap_scaled)
        & (n_observed >= MIN_FIT_PERIODS)
    )
    first = np.zeros(classes.shape[0], dtype=bool) if priority is None else priority & (n_observed >= MIN_FIT_PERIODS)
    rows = np.flatnonzero(eligible & ~first)
    order = np.argsort(-best_cheap_scaled[rows], kind="stable")
    return np.concatenate([np.flatnonzero(first), rows[order][:limit]])


def _model(name: str, season_length: int) -> Any:
    from statsforecast import models

    return getattr(models, name)(season_length=season_length)


def run_expensive_models(
    values: np.ndarray,
    rows: np.ndarray,
    cutoffs: np.ndarray,
    horizon: int,
    season_length: int,
    budget: ExpensiveBudget,
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Forecasts ``{name: (n_series, n_cutoffs, horizon)}`` of the budget's models for ``rows``.

    Rows not evaluated (outside ``rows``, or reached after the deadline) stay NaN, as does a model
    whose fit failed on a series. Also returns the boolean mask of evaluated rows.
    """
    n_series = values.shape[0]
    out = {name: np.full((n_series, len(cutoffs), horizon), np.nan) for name in budget.models}
    done = np.zeros(n_series, dtype=bool)
    first_cutoff = int(cutoffs[0])
    if rows.size and budget.deadline is None:
        budget.deadline = time.perf_counter() + budget.seconds
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        for row in rows.tolist():
            if budget.deadline is not None and time.perf_counter() > budget.deadline:
                budget.stopped_by_time = True
                break
            series = values[row]
            start = int(np.argmax(~np.isnan(series)))
            training = series[start:first_cutoff]
            if training.size < MIN_FIT_PERIODS or np.isnan(training).any():
                continue
            for name in budget.models:
                try:
                    for slot, cutoff in enumerate(cutoffs.tolist()):
                        history = series[start:cutoff]
                        # A seasonal fit needs two full cycles; a shorter history is fitted without.
                        season = season_length if history.size >= 2 * season_length + 2 else 1
                        forecast = _model(name, season).forecast(y=history, h=horizon)["mean"]
                        out[name][row, slot, :] = np.maximum(np.nan_to_num(forecast, nan=0.0), 0.0)
                except Exception:  # noqa: BLE001 - a failed fit only removes one candidate of one series
                    budget.failed_fits += 1
                    out[name][row] = np.nan
            done[row] = True
            budget.evaluated += 1
    return out, done
