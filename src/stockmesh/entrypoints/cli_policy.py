"""``stockmesh policy ...``: inventory policies.

``policy solve FILE.jsonl`` solves every instance of the policy-instance schema
(``docs/policy-instances.md``) with the exact solvers of ``planning.exact``.
Exit codes: 0 every instance with an expected answer is within tolerance; 1 some answer is not;
2 the file is unreadable or an instance is invalid (the error names the line, instance and field).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Inventory policies: exact solvers and per-SKU x site policies.", no_args_is_help=True)

EXIT_NOT_OK = 1
EXIT_INVALID = 2


@app.command("solve")
def solve(
    file: Annotated[
        Path, typer.Argument(help="JSON-lines file of policy instances (docs/policy-instances.md).")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON line per instance.")] = False,
) -> None:
    """Solve each instance exactly; compare with its expected answer when it has one."""
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.planning.exact.instances import decode_line, solve_instance

    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        typer.echo(f"error: cannot read {file}: {exc}", err=True)
        raise typer.Exit(EXIT_INVALID) from exc

    results = []
    invalid = 0
    for line_number, line in enumerate(text.splitlines(), start=1):
        try:
            record = decode_line(line, line_number)
            if record is None:
                continue
            solved = solve_instance(record)
        except InvalidInput as exc:
            located = exc if exc.line is not None else exc.at_line(line_number)
            typer.echo(f"error: {located}", err=True)
            invalid += 1
            continue
        results.append(solved)
        if as_json:
            typer.echo(json.dumps(solved.as_record()))

    if not as_json:
        _print_table(results)
    if invalid:
        raise typer.Exit(EXIT_INVALID)
    if any(solved.ok is False for solved in results):
        raise typer.Exit(EXIT_NOT_OK)


def _print_table(results: list) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="policy instances")
    for column in ("id", "type", "policy", "expected_cost", "ok"):
        table.add_column(column)
    for solved in results:
        policy = {key: value for key, value in solved.answer.items() if key != "expected_cost"}
        shown = ", ".join(f"{key}={_short(value)}" for key, value in policy.items())
        ok = "" if solved.ok is None else ("yes" if solved.ok else "NO: " + "; ".join(solved.mismatches))
        table.add_row(solved.id, solved.type, shown, f"{solved.answer['expected_cost']:.6g}", ok)
    Console().print(table)


def _short(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in value.items()) + "}"
    return str(value)


@app.command("compute")
def compute_command(
    sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
    site: Annotated[str | None, typer.Option(help="Only this site.")] = None,
    service_level: Annotated[float, typer.Option(help="Cycle service level target, in (0, 1).")] = 0.95,
    policy: Annotated[str, typer.Option(help="ss, order-up-to, rq or min-max.")] = "ss",
    review_period: Annotated[float, typer.Option(help="Review period in days.")] = 1.0,
    lead_time: Annotated[float, typer.Option(help="Lead time in days where no receipts teach one.")] = 7.0,
    as_of: Annotated[str | None, typer.Option("--as-of", help="Use the ledger up to this date.")] = None,
    json_out: Annotated[bool, typer.Option("--json", help="One JSON object per SKU x site.")] = False,
    db: Annotated[str | None, typer.Option("--db", envvar="STOCKMESH_DB", help="Ledger URL.")] = None,
) -> None:
    """Compute the policy of every SKU x site in the ledger from its demand, lead time and costs."""
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.entrypoints.cli_options import ensure_views, fail, opened
    from stockmesh.service.policy_compute import ComputeSettings, compute_for_ledger

    settings = ComputeSettings(service_level=service_level, policy=policy, review_period_days=review_period,
                               default_lead_time_days=lead_time, as_of=as_of)
    with opened(db) as store:
        ensure_views(store)
        try:
            rows = compute_for_ledger(store, settings, sku=sku, site=site)
        except InvalidInput as exc:
            raise fail(str(exc), 2) from exc
    if json_out:
        for row in rows:
            typer.echo(json.dumps(row, default=str))
        return
    from rich.console import Console
    from rich.table import Table

    columns = ("sku", "site", "inventory_position", "demand_per_day", "lead_time_days", "safety_stock",
               "reorder_point", "order_up_to", "order_quantity")
    table = Table(*columns, title=f"Policies ({policy}, service level {service_level:g})")
    for row in rows:
        table.add_row(*(str(row[c]) for c in columns))
    Console().print(table)
