"""Reading long demand CSV files ``sku,site,date,qty``: the only module of the forecast package with I/O.

The file is UTF-8 text (a byte-order mark and CRLF line endings are fine); column names are matched
without regard to case or surrounding blanks, in any order, and other columns are ignored.
Optional columns: ``censored`` (the site had no available stock that period, so the demand is
unknown) and ``promo`` (a promotion or event ran that period); both take 1/0, true/false, yes/no.
Dates are ``YYYY-MM-DD`` (a time of day after them is ignored), years 1900 to 2199. Quantities are
finite numbers up to 10^15; whole numbers unless ``allow_fractional``, non-negative unless
``allow_returns``.
Every error is an ``InvalidInput`` that names the line (1-based, the header is line 1) and the column.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.forecast.panel import (
    DemandPanel,
    Frequency,
    dates_to_periods,
    infer_frequency,
    panel_from_long,
)

REQUIRED_COLUMNS = ("sku", "site", "date", "qty")
MAX_QUANTITY = 1e15  # above this a float no longer holds every whole number: a unit or parsing mistake
FIRST_YEAR, LAST_YEAR = 1900, 2199
_TRUE = {"1", "true", "yes", "y", "t"}
_FALSE = {"0", "false", "no", "n", "f", ""}
_DATE_WITH_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_UNITS = {"D": "day", "W": "week", "M": "month"}
_NAMES = {"D": "daily", "W": "weekly", "M": "monthly"}


@dataclass(frozen=True)
class DemandFile:
    """What the reader found: the panel, and the facts a user should be told about the file.

    ``first_lines`` is, per series of the panel, the line of its first row (file order of the series).
    """

    panel: DemandPanel
    rows: int
    duplicate_rows: int
    detected_freq: Frequency
    notes: tuple[str, ...]
    first_lines: np.ndarray


@dataclass
class _Cells:
    """The text of the used columns, one entry per data row, and the line each row came from."""

    columns: dict[str, list[str]]
    lines: list[int]


def read_demand_csv(
    path: str | Path,
    *,
    freq: Frequency | None = None,
    allow_returns: bool = False,
    allow_fractional: bool = False,
) -> DemandFile:
    """Read and validate a long demand CSV into a :class:`DemandPanel`.

    Duplicate ``(sku, site, date)`` rows are summed and counted. Negative quantities are rejected
    unless ``allow_returns``, fractional ones unless ``allow_fractional``. ``freq`` forces daily,
    weekly or monthly periods (dates are bucketed into them and summed); by default it is detected
    from the spacing of the dates within each series, and dates spaced wider than a month (quarterly,
    yearly data) are refused rather than read as months of zero demand.
    """
    cells = _read_cells(path)
    line_numbers = np.asarray(cells.lines)
    columns = cells.columns
    for name in ("sku", "site"):
        blank = np.flatnonzero(np.asarray(columns[name]) == "")
        if blank.size:
            raise InvalidInput(f"{name} is empty", field=name, line=int(line_numbers[blank[0]]))
        if _CONTROL.search("".join(columns[name])):
            # A NUL or other control character: a binary or UTF-16 file, or a broken export.
            position = next(i for i, cell in enumerate(columns[name]) if _CONTROL.search(cell))
            raise InvalidInput(
                f"{name} {columns[name][position]!r} holds a control character", field=name,
                line=int(line_numbers[position]),
            )
    days = _parse_dates(columns["date"], line_numbers)
    qty = _parse_quantities(columns["qty"], line_numbers, allow_returns, allow_fractional)
    censored = _parse_flags(columns.get("censored"), "censored", line_numbers)
    promotions = _parse_flags(columns.get("promo"), "promo", line_numbers)

    sku = np.asarray(columns["sku"], dtype=object)
    site = np.asarray(columns["site"], dtype=object)
    keys = np.char.add(np.char.add(sku.astype(str), "\x1f"), site.astype(str))
    series = np.unique(keys, return_inverse=True)[1].reshape(-1)
    detected, step = infer_frequency(days, series)
    chosen: Frequency = freq or detected
    notes: list[str] = []
    if step > 1:
        spacing = f"every series has its dates {step} {_UNITS[detected]}s apart, or a multiple of that"
        if freq is None:
            raise InvalidInput(
                f"{spacing}: only daily, weekly and monthly periods are supported; pass --freq "
                f"{detected} to read them as {_NAMES[detected]} periods, those in between counting as zero",
                field="date",
            )
        notes.append(f"{spacing}; with --freq {chosen} the periods in between count as zero")
    order = {"D": 0, "W": 1, "M": 2}
    if order[chosen] < order[detected]:
        notes.append(
            f"the dates look {_NAMES[detected]} but --freq {chosen} was asked: periods without a row count as zero"
        )
    elif order[chosen] > order[detected]:
        notes.append(f"{_NAMES[detected]} rows were summed into {_NAMES[chosen]} periods")

    day_numbers = days.astype(np.int64)
    span = int(day_numbers.max() - day_numbers.min()) + 1
    distinct_days = np.unique(series.astype(np.int64) * span + (day_numbers - day_numbers.min())).size
    duplicate_rows = len(cells.lines) - distinct_days
    if duplicate_rows:
        notes.append(f"{duplicate_rows} duplicate (sku, site, date) row(s) were summed")

    periods = dates_to_periods(days, chosen)
    panel = panel_from_long(sku, site, periods, qty, freq=chosen, censored=censored, promotions=promotions)
    first_period = int(periods.min())
    period_span = int(periods.max()) - first_period + 1
    filled = int(panel.lengths.sum()) - np.unique(series.astype(np.int64) * period_span + (periods - first_period)).size
    if filled and order[chosen] >= order[detected] and step == 1:
        notes.append(
            f"{filled} {_UNITS[chosen]}(s) inside the series' date ranges had no row and count as zero demand"
        )
    first_lines = np.full(panel.n_series, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(first_lines, series, line_numbers)
    return DemandFile(
        panel=panel,
        rows=len(cells.lines),
        duplicate_rows=duplicate_rows,
        detected_freq=detected,
        notes=tuple(notes),
        first_lines=first_lines,
    )


def _read_cells(path: str | Path) -> _Cells:
    """The used columns of every non-blank data row, checked for shape."""
    header, header_line, rows, lines = _raw_rows(path, numbered=False)
    if lines is None:  # a quoted value spans lines: number the rows by reading again
        header, header_line, rows, lines = _raw_rows(path, numbered=True)
    assert lines is not None
    names = [cell.strip().lower() for cell in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    if missing:
        raise InvalidInput(
            f"missing column(s) {', '.join(missing)}; the header must contain sku,site,date,qty "
            f"(found {','.join(names)})",
            field=missing[0],
            line=header_line,
        )
    used = [name for name in (*REQUIRED_COLUMNS, "censored", "promo") if name in names]
    for name in used:
        if names.count(name) > 1:
            raise InvalidInput(f"the column {name} appears {names.count(name)} times", field=name, line=header_line)
    width = len(names)
    if any(len(row) != width for row in rows):
        # Blank lines (no cell, or only blanks) are skipped; any other row must fit the header.
        kept = [
            (line, row)
            for line, row in zip(lines, rows, strict=True)
            if len(row) == width or any(cell.strip() for cell in row)
        ]
        for line, row in kept:
            if len(row) != width:
                raise InvalidInput(
                    f"expected {width} values as in the header, found {len(row)}",
                    field=names[len(row)] if len(row) < width else None,
                    line=line,
                )
        rows = [row for _, row in kept]
        lines = [line for line, _ in kept]
    if not rows:
        raise InvalidInput("the file has a header but no data rows", line=header_line + 1)
    positions = {name: names.index(name) for name in used}
    columns = {name: [row[position].strip() for row in rows] for name, position in positions.items()}
    return _Cells(columns=columns, lines=lines)


def _raw_rows(path: str | Path, *, numbered: bool) -> tuple[list[str], int, list[list[str]], list[int] | None]:
    """Header, its line, the rows after it and their lines (``None`` when not ``numbered`` and a
    row spans lines). Decoding and CSV errors become an ``InvalidInput`` with the line."""
    try:
        handle = open(path, newline="", encoding="utf-8-sig")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    reader = csv.reader(handle)
    try:
        with handle:
            header = next(reader, None)
            while header is not None and not any(cell.strip() for cell in header):
                header = next(reader, None)
            if header is None:
                raise InvalidInput("the file is empty: expected a header sku,site,date,qty", line=1)
            header_line = reader.line_num
            if numbered:
                pairs = [(reader.line_num, row) for row in reader]
                return header, header_line, [row for _, row in pairs], [line for line, _ in pairs]
            rows = list(reader)
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"the file is not UTF-8 text (byte {exc.object[exc.start:exc.start + 1]!r}): save it as UTF-8",
            line=_line_of_bad_byte(path),
        ) from None
    except csv.Error as exc:
        raise InvalidInput(f"not a readable CSV row: {exc}", line=reader.line_num or 1) from None
    # One row per line unless a quoted value holds a line break.
    one_per_line = reader.line_num == header_line + len(rows)
    return header, header_line, rows, list(range(header_line + 1, reader.line_num + 1)) if one_per_line else None


def _line_of_bad_byte(path: str | Path) -> int:
    data = Path(path).read_bytes()
    try:
        data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1
    return 1


def _parse_dates(cells: list[str], line_numbers: np.ndarray) -> np.ndarray:
    """``datetime64[D]`` of ``YYYY-MM-DD`` cells (a time of day after them is dropped)."""
    text = np.asarray(cells)
    plain = np.char.str_len(text) == 10
    if not plain.all():
        # numpy would also read '2000', '2000-11', '' or 'NaT': only a date with a time is let through.
        for position in np.flatnonzero(~plain).tolist():
            if _DATE_WITH_TIME.fullmatch(cells[position]) is None:
                _bad_date(cells[position], int(line_numbers[position]))
        text = np.where(plain, text, np.asarray([cell[:10] for cell in cells]))
    try:
        days = text.astype("datetime64[D]")
    except ValueError:
        for position, cell in enumerate(text.tolist()):
            try:
                np.datetime64(cell, "D")
            except ValueError:
                _bad_date(cells[position], int(line_numbers[position]))
        raise InvalidInput("cannot parse the dates: expected YYYY-MM-DD", field="date") from None
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    outside = np.flatnonzero(np.isnat(days) | (years < FIRST_YEAR) | (years > LAST_YEAR))
    if outside.size:
        position = int(outside[0])
        raise InvalidInput(
            f"date {cells[position]!r} is outside the years {FIRST_YEAR} to {LAST_YEAR}",
            field="date",
            line=int(line_numbers[position]),
        )
    return days


def _bad_date(cell: str, line: int) -> None:
    raise InvalidInput(f"cannot parse date {cell!r}: expected YYYY-MM-DD", field="date", line=line)


def _parse_quantities(
    cells: list[str], line_numbers: np.ndarray, allow_returns: bool, allow_fractional: bool
) -> np.ndarray:
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

    def _refuse(rows: np.ndarray, message: str) -> None:
        position = int(rows[0])
        raise InvalidInput(
            f"{message.format(cell=cells[position])} ({rows.size} such row(s) in all)",
            field="qty",
            line=int(line_numbers[position]),
        )

    huge = np.flatnonzero(np.abs(qty) > MAX_QUANTITY)
    if huge.size:
        _refuse(huge, f"quantity {{cell}} is larger than {MAX_QUANTITY:.0e}")
    if not allow_returns:
        negative = np.flatnonzero(qty < 0)
        if negative.size:
            _refuse(negative, "negative quantity {cell}; pass --allow-returns to net returns against demand")
    if not allow_fractional:
        fractional = np.flatnonzero(qty != np.floor(qty))
        if fractional.size:
            _refuse(
                fractional,
                "fractional quantity {cell}: demand is counted in whole units; "
                "pass --allow-fractional for quantities such as weights",
            )
    return qty


def _parse_flags(cells: list[str] | None, name: str, line_numbers: np.ndarray) -> np.ndarray | None:
    if cells is None:
        return None
    values = np.asarray([cell.lower() for cell in cells], dtype=object)
    truthy = np.isin(values, list(_TRUE))
    falsy = np.isin(values, list(_FALSE))
    bad = np.flatnonzero(~(truthy | falsy))
    if bad.size:
        raise InvalidInput(
            f"cannot read {values[bad[0]]!r} as true/false", field=name, line=int(line_numbers[bad[0]])
        )
    return truthy
