"""Ledger commands: init, ingest, stock, history, replay, audit (issue 2). Every command takes --db."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from stockmesh.domain.errors import InvalidInput, StockmeshError

DbOption = Annotated[
    str | None,
    typer.Option("--db", envvar="STOCKMESH_DB",
                 help="sqlite:///PATH (default sqlite:///stockmesh.db), postgresql://USER@HOST:PORT/DB or memory://"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
STOCK_COLUMNS = ("sku", "site", "on_hand", "reserved", "available", "in_transit", "on_order", "backordered",
                 "quarantined", "inventory_position")


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


def register(app: typer.Typer) -> None:
    @app.command()
    def init(db: DbOption = None) -> None:
        """Create the ledger's tables (safe to run again)."""
        with opened(db, create=True) as store:
            typer.echo(f"ledger ready at {store.url}")

    @app.command()
    def ingest(
        file: Annotated[Path, typer.Argument(help="JSON lines, one command per line.")],
        continue_on_error: Annotated[bool, typer.Option(
            "--continue-on-error", help="Write the valid lines; list each rejected line with its reason.")] = False,
        file_format: Annotated[str, typer.Option(
            "--format", help="commands (JSON lines, the default), epcis, x12 or snapshot.")] = "commands",
        mapping: Annotated[Path | None, typer.Option(
            "--mapping", help="With --format epcis: the table of products and locations to SKUs and sites.")] = None,
        db: DbOption = None,
    ) -> None:
        """Validate a file of commands, then write all of it or nothing. Re-ingesting changes nothing.
        Creates the ledger if there is none."""
        if file_format != "commands":
            from stockmesh.entrypoints.cli_integration import INGESTERS

            if file_format not in INGESTERS:
                raise fail(f"unknown --format {file_format!r}: use commands, epcis, x12 or snapshot", 2)
            extra = {"mapping": mapping, "json_out": False} if file_format == "epcis" else (
                {"ack": None} if file_format == "x12" else {})
            INGESTERS[file_format](file=file, db=db, **extra)
            return
        from stockmesh.service.ingest import IngestRejected, describe, ingest_file

        with opened(db, create=True) as store:
            try:
                report = ingest_file(store, file, continue_on_error=continue_on_error)
            except IngestRejected as exc:
                for line, error in exc.errors[:50]:
                    typer.echo(f"error: line {line}: {describe(error)}", err=True)
                if len(exc.errors) > 50:
                    typer.echo(f"error: ... and {len(exc.errors) - 50} more invalid lines", err=True)
                typer.echo("nothing written", err=True)
                raise typer.Exit(1) from exc
            except InvalidInput as exc:
                raise fail(str(exc)) from exc
        for line, error in report.rejected:
            typer.echo(f"rejected: line {line}: {describe(error)}", err=True)
        typer.echo(f"applied {report.applied} command(s) ({report.events} events), {report.duplicates} duplicate(s), "
                   f"{len(report.rejected)} rejected")
        if report.rejected:
            raise typer.Exit(1)

    @app.command()
    def stock(
        sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
        site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
        as_of: Annotated[str | None, typer.Option("--as-of", help="Balances at this business date-time.")] = None,
        json_out: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Stock positions per SKU x site."""
        from stockmesh.projections.queries import positions

        with opened(db) as store:
            ensure_views(store)
            try:
                rows = positions(store, sku=sku, site=site, as_of=as_of)
            except InvalidInput as exc:
                raise fail(str(exc), 2) from exc
        if json_out:
            import orjson

            typer.echo(orjson.dumps(rows).decode())
            return
        from rich.console import Console
        from rich.table import Table

        table = Table(*STOCK_COLUMNS)
        for row in rows:
            table.add_row(*(str(row[c]) for c in STOCK_COLUMNS))
        Console().print(table)

    @app.command()
    def history(stream: Annotated[str, typer.Argument(help="e.g. stock:OAT-MILK-1L@STORE-LYON-02, po:PO-1")],
                json_out: JsonOption = False, db: DbOption = None) -> None:
        """One stream's events, in order."""
        import orjson

        with opened(db) as store:
            events = store.read_stream(stream)
        if not events:
            raise fail(f"no events in stream {stream!r}")
        for e in events:
            if json_out:
                typer.echo(orjson.dumps({
                    "position": e.position, "version": e.version, "type": e.type, "occurred_at": e.occurred_at,
                    "recorded_at": e.recorded_at, "data": orjson.loads(e.data),
                    "metadata": orjson.loads(e.metadata)}).decode())
            else:
                typer.echo(f"{e.position:>8}  v{e.version:<4} {e.occurred_at}  {e.type:<28} {e.data}")

    @app.command()
    def replay(
        verify_only: Annotated[bool, typer.Option(
            "--verify", help="Rebuild into a scratch copy and compare with the live read models.")] = False,
        workers: Annotated[int | None, typer.Option(
            "--workers", min=1, help="Processes that fold partitions of the streams (default: one per core, at "
                                     "most 4, for a ledger of 250,000 events or more; or STOCKMESH_REPLAY_WORKERS)."
        )] = None,
        db: DbOption = None,
    ) -> None:
        """Rebuild the read models from the ledger (or, with --verify, check them against it)."""
        from stockmesh.projections import runner

        with opened(db) as store:
            if verify_only:
                ensure_views(store)  # read models trail the ledger by design; bring them up first
            total = store.head()[0]
            with progress_bar("Replaying", total) as bar:
                task = bar.add_task("replay", total=total)
                if verify_only:
                    report = runner.verify(store, progress=lambda n: bar.advance(task, n))
                else:
                    folded = runner.replay(store, progress=lambda n: bar.advance(task, n), workers=workers)
        if not verify_only:
            typer.echo(f"rebuilt read models from {folded} events")
            return
        if not report.ok:
            raise fail(f"read models differ from the ledger: {report.difference}")
        rows = ", ".join(f"{n} {v}" for v, n in report.rows.items())
        typer.echo(f"ok: {report.events} events replayed; read models equal ({rows})")

    audit = typer.Typer(help="Tamper evidence.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    @audit.command("verify")
    def audit_verify(db: DbOption = None) -> None:
        """Check the hash chain over every event: non-zero with the first bad position."""
        from stockmesh.ledger.chain import verify_chain

        with opened(db) as store:
            report = verify_chain(store.read_all(), store.head())
        if not report.ok:
            raise fail(f"hash chain broken at position {report.first_bad_position}: {report.reason}")
        typer.echo(f"ok: {report.events} events, chain intact up to position {report.head_position}")
