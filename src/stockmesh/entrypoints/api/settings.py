"""Typed settings of the HTTP API (from arguments or ``STOCKMESH_*`` environment variables)."""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str | None = None  # None: STOCKMESH_DB, else sqlite:///stockmesh.db
    max_body_bytes: int = 1_000_000
    max_json_depth: int = 32
    max_page_size: int = 500
    rate_limit_per_minute: int = 600  # per token (or per client address before authentication); 0 = off
    rate_limit_burst: int = 120
    metrics_public: bool = True
    # Reads in flight at once (all clients; one client): see limits.ReadLimits.
    max_concurrent_reads: int = 8
    max_concurrent_reads_per_client: int = 4
    # Events the verify route checks per request at most (see chaincheck.ChainCheck).
    verify_budget_events: int = 100_000

    @classmethod
    def from_env(cls, **overrides: object) -> Settings:
        env = os.environ
        values: dict[str, object] = {
            "db_url": env.get("STOCKMESH_DB"),
            "rate_limit_per_minute": int(env.get("STOCKMESH_RATE_LIMIT_PER_MINUTE", "600")),
            "rate_limit_burst": int(env.get("STOCKMESH_RATE_LIMIT_BURST", "120")),
            "max_concurrent_reads": int(env.get("STOCKMESH_MAX_CONCURRENT_READS", "8")),
            "max_concurrent_reads_per_client": int(env.get("STOCKMESH_MAX_CONCURRENT_READS_PER_CLIENT", "4")),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
