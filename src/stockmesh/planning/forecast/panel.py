"""A panel of demand series as one right-aligned matrix.

Row ``i`` is one SKU x site. Columns are periods (days, weeks or months). Every series is aligned on
its own last period: column ``T - 1`` is each series' last observation, and the cells before a
series' first period are NaN. A series runs from its first to its last date; missing periods inside
that range count as zero demand. Aligning on the end keeps the lags that seasonal models use
(``t - 7`` for daily data) inside each row, and puts every back-test window at the same columns.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

Frequency = Literal["D", "W", "M"]

SEASON_LENGTH: dict[str, int] = {"D": 7, "W": 52, "M": 12}
_EPOCH = np.datetime64("1970-01-01", "D")


@dataclass(frozen=True)
class DemandPanel:
    """Demand history of many series, ready for vectorised forecasting.

    ``values`` is ``(n_series, n_periods)`` float, NaN before each series' start. ``censored`` marks
    periods with no available stock (their demand is unknown, not zero); ``promotions`` marks
    promotion or event periods. ``last_period`` is each series' last period number, in the units of
    ``freq`` (days or weeks since 1970-01-01, or months since 1970-01).
    """

    sku: np.ndarray
    site: np.ndarray
    values: np.ndarray
    freq: Frequency
    last_period: np.ndarray
    censored: np.ndarray | None = None
    promotions: np.ndarray | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def n_series(self) -> int:
        return int(self.values.shape[0])

    @property
    def n_periods(self) -> int:
        return int(self.values.shape[1])

    @property
    def season_length(self) -> int:
        return SEASON_LENGTH[self.freq]

    @property
    def lengths(self) -> np.ndarray:
        """Number of periods from each series' first to its last date."""
        return np.sum(~np.isnan(self.values), axis=1)

    def take(self, rows: np.ndarray, *, trim: bool = True) -> DemandPanel:
        """The panel restricted to ``rows`` (an index or boolean mask).

        With ``trim``, leading columns that are NaN for every kept row are dropped.
        """
        values = self.values[rows]
        first_used = _first_used_column(values) if trim else 0
        return DemandPanel(
            sku=self.sku[rows],
            site=self.site[rows],
            values=values[:, first_used:],
            freq=self.freq,
            last_period=self.last_period[rows],
            censored=None if self.censored is None else self.censored[rows][:, first_used:],
            promotions=None if self.promotions is None else self.promotions[rows][:, first_used:],
            notes=self.notes,
        )


def _first_used_column(values: np.ndarray) -> int:
    if values.size == 0:
        return 0
    used = ~np.all(np.isnan(values), axis=0)
    return int(np.argmax(used)) if used.any() else values.shape[1]


def panel_from_matrix(
    values: np.ndarray,
    *,
    freq: Frequency = "D",
    sku: np.ndarray | None = None,
    site: np.ndarray | None = None,
    censored: np.ndarray | None = None,
    promotions: np.ndarray | None = None,
) -> DemandPanel:
    """Wrap an ``(n_series, n_periods)`` matrix (NaN before a series starts) as a panel.

    The rows must already be aligned on their last period. Default names are ``SKU-<i>`` at ``NET``.
    """
    matrix = np.asarray(values, dtype=np.float64)
    if matrix.ndim == 1:
        matrix = matrix[None, :]
    n_series = matrix.shape[0]
    return DemandPanel(
        sku=np.asarray(sku) if sku is not None else np.array([f"SKU-{i}" for i in range(n_series)]),
        site=np.asarray(site) if site is not None else np.full(n_series, "NET"),
        values=matrix,
        freq=freq,
        last_period=np.zeros(n_series, dtype=np.int64),
        censored=None if censored is None else np.asarray(censored, dtype=bool).reshape(matrix.shape),
        promotions=None if promotions is None else np.asarray(promotions, dtype=bool).reshape(matrix.shape),
    )


def dates_to_periods(days: np.ndarray, freq: Frequency) -> np.ndarray:
    """Period numbers of ``days`` (``datetime64[D]``): days, weeks (Monday-based) or months since 1970."""
    day_numbers = (days - _EPOCH).astype(np.int64)
    if freq == "D":
        return day_numbers
    if freq == "W":
        # 1970-01-01 was a Thursday: shift so weeks run Monday to Sunday.
        return (day_numbers + 3) // 7
    return days.astype("datetime64[M]").astype(np.int64)


