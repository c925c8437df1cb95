"""What one running API holds: the store, the governance read model, locks, limits and metrics.
Built by ``create_app`` (never at import time) and reached by routes through ``deps``."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.entrypoints.api.chaincheck import ChainCheck
from stockmesh.entrypoints.api.limits import RateLimiter
from stockmesh.entrypoints.api.metrics import Metrics
from stockmesh.entrypoints.api.settings import Settings
from stockmesh.governance.state import GovernanceView
from stockmesh.ledger.port import EventStore


class FairLock:
    """A mutex handed over in arrival order (``threading.Lock`` lets a newcomer barge in ahead of
    threads that have waited long, which under 200 clients shows up as a multi-second p99)."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiters: deque[threading.Event] = deque()
        self._held = False

    def __enter__(self) -> None:
        with self._guard:
            if not self._held:
                self._held = True
                return
            turn = threading.Event()
            self._waiters.append(turn)
        turn.wait()  # the releasing thread hands the lock over: still held, now ours

    def __exit__(self, *exc: object) -> None:
        with self._guard:
            if self._waiters:
                self._waiters.popleft().set()
            else:
                self._held = False


@dataclass
class Runtime:
    settings: Settings
    store: EventStore
    view: GovernanceView
    limiter: RateLimiter
    metrics: Metrics
    # The time every route reads (approval windows, token expiry, data age): the system clock
    # unless ``create_app`` is handed another.
    clock: Clock = SYSTEM_CLOCK
    # Serialises proposal decisions in this process, so the second of two concurrent approvals
    # sees the first's outcome. Across processes the proposal's idempotency key still makes the
    # command execute once (see services.approve).
    decisions: threading.Lock = field(default_factory=threading.Lock)
    views: threading.Lock = field(default_factory=threading.Lock)
    # Writers of this process queue here rather than in SQLite's busy handler, whose sleeping
    # back-off (up to 100 ms a try) stretches the latency tail under many concurrent clients.
    writes: FairLock = field(default_factory=FairLock)
    # The verify route's incremental hash-chain check (see chaincheck).
    chain: ChainCheck = field(init=False)

    def __post_init__(self) -> None:
        self.chain = ChainCheck(self.store, self.settings.verify_budget_events)

    def catch_up(self) -> None:
        """Fold new events into the stock read models (one folder at a time)."""
        from stockmesh.projections.runner import catch_up

        if self.store.head()[0] == self.store.view_checkpoint():
            return
        with self.views:
            catch_up(self.store)
