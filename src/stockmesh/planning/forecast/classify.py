"""Syntetos–Boylan demand classification, vectorised over series.

ADI (average demand interval) is the number of observed periods divided by the number of periods
with non-zero demand; CV² is the squared coefficient of variation of the non-zero demand sizes.
With the cut-offs of Syntetos, Boylan and Croston (2005), ADI 1.32 and CV² 0.49:

    ADI < 1.32, CV² < 0.49   smooth        ADI ≥ 1.32, CV² < 0.49   intermittent
    ADI < 1.32, CV² ≥ 0.49   erratic       ADI ≥ 1.32, CV² ≥ 0.49   lumpy

A series without any non-zero demand has ADI = inf and CV² = 0: it is classed intermittent, so
it gets the intermittent-demand models (which forecast zero for it). NaN cells (before a series
starts, or censored) are ignored.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ADI_CUTOFF = 1.32
CV2_CUTOFF = 0.49
CLASSES = ("smooth", "erratic", "intermittent", "lumpy")
SMOOTH, ERRATIC, INTERMITTENT, LUMPY = range(4)


@dataclass(frozen=True)
class DemandClasses:
    """Per series: ``adi``, ``cv2`` and ``demand_class`` (an index into :data:`CLASSES`)."""

    adi: np.ndarray
    cv2: np.ndarray
    demand_class: np.ndarray

    def names(self) -> np.ndarray:
        return np.asarray(CLASSES, dtype=object)[self.demand_class]

    @property
    def is_intermittent(self) -> np.ndarray:
        return self.demand_class >= INTERMITTENT


def classify_demand(values: np.ndarray) -> DemandClasses:
    """Classify each row of ``values`` (``(n_series, n_periods)``, NaN = not observed)."""
    matrix = np.atleast_2d(np.asarray(values, dtype=np.float64))
    observed = ~np.isnan(matrix)
    positive = observed & (matrix > 0)
    n_observed = observed.sum(axis=1)
    n_positive = positive.sum(axis=1)
    sizes = np.where(positive, matrix, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        adi = np.where(n_positive > 0, n_observed / np.maximum(n_positive, 1), np.inf)
        mean_size = sizes.sum(axis=1) / np.maximum(n_positive, 1)
        variance = np.where(positive, (matrix - mean_size[:, None]) ** 2, 0.0).sum(axis=1) / np.maximum(
            n_positive, 1
        )
        cv2 = np.where(mean_size > 0, variance / np.maximum(mean_size, 1e-300) ** 2, 0.0)
    demand_class = np.where(
        adi < ADI_CUTOFF,
        np.where(cv2 < CV2_CUTOFF, SMOOTH, ERRATIC),
        np.where(cv2 < CV2_CUTOFF, INTERMITTENT, LUMPY),
    ).astype(np.int8)
    return DemandClasses(adi=adi, cv2=cv2, demand_class=demand_class)
