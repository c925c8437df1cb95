"""Integration commands: EPCIS, X12, snapshots, outbox relay, reconciliation.

    stockmesh epcis ingest FILE --mapping MAP      stockmesh export epcis [--mapping MAP] [-o FILE]
    stockmesh x12 ingest FILE [--ack FILE]          stockmesh snapshot ingest FILE
    stockmesh outbox relay|list|replay SEQ|status   stockmesh reconcile FILE [--apply] [--json]

Every command takes ``--db`` like the ledger commands.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from stockmesh.domain.errors import InvalidInput, Rejected, StockmeshError
from stockmesh.entrypoints.cli_options import DbOption, JsonOption, ensure_views, fail, opened

MappingOption = Annotated[Path | None, typer.Option("--mapping", help="YAML/JSON table: products -> SKUs, "
                                                     "locations -> sites (see docs/integration.md).")]


def _echo_json(value: Any) -> None:
    import orjson

    typer.echo(orjson.dumps(value, option=orjson.OPT_INDENT_2, default=str).decode())


def _rejected(errors: list[Any]) -> typer.Exit:
    for error in errors[:50]:
        typer.echo(f"error: {error}", err=True)
    if len(errors) > 50:
        typer.echo(f"error: ... and {len(errors) - 50} more", err=True)
    typer.echo("nothing written", err=True)
    return typer.Exit(1)


def epcis_ingest(file: Annotated[Path, typer.Argument(help="EPCIS 2.0 JSON / JSON-LD document.")],
                 mapping: MappingOption = None, json_out: JsonOption = False, db: DbOption = None) -> None:
    """Map EPCIS events to ledger commands and write them all or nothing (re-ingesting is a no-op).
    Creates the ledger if there is none."""
    from stockmesh.adapters import epcis

    try:
        table = epcis.load_mapping(mapping)
        doc = epcis.read_document(file)
    except InvalidInput as exc:
        raise fail(str(exc)) from exc
    with opened(db, create=True) as store:
        try:
            report = epcis.ingest(store, doc, table, source=f"epcis:{file.name}")
        except Rejected as exc:
            raise _rejected(exc.errors) from exc
        except InvalidInput as exc:  # the document's shape (no event list...): refused as a whole
            raise _rejected([exc]) from exc
        ensure_views(store)
    if json_out:
        from dataclasses import asdict

        _echo_json(asdict(report))
        return
    for note in report.notes:
        typer.echo(f"note: {note}", err=True)
    typer.echo(f"{report.events} event(s): {report.applied} command(s) applied ({report.ledger_events} ledger "
               f"events), {report.duplicates} duplicate(s), {report.observed} observation(s), "
               f"{report.echoes} echo(es) of our own export")


def x12_ingest(file: Annotated[Path, typer.Argument(help="One X12 interchange (ISA ... IEA).")],
               ack: Annotated[Path | None, typer.Option("--ack", help="Write the 997 acknowledgement here.")] = None,
               db: DbOption = None) -> None:
    """Validate an interchange (envelope, counts, segments) and apply its 846/856 sets once.
    Creates the ledger if there is none."""
    from stockmesh.adapters import x12

    try:
        text = file.read_text(encoding="latin-1")
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc.strerror}") from exc
    with opened(db, create=True) as store:
        try:
            report = x12.ingest_x12(store, text, source=f"x12:{file.name}")
        except Rejected as exc:
            if ack is not None:
                try:
                    ack.write_text(x12.write_997(x12.parse_interchange(text), error=exc.error))
                except InvalidInput:
                    pass  # not even the envelope is readable: no 997 possible
            raise _rejected([exc.error]) from exc
        ensure_views(store)
    if ack is not None:
        ack.write_text(x12.write_997(x12.parse_interchange(text)))
    for a in report.acknowledgements:
        typer.echo(f"997: group {a.group_control} {a.group_status}; sets " +
                   ", ".join(f"{code} {control} {status}" for code, control, status in a.sets))
    typer.echo(f"interchange {report.interchange}: {report.sets} set(s), {report.applied} command(s) applied "
               f"({report.events} ledger events), {report.duplicates} duplicate(s)")


def snapshot_ingest(file: Annotated[Path, typer.Argument(help="CSV or JSON: sku, site, [lot], on_hand.")],
                    db: DbOption = None) -> None:
    """Write a snapshot as counts (RecordCount per row); the same file twice changes nothing.
    Creates the ledger if there is none."""
    from stockmesh.adapters import snapshots

    try:
        snap = snapshots.read_snapshot(file)
    except Rejected as exc:
        raise _rejected(exc.errors) from exc
    except InvalidInput as exc:
        raise fail(str(exc)) from exc
    with opened(db, create=True) as store:
        try:
            report = snapshots.ingest_snapshot(store, snap)
        except Rejected as exc:
            raise _rejected(exc.errors) from exc
        ensure_views(store)
    typer.echo(f"{report.rows} row(s): {report.applied} count(s) applied ({report.events} ledger events), "
               f"{report.duplicates} duplicate(s)")


# format -> the command that ingests a file of it, for `stockmesh ingest --format` (and the same
# command under `stockmesh FORMAT ingest`)
INGEST_FORMATS: dict[str, Callable[..., None]] = {
    "epcis": epcis_ingest, "x12": x12_ingest, "snapshot": snapshot_ingest,
}


def register(app: typer.Typer) -> None:
    """Add the integration commands."""
    epcis_app = typer.Typer(help="GS1 EPCIS 2.0 events in.", no_args_is_help=True)
    export_app = typer.Typer(help="Export the ledger in standard formats.", no_args_is_help=True)
    x12_app = typer.Typer(help="ANSI X12 interchanges (846, 856 in; 997 acks).", no_args_is_help=True)
    snapshot_app = typer.Typer(help="Stock snapshots from a WMS or ERP.", no_args_is_help=True)
    outbox_app = typer.Typer(help="The transactional outbox: relay, list, replay dead letters.",
                             no_args_is_help=True)
    app.add_typer(epcis_app, name="epcis")
    app.add_typer(export_app, name="export")
    app.add_typer(x12_app, name="x12")
    app.add_typer(snapshot_app, name="snapshot")
    app.add_typer(outbox_app, name="outbox")
    epcis_app.command("ingest")(epcis_ingest)
    x12_app.command("ingest")(x12_ingest)
    snapshot_app.command("ingest")(snapshot_ingest)

    @export_app.command("epcis")
    def export_epcis(mapping: MappingOption = None,
                     out: Annotated[Path | None, typer.Option("--out", "-o", help="Write here, not stdout.")] = None,
                     after: Annotated[int, typer.Option(help="Only events after this ledger position.")] = 0,
                     db: DbOption = None) -> None:
        """Our physical stock events as an EPCIS 2.0 document (valid against the GS1 schema)."""
        import orjson

        from stockmesh.adapters import epcis

        try:
            table = epcis.load_mapping(mapping) if mapping else None
        except InvalidInput as exc:
            raise fail(str(exc)) from exc
        with opened(db) as store:
            doc = epcis.export_document(store, table, after=after)
        text = orjson.dumps(doc, option=orjson.OPT_INDENT_2)
        if out is None:
            typer.echo(text.decode())
        else:
            out.write_bytes(text + b"\n")
            typer.echo(f"wrote {len(doc['epcisBody']['eventList'])} event(s) to {out}", err=True)

    @outbox_app.command("relay")
    def outbox_relay(
        nats: Annotated[str | None, typer.Option("--nats", envvar="STOCKMESH_NATS",
                                                  help="Publish to NATS JetStream, e.g. nats://127.0.0.1:4222")] = None,
        webhook: Annotated[list[str] | None, typer.Option("--webhook", help="POST orders and transfers here "
                                                           "(repeatable).")] = None,
        secret: Annotated[str | None, typer.Option("--secret", envvar="STOCKMESH_WEBHOOK_SECRET",
                                                   help="HMAC-SHA256 signing secret for webhooks.")] = None,
        x12_dir: Annotated[Path | None, typer.Option("--x12-dir", help="Write purchase orders as 850 files.")] = None,
        forever: Annotated[bool, typer.Option("--forever", help="Keep relaying until interrupted.")] = False,
        max_attempts: Annotated[int, typer.Option(help="Attempts before a message is dead.")] = 10,
        db: DbOption = None,
    ) -> None:
        """Deliver pending outbox messages (at least once; each carries its id as idempotency key)."""
        import threading

        from stockmesh.service.outbox import OutboxRelay, Sink

        sinks: list[Sink] = []
        bus = None
        if webhook:
            if not secret:
                raise fail("--webhook needs --secret (or STOCKMESH_WEBHOOK_SECRET)")
            from stockmesh.adapters.webhooks import WebhookSink

            try:
                sinks += [WebhookSink(url, secret, topics=("purchase_order.placed", "purchase_order.cancelled",
                                                           "transfer.dispatched", "transfer.received"))
                          for url in webhook]
            except InvalidInput as exc:
                raise fail(str(exc)) from exc
        if x12_dir is not None:
            from stockmesh.adapters.x12 import X12OrderSink

            sinks.append(X12OrderSink(x12_dir))
        if nats:
            from stockmesh.adapters.nats_bus import NatsBus

            bus = NatsBus(nats)
        if not sinks and bus is None:
            raise fail("nowhere to deliver: give --nats, --webhook or --x12-dir")
        with opened(db) as store:
            relay = OutboxRelay(store, routes={">": sinks}, bus=bus, max_attempts=max_attempts)
            try:
                if forever:
                    stop = threading.Event()
                    try:
                        report = relay.run(stop)
                    except KeyboardInterrupt:
                        stop.set()
                        report = relay.run_once()
                else:
                    report = relay.run_once()
            finally:
                if bus is not None:
                    bus.close()
        for error in report.errors[:20]:
            typer.echo(f"failed: {error}", err=True)
        typer.echo(f"delivered {report.delivered}, retrying {report.retried}, dead {report.dead}, "
                   f"deferred {report.deferred}" + (" (bus unavailable)" if report.bus_down else ""))
        if report.bus_down:
            raise typer.Exit(3)

    app.command("relay", help="Deliver pending outbox messages (same as `stockmesh outbox relay`).")(outbox_relay)

    @outbox_app.command("list")
    def outbox_list(status: Annotated[str | None, typer.Option(help="pending, delivered or dead (default all)")] = None,
                    limit: Annotated[int, typer.Option(help="At most this many.")] = 100,
                    json_out: JsonOption = False, db: DbOption = None) -> None:
        """Outbox messages with their delivery state; dead letters show their last error."""
        from stockmesh.service import outbox

        with opened(db) as store:
            try:
                entries = outbox.outbox_list(store, status=status, limit=limit)
            except InvalidInput as exc:
                raise fail(str(exc), 2) from exc
        if json_out:
            _echo_json([e._asdict() for e in entries])
            return
        for e in entries:
            typer.echo(f"{e.seq:>7}  {e.status:<9} attempts={e.attempts:<3} {e.topic:<26} {e.message_id}"
                       + (f"  last_error={e.last_error}" if e.last_error else ""))

    @outbox_app.command("replay")
    def outbox_replay(seq: Annotated[int, typer.Argument(help="The message's seq (from `outbox list`).")],
                      db: DbOption = None) -> None:
        """Put a dead (or delivered) message back to pending; its id, and so its effect, is unchanged."""
        from stockmesh.service import outbox

        with opened(db) as store:
            try:
                entry = outbox.replay(store, seq)
            except InvalidInput as exc:
                raise fail(str(exc), 2) from exc
        typer.echo(f"message {entry.seq} ({entry.message_id}) is pending again")

    @outbox_app.command("status")
    def outbox_status(json_out: JsonOption = False, db: DbOption = None) -> None:
        """How many messages are pending, delivered and dead."""
        from stockmesh.service import outbox

        with opened(db) as store:
            counts = outbox.counts(store)
        if json_out:
            _echo_json(counts)
        else:
            typer.echo(", ".join(f"{k} {v}" for k, v in counts.items()))

    @app.command("reconcile")
    def reconcile_cmd(
        file: Annotated[Path | None, typer.Argument(help="An external snapshot (CSV or JSON: sku, site, [lot], "
                                                          "on_hand, [in_transit], [as_of]).")] = None,
        wms: Annotated[Path | None, typer.Option("--wms", help="The WMS's snapshot.")] = None,
        erp: Annotated[Path | None, typer.Option("--erp", help="The ERP's snapshot.")] = None,
        source: Annotated[str | None, typer.Option(help="Name of the external system, for the report.")] = None,
        apply: Annotated[bool, typer.Option("--apply", help="Execute the proposed corrections (not by default).")] = False,
        site: Annotated[list[str] | None, typer.Option(
            "--site", help="A site the snapshot covers (repeat). Default: the sites it declares, else those it "
                           "lists; our stock elsewhere is not compared.")] = None,
        sku: Annotated[list[str] | None, typer.Option(
            "--sku", help="A SKU the snapshot covers (repeat). Default: every SKU at its sites.")] = None,
        json_out: JsonOption = False, db: DbOption = None,
    ) -> None:
        """Compare WMS/ERP snapshots with our positions; classify discrepancies; propose corrections.
        Only the snapshot's scope (its sites, and SKUs where it says so) is compared."""
        given = [(f, src) for f, src in ((file, source), (wms, source or "wms"), (erp, source or "erp")) if f]
        if not given:
            raise fail("give a snapshot: FILE, --wms FILE and/or --erp FILE", 2)
        if len(given) > 1 and json_out:
            import contextlib
            import io

            reports = {}
            for path, name in given:
                buffer = io.StringIO()
                with contextlib.redirect_stdout(buffer):
                    _reconcile_one(path, name, apply, True, db, site, sku)
                reports[name or path.name] = json.loads(buffer.getvalue())
            _echo_json(reports)
            return
        for path, name in given:
            if len(given) > 1:
                typer.echo(f"== {name}: {path}")
            _reconcile_one(path, name, apply, json_out, db, site, sku)

    def _reconcile_one(file: Path, source: str | None, apply: bool, json_out: bool, db: str | None,
                       scope_sites: list[str] | None = None, scope_skus: list[str] | None = None) -> None:
        from stockmesh.adapters import snapshots
        from stockmesh.service import reconcile as rc

        try:
            snap = snapshots.with_scope(snapshots.read_snapshot(file, source=source), sites=scope_sites,
                                         skus=scope_skus)
        except Rejected as exc:
            raise _rejected(exc.errors) from exc
        except InvalidInput as exc:
            raise fail(str(exc)) from exc
        with opened(db) as store:
            ensure_views(store)
            ours, lots, skus, sites, packs = rc.our_positions(store)
            scope = rc.Scope(sites=None if snap.sites is None else frozenset(snap.sites),
                             skus=None if snap.skus is None else frozenset(snap.skus), declared_by=snap.scope_from)
            result = rc.reconcile(ours, snapshots.snapshot_frame(snap), known_skus=skus, known_sites=sites,
                                  pack_sizes=packs, ours_lots=lots, source=snap.source, run_id=snap.digest[:16],
                                  scope=scope)
            proposals = result.proposals()
            try:
                governed = rc.govern_corrections(store, result, apply=apply)
            except StockmeshError as exc:
                raise fail(f"corrections not applied: {exc}") from exc
            applied = governed.executed
            ensure_views(store)
        rows = result.discrepancies
        if json_out:
            _echo_json({
                "scope": result.scope,
                "summary": result.summary,
                "discrepancies": [
                    {"sku": s, "site": t, "class": c, "on_hand_us": _int(u), "on_hand_them": _int(h)}
                    for s, t, c, u, h in zip(rows["sku"], rows["site"], rows["cls"], rows["on_hand_us"],
                                             rows["on_hand_them"], strict=True)],
                "proposals": [{"proposal_id": p.proposal_id, "command": p.command_body(), "reasons": list(p.reasons)}
                              for p in proposals],
                "applied": applied, "queued": governed.queued})
            return
        typer.echo(_scope_line(result.scope))
        typer.echo(", ".join(f"{k} {v}" for k, v in result.summary.items() if v))
        for s, t, c, u, h in zip(rows["sku"], rows["site"], rows["cls"], rows["on_hand_us"], rows["on_hand_them"],
                                 strict=True):
            typer.echo(f"{c:<20} {s}@{t}: ours {_int(u)}, theirs {_int(h)}")
        for p in proposals:
            body = p.command_body()
            typer.echo(f"propose: {body['command']} {body['sku']}@{body['site']} "
                       f"delta {body['delta']:+d}" + (f" lot {body['lot']}" if "lot" in body else ""))
        if apply:
            typer.echo(f"applied {applied} correction(s); {governed.queued} wait for an approver")
        elif proposals:
            typer.echo(f"{len(proposals)} correction(s) proposed; run with --apply to execute them")


def _scope_line(scope: dict[str, Any]) -> str:
    how = {"snapshot": "as the snapshot declares", "option": "as given", "rows": "the sites the snapshot lists"}
    sites = ", ".join(scope["sites"]) or "none"
    skus = "every SKU" if scope["skus"] is None else "SKUs " + ", ".join(scope["skus"])
    left = (f"; not compared: {scope['positions_out_of_scope']:,} position(s) of ours outside it "
            f"({scope['units_out_of_scope']:,} units on hand)") if scope["positions_out_of_scope"] else ""
    return f"scope: sites {sites} ({how.get(scope['declared_by'], scope['declared_by'])}), {skus}{left}"


def _int(value: Any) -> int | None:
    return None if value != value or value is None else int(value)
