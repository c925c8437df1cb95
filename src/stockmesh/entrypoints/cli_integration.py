"""Integration commands: EPCIS, X12, snapshots, outbox relay, reconciliation (issue 8)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the integration commands (filled in by the integration work)."""
