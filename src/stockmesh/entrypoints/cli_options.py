"""What every CLI command group shares: the ``--db`` and ``--json`` options, ``fail``, the store a
command opens, a progress bar and bringing the read models up to date."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from stockmesh.domain.errors import StockmeshError

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="STOCKMESH_DB",
                 help="sqlite:///PATH (default sqlite:///stockmesh.db), postgresql://USER@HOST:PORT/DB or memory://"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


@contextmanager
def opened(db: str | None, *, create: bool = False) -> Iterator[Any]:
    """The store ``db`` (or STOCKMESH_DB) names. Only commands that write on purpose pass
    ``create=True`` (and say so in their help); every other command on a missing ledger fails with
    "no ledger at ..." and creates no file."""
    from stockmesh.bootstrap import open_store

    try:
        store = open_store(db, create=create)
    except StockmeshError as exc:
        raise fail(str(exc)) from exc
    try:
        yield store
    except StockmeshError as exc:
        raise fail(str(exc)) from exc
    finally:
        store.close()


def progress_bar(description: str, total: int | None) -> Any:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    disable=not sys.stderr.isatty(), transient=True)


def ensure_views(store: Any) -> None:
    from stockmesh.projections.runner import catch_up

    pending = store.head()[0] - store.view_checkpoint()
    if pending <= 0:
        return
    with progress_bar("Updating read models", pending) as bar:
        task = bar.add_task("fold", total=pending)
        catch_up(store, progress=lambda n: bar.advance(task, n))
