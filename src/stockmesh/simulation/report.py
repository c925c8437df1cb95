"""The demo's HTML report: KPIs of the agents against the baselines, with plots. One file, no
external assets (charts are inline SVG), so it opens anywhere."""

from __future__ import annotations

import datetime as dt
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stockmesh.simulation.svg import bar_chart, line_chart

if TYPE_CHECKING:
    from stockmesh.simulation.demo import DemoResult

ROWS = (("fill_rate", "Fill rate", "{:.2%}"), ("cycle_service_level", "Cycle service level", "{:.2%}"),
        ("lost_sales_units", "Lost sales (units)", "{:,.0f}"), ("holding_cost", "Holding cost", "{:,.0f}"),
        ("ordering_cost", "Ordering cost", "{:,.0f}"), ("transport_cost", "Transport cost", "{:,.0f}"),
        ("stockout_cost", "Stock-out cost", "{:,.0f}"), ("total_cost", "Total cost", "{:,.0f}"),
        ("avg_on_hand", "Average on hand", "{:,.0f}"), ("turns", "Inventory turns", "{:.1f}"),
        ("expired_units", "Expired units", "{:,.0f}"))


def _fmt(fmt: str, value: Any) -> str:
    try:
        return fmt.format(value)
    except (TypeError, ValueError):
        return escape(str(value))


def kpi_table_html(kpis: dict[str, dict[str, Any]]) -> str:
    policies = list(kpis)
    head = "".join(f"<th>{escape(p)}</th>" for p in policies)
    body = []
    for key, label, fmt in ROWS:
        cells = "".join(f"<td>{_fmt(fmt, kpis[p].get(key))}</td>" for p in policies)
        body.append(f"<tr><th>{escape(label)}</th>{cells}</tr>")
    agents_cost = kpis["agents"]["total_cost"]
    ratios = "".join(f"<td>{agents_cost / kpis[p]['total_cost']:.3f}</td>" for p in policies)
    body.append(f"<tr><th>Agents' cost / this policy's</th>{ratios}</tr>")
    bull = "".join(f"<td>{escape(', '.join(f'{k} {v:.2f}' for k, v in kpis[p].get('bullwhip', {}).items()))}</td>"
                   for p in policies)
    body.append(f"<tr><th>Bullwhip (var orders / var demand)</th>{bull}</tr>")
    return f"<table><tr><th></th>{head}</tr>{''.join(body)}</table>"


def write_report(result: DemoResult, directory: Path, *, generated_at: dt.datetime) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    world = result.agents_world
    spec = world.spec
    sites = {site: world.site_on_hand[:, i].tolist() for i, site in enumerate(spec.site_ids)}
    posture = line_chart(sites, title="Network stock posture: units on hand per site (agents)", y_label="units")
    cost = bar_chart({p: k["total_cost"] for p, k in result.kpis.items()}, title="Total cost per policy",
                     highlight="agents")
    service = bar_chart({p: 100 * k["fill_rate"] for p, k in result.kpis.items()}, title="Fill rate per policy (%)",
                        fmt="{:.2f}", highlight="agents")
    watch = result.twin.spotlight
    row = result.twin.spotlight_row
    spot = ""
    if watch and row is not None:
        orders = [i for i, q in enumerate(watch["order"]) if q > 0]
        label = f"{result.twin.sku[row]} at {result.twin.site[row]}"
        spot = line_chart({"demand (actual)": watch["demand"], "forecast (daily mean)": watch["forecast"],
                           "on hand": watch["on_hand"], "reorder point": watch["reorder_point"]},
                          title=f"{label}: forecast (p10-p90 band) against actuals, and its inventory",
                          band=(watch["forecast_p10"], watch["forecast_p90"]), markers=orders, y_label="units")
    stats = result.twin.stats
    checks = result.checks
    governance = (f"<ul><li>{stats.proposals:,} proposals; {stats.approved:,} approved by governance, "
                  f"{stats.queued:,} queued for a person (approved by the simulated planner: "
                  f"{stats.approved_by_planner:,}), {stats.rejected:,} rejected, {stats.superseded:,} superseded, "
                  f"{stats.failed:,} refused by the ledger</li>"
                  f"<li>{checks['events']:,} events in the ledger; replay --verify: "
                  f"{'ok' if checks['replay_verify'] else 'FAILED'}; audit verify: "
                  f"{'ok' if checks['audit_verify'] else 'FAILED'}; ledger stock equals the world's: "
                  f"{'yes' if checks['ledger_matches_world'] else 'NO'}</li>"
                  f"<li>{checks['orders']:,} orders executed, {checks['orders_without_explanation']} without an "
                  f"explanation; try <code>stockmesh explain {escape(str(checks['example_order']))}</code></li></ul>")
    html = f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>stockmesh demo: {escape(result.scenario)}</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:1100px;color:#111}}
table{{border-collapse:collapse;margin:1em 0}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
th:first-child{{text-align:left}}h2{{margin-top:1.6em}}.row{{display:flex;gap:2em;flex-wrap:wrap}}</style>
</head><body>
<h1>stockmesh demo: scenario <code>{escape(result.scenario)}</code>, seed {result.seed}</h1>
<p>{spec.n_rows:,} SKU x site rows ({len(spec.sku_ids)} SKUs, {len(spec.site_ids)} sites,
{len(spec.supplier_ids)} suppliers), {spec.warmup_days} warm-up and {spec.measured_days} measured days.
The baselines run as people run them today; the agents run through proposals, governance and the ledger.
Generated {generated_at.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M UTC')}.</p>
<h2>KPIs (measured days)</h2>{kpi_table_html(result.kpis)}
<div class="row">{cost}{service}</div>
<h2>Network stock posture over time</h2>{posture}
<h2>One SKU: forecast against actuals, with its inventory trajectory</h2>
<p>Dashed lines mark the days the agents ordered.</p>{spot}
<h2>Governance and the ledger</h2>{governance}
</body></html>"""
    path = directory / f"demo-{result.scenario}-seed{result.seed}.html"
    path.write_text(html, encoding="utf-8")
    return path
