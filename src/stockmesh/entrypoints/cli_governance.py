"""Governance commands: policies, approvals, users and tokens (issue 7)."""

from __future__ import annotations

import typer


def register(app: typer.Typer) -> None:
    """Add the governance commands (filled in by the governance work)."""
