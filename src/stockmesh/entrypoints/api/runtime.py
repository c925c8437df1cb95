"""What one running API holds: the store, the governance read model, locks, limits and metrics.
Built by ``create_app`` (never at import time) and reached by routes through ``deps``."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from stockmesh.entrypoints.api.limits import RateLimiter
from stockmesh.entrypoints.api.metrics import Metrics
from stockmesh.entrypoints.api.settings import Settings
from stockmesh.governance.state import GovernanceView
from stockmesh.ledger.port import EventStore


@dataclass
class Runtime:
    settings: Settings
    store: EventStore
    view: GovernanceView
    limiter: RateLimiter
    metrics: Metrics
    # Serialises proposal decisions in this process, so the second of two concurrent approvals
    # sees the first's outcome. Across processes the proposal's idempotency key still makes the
    # command execute once (see services.approve).
    decisions: threading.Lock = field(default_factory=threading.Lock)
    views: threading.Lock = field(default_factory=threading.Lock)

    def catch_up(self) -> None:
        """Fold new events into the stock read models (one folder at a time)."""
        from stockmesh.projections.runner import catch_up

        if self.store.head()[0] == self.store.view_checkpoint():
            return
        with self.views:
            catch_up(self.store)
