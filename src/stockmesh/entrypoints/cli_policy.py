"""``stockmesh policy ...``: inventory policies (issue 4)."""

from __future__ import annotations

import typer

app = typer.Typer(help="Inventory policies: exact solvers and per-SKU x site policies.", no_args_is_help=True)
