"""What one run of the ledger benchmark measures: sizes, references, where the scratch files go."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_PG_URL = "postgresql://postgres@127.0.0.1:5432/test"


@dataclass(slots=True)
class BenchConfig:
    """What to run. The defaults are the full scale the targets are set at."""

    events: int = 1_000_000
    replay_events: int = 10_000_000
    runs: int = 3
    pg_url: str | None = DEFAULT_PG_URL
    pg_events: int | None = None  # default: min(events, 200,000)
    single: int = 5_000
    reserve: int = 5_000
    peer_single: int = 5_000
    peer_batch: int = 10_000
    skus: int = 2_000
    sites: int = 20
    chunk_lines: int = 1_000_000
    seed: int = 20_260_101
    tmp_dir: str | None = None
    peer: bool = True
    floor: bool = True
    end_to_end: bool = True

    def pg_scale(self) -> int:
        return self.pg_events if self.pg_events is not None else min(self.events, 200_000)
