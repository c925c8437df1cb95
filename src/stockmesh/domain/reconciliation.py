"""What a reconciliation run leaves in the ledger: its report, as a fact on ``reconciliation:RUN``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from stockmesh.domain.events import Event, register


@dataclass(frozen=True, kw_only=True, slots=True)
class ReconciliationCompleted(Event):
    """One comparison of an external system's snapshot with the ledger.

    ``summary`` counts rows per class; ``waiting`` lists the classes resolved by waiting (timing) or
    left to people (master data, units); corrections go through governance as proposals."""

    type: ClassVar[str] = "ReconciliationCompleted"
    run_id: str
    source: str
    summary: dict[str, int]
    proposals: int
    executed: int
    queued: int
    rejected: int
    waiting: dict[str, int]
    details: dict[str, Any]


register(ReconciliationCompleted)
