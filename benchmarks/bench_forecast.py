"""Forecasting benchmark.

    .venv/bin/python benchmarks/bench_forecast.py            # everything below
    .venv/bin/python benchmarks/bench_forecast.py --skip-100k

1. 10,000 synthetic daily series x 365 days, horizon 28: classification + selection (rolling-origin
   CV, 3 windows) + forecast with quantiles, through ``forecast_series`` with its default settings
   (statsforecast's AutoETS and AutoTheta tried on at most 1 % of the series, for at most 15 s);
   median of 3 runs, each in a fresh process so that its peak RSS is its own. Generating the data
   is not timed.
2. The same for 100,000 series (one run).
3. The nested back-test (horizon 6, 3 folds) on ../shared/data/demand/carparts.csv and hospital.csv:
   the acceptance figures.
4. The same back-test (horizon 28, 3 folds) on 10,000 synthetic daily series, a stand-in for the
   held-out daily retail data.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("STOCKMESH_SHARED_DATA", REPO.parent / "shared" / "data"))


def _one_run(n_series: int, n_days: int, horizon: int) -> dict[str, float]:
    from stockmesh.planning.forecast import forecast_series
    from stockmesh.planning.forecast.synthetic import daily_retail_demand

    demand = daily_retail_demand(n_series, n_days, seed=0)
    started = time.perf_counter()
    result = forecast_series(demand.sales, horizon)
    elapsed = time.perf_counter() - started
    expensive = result.provenance.get("expensive") or {}
    return {
        "seconds": elapsed,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "series": float(result.point.shape[0]),
        "expensive_series": float(expensive.get("series_evaluated", 0)),
        "expensive_chosen": float(sum(name in expensive.get("models", ()) for name in result.model)),
    }


def _in_subprocess(n_series: int, n_days: int, horizon: int) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, "--child", str(n_series), str(n_days), str(horizon)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(output.strip().splitlines()[-1])


def _acceptance() -> list[dict[str, object]]:
    from stockmesh.planning.forecast import ForecastSettings, backtest, read_demand_csv

    rows = []
    for name in ("carparts.csv", "hospital.csv"):
        path = SHARED / "demand" / name
        if not path.exists():
            print(f"skipping {name}: {path} not found")
            continue
        started = time.perf_counter()
        demand = read_demand_csv(path)
        report = backtest(demand.panel, 6, folds=3, settings=ForecastSettings(horizon=6))
        elapsed = time.perf_counter() - started
        best = report.best_method()
        selected = report.selected
        rows.append(
            {
                "file": name,
                "series": report.series,
                "skipped_short": report.skipped_short,
                "selected_rmsse": selected.rmsse,
                "seasonal_naive_rmsse": report.methods["SeasonalNaive"].rmsse,
                "ratio_to_seasonal_naive": selected.rmsse / report.methods["SeasonalNaive"].rmsse,
                "best_single": best,
                "best_single_rmsse": report.methods[best].rmsse,
                "ratio_to_best": selected.rmsse / report.methods[best].rmsse,
                "selected_mase": selected.mase,
                "selected_pinball": selected.pinball,
                "selected_bias": selected.bias,
                "coverage_p90": selected.coverage_p90,
                "seconds": elapsed,
            }
        )
    return rows


def _synthetic_backtest() -> str:
    from stockmesh.planning.forecast import ForecastSettings, backtest, panel_from_matrix
    from stockmesh.planning.forecast.synthetic import daily_retail_demand

    demand = daily_retail_demand(10_000, 365, seed=1)
    started = time.perf_counter()
    report = backtest(
        panel_from_matrix(demand.sales, freq="D"), 28, folds=3, settings=ForecastSettings(horizon=28)
    )
    elapsed = time.perf_counter() - started
    best = report.best_method()
    selected, naive = report.selected, report.methods["SeasonalNaive"]
    return (
        f"synthetic daily (10,000 x 365, h=28, 3 folds): selected RMSSE {selected.rmsse:.4f} = "
        f"{selected.rmsse / naive.rmsse:.3f} x SeasonalNaive ({naive.rmsse:.4f}), "
        f"{selected.rmsse / report.methods[best].rmsse:.3f} x best single {best} "
        f"({report.methods[best].rmsse:.4f}); coverage_p90 {selected.coverage_p90:.3f}; {elapsed:.2f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--child", nargs=3, type=int, help=argparse.SUPPRESS)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-100k", action="store_true")
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_one_run(*args.child)))
        return

    runs = [_in_subprocess(10_000, 365, 28) for _ in range(args.repeats)]
    seconds = [run["seconds"] for run in runs]
    print(
        f"10,000 x 365 daily, h=28: median {statistics.median(seconds):.2f} s "
        f"(runs {', '.join(f'{value:.2f}' for value in seconds)}), "
        f"peak RSS {max(run['peak_rss_mb'] for run in runs):.0f} MB; statsforecast candidates tried on "
        f"{', '.join(str(int(run['expensive_series'])) for run in runs)} series, kept for "
        f"{', '.join(str(int(run['expensive_chosen'])) for run in runs)}"
    )
    if not args.skip_100k:
        big = _in_subprocess(100_000, 365, 28)
        print(
            f"100,000 x 365 daily, h=28: {big['seconds']:.2f} s, peak RSS {big['peak_rss_mb']:.0f} MB; "
            f"statsforecast candidates tried on {int(big['expensive_series'])} series"
        )
    for row in _acceptance():
        print(
            f"{row['file']}: {row['series']} series ({row['skipped_short']} too short), "
            f"selected RMSSE {row['selected_rmsse']:.4f} = {row['ratio_to_seasonal_naive']:.3f} x SeasonalNaive "
            f"({row['seasonal_naive_rmsse']:.4f}), {row['ratio_to_best']:.3f} x best single "
            f"{row['best_single']} ({row['best_single_rmsse']:.4f}); MASE {row['selected_mase']:.4f}, "
            f"pinball {row['selected_pinball']:.4f}, bias {row['selected_bias']:+.4f}, "
            f"coverage_p90 {row['coverage_p90']:.3f}; {row['seconds']:.2f} s"
        )
    print(_synthetic_backtest())


if __name__ == "__main__":
    main()
