"""The input of one backend's runs, generated beforehand (not timed) from the synthetic ledger."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.ledger.config import BenchConfig
from stockmesh.simulation.synthetic_ledger import CommandGenerator


@dataclass(slots=True)
class Workload:
    """The input of one backend's runs: the batch file and the commands to apply after it."""

    path: Path
    commands: int
    events: int
    single: list[str]  # one-event commands (receipts and sales), executed one at a time
    top_up: list[str]  # one batch: ample stock on the positions the reservations use
    reserve: list[str]  # ReserveStock, executed and timed one at a time
    mix: dict[str, int] = field(default_factory=dict)
    generate_seconds: float = 0.0


def build_workload(path: Path, cfg: BenchConfig, target_events: int, *, seed: int,
                   progress: Callable[[int], None] | None = None) -> Workload:
    """Generate the batch file of ~``target_events`` events and the commands that follow it."""
    started = time.perf_counter()
    gen = CommandGenerator(cfg.skus, cfg.sites, seed=seed)
    commands, events = gen.write(path, target_events, progress=progress)
    mix = dict(gen.counts)
    single, _ = gen.lines(cfg.single, kinds="receive_ship")
    top_up, positions = gen.top_up(min(2_000, cfg.skus * cfg.sites), 1_000_000)
    reserve = gen.reserve_lines(cfg.reserve, positions)
    return Workload(path, commands, events, single, top_up, reserve, mix, time.perf_counter() - started)
