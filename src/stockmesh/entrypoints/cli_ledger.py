"""Ledger commands: init, ingest, stock, history, replay, audit (issue 2)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    @app.command()
    def init() -> None:
        """Create the ledger's tables."""
