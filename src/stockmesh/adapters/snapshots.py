"""Stock snapshots from a WMS or ERP: on hand per SKU x site (x lot), as CSV or JSON.

CSV: a header naming at least ``sku,site,on_hand`` (``qty`` is accepted for ``on_hand``), and
optionally ``lot``, ``in_transit``, ``as_of`` (ISO 8601). JSON: a list of such objects, or
``{"as_of": ..., "source": ..., "sites": [...], "skus": [...], "rows": [...]}`` (``sites``/``skus``,
or ``site``/``sku``, declare its scope: see ``service.reconcile``). ``on_hand`` counts units on hand
outside quarantine, in the SKU's base unit: what our ``on_hand`` means.

A snapshot comes in two ways: ``stockmesh snapshot ingest`` writes it as counts (``RecordCount``
per row, keyed by the file's digest, so re-ingesting the same file changes nothing), and
``stockmesh reconcile`` compares it with our positions without writing (``service.reconcile``).
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stockmesh.domain.commands import ID_PATTERN, Command, parse_command, parse_instant
from stockmesh.domain.errors import InvalidInput, Rejected
from stockmesh.domain.inputs import UTF8_BOM, decode_utf8, whole_number
from stockmesh.ledger.port import EventStore
from stockmesh.service.execute import BatchRejected, execute, tally
from stockmesh.service.strict_json import loads_json

COLUMNS = ("sku", "site", "lot", "on_hand", "in_transit", "as_of")


@dataclass(frozen=True, slots=True)
class SnapshotRow:
    sku: str
    site: str
    on_hand: int
    lot: str | None = None
    in_transit: int | None = None
    as_of: str | None = None


@dataclass(slots=True)
class Snapshot:
    """A validated snapshot. ``digest`` identifies its content (the de-duplication key)."""

    rows: list[SnapshotRow]
    digest: str
    source: str = "snapshot"
    as_of: str | None = None
    has_lots: bool = False
    has_in_transit: bool = False
    # The scope it declares (JSON "sites"/"site", "skus"/"sku"; or `reconcile --site/--sku`):
    # None = not declared. Without declared sites, a snapshot covers the sites it lists.
    sites: tuple[str, ...] | None = None
    skus: tuple[str, ...] | None = None
    scope_from: str = "rows"


@dataclass(slots=True)
class SnapshotReport:
    rows: int = 0
    applied: int = 0
    duplicates: int = 0
    events: int = 0
    errors: list[str] = field(default_factory=list)


def _ident(value: Any, name: str) -> str:
    if not isinstance(value, str) or ID_PATTERN.fullmatch(value) is None:
        raise InvalidInput(f"must be an identifier (A-Z a-z 0-9 . _ : / # + -), got {value!r}"[:160], field=name)
    return value


def _count(value: Any, name: str) -> int:
    if isinstance(value, str):
        value = whole_number(value.strip(), name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"must be a whole number, got {value!r}"[:120], field=name)
    if value < 0:
        raise InvalidInput(f"must be zero or more, got {value}", field=name)
    return value


def parse_row(obj: Mapping[str, Any], default_as_of: str | None = None) -> SnapshotRow:
    unknown = set(obj) - set(COLUMNS) - {"qty"}
    if unknown:
        raise InvalidInput("unknown column", field=str(sorted(unknown)[0])[:60])
    on_hand = obj.get("on_hand", obj.get("qty"))
    if on_hand in (None, ""):
        raise InvalidInput("is required", field="on_hand")
    lot = obj.get("lot") or None
    in_transit = obj.get("in_transit")
    as_of = obj.get("as_of") or default_as_of
    return SnapshotRow(
        sku=_ident(obj.get("sku"), "sku"), site=_ident(obj.get("site"), "site"), on_hand=_count(on_hand, "on_hand"),
        lot=_ident(lot, "lot") if lot is not None else None,
        in_transit=_count(in_transit, "in_transit") if in_transit not in (None, "") else None,
        as_of=parse_instant("as_of", as_of) if as_of else None)


def read_snapshot(path: Path | str, *, source: str | None = None) -> Snapshot:
    """Read and validate a CSV or JSON snapshot; every bad row is reported with its line."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror}", field="FILE") from exc
    return parse_snapshot(raw, name=path.name, source=source)