def period_start(period: np.ndarray | int, freq: Frequency) -> np.ndarray:
    """First day (``datetime64[D]``) of each period number."""
    numbers = np.asarray(period, dtype=np.int64)
    if freq == "D":
        return _EPOCH + numbers.astype("timedelta64[D]")
    if freq == "W":
        return _EPOCH + (numbers * 7 - 3).astype("timedelta64[D]")
    return numbers.astype("datetime64[M]").astype("datetime64[D]")


def detect_frequency(days: np.ndarray, series: np.ndarray | None = None) -> Frequency:
    """Daily, weekly or monthly, from the spacing of the dates (see :func:`infer_frequency`)."""
    return infer_frequency(days, series)[0]


def infer_frequency(days: np.ndarray, series: np.ndarray | None = None) -> tuple[Frequency, int]:
    """The period of the dates and the step between them, in periods, from the gaps within each series.

    ``series`` numbers the series of each date (all one series if omitted). Gaps are taken between
    consecutive distinct dates of the same series, not of the whole file, so that series dated on
    different weekdays (or month-starts and month-ends) are not mistaken for daily data. All gaps
    multiples of 7 days: weekly; all at least 28 days: monthly; else daily. The step is the greatest
    common divisor of the gaps counted in those periods: 1 for ordinary data, even with periods
    missing here and there, 3 for quarterly and 12 for yearly data read as months. Without any
    series of two dates, the distinct dates of the whole file are used.
    """
    day_numbers = np.asarray(days, dtype="datetime64[D]").astype(np.int64)
    labels = np.zeros(day_numbers.size, dtype=np.int64) if series is None else np.asarray(series)
    order = np.lexsort((day_numbers, labels))
    ordered_days = day_numbers[order]
    gaps = np.diff(ordered_days)
    within = (labels[order][1:] == labels[order][:-1]) & (gaps > 0)
    if not within.any():
        ordered_days = np.unique(day_numbers)
        gaps = np.diff(ordered_days)
        within = gaps > 0
    if not within.any():
        return "D", 1
    gaps = gaps[within]
    if np.all(gaps % 7 == 0):
        return "W", int(np.gcd.reduce(gaps // 7))
    if gaps.min() >= 28:
        months = ordered_days.astype("datetime64[D]").astype("datetime64[M]").astype(np.int64)
        month_gaps = np.maximum(np.diff(months)[within], 1)
        return "M", int(np.gcd.reduce(month_gaps))
    return "D", int(np.gcd.reduce(gaps))


def panel_from_long(
    sku: np.ndarray,
    site: np.ndarray,
    periods: np.ndarray,
    qty: np.ndarray,
    *,
    freq: Frequency,
    censored: np.ndarray | None = None,
    promotions: np.ndarray | None = None,
) -> DemandPanel:
    """Build a panel from long rows; rows falling in the same (sku, site, period) are summed.

    A series runs from its first to its last period; periods without a row count as zero.
    """
    keys = np.char.add(np.char.add(sku.astype(str), "\x1f"), site.astype(str))
    unique_keys, series_index = np.unique(keys, return_inverse=True)
    n_series = unique_keys.size
    first = np.full(n_series, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_series, np.iinfo(np.int64).min, dtype=np.int64)
    np.minimum.at(first, series_index, periods)
    np.maximum.at(last, series_index, periods)
    lengths = last - first + 1
    n_periods = int(lengths.max()) if n_series else 0
    column = n_periods - 1 - (last[series_index] - periods)

    values = np.full((n_series, n_periods), np.nan)
    inside = np.arange(n_periods)[None, :] >= (n_periods - lengths)[:, None]
    values[inside] = 0.0
    np.add.at(values, (series_index, column), qty)

    def _flags(mask: np.ndarray | None) -> np.ndarray | None:
        if mask is None:
            return None
        flags = np.zeros((n_series, n_periods), dtype=bool)
        flags[series_index[mask], column[mask]] = True
        return flags

    split = np.char.partition(unique_keys, "\x1f")
    return DemandPanel(
        sku=split[:, 0].astype(object),
        site=split[:, 2].astype(object),
        values=values,
        freq=freq,
        last_period=last,
        censored=_flags(censored),
        promotions=_flags(promotions),
    )
