"""The clock port: the system clock reads the time, a manual clock moves only when told."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from stockmesh.domain.clock import SYSTEM_CLOCK, ManualClock
from stockmesh.ledger import sql


def test_a_manual_clock_stands_still_until_moved() -> None:
    clock = ManualClock(datetime(2026, 11, 26, 13, 59, 1, tzinfo=timezone(timedelta(hours=1))))
    assert clock.now() == datetime(2026, 11, 26, 12, 59, 1, tzinfo=UTC) and clock.now().tzinfo is UTC
    assert clock.now_iso() == "2026-11-26T12:59:01.000000+00:00"
    clock.advance(timedelta(hours=49))
    assert clock.now() == datetime(2026, 11, 28, 13, 59, 1, tzinfo=UTC)
    clock.set(datetime(2027, 1, 1, tzinfo=UTC))
    assert clock.now_iso() == "2027-01-01T00:00:00.000000+00:00"
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 11, 26))


def test_the_ledger_stamps_writes_with_the_system_clock() -> None:
    before = datetime.now(UTC)
    stamped = datetime.fromisoformat(sql.now_iso())
    now = SYSTEM_CLOCK.now()
    assert before <= stamped <= now <= datetime.now(UTC) and now.tzinfo is not None
