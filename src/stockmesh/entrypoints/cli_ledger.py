"""Ledger commands: init, ingest, stock, history, replay, audit. Every command takes --db."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from stockmesh.domain.errors import InvalidInput, Rejected, StockmeshError
from stockmesh.entrypoints.cli_options import DbOption, JsonOption, ensure_views, fail, opened, progress_bar

KeyFileOption = Annotated[Path | None, typer.Option(
    "--key-file", envvar="STOCKMESH_LEDGER_KEY_FILE", show_envvar=True,
    help="The ledger key (made by `stockmesh audit keygen`; never in the database).")]
STOCK_COLUMNS = ("sku", "site", "on_hand", "reserved", "available", "in_transit", "on_order", "backordered",
                 "quarantined", "inventory_position")


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
            from stockmesh.entrypoints.cli_integration import INGEST_FORMATS

            if file_format not in INGEST_FORMATS:
                raise fail(f"unknown --format {file_format!r}: use commands, epcis, x12 or snapshot", 2)
            extra = {"mapping": mapping, "json_out": False} if file_format == "epcis" else (
                {"ack": None} if file_format == "x12" else {})
            INGEST_FORMATS[file_format](file=file, db=db, **extra)
            return
        from stockmesh.service.ingest import describe, ingest_file

        with opened(db, create=True) as store:
            try:
                report = ingest_file(store, file, continue_on_error=continue_on_error)
            except Rejected as exc:
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
        from stockmesh.projections.stock_positions import positions

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
        from stockmesh.bootstrap import open_spec
        from stockmesh.projections import runner
        from stockmesh.projections.rebuild import replay as rebuild

        with opened(db) as store:
            if verify_only:
                ensure_views(store)  # read models trail the ledger by design; bring them up first
            total = store.head()[0]
            with progress_bar("Replaying", total) as bar:
                task = bar.add_task("replay", total=total)
                if verify_only:
                    report = runner.verify(store, progress=lambda n: bar.advance(task, n))
                else:
                    folded = rebuild(store, progress=lambda n: bar.advance(task, n), workers=workers,
                                     open_spec=open_spec)
        if not verify_only:
            typer.echo(f"rebuilt read models from {folded} events")
            return
        if not report.ok:
            raise fail(f"read models differ from the ledger: {report.difference}")
        rows = ", ".join(f"{n} {v}" for v, n in report.rows.items())
        typer.echo(f"ok: {report.events} events replayed; read models equal ({rows})")

    audit = typer.Typer(help="Tamper evidence: verify, signed checkpoints, the ledger key.", no_args_is_help=True)
    app.add_typer(audit, name="audit")

    def keyed(store: Any, key_file: Path | None) -> bytes | None:
        from stockmesh.ledger.chain import read_key

        if key_file is not None:
            store.head_key = read_key(key_file)
        return store.head_key  # type: ignore[no-any-return]

    @audit.command("verify")
    def audit_verify(
        against: Annotated[Path | None, typer.Option(
            "--against", help="A checkpoint from `stockmesh audit checkpoint`: the ledger must still extend it.")
        ] = None,
        key_file: KeyFileOption = None,
        json_out: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Check everything decisions rely on against the events: the hash chain, the head's signature
        (with the key), a checkpoint (--against), the write-side states, idempotency records, governance,
        read models and stock invariants. Non-zero with each finding named."""
        import orjson

        from stockmesh.service.audit import WITHOUT_KEY, audit

        checkpoint = None
        if against is not None:
            try:
                checkpoint = orjson.loads(against.read_bytes())
            except (OSError, orjson.JSONDecodeError) as exc:
                raise fail(f"--against {against}: cannot read the checkpoint: {exc}", 2) from exc
        with opened(db) as store:
            key = keyed(store, key_file)
            if checkpoint is not None and key is None:
                raise fail("--against needs the key that signed the checkpoint (--key-file or "
                           "STOCKMESH_LEDGER_KEY_FILE)", 2)
            views_ok = True
            try:
                ensure_views(store)  # read models trail the ledger by design; bring them up first
            except Exception as exc:  # events the fold cannot read: a finding, not a traceback
                views_ok = False
                problem = f"{type(exc).__name__}: {exc}"
            try:
                report = audit(store, key=key, checkpoint=checkpoint, read_models=views_ok)
            except StockmeshError:
                raise
            except Exception as exc:  # stored data no code path writes: say so, never a traceback
                raise fail(f"the audit could not finish, the ledger holds what no writer stores: "
                           f"{type(exc).__name__}: {exc}") from exc
            if not views_ok:
                report.add("read-models", "read models", f"cannot be brought up to the head: {problem}")
        if json_out:
            typer.echo(orjson.dumps(report.to_dict()).decode())
            if not report.ok:
                raise typer.Exit(1)
            return
        for finding in report.findings:
            typer.echo(f"finding: {finding}", err=True)
        if not report.ok:
            counts = ", ".join(f"{check} {n}" for check, n in report.counts.items())
            raise fail(f"the ledger fails the audit: {sum(report.counts.values())} finding(s) ({counts}); "
                       f"head at position {report.head_position}, hash {report.head_hash}")
        checked = ", ".join(f"{n} {what}" for what, n in report.checked.items())
        typer.echo(f"ok: {report.events} events, chain intact up to position {report.head_position} "
                   f"(hash {report.head_hash}); checked {checked}")
        if report.checkpoint is not None:
            typer.echo(f"ok: extends the checkpoint at position {report.checkpoint['position']} "
                       f"({report.checkpoint.get('time')})")
        if key is None:
            if report.head_signed:
                typer.echo("the head is signed, but without the key its signature is not checked")
            typer.echo("not checked without the ledger key (--key-file or STOCKMESH_LEDGER_KEY_FILE), so not "
                       "caught if done by someone who can write the database:")
            for case in WITHOUT_KEY:
                typer.echo(f"  - {case}")
        else:
            typer.echo("ok: the head is signed with the ledger key")

    @audit.command("checkpoint")
    def audit_checkpoint(
        out: Annotated[Path | None, typer.Option(
            "--out", help="Write the checkpoint to this new file (refused if it exists) instead of printing it.")
        ] = None,
        key_file: KeyFileOption = None,
        db: DbOption = None,
    ) -> None:
        """Sign the current head (position, hash, ledger, time) with the ledger key: keep the output
        outside the database; `audit verify --against FILE` later checks the ledger still extends it."""
        import orjson

        from stockmesh.ledger.chain import head_signature_problem, make_checkpoint
        from stockmesh.service.audit import audit

        if out is not None and out.exists():
            raise fail(f"--out {out} exists: a checkpoint file is never overwritten", 2)
        with opened(db) as store:
            key = keyed(store, key_file)
            if key is None:
                raise fail("a checkpoint is signed with the ledger key: give --key-file or "
                           "STOCKMESH_LEDGER_KEY_FILE (make one with `stockmesh audit keygen`)", 2)
            position, head_hash = store.head()
            # A checkpoint vouches for its head: a keyed head's signature must hold; an unkeyed
            # ledger's head is vouched for only after the whole audit passes.
            signature = store.head_signature()
            problem = head_signature_problem(key, position, head_hash, signature)
            if problem is not None and signature:  # signed, but not so that it holds: never vouched for
                raise fail(f"no checkpoint of this head: {problem} (run `stockmesh audit verify`)")
            if problem is not None:
                ensure_views(store)
                report = audit(store, key=None)
                if not report.ok:
                    raise fail(f"no checkpoint of a ledger that fails the audit: {report.findings[0]} "
                               "(run `stockmesh audit verify`)")
            first = next(iter(store.read_all(limit=1)), None)
            document = make_checkpoint(key, store.url, first.hash if first else "", position, head_hash,
                                       store.clock.now_iso())
        text = orjson.dumps(document, option=orjson.OPT_INDENT_2).decode() + "\n"
        if out is None:
            typer.echo(text, nl=False)
            return
        try:
            with out.open("x", encoding="utf-8") as handle:
                handle.write(text)
        except OSError as exc:
            raise fail(f"--out {out}: {exc}", 2) from exc
        typer.echo(f"checkpoint of position {position} (hash {head_hash}) written to {out}")

    @audit.command("keygen")
    def audit_keygen(path: Annotated[Path, typer.Argument(help="The new key file (refused if it exists).")]) -> None:
        """Write a new ledger key to a new file, readable by its owner only (0600). Keep it outside the
        database and back it up: with it set (STOCKMESH_LEDGER_KEY_FILE) every write signs the head."""
        from stockmesh.domain.errors import LedgerError
        from stockmesh.ledger.chain import new_key_file

        try:
            key_id = new_key_file(path)
        except LedgerError as exc:
            raise fail(str(exc), 2) from exc
        typer.echo(f"key {key_id} written to {path} (mode 0600)")

    @audit.command("sign")
    def audit_sign(key_file: KeyFileOption = None, db: DbOption = None) -> None:
        """Adopt the ledger key on a ledger that was never keyed: run the whole audit, and if it passes,
        sign the head (from then on every write signs it). Refused on a head already signed. On a
        ledger that was keyed, an unsigned head is tampering: do not sign it, run `audit verify`."""
        from stockmesh.ledger.chain import head_signature_problem, sign_head
        from stockmesh.service.audit import audit

        with opened(db) as store:
            key = keyed(store, key_file)
            if key is None:
                raise fail("give the key to adopt: --key-file or STOCKMESH_LEDGER_KEY_FILE", 2)
            position, head_hash = store.head()
            signature = store.head_signature()
            if signature and head_signature_problem(key, position, head_hash, signature) is None:
                typer.echo(f"ok: the head (position {position}) is already signed with this key")
                return
            if signature:
                raise fail(f"the head is already signed, not with this key: "
                           f"{head_signature_problem(key, position, head_hash, signature)}")
            ensure_views(store)
            report = audit(store, key=None)
            if not report.ok:
                for finding in report.findings:
                    typer.echo(f"finding: {finding}", err=True)
                raise fail("not signed: the ledger fails the audit")
            if not store.set_head_signature(position, head_hash, sign_head(key, position, head_hash)):
                raise fail("not signed: the ledger was written to meanwhile; run it again")
        typer.echo(f"ok: head at position {position} signed; every write with this key signs the new head")
