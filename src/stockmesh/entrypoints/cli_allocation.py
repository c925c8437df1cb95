"""Allocation and rebalancing commands, on the ledger's positions.

    stockmesh allocate --sku K [--method lp] [--db URL] [--json]
    stockmesh rebalance [--dry-run] [--sku K] [--db URL] [--json]

Both read the ledger: positions per SKU x site, each site's kind, the daily sales of the last
``--window`` days (from ``StockShipped`` events; the mean and spread of demand), which DC supplies
which store (from past transfers) and unit costs. ``allocate`` shows, for every DC that supplies
stores with the SKU, how its available stock would be shared if the stores asked for their
order-up-to levels (``--cover-days`` beyond ``--lead-time`` at ``--service``), and why.
``rebalance`` proposes lateral transfers between sites of the same kind (stores with stores, DCs with
DCs) over lanes priced by the options, lists them with their expected value, and, without
``--dry-run``, runs them through the agent loop (governance gate, ledger) exactly once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import orjson
import typer

from stockmesh.domain.clock import SYSTEM_CLOCK
from stockmesh.entrypoints.cli_options import DbOption, JsonOption, ensure_views, fail, opened


@dataclass
class LedgerNetwork:
    """What the commands plan with, read from the ledger: one entry per SKU x site row."""

    sku: list[str] = field(default_factory=list)
    site: list[str] = field(default_factory=list)
    kind: list[str] = field(default_factory=list)
    available: list[float] = field(default_factory=list)
    on_hand: list[float] = field(default_factory=list)
    position: list[float] = field(default_factory=list)
    inbound: list[float] = field(default_factory=list)
    daily_mean: list[float] = field(default_factory=list)
    daily_sd: list[float] = field(default_factory=list)
    unit_cost: list[float] = field(default_factory=list)
    parent: dict[tuple[str, str], str] = field(default_factory=dict)


def _first_data(store: Any, stream: str) -> dict[str, Any]:
    events = store.read_stream(stream)
    return orjson.loads(events[0].data) if events else {}


def read_network(store: Any, *, sku: str | None, window_days: int, today: dt.date) -> LedgerNetwork:
    """Positions, site kinds, demand over the window, supply relations and unit costs."""
    from stockmesh.projections.stock_positions import positions

    ensure_views(store)
    rows = positions(store, sku=sku)
    net = LedgerNetwork()
    kinds: dict[str, str] = {}
    costs: dict[str, float] = {}
    sales: dict[tuple[str, str], dict[str, float]] = {}
    latest = ""
    senders: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for row in rows:
        key = (row["sku"], row["site"])
        daily: dict[str, float] = defaultdict(float)
        for event in store.read_stream(f"stock:{row['sku']}@{row['site']}"):
            if event.type == "StockShipped":
                day = event.occurred_at[:10]
                daily[day] += orjson.loads(event.data)["qty"]
                latest = max(latest, day)
            elif event.type == "TransferShippedOut":
                senders[(row["sku"], orjson.loads(event.data)["to_site"])][row["site"]] += 1
        sales[key] = daily
    end = dt.date.fromisoformat(latest) if latest else today
    days = [(end - dt.timedelta(days=k)).isoformat() for k in range(window_days)]
    for row in rows:
        site, item = row["site"], row["sku"]
        if site not in kinds:
            kinds[site] = str(_first_data(store, f"site:{site}").get("kind", "store"))
        if item not in costs:
            costs[item] = float(_first_data(store, f"sku:{item}").get("unit_cost", 1.0))
        values = np.array([sales[(item, site)].get(d, 0.0) for d in days])
        net.sku.append(item)
        net.site.append(site)
        net.kind.append(kinds[site])
        net.available.append(float(row["available"]))
        net.on_hand.append(float(row["on_hand"]))
        net.position.append(float(row["inventory_position"]))
        net.inbound.append(float(row["in_transit"]))
        net.daily_mean.append(float(values.mean()))
        net.daily_sd.append(float(values.std(ddof=1)) if values.size > 1 else 0.0)
        net.unit_cost.append(costs[item])
    net.parent = {key: counts.most_common(1)[0][0] for key, counts in senders.items()}
    return net


def _print(title: str, columns: list[str], records: list[dict[str, Any]], footer: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(*columns, title=title)
    for record in records:
        table.add_row(*(f"{record[c]:.2f}" if isinstance(record[c], float) else str(record[c]) for c in columns))
    console = Console()
    console.print(table)
    console.print(footer)


def register(app: typer.Typer) -> None:
    @app.command()
    def allocate(
        sku: Annotated[str, typer.Option(help="The SKU to plan.")],
        method: Annotated[str, typer.Option(help="lp, greedy, fair-share or proportional.")] = "lp",
        lead_time: Annotated[float, typer.Option(help="Days from a DC to its stores.")] = 2.0,
        cover_days: Annotated[float, typer.Option(help="Days of demand each store asks to cover beyond it.")] = 7.0,
        service: Annotated[float, typer.Option(help="Service level of the stores' order-up-to levels.")] = 0.95,
        margin: Annotated[float, typer.Option(help="Lost-sale cost as a multiple of unit cost.")] = 1.0,
        window: Annotated[int, typer.Option(help="Days of sales behind the demand estimate.")] = 28,
        time_limit: Annotated[float, typer.Option(help="Seconds per LP solve before the greedy fallback.")] = 2.0,
        json_out: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """The current allocation plan of one SKU: each DC's stock shared over the stores it supplies."""
        from scipy.special import ndtri

        from stockmesh.agents.allocation import AllocationAgent
        from stockmesh.planning.allocation import METHODS, AllocationInputError, AllocationProblem

        if method not in METHODS:
            raise fail(f"unknown method '{method}'; expected one of {', '.join(METHODS)}", 2)
        if not 0 < service < 1:
            raise fail("--service must lie strictly between 0 and 1", 2)
        with opened(db) as store:
            net = read_network(store, sku=sku, window_days=window, today=SYSTEM_CLOCK.now().date())
        if not net.sku:
            raise fail(f"unknown SKU '{sku}': no positions in the ledger", 2)
        index = {site: i for i, site in enumerate(net.site)}
        stores = [i for i, site in enumerate(net.site) if (sku, site) in net.parent and net.parent[(sku, site)] in index]
        if not stores:
            raise fail(f"no store draws {sku} from a DC yet (no transfers in the ledger): nothing to allocate", 1)
        dcs = sorted({net.parent[(sku, net.site[i])] for i in stores})
        group = np.array([dcs.index(net.parent[(sku, net.site[i])]) for i in stores])
        mean = np.array(net.daily_mean)[stores]
        sd = np.array(net.daily_sd)[stores]
        horizon = lead_time + cover_days
        target = np.ceil(mean * horizon + ndtri(service) * sd * np.sqrt(horizon))
        position = np.array(net.position)[stores]
        requested = np.maximum(target - position, 0)
        available = np.array([max(net.available[index[dc]], 0.0) for dc in dcs])
        cost = np.array(net.unit_cost)[stores]
        agent = AllocationAgent(method, time_limit=time_limit)
        try:
            result = agent.plan(AllocationProblem(
                group=group, requested=requested, available=available, position=position,
                demand_mean=mean * horizon, demand_sd=sd * np.sqrt(horizon), shortage_cost=cost * margin,
                overage_cost=cost * 0.25 / 365 * horizon, daily_demand=np.maximum(mean, 1e-9)))
        except AllocationInputError as exc:
            raise fail(str(exc), 2) from exc
        records = [{"dc": dcs[group[k]], "store": net.site[i], "position": float(position[k]),
                    "demand_per_day": round(float(mean[k]), 3),
                    "requested": int(requested[k]), **result.explain(k)} for k, i in enumerate(stores)]
        summary = {"sku": sku, "method": method, "dcs": [
            {"dc": dc, "available": float(available[g]), "requested": float(requested[group == g].sum()),
             "short": bool(result.short_groups[g]), "shadow_price": float(result.shadow_price[g])}
            for g, dc in enumerate(dcs)], "fell_back_to_greedy": result.fell_back,
            "fallback_reason": result.fallback_reason, "solve_seconds": result.solve_seconds}
        if json_out:
            typer.echo(orjson.dumps({"plan": records, "summary": summary}, option=orjson.OPT_SERIALIZE_NUMPY).decode())
            return
        _print(f"Allocation plan for {sku} ({method})",
               ["dc", "store", "position", "demand_per_day", "requested", "allocated", "expected_shortage_before",
                "expected_shortage_after", "binding"], records,
               "; ".join(f"{d['dc']}: {d['available']:.0f} available for {d['requested']:.0f} requested"
                         + (f" (short, shadow price {d['shadow_price']:.2f} per unit)" if d["short"] else "")
                         for d in summary["dcs"])
               + (f"\nfell back to the greedy heuristic: {result.fallback_reason}" if result.fell_back else ""))

    @app.command()
    def rebalance(
        dry_run: Annotated[bool, typer.Option("--dry-run", help="List the transfers without executing them.")] = False,
        sku: Annotated[str | None, typer.Option(help="Only this SKU.")] = None,
        lead_time: Annotated[float, typer.Option(help="Days until a site's own replenishment lands.")] = 7.0,
        cost_per_unit: Annotated[float, typer.Option(help="Lateral lane cost per unit.")] = 0.05,
        cost_per_shipment: Annotated[float, typer.Option(help="Lateral lane cost per shipment.")] = 10.0,
        transit_days: Annotated[float, typer.Option(help="Lateral lane transit time in days.")] = 1.0,
        min_shipment: Annotated[float, typer.Option(help="Smallest lateral shipment, units.")] = 1.0,
        margin: Annotated[float, typer.Option(help="Lost-sale cost as a multiple of unit cost.")] = 1.0,
        hurdle: Annotated[float, typer.Option(help="Avoided cost must exceed (1 + hurdle) x transfer cost.")] = 1.0,
        window: Annotated[int, typer.Option(help="Days of sales behind the demand estimate.")] = 28,
        max_auto_value: Annotated[float, typer.Option(help="Above this value a transfer waits for a person.")]
        = 25_000.0,
        json_out: JsonOption = False,
        db: DbOption = None,
    ) -> None:
        """Propose lateral transfers between sites of the same kind, with their expected value."""
        from stockmesh.agents.rebalancing import RebalancingAgent
        from stockmesh.planning.allocation import AllocationInputError
        from stockmesh.planning.allocation.rebalance import Lanes, RebalanceProblem

        with opened(db) as store:
            net = read_network(store, sku=sku, window_days=window, today=SYSTEM_CLOCK.now().date())
            if sku is not None and not net.sku:
                raise fail(f"unknown SKU '{sku}': no positions in the ledger", 2)
            sites = sorted(set(net.site))
            site_index = {s: i for i, s in enumerate(sites)}
            kind_of = dict(zip(net.site, net.kind, strict=True))
            pairs = [(a, b) for a in sites for b in sites if a != b and kind_of[a] == kind_of[b]
                     and kind_of[a] != "supplier"]
            skus = sorted(set(net.sku))
            m = len(pairs)
            horizon = np.full(len(net.sku), lead_time)
            sd = np.array(net.daily_sd)
            try:
                agent = RebalancingAgent(hurdle=hurdle)
                result = agent.plan(RebalanceProblem(
                    sku=np.array([skus.index(s) for s in net.sku]), site=np.array([site_index[s] for s in net.site]),
                    on_hand=np.maximum(np.array(net.available), 0),
                    stock_in_horizon=np.maximum(np.array(net.available) + np.array(net.inbound), 0),
                    demand_mean=np.array(net.daily_mean), demand_sd=sd, horizon_days=horizon,
                    safety_stock=1.65 * sd * np.sqrt(horizon), shortage_cost=np.array(net.unit_cost) * margin,
                    n_sites=len(sites),
                    lanes=Lanes(source=np.array([site_index[a] for a, _ in pairs], dtype=np.int64),
                                destination=np.array([site_index[b] for _, b in pairs], dtype=np.int64),
                                cost_per_unit=np.full(m, cost_per_unit), cost_per_shipment=np.full(m, cost_per_shipment),
                                capacity=np.full(m, np.inf), transit_days=np.full(m, transit_days),
                                min_shipment=np.full(m, min_shipment))))
            except AllocationInputError as exc:
                raise fail(str(exc), 2) from exc
            label = f"rebalance-{SYSTEM_CLOCK.now().strftime('%Y%m%dT%H%M%S')}"
            proposals = agent.propose(result, sku=net.sku, site=net.site, unit_cost=np.array(net.unit_cost),
                                      label=label, tempo="reactive")
            executed: list[str] = []
            failed: list[str] = []
            if proposals and not dry_run:
                from stockmesh.service.loop import run_cycle
                from stockmesh.service.loop_gates import MinimalGate

                available = {f"stock:{s}@{site}": int(a) for s, site, a in zip(net.sku, net.site, net.available,
                                                                                strict=True)}
                report = run_cycle(store, proposals, MinimalGate(max_auto_value=max_auto_value), available=available,
                                   metadata={"source": "cli:rebalance"})
                executed = [p.proposal_id for p in report.executed]
                failed = [f"{p.proposal_id}: {error}" for p, error in report.failed]
        records = [{"proposal_id": p.proposal_id, "sku": p.sku, "from": p.command_body()["from_site"], "to": p.site,
                    "qty": p.qty, **{k: p.provenance[k] for k in ("expected_value", "stockout_cost_avoided",
                                                                  "transport_cost", "transit_risk_cost", "binding")},
                    "status": "dry-run" if dry_run else ("executed" if p.proposal_id in executed else "not executed")}
                   for p in proposals]
        summary = {"transfers": len(records), "expected_value": round(sum(r["expected_value"] for r in records), 2),
                   "candidate_skus": result.candidate_skus, "fell_back_to_greedy": result.fell_back,
                   "fallback_reason": result.fallback_reason, "executed": len(executed), "failed": failed,
                   "dry_run": dry_run}
        if json_out:
            typer.echo(orjson.dumps({"transfers": records, "summary": summary}).decode())
            return
        _print("Rebalancing transfers" + (" (dry run)" if dry_run else ""),
               ["sku", "from", "to", "qty", "expected_value", "stockout_cost_avoided", "transport_cost", "binding",
                "status"], records,
               f"{len(records)} transfers, expected value {summary['expected_value']:.2f}"
               + (f"; {len(executed)} executed" if not dry_run else "")
               + (f"; failed: {failed}" if failed else ""))
