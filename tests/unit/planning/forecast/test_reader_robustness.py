"""The demand reader on files as other systems write them, and on broken ones.

Each broken file must be refused with the line and the column; each odd but sound one must give
the same panel as a plain file.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from stockmesh.domain.errors import InvalidInput
from stockmesh.planning.forecast import read_demand_csv
from stockmesh.planning.forecast.panel import infer_frequency

MONTHS = [f"2023-{month:02d}-01" for month in range(1, 13)]


def _plain_rows() -> list[tuple[str, str, str, int]]:
    rows = [("OAT-MILK-1L", "STORE-LYON-02", day, 10 + index % 3) for index, day in enumerate(MONTHS)]
    rows += [("00123", "STORE-NICE-01", day, index % 2) for index, day in enumerate(MONTHS)]
    return rows


def _write(tmp_path: Path, text: str | bytes, name: str = "demand.csv") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def _plain(tmp_path: Path) -> Path:
    lines = ["sku,site,date,qty", *(f"{s},{t},{d},{q}" for s, t, d, q in _plain_rows())]
    return _write(tmp_path, "\n".join(lines) + "\n", "plain.csv")


def _refused(path: Path, **options: object) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        read_demand_csv(path, **options)  # type: ignore[arg-type]
    return caught.value


def test_bom_crlf_quotes_other_column_order_extra_columns_and_blank_tail_read_like_a_plain_file(
    tmp_path: Path,
) -> None:
    lines = [" Date ,QTY,Price,Site,SKU,Note"]
    lines += [f'"{d}","{q}",1.5,"{t}","{s}","a, b"' for s, t, d, q in reversed(_plain_rows())]
    text = "\ufeff" + "\r\n".join(lines) + "\r\n\r\n  \r\n"
    odd = read_demand_csv(_write(tmp_path, text.encode("utf-8")))
    plain = read_demand_csv(_plain(tmp_path))
    np.testing.assert_array_equal(odd.panel.values, plain.panel.values)
    assert list(odd.panel.sku) == list(plain.panel.sku)
    assert odd.rows == plain.rows == 24


def test_numeric_looking_skus_stay_text(tmp_path: Path) -> None:
    rows = ["sku,site,date,qty"] + [f"{sku},NET,{day},1" for sku in ("00123", "123", "1e5") for day in MONTHS]
    panel = read_demand_csv(_write(tmp_path, "\n".join(rows) + "\n")).panel
    assert sorted(panel.sku) == ["00123", "123", "1e5"]


def test_a_file_that_is_not_utf8_names_the_line(tmp_path: Path) -> None:
    text = "sku,site,date,qty\nOAT-MILK-1L,NET,2023-01-01,1\nCAF\xc9-CR\xc8ME,NET,2023-01-01,1\n"
    error = _refused(_write(tmp_path, text.encode("latin-1")))
    assert error.line == 3
    assert "not UTF-8" in str(error)


def test_a_control_character_in_a_key_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "sku,site,date,qty\nA,NET,2023-01-01,1\nA,NET\x00,2023-02-01,1\n")
    error = _refused(path)
    assert (error.line, error.field) == (3, "site")


@pytest.mark.parametrize("cell", ["", "NaT", "2023-02", "2023", "01/02/2023", "2023-02-30", "9999-01-01"])
def test_dates_that_are_not_a_day_are_refused_with_line_and_field(tmp_path: Path, cell: str) -> None:
    rows = ["sku,site,date,qty"] + [f"A,NET,{day},1" for day in MONTHS]
    rows[4] = f"A,NET,{cell},1"
    error = _refused(_write(tmp_path, "\n".join(rows) + "\n"))
    assert (error.line, error.field) == (5, "date")


def test_a_time_of_day_after_the_date_is_dropped(tmp_path: Path) -> None:
    rows = ["sku,site,date,qty"] + [f"A,NET,{day}T08:30:00,1" for day in MONTHS[:6]]
    rows += [f"A,NET,{day} 17:00,2" for day in MONTHS[6:]]
    demand = read_demand_csv(_write(tmp_path, "\n".join(rows) + "\n"))
    assert demand.panel.freq == "M"
    assert demand.panel.values.tolist() == [[1.0] * 6 + [2.0] * 6]


def test_fractional_quantities_are_refused_unless_allowed(tmp_path: Path) -> None:
    rows = ["sku,site,date,qty"] + [f"A,NET,{day},{0.25 * (index + 4)}" for index, day in enumerate(MONTHS)]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    error = _refused(path)
    assert (error.line, error.field) == (3, "qty")
    assert "--allow-fractional" in str(error)
    assert read_demand_csv(path, allow_fractional=True).panel.values[0, 1] == 1.25


def test_a_quantity_too_large_to_be_a_count_is_refused(tmp_path: Path) -> None:
    rows = ["sku,site,date,qty"] + [f"A,NET,{day},1000000000" for day in MONTHS]
    assert read_demand_csv(_write(tmp_path, "\n".join(rows) + "\n")).panel.values.max() == 1e9
    rows[7] = "A,NET,2023-07-01,1e300"
    error = _refused(_write(tmp_path, "\n".join(rows) + "\n", "huge.csv"))
    assert (error.line, error.field) == (8, "qty")


def test_a_column_named_twice_is_refused(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "sku,site,date,qty,qty\nA,NET,2023-01-01,1,5\n"))
    assert (error.line, error.field) == (1, "qty")


def test_a_row_with_more_values_than_the_header_is_refused(tmp_path: Path) -> None:
    error = _refused(_write(tmp_path, "sku,site,date,qty\nA,NET,2023-01-01,1\nA,B,NET,2023-02-01,1\n"))
    assert error.line == 3
    assert "expected 4 values" in str(error)


def test_lines_are_counted_right_after_a_quoted_line_break(tmp_path: Path) -> None:
    text = 'sku,site,date,qty,note\nA,NET,2023-01-01,1,"two\nlines"\nA,NET,2023-02-01,x,\n'
    error = _refused(_write(tmp_path, text))
    assert (error.line, error.field) == (4, "qty")


def test_weekly_series_dated_on_different_weekdays_are_weekly(tmp_path: Path) -> None:
    monday, sunday = np.datetime64("2024-01-01"), np.datetime64("2024-01-07")
    rows = ["sku,site,date,qty"]
    rows += [f"A,STORE-LYON-02,{monday + 7 * week},{week % 4}" for week in range(30)]
    rows += [f"A,STORE-NICE-01,{sunday + 7 * week},{week % 3}" for week in range(30)]
    demand = read_demand_csv(_write(tmp_path, "\n".join(rows) + "\n"))
    assert demand.detected_freq == "W"
    assert demand.panel.values.shape == (2, 30)


def test_month_end_dates_are_monthly() -> None:
    days = np.array(["2023-01-31", "2023-02-28", "2023-03-31", "2023-04-30"], dtype="datetime64[D]")
    assert infer_frequency(days) == ("M", 1)


def test_quarterly_dates_are_refused_unless_a_frequency_is_given(tmp_path: Path) -> None:
    rows = ["sku,site,date,qty"] + [f"A,NET,{year}-{month:02d}-01,5" for year in (2022, 2023) for month in (1, 4, 7, 10)]
    path = _write(tmp_path, "\n".join(rows) + "\n")
    error = _refused(path)
    assert error.field == "date"
    assert "3 months apart" in str(error) and "--freq M" in str(error)
    forced = read_demand_csv(path, freq="M")
    assert forced.panel.values.shape == (1, 22)
    assert any("count as zero" in note for note in forced.notes)


def test_daily_rows_only_on_sale_days_are_daily_and_the_zero_days_are_told(tmp_path: Path) -> None:
    day0 = np.datetime64("2024-01-01")
    sale_days = [0, 1, 3, 4, 9, 10, 11, 15, 20, 21]
    rows = ["sku,site,date,qty"] + [f"A,NET,{day0 + offset},2" for offset in sale_days]
    demand = read_demand_csv(_write(tmp_path, "\n".join(rows) + "\n"))
    assert demand.detected_freq == "D"
    assert demand.panel.values.shape == (1, 22)
    assert any("12 day(s)" in note and "zero demand" in note for note in demand.notes)