def parse_snapshot(raw: bytes, *, name: str = "snapshot.csv", source: str | None = None) -> Snapshot:
    digest = hashlib.sha256(raw).hexdigest()
    errors: list[InvalidInput] = []
    rows: list[SnapshotRow] = []
    as_of: str | None = None
    sites: tuple[str, ...] | None = None
    skus: tuple[str, ...] | None = None
    src = source or name
    stripped = raw.lstrip()
    if name.endswith(".json") or stripped[:1] in (b"[", b"{"):
        try:
            body = loads_json(raw.removeprefix(UTF8_BOM))
        except InvalidInput as exc:
            if exc.field is not None:  # a key given twice, nesting too deep: named by its path
                raise
            raise InvalidInput(f"not JSON: {exc.message.removeprefix('malformed JSON: ')}", field="FILE") from None
        if isinstance(body, Mapping):
            as_of = body.get("as_of")
            src = source or str(body.get("source") or name)
            sites, skus = _declared(body, "sites", "site"), _declared(body, "skus", "sku")
            body = body.get("rows")
        if not isinstance(body, list):
            raise InvalidInput("must be a list of rows or {\"rows\": [...]}", field="rows")
        items: Sequence[tuple[int, Any]] = list(enumerate(body, start=1))
    else:
        reader = csv.DictReader(io.StringIO(decode_utf8(raw)))
        try:
            missing = {"sku", "site"} - set(reader.fieldnames or ())
            if missing or not ({"on_hand", "qty"} & set(reader.fieldnames or ())):
                raise InvalidInput("CSV header must name sku, site and on_hand", field="header", line=1)
            items = [(n, {k: v for k, v in r.items() if k is not None}) for n, r in enumerate(reader, start=2)]
        except csv.Error as exc:  # a field over the csv module's limit (128 kB), a NUL byte
            raise InvalidInput(f"malformed CSV: {exc}", line=reader.line_num + 1) from None
    try:
        default_as_of = parse_instant("as_of", as_of) if as_of else None
    except InvalidInput as exc:
        raise exc.at_line(1) from None
    seen: set[tuple[str, str, str | None]] = set()
    row_lines: list[int] = []
    for line, obj in items:
        if not isinstance(obj, Mapping):
            errors.append(InvalidInput("a row must be an object", line=line))
            continue
        try:
            row = parse_row(obj, default_as_of)
        except InvalidInput as exc:
            errors.append(exc.at_line(line))
            continue
        key = (row.sku, row.site, row.lot)
        if key in seen:
            errors.append(InvalidInput(f"{row.sku} at {row.site} (lot {row.lot}) is listed twice", field="sku",
                                       line=line))
            continue
        seen.add(key)
        rows.append(row)
        row_lines.append(line)
    errors += _outside(rows, sites, skus, "the snapshot's", row_lines)
    if errors:
        raise Rejected(errors)
    return Snapshot(rows, digest, src, default_as_of, any(r.lot for r in rows),
                    any(r.in_transit is not None for r in rows), sites, skus,
                    "snapshot" if sites is not None or skus is not None else "rows")


def _declared(body: Mapping[str, Any], plural: str, singular: str) -> tuple[str, ...] | None:
    """A scope the snapshot declares: ``"sites": [..]`` or ``"site": ".."`` (SKUs alike)."""
    if plural in body and singular in body:
        raise InvalidInput(f"give {plural} or {singular}, not both", field=plural, line=1)
    key = plural if plural in body else singular
    if key not in body:
        return None
    value = body[key]
    values = [value] if key == singular else value
    if not isinstance(values, list) or not values:
        raise InvalidInput("must be a non-empty list of identifiers" if key == plural else "must be an identifier",
                           field=key, line=1)
    try:
        return tuple(dict.fromkeys(_ident(v, key) for v in values))
    except InvalidInput as exc:
        raise exc.at_line(1) from None


def _outside(rows: Sequence[SnapshotRow], sites: Sequence[str] | None, skus: Sequence[str] | None, whose: str,
             lines: Sequence[int] | None = None) -> list[InvalidInput]:
    """A row outside the declared scope contradicts it: an error naming its line."""
    errors = []
    for n, row in enumerate(rows):
        line = lines[n] if lines is not None else None
        if sites is not None and row.site not in sites:
            errors.append(InvalidInput(f"{row.sku} at {row.site}: {row.site} is not one of {whose} sites "
                                       f"({', '.join(sites)})"[:200],
                                       field="site", line=line))
        elif skus is not None and row.sku not in skus:
            errors.append(InvalidInput(f"{row.sku} at {row.site}: {row.sku} is not one of {whose} SKUs "
                                       f"({', '.join(skus)})"[:200],
                                       field="sku", line=line))
    return errors


