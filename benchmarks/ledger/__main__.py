"""The ledger benchmark's command line: throughput and latency of the ledger against its targets.

    .venv/bin/python -m benchmarks.ledger [OPTIONS]     # from the repository's root; `make bench`

``--help`` lists the options; results go to BENCHMARKS.md. The harness is imported only when the
benchmark runs, so ``--help`` is quick.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from benchmarks.ledger.config import DEFAULT_PG_URL as DEFAULT_PG

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)


@app.command()
def ledger(
    events: Annotated[int, typer.Option("--events", min=1, help="Events in the batched-append file (N).")] = 1_000_000,
    replay_events: Annotated[int, typer.Option(
        "--replay-events", min=0, help="Events of the large ledger replayed for peak RSS (M); 0 skips it.")
    ] = 10_000_000,
    runs: Annotated[int, typer.Option("--runs", min=1, help="Runs; figures are medians with min/max.")] = 3,
    pg: Annotated[str, typer.Option("--pg", help="PostgreSQL URL (a dedicated schema is created and dropped).")
                  ] = DEFAULT_PG,
    no_pg: Annotated[bool, typer.Option("--no-pg", help="Skip PostgreSQL.")] = False,
    pg_events: Annotated[int | None, typer.Option(
        "--pg-events", min=1, help="Events of the PostgreSQL batch (default: min(N, 200,000)).")] = None,
    single: Annotated[int, typer.Option("--single", min=1, help="Single commands, each its own transaction.")
                      ] = 5_000,
    reserve: Annotated[int, typer.Option("--reserve", min=1, help="ReserveStock commands timed one by one.")
                       ] = 5_000,
    peer_single: Annotated[int, typer.Option(
        "--peer-single", min=1, help="Events eventsourcing saves one at a time.")] = 5_000,
    skus: Annotated[int, typer.Option("--skus", min=1)] = 2_000,
    sites: Annotated[int, typer.Option("--sites", min=2)] = 20,
    chunk_lines: Annotated[int, typer.Option(
        "--chunk-lines", min=1, help="Commands per ingest when building the large ledger.")] = 1_000_000,
    no_peer: Annotated[bool, typer.Option("--no-peer", help="Skip the eventsourcing reference.")] = False,
    tmp_dir: Annotated[Path | None, typer.Option(
        "--tmp-dir", help="Where the scratch databases go (default: the system temp dir).")] = None,
    json_out: Annotated[Path | None, typer.Option("--json-out", help="Also write the JSON result here.")] = None,
    seed: Annotated[int, typer.Option("--seed")] = 20_260_101,
) -> None:
    """Ledger throughput, latency, replay and memory, against the raw floor and eventsourcing."""
    from benchmarks.ledger.config import BenchConfig
    from benchmarks.ledger.report import render
    from benchmarks.ledger.run import run
    from benchmarks.ledger.ui import Ui

    cfg = BenchConfig(events=events, replay_events=replay_events, runs=runs, pg_url=None if no_pg else pg,
                      pg_events=pg_events, single=single, reserve=reserve, peer_single=peer_single, skus=skus,
                      sites=sites, chunk_lines=chunk_lines, seed=seed, peer=not no_peer,
                      tmp_dir=str(tmp_dir) if tmp_dir else None)
    with Ui() as ui:
        result = run(cfg, ui)
    render(result)
    text = json.dumps(result, indent=2)
    typer.echo(text)
    if json_out:
        json_out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    app(prog_name="python -m benchmarks.ledger")
