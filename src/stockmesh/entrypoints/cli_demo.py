"""``stockmesh demo`` (the main job) and ``stockmesh explain`` (why an order was placed)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from stockmesh.entrypoints.cli_options import DbOption, JsonOption, fail, opened


def register(app: typer.Typer) -> None:
    @app.command()
    def demo(
        scenario: Annotated[Path, typer.Option(help="Scenario YAML.")] = Path("scenarios/default.yaml"),
        seed: Annotated[int | None, typer.Option(help="Seed; default: the scenario's.")] = None,
        policy: Annotated[str, typer.Option(
            help="Governance policy the agents' proposals are reviewed under (queued ones are approved by a "
                 "simulated planner the same day); none: the minimal gate of --max-auto-value.")
        ] = "policies/default.yaml",
        max_auto_value: Annotated[float, typer.Option(
            help="Without a policy file: orders above this value wait for a person.")] = 5_000.0,
        report_dir: Annotated[Path, typer.Option(help="Where the HTML report goes.")] = Path("reports"),
        db: Annotated[str | None, typer.Option(
            "--db", help="The demo's own ledger (default sqlite:///stockmesh.db; STOCKMESH_DB is not used). "
                         "Replaced only if it is empty or an earlier demo's, unchanged since.")] = None,
    ) -> None:
        """Run a simulated multi-site network with the agents against the baselines; KPIs and a report.
        Creates the ledger if there is none."""
        import os

        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
        from rich.table import Table

        from stockmesh.domain.clock import SYSTEM_CLOCK
        from stockmesh.domain.errors import InvalidInput, StockmeshError
        from stockmesh.entrypoints.demo_ledger import choose
        from stockmesh.simulation.demo import plan_demo, run_demo
        from stockmesh.simulation.report import write_report

        console = Console()
        # Every argument, then the ledger, is checked before anything is written or replaced.
        try:
            plan = plan_demo(scenario, seed=seed, max_auto_value=max_auto_value, report_dir=report_dir,
                             policy_path=None if policy.lower() == "none" else Path(policy))
            ledger = choose(db, os.environ)
        except InvalidInput as exc:
            hint = " (run from the repository root, or pass --scenario)" if not scenario.is_file() else ""
            raise fail(f"{exc}{hint}") from exc
        except StockmeshError as exc:
            raise fail(str(exc)) from exc
        for note in ledger.notes:
            typer.echo(f"note: {note}", err=True)
        url = ledger.url
        tasks: dict[str, int] = {}
        try:
            store = ledger.open()
            try:
                with Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                              TimeElapsedColumn(), console=console) as bar:
                    def progress(name: str, day: int, total: int) -> None:
                        if name not in tasks:
                            tasks[name] = bar.add_task(name, total=total)
                        bar.update(tasks[name], completed=day)
                    result = run_demo(plan, store, progress=progress)
                    result.report_path = write_report(result, report_dir, generated_at=SYSTEM_CLOCK.now())
            finally:
                store.close()
            ledger.install(scenario=result.scenario, seed=result.seed, created_at=SYSTEM_CLOCK.now().isoformat())
        except StockmeshError as exc:
            ledger.discard()
            raise fail(str(exc)) from exc
        except BaseException:
            ledger.discard()  # interrupted: the earlier ledger stays as it was
            raise
        table = Table(title=f"KPIs over {result.agents_world.spec.measured_days} measured days "
                            f"(scenario {result.scenario}, seed {result.seed})")
        policies = list(result.kpis)
        table.add_column("KPI")
        for p in policies:
            table.add_column(p, justify="right", style="bold green" if p == "agents" else None)
        from stockmesh.bootstrap import DEFAULT_DB
        from stockmesh.simulation.report import ROWS

        for key, label, fmt in ROWS:
            table.add_row(label, *(fmt.format(result.kpis[p][key]) for p in policies))
        agents = result.kpis["agents"]["total_cost"]
        table.add_row("agents cost / this", *(f"{agents / result.kpis[p]['total_cost']:.3f}" for p in policies))
        console.print(table)
        cards = result.twin.supply.supplier_scorecard()
        if cards:
            scores = Table(title="Supplier scorecard (the supply-chain agent, from the ledger twin's receipts)")
            for column in ("source", "receipts", "on time in full", "lead time (days)", "trend (days)"):
                scores.add_column(column, justify="left" if column == "source" else "right")
            for card in cards:
                scores.add_row(card.lane, f"{card.receipts:,}", f"{card.on_time_in_full:.1%}",
                               f"{card.lead_time_mean:.1f} ± {card.lead_time_sd:.1f}", f"{card.trend_days:+.1f}")
            console.print(scores)
        stats, checks = result.twin.stats, result.checks
        console.print(f"Agents: {stats.proposals:,} proposals, {stats.approved:,} auto-approved, {stats.queued:,} "
                      f"queued for a person, {stats.superseded:,} superseded, {stats.failed:,} refused by the ledger; "
                      f"{stats.late_orders:,} purchase orders flagged late, {stats.expedited:,} expedited.")
        console.print(f"Ledger {url}: {checks['events']:,} events; replay --verify "
                      f"{'ok' if checks['replay_verify'] else 'FAILED'}; audit verify "
                      f"{'ok' if checks['audit_verify'] else 'FAILED'}; stock equals the world's: "
                      f"{'yes' if checks['ledger_matches_world'] else 'NO'}; {checks['orders']:,} orders, "
                      f"{checks['orders_without_explanation']} unexplained.")
        console.print(f"Report: {result.report_path}")
        db_arg = "" if url == DEFAULT_DB and not os.environ.get("STOCKMESH_DB") else f" --db {url}"
        if url.startswith("memory://"):
            console.print("The ledger was in memory: it is gone (give --db sqlite:///FILE to keep one).")
        else:
            console.print(f"Try: stockmesh explain {checks['example_order']}{db_arg}   |   stockmesh stock --site "
                          f"DC-NORTH{db_arg}   |   stockmesh audit verify{db_arg}")
        if not (checks["replay_verify"] and checks["audit_verify"] and checks["ledger_matches_world"]):
            raise typer.Exit(1)

    @app.command("explain")
    def explain_command(order_id: Annotated[str, typer.Argument(help="A purchase order, transfer or proposal id.")],
                        json_out: JsonOption = False, db: DbOption = None) -> None:
        """Why an order was placed: its full provenance."""
        from stockmesh.service.explain import explain

        with opened(db) as store:
            story = explain(store, order_id)
        if json_out:
            typer.echo(json.dumps(story, indent=2, default=str))
            return
        typer.echo(story.get("summary", ""))
        proposal = story.get("proposal")
        if proposal:
            prov = proposal.get("provenance", {})
            typer.echo(f"  proposal {proposal['proposal_id']} by the {proposal['agent']} agent ({proposal['tempo']})")
            for name in ("inputs", "parameters"):
                for key, value in (prov.get(name) or {}).items():
                    typer.echo(f"  {name[:-1]:<9} {key:<28} {value:,.3f}" if isinstance(value, float)
                               else f"  {name[:-1]:<9} {key:<28} {value}")
            for key in ("reorder_point", "order_up_to", "order_quantity", "lead_time_days", "policy_version"):
                if key in prov:
                    typer.echo(f"  {'result':<9} {key:<28} {prov[key]}")
        for step in story.get("decision", []):
            details = {k: v for k, v in step.items() if k not in ("type", "occurred_at")}
            typer.echo(f"  {step['occurred_at'][:10]}  {step['type']:<24} {json.dumps(details, default=str)[:140]}")
        for event in story.get("document", []):
            typer.echo(f"  {event['occurred_at'][:10]}  {event['type']:<24} {json.dumps(event['data'])[:140]}")
        for action in story.get("actions", []):
            made = action.get("proposal") or {}
            steps = " -> ".join(step["type"].removeprefix("Proposal") for step in action.get("decision", []))
            typer.echo(f"  then {action['event']} on {action['occurred_at'][:10]}: {made.get('agent', '?')} agent, "
                       f"{'; '.join(made.get('reasons', []))[:140]} [{steps}]")
