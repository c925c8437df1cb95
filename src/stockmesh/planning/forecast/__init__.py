"""Demand forecasting for many SKU x site series at once.

    read_demand_csv(path)            long CSV -> DemandPanel (the only I/O in this package)
    classify_demand(values)          Syntetos–Boylan: smooth, erratic, intermittent, lumpy
    forecast_series(history, h, ...) per-series model chosen by rolling-origin CV; quantiles and
                                     lead-time demand from conformal CV residuals
    backtest(panel, h, folds=...)    every candidate and the nested automatic selection, scored

Stock-out periods (``censored``) are imputed from the past and left out of every score;
promotion periods get an uplift learned from history. The cheap models are vectorised numpy.
"""

from stockmesh.planning.forecast.classify import CLASSES, DemandClasses, classify_demand
from stockmesh.planning.forecast.engine import (
    BacktestReport,
    ForecastResult,
    ForecastSettings,
    backtest,
    forecast_series,
)
from stockmesh.planning.forecast.panel import DemandPanel, panel_from_long, panel_from_matrix
from stockmesh.planning.forecast.reader import DemandFile, read_demand_csv

__all__ = [
    "CLASSES",
    "BacktestReport",
    "DemandClasses",
    "DemandFile",
    "DemandPanel",
    "ForecastResult",
    "ForecastSettings",
    "backtest",
    "classify_demand",
    "forecast_series",
    "panel_from_long",
    "panel_from_matrix",
    "read_demand_csv",
]
