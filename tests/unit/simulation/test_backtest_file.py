"""``stockmesh backtest``: demand files become worlds with the file's totals, or clear errors."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from stockmesh.domain.errors import InvalidInput
from stockmesh.entrypoints.cli import app
from stockmesh.simulation.backtest import backtest_spec, default_history_days

MONTHS = [dt.date(2021 + index // 12, index % 12 + 1, 1) for index in range(12)]


def _write(tmp_path: Path, rows: list[str], header: str = "sku,site,date,qty", name: str = "demand.csv") -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def _days_are_consecutive(spec) -> bool:
    first = dt.date.fromisoformat(spec.meta["first_day"])
    last = dt.date.fromisoformat(spec.meta["last_day"])
    return (last - first).days + 1 == spec.demand.shape[0]


def test_a_bom_and_an_upper_case_header_are_read(tmp_path: Path) -> None:
    rows = [f"OAT-MILK-1L,STORE-LYON-02,{month},{30 + index}" for index, month in enumerate(MONTHS)]
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeffSKU,Site,Date,Qty\r\n" + "\r\n".join(rows) + "\r\n").encode("utf-8"))
    spec = backtest_spec(path)
    assert spec.sku_ids == ("OAT-MILK-1L",)
    assert int(spec.demand.sum()) == sum(30 + index for index in range(12))


def test_a_hundred_billion_units_a_month_keep_their_totals(tmp_path: Path) -> None:
    quantities = [10**11 + index for index in range(12)]
    rows = [f"PALLET-WRAP,NET,{month},{qty}" for month, qty in zip(MONTHS, quantities, strict=True)]
    spec = backtest_spec(_write(tmp_path, rows))
    assert spec.demand.dtype == np.int64  # a day holds more than int32 can
    assert int(spec.demand[:31].sum()) == quantities[0]
    assert int(spec.demand.sum()) == sum(quantities)


def test_weekly_series_on_different_weekdays_stay_weekly(tmp_path: Path) -> None:
    monday, sunday = dt.date(2024, 1, 1), dt.date(2024, 1, 7)
    rows = [f"OAT-MILK-1L,STORE-LYON-02,{monday + dt.timedelta(weeks=week)},7" for week in range(20)]
    rows += [f"OAT-MILK-1L,STORE-NICE-01,{sunday + dt.timedelta(weeks=week)},14" for week in range(20)]
    spec = backtest_spec(_write(tmp_path, rows))
    assert spec.meta["period_days"] == 7
    assert _days_are_consecutive(spec)
    assert spec.demand.sum(axis=0).tolist() == [140, 280]


def test_series_that_start_late_or_stop_early_keep_their_totals_on_the_calendar(tmp_path: Path) -> None:
    rows = [f"A,NET,{month},10" for month in MONTHS]
    rows += [f"LATE,NET,{month},20" for month in MONTHS[6:]]
    rows += [f"EARLY,NET,{month},30" for month in MONTHS[:4]]
    spec = backtest_spec(_write(tmp_path, rows))
    assert _days_are_consecutive(spec)
    assert spec.sku_ids == ("A", "LATE", "EARLY")  # the order of the file
    assert spec.demand.sum(axis=0).tolist() == [120, 120, 120]
    july = (MONTHS[6] - MONTHS[0]).days
    may = (MONTHS[4] - MONTHS[0]).days
    assert spec.demand[:july, 1].sum() == 0 and spec.demand[may:, 2].sum() == 0


def test_fractional_quantities_are_refused_unless_allowed_then_rounded(tmp_path: Path) -> None:
    rows = [f"LOOSE-COFFEE-KG,NET,{month},2.4" for month in MONTHS]
    path = _write(tmp_path, rows)
    with pytest.raises(InvalidInput) as caught:
        backtest_spec(path)
    assert (caught.value.line, caught.value.field) == (2, "qty")
    assert int(backtest_spec(path, allow_fractional=True).demand.sum()) == 24


@pytest.mark.parametrize(
    ("row", "where"),
    [
        ("OAT-MILK-1L,NET,2021-13-01,3", "line 4, field 'date'"),
        ("OAT-MILK-1L,NET,,3", "line 4, field 'date'"),
        ("OAT-MILK-1L,NET,2021-03-01,nan", "line 4, field 'qty'"),
        ("OAT-MILK-1L,NET,2021-03-01,-3", "line 4, field 'qty'"),
        ("OAT-MILK-1L,NET,2021-03-01", "line 4, field 'qty'"),
    ],
)
def test_a_bad_row_is_refused_with_its_line_and_field(tmp_path: Path, row: str, where: str) -> None:
    rows = [f"OAT-MILK-1L,NET,{month},3" for month in MONTHS]
    rows[2] = row
    result = CliRunner().invoke(app, ["backtest", str(_write(tmp_path, rows)), "--policy", "minmax"])
    assert result.exit_code == 2
    assert where in result.output
    assert "Traceback" not in result.output


def test_limit_keeps_the_first_series_of_the_file(tmp_path: Path) -> None:
    rows = [f"{sku},NET,{month},{qty}" for sku, qty in (("ZZ-LAST-NAME", 5), ("AA-FIRST-NAME", 9)) for month in MONTHS]
    spec = backtest_spec(_write(tmp_path, rows), limit=1)
    assert spec.sku_ids == ("ZZ-LAST-NAME",)
    assert int(spec.demand.sum()) == 60


def test_a_short_daily_file_replays_with_finite_kpis(tmp_path: Path) -> None:
    day0 = dt.date(2024, 1, 1)
    rows = [f"OAT-MILK-1L,{site},{day0 + dt.timedelta(days=day)},{(day * 7) % 5}" for site in ("S1", "S2") for day in range(150)]
    result = CliRunner().invoke(app, ["backtest", str(_write(tmp_path, rows)), "--policy", "minmax", "--freq", "D", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout, parse_constant=lambda constant: pytest.fail(f"{constant} in the KPIs"))
    assert 0.0 < payload["fill_rate"] <= 1.0
    assert payload["per_site"].keys() == {"S1", "S2"}


def test_the_history_is_a_year_of_periods_capped_by_the_file() -> None:
    assert default_history_days(np.full(48, 30), 48 * 30) == 360  # a monthly file: 12 months
    assert default_history_days(np.full(12, 30), 365) == 121  # one year: a third of it
    assert default_history_days(np.full(20, 7), 140) == 56  # never under 56 days


def test_the_cli_sets_the_lost_sale_factor_and_the_holding_rate(tmp_path: Path) -> None:
    rows = [f"BRAKE-PAD-{part},WAREHOUSE-LYON,{month},{(part + index) % 3}"
            for part in range(3) for index, month in enumerate(MONTHS)]
    path = _write(tmp_path, rows)
    result = CliRunner().invoke(app, ["backtest", str(path), "--policy", "minmax", "--lost-sale-factor", "0",
                                      "--holding-rate", "0", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["stockout_cost"] == 0 and payload["holding_cost"] == 0
