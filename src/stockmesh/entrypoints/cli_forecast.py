"""``stockmesh forecast ...``: demand forecasting.

``backtest`` scores every candidate model and the automatic per-series selection on a long demand
CSV. Metric definitions are in :mod:`stockmesh.planning.forecast.accuracy`. ``run`` forecasts every
SKU x site in the ledger and publishes the forecasts (:mod:`stockmesh.service.forecasting`). numpy
and the planners load inside the command so that ``stockmesh --help`` stays instant.
"""

from __future__ import annotations

import json
import math
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

app = typer.Typer(help="Demand forecasting: back-tests and published forecasts.", no_args_is_help=True)

EXIT_INVALID_INPUT = 2


class Freq(StrEnum):
    D = "D"
    W = "W"
    M = "M"


class MetricName(StrEnum):
    rmsse = "rmsse"
    mase = "mase"
    pinball = "pinball"


def _fail(message: str, code: int = EXIT_INVALID_INPUT) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else round(value, 6)


@app.command("backtest")
def backtest_command(
    demand_csv: Annotated[Path, typer.Argument(metavar="DEMAND.csv", help="Long CSV: sku,site,date,qty.")],
    horizon: Annotated[
        int, typer.Option("--horizon", "-h", min=1, help="Periods forecast after each cutoff.")
    ],
    folds: Annotated[
        int, typer.Option("--folds", min=1, help="Evaluation windows at the end of each series.")
    ] = 3,
    freq: Annotated[
        Freq | None, typer.Option("--freq", help="D, W or M; detected from the dates if omitted.")
    ] = None,
    metric: Annotated[MetricName, typer.Option("--metric", help="Selection metric.")] = MetricName.rmsse,
    selection_windows: Annotated[
        int, typer.Option("--selection-windows", min=1, help="Windows before each fold used to choose.")
    ] = 3,
    allow_returns: Annotated[
        bool, typer.Option("--allow-returns", help="Accept negative quantities.")
    ] = False,
    allow_fractional: Annotated[
        bool, typer.Option("--allow-fractional", help="Accept quantities that are not whole units.")
    ] = False,
    expensive_share: Annotated[
        float,
        typer.Option(
            "--expensive-share", min=0.0, max=1.0,
            help="Share of series (the worst smooth/erratic ones) also tried with AutoETS and AutoTheta; 0 = off.",
        ),
    ] = 0.01,
    expensive_seconds: Annotated[
        float, typer.Option("--expensive-seconds", min=0.0, help="Wall-clock budget of those fits.")
    ] = 15.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the figures as JSON.")] = False,
) -> None:
    """Back-test every candidate model and the automatic selection on DEMAND.csv.

    The last FOLDS windows of HORIZON periods of each series are forecast from the data before
    them. The automatic selection for each window is chosen only on the windows before it, so its
    figures are out of sample. Columns: RMSSE and MASE (per series, scaled by the in-sample
    one-step naive change, then averaged; series with a constant history are left out of them),
    bias ((sum forecast - sum actual) / sum actual), pinball (scaled, over p50/p90/p95/p99), and
    coverage_p90 (share of actuals at or below the p90 forecast).
    """
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.planning.forecast.engine import ForecastSettings, backtest
    from stockmesh.planning.forecast.reader import read_demand_csv

    try:
        demand = read_demand_csv(
            demand_csv,
            freq=None if freq is None else freq.value,
            allow_returns=allow_returns,
            allow_fractional=allow_fractional,
        )
        settings = ForecastSettings(
            horizon=horizon,
            selection_windows=selection_windows,
            metric=metric.value,
            expensive_share=expensive_share,
            expensive_seconds=expensive_seconds,
        )
        report = _run_with_progress(backtest, demand.panel, horizon, folds, settings, quiet=as_json)
    except InvalidInput as exc:
        _fail(f"{demand_csv}: {exc}")
        return
    notes = [*demand.notes, *report.notes]
    if as_json:
        payload: dict[str, Any] = {
            "series": report.series,
            "methods": {name: _figures(accuracy.as_dict()) for name, accuracy in report.methods.items()},
            "selected": _figures(report.selected.as_dict()),
            "selected_models": report.selected_models,
            "best_single_method": report.best_method(),
            "horizon": horizon,
            "folds": folds,
            "selection_windows": report.selection_windows,
            "metric": metric.value,
            "freq": report.freq,
            "rows": demand.rows,
            "duplicate_rows": demand.duplicate_rows,
            "skipped_short": report.skipped_short,
            "notes": notes,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(report, demand_csv, notes)


def _figures(values: dict[str, Any]) -> dict[str, Any]:
    return {key: (_number(value) if isinstance(value, float) else value) for key, value in values.items()}


def _run_with_progress(
    backtest: Any, panel: Any, horizon: int, folds: int, settings: Any, *, quiet: bool
) -> Any:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    if quiet or panel.n_series < 5_000 or not console.is_terminal:
        return backtest(panel, horizon, folds=folds, settings=settings)
    with Progress(
        TextColumn("back-testing"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} series"),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("backtest", total=panel.n_series)
        return backtest(
            panel, horizon, folds=folds, settings=settings, progress=lambda done: progress.advance(task, done)
        )


def _print_table(report: Any, source: Path, notes: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"{source.name}: {report.series} series, {report.folds} fold(s) x {report.horizon} periods "
        f"({report.freq}), selection on {report.selection_windows} earlier window(s) by {report.metric}"
    )
    for column in ("method", "RMSSE", "MASE", "bias", "pinball", "coverage_p90"):
        table.add_column(column, justify="left" if column == "method" else "right")
    best = report.best_method()

    def _row(name: str, accuracy: Any, style: str | None = None) -> None:
        cells = [accuracy.rmsse, accuracy.mase, accuracy.bias, accuracy.pinball, accuracy.coverage_p90]
        table.add_row(name, *("-" if math.isnan(value) else f"{value:.4f}" for value in cells), style=style)

    for name, accuracy in report.methods.items():
        _row(name + (" (best)" if name == best else ""), accuracy)
    _row("automatic selection", report.selected, style="bold")
    console = Console()
    console.print(table)
    shares = ", ".join(f"{name} {count}" for name, count in report.selected_models.items())
    console.print(f"selected in the last fold: {shares}")
    if report.selected.unscaled_series:
        console.print(
            f"{report.selected.unscaled_series} series with a constant history are left out of RMSSE, MASE and pinball"
        )
    for note in notes:
        console.print(f"note: {note}")


@app.command("run")
def run_command(
    db: Annotated[
        str | None,
        typer.Option("--db", envvar="STOCKMESH_DB", help="sqlite:///PATH, postgresql://... or memory://"),
    ] = None,
    horizon: Annotated[int, typer.Option("--horizon", "-h", min=1, help="Days forecast ahead.")] = 28,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Last business day of history (YYYY-MM-DD); default the last in the ledger."),
    ] = None,
    lead_time: Annotated[
        int, typer.Option("--lead-time", min=1, help="Days of the lead-time demand distribution.")
    ] = 7,
    reselect_every: Annotated[
        int, typer.Option("--reselect-every", min=1, help="Days after which a model is chosen afresh.")
    ] = 28,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
) -> None:
    """Forecast every SKU x site in the ledger and publish the forecasts as ForecastPublished facts.

    Sales are read from the stock streams per business day; days without available stock are
    censored. Errors of the previous forecasts against the new actuals are recorded
    (ForecastErrorRecorded); a biased or shifted series raises ForecastDriftDetected and gets its
    model chosen afresh. Series already forecast as of the day are skipped.
    """
    from datetime import date

    from stockmesh.agents.forecast import DemandForecastAgent
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.entrypoints.cli_options import opened
    from stockmesh.service.forecasting import run_forecast_cycle

    if lead_time > horizon:
        _fail(f"the lead time ({lead_time}) must not exceed the horizon ({horizon})")
    try:
        day = None if as_of is None else date.fromisoformat(as_of)
    except ValueError:
        _fail(f"--as-of must be a date YYYY-MM-DD, not {as_of!r}")
        return
    agent = DemandForecastAgent(horizon=horizon, lead_time=lead_time, reselect_every=reselect_every)
    with opened(db) as store:
        try:
            report = run_forecast_cycle(store, agent, as_of=day)
        except InvalidInput as exc:
            _fail(str(exc))
            return
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2, default=str))
        return
    reselected = ", ".join(f"{reason} {count}" for reason, count in report.reselected.items()) or "none"
    typer.echo(
        f"as of {report.as_of}: {report.published} forecast(s) published for {report.series} SKU x site "
        f"({report.skipped_up_to_date} already up to date); errors recorded for {report.errors_recorded}; "
        f"drift in {len(report.drifted)}; model chosen afresh: {reselected}; {report.events_written} events written"
    )
    for sku, site in report.drifted:
        typer.echo(f"drift: {sku}@{site}: model re-selected")
