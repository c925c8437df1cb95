"""The verify route's hash-chain check: incremental, bounded, never queued.

``GET /api/audit/verify`` used to walk the whole chain on every call (5 s at 1.23M events), so a
few viewers refreshing the Audit page kept every thread of the server busy. A running server keeps
instead the last (position, hash) it verified and checks, per request, only the events appended
since, at most ``budget`` of them (a larger backlog, such as the first call on a big ledger, is
worked off over the next calls; the answer says how far it got). Each call also reads the event it
verified last again: a ledger truncated below it, or re-chained from before it, no longer has
that event with that hash, and the check fails from then on.

The whole walk stays an operator's job: ``stockmesh audit verify``, or ``?full=true`` on the route
for an admin token, one at a time per server.
"""

from __future__ import annotations

import threading
from typing import Any

from stockmesh.ledger.codec import chain_hash
from stockmesh.ledger.port import EventLog
from stockmesh.ledger.records import GENESIS_HASH, RecordedEvent

PAGE = 10_000  # events read per query: bounds the memory of one check


class ChainCheck:
    """Thread-safe; a check that finds another one running answers that one's last result at once."""

    def __init__(self, store: EventLog, budget: int = 100_000) -> None:
        self.store = store
        self.budget = max(budget, 1)
        self.verified: tuple[int, str] = (0, GENESIS_HASH)
        self._checking = threading.Lock()
        self.full_walk = threading.Lock()  # the admin's whole walk: one at a time
        self._last: dict[str, Any] | None = None

    def check(self) -> dict[str, Any]:
        if not self._checking.acquire(blocking=False):
            last = self._last
            if last is not None:
                return {**last, "in_progress": True}
            head = self.store.head()
            return self._report(head, None, None, checked=0, in_progress=True)
        try:
            self._last = self._advance()
            return self._last
        finally:
            self._checking.release()

    def _report(self, head: tuple[int, str], bad: int | None, reason: str | None, *, checked: int,
                in_progress: bool = False) -> dict[str, Any]:
        position = self.verified[0]
        return {"ok": bad is None, "events": position, "head_position": head[0], "head_hash": head[1],
                "first_bad_position": bad,
                "reason": reason, "mode": "incremental", "verified_through": position,
                "complete": bad is None and position == head[0], "checked_now": checked,
                "in_progress": in_progress}

    def _advance(self) -> dict[str, Any]:
        head = self.store.head()
        position, digest = self.verified
        if position:
            again = next(iter(self.store.read_all(after=position - 1, limit=1)), None)
            if again is None or again.position != position or again.hash != digest:
                return self._report(head, position, f"event {position}, verified earlier by this server, is gone or "
                                                    "changed: the ledger was truncated or re-chained", checked=0)
        if head[0] < position:
            return self._report(head, head[0] + 1, f"the head records {head[0]} but this server verified "
                                                   f"{position} events", checked=0)
        todo = min(head[0] - position, self.budget)
        checked = 0
        while checked < todo:
            page = list(self.store.read_all(after=self.verified[0], limit=min(PAGE, todo - checked)))
            if not page:
                break
            bad, reason = self._links(page)
            checked += len(page)
            if bad is not None:
                return self._report(head, bad, reason, checked=checked)
        if checked < todo:
            missing = self.verified[0] + 1
            return self._report(head, missing, f"position {missing} is missing (the head records {head[0]})",
                                checked=checked)
        if self.verified[0] == head[0] and self.verified != head:
            return self._report(head, head[0], "the last event does not match the recorded head", checked=checked)
        return self._report(head, None, None, checked=checked)

    def _links(self, events: list[RecordedEvent]) -> tuple[int | None, str | None]:
        """Check each event's place, link and content hash (as ``ledger.chain.verify_chain`` does
        from the genesis), moving ``verified`` past each good one."""
        position, prev_hash = self.verified
        for e in events:
            if e.position != position + 1:
                return position + 1, (f"position {position + 1} is missing (next stored is {e.position})"
                                      if e.position > position + 1 else f"position {e.position} is out of order")
            if e.prev_hash != prev_hash:
                return e.position, "previous-hash link does not match the event before it"
            if chain_hash(e.position, e.stream_id, e.version, e.type, e.schema_version, e.data, e.metadata,
                          e.occurred_at, e.recorded_at, e.prev_hash) != e.hash:
                return e.position, "content does not match its hash"
            position, prev_hash = e.position, e.hash
            self.verified = (position, prev_hash)
        return None, None