def with_scope(snapshot: Snapshot, *, sites: Sequence[str] | None = None,
               skus: Sequence[str] | None = None) -> Snapshot:
    """The snapshot with the scope given on the command line (``reconcile --site/--sku``). It must
    agree with a scope the snapshot declares itself, and cover every row."""
    if not sites and not skus:
        return snapshot
    errors: list[InvalidInput] = []
    for given, declared, name in ((sites, snapshot.sites, "site"), (skus, snapshot.skus, "sku")):
        if given and declared is not None and set(given) != set(declared):
            errors.append(InvalidInput(f"--{name} {', '.join(given)} differs from the {name}s the snapshot declares: "
                                       f"{', '.join(declared)}"[:200], field=name))
    if errors:
        raise Rejected(errors)
    scoped_sites = tuple(dict.fromkeys(sites)) if sites else snapshot.sites
    scoped_skus = tuple(dict.fromkeys(skus)) if skus else snapshot.skus
    errors = _outside(snapshot.rows, scoped_sites, scoped_skus, "the given")
    if errors:
        raise Rejected(errors)
    return Snapshot(snapshot.rows, snapshot.digest, snapshot.source, snapshot.as_of, snapshot.has_lots,
                    snapshot.has_in_transit, scoped_sites, scoped_skus, "option")


def count_commands(snapshot: Snapshot) -> tuple[list[Command], list[dict[str, Any]]]:
    """One ``RecordCount`` per row: a row without a lot counts the position's unlotted units."""
    commands: list[Command] = []
    payloads: list[dict[str, Any]] = []
    tag = snapshot.digest[:24]
    for row in snapshot.rows:
        payload: dict[str, Any] = {"command": "RecordCount", "sku": row.sku, "site": row.site,
                                   "counted": row.on_hand,
                                   "idempotency_key": f"snapshot:{tag}:{row.sku}@{row.site}"
                                                      + (f"/{row.lot}" if row.lot else "")}
        if row.lot:
            payload["lot"] = row.lot
        if row.as_of:
            payload["occurred_at"] = row.as_of
        commands.append(parse_command(payload))
        payloads.append(payload)
    return commands, payloads


def ingest_snapshot(store: EventStore, snapshot: Snapshot) -> SnapshotReport:
    """Write a snapshot as counts, all or nothing. A row without a lot counts the unlotted units,
    so it is refused for a position that holds lots (list the lots, or use ``reconcile``)."""
    from stockmesh.projections.runner import catch_up

    catch_up(store)
    lotted = {(r[0], r[1]) for r in store.load_view("lot_positions") if int(r[3]) > 0}
    errors = [InvalidInput(f"{row.sku} at {row.site} is tracked by lot: the snapshot must list its lots "
                           f"(or compare it with `stockmesh reconcile`)", field="lot", line=n)
              for n, row in enumerate(snapshot.rows, start=1) if row.lot is None and (row.sku, row.site) in lotted]
    if errors:
        raise Rejected(errors)
    commands, payloads = count_commands(snapshot)
    report = SnapshotReport(rows=len(snapshot.rows))
    if not commands:
        return report
    try:
        outcomes = execute(store, commands, metadata={"source": f"snapshot:{snapshot.source}"})
    except BatchRejected as exc:
        row = snapshot.rows[exc.index]
        raise Rejected([InvalidInput(f"{row.sku} at {row.site}: {exc.error}",
                                             field=getattr(exc.error, "field", None))]) from exc
    counts = tally(outcomes)
    report.applied, report.duplicates, report.events = counts.applied, counts.duplicates, counts.events
    return report


def snapshot_frame(snapshot: Snapshot) -> Any:
    """The snapshot as a pandas DataFrame with the columns ``COLUMNS``."""
    import pandas as pd

    return pd.DataFrame(
        {"sku": [r.sku for r in snapshot.rows], "site": [r.site for r in snapshot.rows],
         "lot": [r.lot for r in snapshot.rows], "on_hand": [r.on_hand for r in snapshot.rows],
         "in_transit": [r.in_transit for r in snapshot.rows], "as_of": [r.as_of for r in snapshot.rows]})


def read_snapshot_frame(path: Path | str) -> Any:
    """A large CSV snapshot straight into pandas (vectorised checks; for reconciliation at scale)."""
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype={"sku": str, "site": str, "lot": str}, keep_default_na=False,
                            na_values={"on_hand": [""], "in_transit": [""], "qty": [""]})
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc}"[:300], field="FILE") from exc
    if "qty" in frame.columns and "on_hand" not in frame.columns:
        frame = frame.rename(columns={"qty": "on_hand"})
    for column in ("sku", "site", "on_hand"):
        if column not in frame.columns:
            raise InvalidInput("CSV header must name sku, site and on_hand", field=column, line=1)
    bad = frame["on_hand"].isna() | (frame["on_hand"] < 0)
    if bad.any():
        line = int(bad.to_numpy().argmax()) + 2
        raise InvalidInput("must be a whole number, zero or more", field="on_hand", line=line)
    if "lot" in frame.columns:
        frame["lot"] = frame["lot"].replace("", None)
    return frame
