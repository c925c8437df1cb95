"""The time, as a port: code that needs "now" is handed a ``Clock`` instead of reading it.

``SystemClock`` is the real time (the default wherever a clock is built: ``bootstrap``, the entry
points); ``ManualClock`` is a time that moves only when told to, for tests and the twin.
``now_iso`` is what stamps a ledger write, so the system clock's is fast: the formatted second is
cached and only the microseconds are added.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    """Now, timezone-aware in UTC; ``now_iso`` is ``now().isoformat(timespec="microseconds")``."""

    def now(self) -> datetime: ...

    def now_iso(self) -> str: ...


class SystemClock:
    """The real time. ``time_ns`` is its source (``time.time_ns``; a test may hand another)."""

    __slots__ = ("_time_ns", "now_iso")

    def __init__(self, time_ns: Callable[[], int] = time.time_ns) -> None:
        self._time_ns = time_ns
        self.now_iso: Callable[[], str] = _cached_iso(time_ns)

    def now(self) -> datetime:
        return _EPOCH + timedelta(microseconds=self._time_ns() // 1000)


def _cached_iso(time_ns: Callable[[], int]) -> Callable[[], str]:
    """``now_iso`` of a system clock, e.g. ``2026-11-26T13:59:01.123456+00:00``: what
    ``datetime.isoformat`` gives, at a fraction of its cost (it runs on every write; a test checks
    that the two agree). A closure: its cells are read faster than an object's attributes."""
    second_text: list[Any] = [-1, ""]  # a Unix second and its ISO text: writes stamp the same second
    strftime, gmtime = time.strftime, time.gmtime

    def now_iso() -> str:
        second, micro = divmod(time_ns() // 1000, 1_000_000)
        if second_text[0] != second:
            second_text[0], second_text[1] = second, strftime("%Y-%m-%dT%H:%M:%S", gmtime(second))
        return f"{second_text[1]}.{micro:06d}+00:00"

    return now_iso


class ManualClock:
    """A time that stands still until ``set`` or ``advance`` moves it."""

    __slots__ = ("_now",)

    def __init__(self, at: datetime) -> None:
        self._now = _aware(at)

    def now(self) -> datetime:
        return self._now

    def now_iso(self) -> str:
        return self._now.isoformat(timespec="microseconds")

    def set(self, at: datetime) -> None:
        self._now = _aware(at)

    def advance(self, by: timedelta) -> None:
        self._now += by


def _aware(at: datetime) -> datetime:
    if at.tzinfo is None:
        raise ValueError("a clock's time must be timezone-aware")
    return at.astimezone(UTC)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SYSTEM_CLOCK: Clock = SystemClock()
