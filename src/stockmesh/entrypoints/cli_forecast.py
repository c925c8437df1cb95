"""``stockmesh forecast ...``: demand forecasting (issue 3)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Demand forecasting: back-tests and published forecasts.", no_args_is_help=True)
