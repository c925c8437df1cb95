"""``stockmesh serve``: the HTTP API and the dashboard (issue 7)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the ``serve`` command (filled in by the governance/API work)."""
