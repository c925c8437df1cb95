"""Reading long demand CSV files ``sku,site,date,qty``: the only module of the forecast package with I/O.

Optional columns: ``censored`` (the site had no available stock that period, so the demand is
unknown) and ``promo`` (a promotion or event ran that period); both take 1/0, true/false, yes/no.
Every error is an ``InvalidInput`` that names the line (1-based, the header is line 1) and the column.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.forecast.panel import (
    DemandPanel,
    Frequency,
    dates_to_periods,
    detect_frequency,
    panel_from_long,
)

REQUIRED_COLUMNS = ("sku", "site", "date", "qty")
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}


@dataclass(frozen=True)
class DemandFile:
    """What the reader found: the panel, and the facts a user should be told about the file."""

    panel: DemandPanel
    rows: int
    duplicate_rows: int
    detected_freq: Frequency
    notes: tuple[str, ...]


def read_demand_csv(
    path: str | Path, *, freq: Frequency | None = None, allow_returns: bool = False
) -> DemandFile:
    """Read and validate a long demand CSV into a :class:`DemandPanel`.

    Duplicate ``(sku, site, date)`` rows are summed and counted. Negative quantities are rejected
    unless ``allow_returns``. ``freq`` forces daily, weekly or monthly periods (dates are bucketed
    into them and summed); by default it is detected from the spacing of the dates.
    """
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise InvalidInput("the file is empty: expected a header sku,site,date,qty", line=1)
        columns = [cell.strip().lower() for cell in header]
        missing = [name for name in REQUIRED_COLUMNS if name not in columns]
        if missing:
            raise InvalidInput(
                f"missing column(s) {', '.join(missing)}; the header must contain sku,site,date,qty "
                f"(found {','.join(columns)})",
                field=missing[0],
                line=1,
            )
        index = {name: columns.index(name) for name in columns}
        skus: list[str] = []
        sites: list[str] = []
        dates: list[str] = []
        quantities: list[str] = []
        lines: list[int] = []
        censored_cells: list[str] | None = [] if "censored" in index else None
        promo_cells: list[str] | None = [] if "promo" in index else None
        width = len(columns)
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            if len(row) < width:
                raise InvalidInput(
                    f"expected {width} values, found {len(row)}",
                    field=columns[len(row)],
                    line=reader.line_num,
                )
            skus.append(row[index["sku"]].strip())
            sites.append(row[index["site"]].strip())
            dates.append(row[index["date"]].strip())
            quantities.append(row[index["qty"]].strip())
            lines.append(reader.line_num)
            if censored_cells is not None:
                censored_cells.append(row[index["censored"]].strip().lower())
            if promo_cells is not None:
                promo_cells.append(row[index["promo"]].strip().lower())
    if not skus:
        raise InvalidInput("the file has a header but no data rows", line=2)

    line_numbers = np.asarray(lines)
    for name, cells in (("sku", skus), ("site", sites)):
        blank = np.flatnonzero(np.asarray(cells) == "")
        if blank.size:
            raise InvalidInput(f"{name} is empty", field=name, line=int(line_numbers[blank[0]]))
    days = _parse_dates(dates, line_numbers)
    qty = _parse_quantities(quantities, line_numbers, allow_returns)
    censored = _parse_flags(censored_cells, "censored", line_numbers)
    promotions = _parse_flags(promo_cells, "promo", line_numbers)

    sku = np.asarray(skus, dtype=object)
    site = np.asarray(sites, dtype=object)
    detected = detect_frequency(days)
    chosen: Frequency = freq or detected
    notes: list[str] = []
    order = {"D": 0, "W": 1, "M": 2}
    if order[chosen] < order[detected]:
        notes.append(
            f"the dates look {_NAMES[detected]} but --freq {chosen} was asked: periods without a row count as zero"
        )
    elif order[chosen] > order[detected]:
        notes.append(f"{_NAMES[detected]} rows were summed into {_NAMES[chosen]} periods")

    keys = np.char.add(np.char.add(sku.astype(str), "\x1f"), site.astype(str))
    _, first_of_key_date = np.unique(
        np.char.add(np.char.add(keys, "\x1f"), days.astype(str)), return_index=True
    )
    duplicate_rows = len(skus) - first_of_key_date.size
    if duplicate_rows:
        notes.append(f"{duplicate_rows} duplicate (sku, site, date) row(s) were summed")

    panel = panel_from_long(
        sku, site, dates_to_periods(days, chosen), qty, freq=chosen, censored=censored, promotions=promotions
    )
    return DemandFile(
        panel=panel, rows=len(skus), duplicate_rows=duplicate_rows, detected_freq=detected, notes=tuple(notes)
    )


_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}


def _parse_dates(cells: list[str], line_numbers: np.ndarray) -> np.ndarray:
    try:
        return np.asarray(cells, dtype="datetime64[D]")
    except ValueError:
        pass
    for position, cell in enumerate(cells):
        try:
            np.datetime64(cell, "D")
            if not cell:
                raise ValueError
        except ValueError:
            raise InvalidInput(
                f"cannot parse date {cell!r}: expected YYYY-MM-DD",
                field="date",
                line=int(line_numbers[position]),
            ) from None
    raise InvalidInput("cannot parse the dates: expected YYYY-MM-DD", field="date")


def _parse_quantities(cells: list[str], line_numbers: np.ndarray, allow_returns: bool) -> np.ndarray:
    try:
        qty = np.asarray(cells, dtype=np.float64)
    except ValueError:
        qty = None
    if qty is None or not np.all(np.isfinite(qty)):
        for position, cell in enumerate(cells):
            try:
                value = float(cell)
            except ValueError:
                value = float("nan")
            if not np.isfinite(value):
                raise InvalidInput(
                    f"cannot parse quantity {cell!r}: expected a number",
                    field="qty",
                    line=int(line_numbers[position]),
                )
    assert qty is not None
    if not allow_returns:
        negative = np.flatnonzero(qty < 0)
        if negative.size:
            position = int(negative[0])
            raise InvalidInput(
                f"negative quantity {cells[position]} ({negative.size} negative row(s) in all); "
                "pass --allow-returns to net returns against demand",
                field="qty",
                line=int(line_numbers[position]),
            )
    return qty


def _parse_flags(cells: list[str] | None, name: str, line_numbers: np.ndarray) -> np.ndarray | None:
    if cells is None:
        return None
    values = np.asarray(cells, dtype=object)
    truthy = np.isin(values, list(_TRUE))
    falsy = np.isin(values, list(_FALSE))
    bad = np.flatnonzero(~(truthy | falsy))
    if bad.size:
        raise InvalidInput(
            f"cannot read {values[bad[0]]!r} as true/false", field=name, line=int(line_numbers[bad[0]])
        )
    return truthy
