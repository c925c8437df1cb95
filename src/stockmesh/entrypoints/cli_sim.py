"""``stockmesh simulate`` and ``stockmesh backtest``: the digital twin from the command line.

Mounted by ``cli.py`` with ``cli_sim.register(app)``. numpy, scipy and the twin are imported inside
the commands so ``stockmesh --help`` stays instant.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from stockmesh.entrypoints.cli_forecast import Freq

if TYPE_CHECKING:
    from stockmesh.simulation.policy_choice import PolicyChoice

POLICY_HELP = ("minmax, reorder-level, oracle, hindsight, agents, or agents wrapped for a network: agents+rebalancing, "
               "agents+horizon-lp, agents+lp, agents+greedy, agents+fair-share, agents+proportional, agents+consolidation, "
               "agents-own-shipment, agents+expediting")


def register(app: typer.Typer) -> None:
    """Add the twin's commands to the main application."""
    app.command("simulate")(simulate_command)
    app.command("backtest")(backtest_command)


def simulate_command(
    scenario: Annotated[Path, typer.Argument(help="Scenario YAML (schema: docs/scenarios.md)")],
    policy: Annotated[str | None, typer.Option(help=f"Policy: {POLICY_HELP}; default: the scenario's")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed; default: the scenario's")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON")] = False,
) -> None:
    """Run a scenario through the simulated world with one policy and report its KPIs."""
    from stockmesh.simulation.build import build_world
    from stockmesh.simulation.errors import ScenarioError
    from stockmesh.simulation.scenario import load_scenario

    choice = None if policy is None else _policy_choice(policy)
    try:
        parsed = load_scenario(scenario)
        spec = build_world(parsed, seed)
    except ScenarioError as error:
        typer.echo(f"error: {scenario}: {error}", err=True)
        raise typer.Exit(2) from error
    _run_and_report(spec, choice or parsed.policy, as_json)


def backtest_command(
    demand_csv: Annotated[Path, typer.Argument(help="Long CSV sku,site,date,qty (daily, weekly or monthly)")],
    policy: Annotated[str, typer.Option(help=f"Policy: {POLICY_HELP} (no oracle: real data has no true law)")] = "agents",
    seed: Annotated[int, typer.Option(help="Seed for spreading period totals over days")] = 0,
    lead_time: Annotated[int, typer.Option(min=0, help="Supplier lead time in days for every series")] = 7,
    unit_cost: Annotated[float, typer.Option(min=0.0, help="Unit cost of every series")] = 10.0,
    order_cost: Annotated[float, typer.Option(min=0.0, help="Fixed cost per order")] = 20.0,
    lost_sale_factor: Annotated[float, typer.Option(
        min=0.0, help="Penalty of a lost sale, in unit costs (the margin lost, 1 = the unit cost)")] = 1.0,
    holding_rate: Annotated[float, typer.Option(
        min=0.0, help="Holding cost per year, as a share of the unit cost")] = 0.25,
    history_periods: Annotated[int, typer.Option(
        min=1, help="Periods of the file the policies start from (at least 56 days, at most a third of the file)")] = 12,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N series")] = None,
    freq: Annotated[Freq | None, typer.Option("--freq", help="D, W or M; detected from the dates if omitted")] = None,
    allow_fractional: Annotated[
        bool, typer.Option("--allow-fractional", help="Accept quantities that are not whole units (rounded per period)")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the KPIs as JSON")] = False,
) -> None:
    """Replay real demand history through a policy in the simulator and report the same KPIs."""
    from stockmesh.domain.errors import InvalidInput
    from stockmesh.simulation.backtest import BacktestEconomics, backtest_spec

    choice = _policy_choice(policy)
    if choice.baseline == "oracle":
        typer.echo("error: the oracle needs the true demand law, which real data does not have", err=True)
        raise typer.Exit(2)
    try:
        spec = backtest_spec(demand_csv, seed=seed, limit=limit, freq=None if freq is None else freq.value,
                             allow_fractional=allow_fractional, history_periods=history_periods,
                             economics=BacktestEconomics(
            unit_cost=unit_cost, fixed_order_cost=order_cost, lead_time_days=lead_time,
            lost_sale_margin_factor=lost_sale_factor, holding_rate_per_year=holding_rate))
    except (InvalidInput, OSError) as error:
        typer.echo(f"error: {demand_csv}: {error}", err=True)
        raise typer.Exit(2) from error
    _run_and_report(spec, choice, as_json)


def _policy_choice(name: str) -> PolicyChoice:
    """``--policy``, parsed once here; an unknown name is an error naming it."""
    from stockmesh.simulation.policy_choice import parse_policy

    try:
        return parse_policy(name)
    except ValueError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(2) from error


def _run_and_report(spec: Any, choice: PolicyChoice, as_json: bool) -> None:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from stockmesh.simulation.simulate import simulate

    policy = choice.name
    console = Console(stderr=True)
    days = spec.warmup_days + spec.measured_days
    with Progress(TextColumn("[bold]{task.description}"), BarColumn(), TextColumn("day {task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=as_json, disable=not console.is_terminal) as progress:
        task = progress.add_task(f"{spec.name} · {policy}", total=days)
        result = simulate(spec, choice, on_day=lambda day: progress.update(
            task, completed=day - spec.first_decision_day))
    kpis = result.headline()
    kpis["elapsed_seconds"] = round(result.elapsed_seconds, 3)
    kpis["sku_site_days_per_second"] = round(result.row_days / max(result.elapsed_seconds, 1e-9))
    if as_json:
        payload = {**kpis, "per_site": result.kpis["per_site"], "per_class": result.kpis["per_class"]}
        typer.echo(json.dumps(payload, indent=2))
        return
    _print_table(kpis, result.kpis["per_class"])


def _print_table(kpis: dict[str, Any], per_class: dict[str, dict[str, float]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{kpis['scenario']} · {kpis['policy']} · seed {kpis['seed']}")
    table.add_column("KPI")
    table.add_column("network", justify="right")
    for name in per_class:
        table.add_column(f"class {name}", justify="right")
    rows = [("fill rate", "fill_rate", "{:.2%}"), ("cycle service level", "cycle_service_level", "{:.2%}"),
            ("lost sales (units)", "lost_sales_units", "{:,.0f}"), ("stock-out days", "stockout_days", "{:,.0f}"),
            ("avg on hand (units)", "avg_on_hand", "{:,.0f}"), ("holding cost", "holding_cost", "{:,.0f}"),
            ("ordering cost", "ordering_cost", "{:,.0f}"), ("transport cost", "transport_cost", "{:,.0f}"),
            ("stock-out cost", "stockout_cost", "{:,.0f}"), ("expiry cost", "expiry_cost", "{:,.0f}"),
            ("total cost", "total_cost", "{:,.0f}"), ("inventory turns", "turns", "{:.1f}")]
    for label, key, fmt in rows:
        table.add_row(label, fmt.format(kpis[key]), *(fmt.format(c[key]) for c in per_class.values()))
    table.add_row("bullwhip", ", ".join(f"{k} {v:.2f}" for k, v in kpis["bullwhip"].items()))
    Console().print(table)
    typer.echo(f"{kpis['sku_site_days_per_second']:,} SKU-site-days/s, {kpis['elapsed_seconds']:.1f} s")
