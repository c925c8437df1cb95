"""A synthetic ledger: valid commands over ``skus`` x ``sites`` stock positions, as JSON lines.

Mostly receipts and sales, with reservations (fulfilled or released) and transfers (dispatched,
then received). The generator tracks the stock it creates, so every command is valid and a file of
them is written all or nothing. The ledger benchmark (``benchmarks/ledger``), the big-ingest
benchmark and the tests of the ingest machinery read the same stream.
"""

from __future__ import annotations

import random
import sys
from collections import deque
from collections.abc import Callable, Sequence
from pathlib import Path

# Events each command appends (see domain/decide.py; no lots, no negative stock, so no flags).
EVENTS_PER_COMMAND = {
    "RegisterSku": 1, "RegisterSite": 1, "ReceiveStock": 1, "ShipStock": 1, "ReserveStock": 2,
    "FulfilReservation": 2, "ReleaseReservation": 2, "DispatchTransfer": 3, "ReceiveTransfer": 2,
}
# Share of commands attempted, in order (a command that is not possible falls back to a receipt).
MIX = (("ReceiveStock", 0.40), ("ShipStock", 0.40), ("ReserveStock", 0.07), ("FulfilReservation", 0.04),
       ("ReleaseReservation", 0.02), ("DispatchTransfer", 0.035), ("ReceiveTransfer", 0.035))


class CommandGenerator:
    """Valid commands over ``skus`` x ``sites`` positions, as JSON lines, tracking the stock they make.

    Deterministic for a seed. Successive calls continue from the state the earlier commands left,
    so a file and the commands generated after it can be applied in that order."""

    def __init__(self, skus: int, sites: int, *, seed: int, prefix: str = "b") -> None:
        self.n_skus, self.n_sites = skus, sites
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.sku_ids = [f"SKU-{i:06d}" for i in range(skus)]
        self.site_ids = [f"DC-{i:02d}" if i < max(1, sites // 10) else f"STORE-{i:03d}" for i in range(sites)]
        self.on_hand = [0] * (skus * sites)
        self.reserved = [0] * (skus * sites)
        self.reservations: list[tuple[str, int, int]] = []  # (id, position index, qty)
        self.transfers: deque[tuple[str, int, int]] = deque()  # (id, destination index, qty), oldest first
        self.serial = 0
        self.counts: dict[str, int] = {}
        self.registered = False

    def _key(self) -> str:
        self.serial += 1
        return f"{self.prefix}-{self.serial}"

    def _count(self, name: str) -> int:
        self.counts[name] = self.counts.get(name, 0) + 1
        return EVENTS_PER_COMMAND[name]

    def _pick(self) -> int:
        """A stock position: SKUs skewed (a few sell a lot), sites uniform."""
        r = self.rng.random()
        return int(self.n_skus * r * r) * self.n_sites + int(self.rng.random() * self.n_sites)

    def registrations(self) -> tuple[list[str], int]:
        """RegisterSite and RegisterSku lines (once per generator)."""
        if self.registered:
            return [], 0
        self.registered = True
        lines: list[str] = []
        events = 0
        for site in self.site_ids:
            kind = "dc" if site.startswith("DC-") else "store"
            lines.append(f'{{"command":"RegisterSite","idempotency_key":"{self._key()}","site":"{site}",'
                         f'"kind":"{kind}"}}\n')
            events += self._count("RegisterSite")
        for i, sku in enumerate(self.sku_ids):
            lines.append(f'{{"command":"RegisterSku","idempotency_key":"{self._key()}","sku":"{sku}",'
                         f'"unit_cost":{1 + i % 50}.25,"pack_size":{(6, 12, 24)[i % 3]}}}\n')
            events += self._count("RegisterSku")
        return lines, events

    def _receive(self, pos: int) -> tuple[str, int]:
        qty = 12 * self.rng.randint(1, 8)
        self.on_hand[pos] += qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        return (f'{{"command":"ReceiveStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n', self._count("ReceiveStock"))

    def _ship(self, pos: int, available: int) -> tuple[str, int]:
        qty = min(available, self.rng.randint(1, 12))
        self.on_hand[pos] -= qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        return (f'{{"command":"ShipStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n', self._count("ShipStock"))

    def next_line(self, *, kinds: str = "mix") -> tuple[str, int]:
        """One command as a JSON line, and the number of events it will append.

        ``kinds``: ``mix`` (the whole mix), ``receive_ship`` (one event each)."""
        rng = self.rng
        pos = self._pick()
        available = self.on_hand[pos] - self.reserved[pos]
        if kinds == "receive_ship":
            return self._ship(pos, available) if available > 0 and rng.random() < 0.5 else self._receive(pos)
        u = rng.random()
        if u < 0.40:
            return self._receive(pos)
        if u < 0.80:
            return self._ship(pos, available) if available > 0 else self._receive(pos)
        if u < 0.87:
            if available <= 0:
                return self._receive(pos)
            qty = min(available, rng.randint(1, 6))
            self.reserved[pos] += qty
            rid = f"R-{self.prefix}-{self.serial + 1}"
            self.reservations.append((rid, pos, qty))
            sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
            return (f'{{"command":"ReserveStock","idempotency_key":"{self._key()}","reservation_id":"{rid}",'
                    f'"sku":"{sku}","site":"{site}","qty":{qty}}}\n', self._count("ReserveStock"))
        if u < 0.93:
            if not self.reservations:
                return self._receive(pos)
            i = rng.randrange(len(self.reservations))
            self.reservations[i], self.reservations[-1] = self.reservations[-1], self.reservations[i]
            rid, rpos, qty = self.reservations.pop()
            self.reserved[rpos] -= qty
            name = "FulfilReservation" if u < 0.91 else "ReleaseReservation"
            if name == "FulfilReservation":
                self.on_hand[rpos] -= qty
            return (f'{{"command":"{name}","idempotency_key":"{self._key()}","reservation_id":"{rid}"}}\n',
                    self._count(name))
        if u < 0.965:
            if available <= 0:
                return self._receive(pos)
            qty = min(available, rng.randint(1, 24))
            src = pos % self.n_sites
            dst = (src + 1 + int(rng.random() * (self.n_sites - 1))) % self.n_sites
            if dst == src:
                return self._receive(pos)
            self.on_hand[pos] -= qty
            tid = f"T-{self.prefix}-{self.serial + 1}"
            dpos = pos - src + dst
            self.transfers.append((tid, dpos, qty))
            sku = self.sku_ids[pos // self.n_sites]
            return (f'{{"command":"DispatchTransfer","idempotency_key":"{self._key()}","transfer_id":"{tid}",'
                    f'"sku":"{sku}","from_site":"{self.site_ids[src]}","to_site":"{self.site_ids[dst]}",'
                    f'"qty":{qty}}}\n', self._count("DispatchTransfer"))
        if not self.transfers:
            return self._receive(pos)
        tid, dpos, qty = self.transfers.popleft()
        self.on_hand[dpos] += qty
        return (f'{{"command":"ReceiveTransfer","idempotency_key":"{self._key()}","transfer_id":"{tid}",'
                f'"qty":{qty}}}\n', self._count("ReceiveTransfer"))

    def write(self, path: Path, target_events: int, *, max_lines: int | None = None, kinds: str = "mix",
              progress: Callable[[int], None] | None = None) -> tuple[int, int]:
        """Write commands (registrations first, once) until ``target_events`` events or ``max_lines``
        lines; return (commands, events)."""
        lines, events = self.registrations()
        commands = len(lines)
        buffer: list[str] = list(lines)
        reported = 0
        limit = max_lines if max_lines is not None else sys.maxsize
        with path.open("w", encoding="utf-8") as handle:
            while events < target_events and commands < limit:
                line, n = self.next_line(kinds=kinds)
                buffer.append(line)
                events += n
                commands += 1
                if len(buffer) >= 50_000:
                    handle.write("".join(buffer))
                    buffer.clear()
                    if progress:
                        progress(events - reported)
                        reported = events
            handle.write("".join(buffer))
        if progress:
            progress(events - reported)
        return commands, events

    def lines(self, count: int, *, kinds: str = "mix") -> tuple[list[str], int]:
        """``count`` more commands as JSON lines; return them and their events."""
        out, events = [], 0
        for _ in range(count):
            line, n = self.next_line(kinds=kinds)
            out.append(line)
            events += n
        return out, events

    def top_up(self, positions: int, qty: int) -> tuple[list[str], list[int]]:
        """ReceiveStock of ``qty`` on ``positions`` distinct positions: ample stock for reservations."""
        chosen = self.rng.sample(range(self.n_skus * self.n_sites), min(positions, self.n_skus * self.n_sites))
        return [self._receive_exact(p, qty) for p in chosen], chosen

    def _receive_exact(self, pos: int, qty: int) -> str:
        self.on_hand[pos] += qty
        sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
        self._count("ReceiveStock")
        return (f'{{"command":"ReceiveStock","idempotency_key":"{self._key()}","sku":"{sku}","site":"{site}",'
                f'"qty":{qty}}}\n')

    def reserve_lines(self, count: int, positions: Sequence[int]) -> list[str]:
        """ReserveStock of 1 to 3 units, each on a random one of ``positions``."""
        out = []
        for _ in range(count):
            pos = positions[int(self.rng.random() * len(positions))]
            qty = self.rng.randint(1, 3)
            if self.on_hand[pos] - self.reserved[pos] < qty:
                raise RuntimeError("top-up too small for the reservations")
            self.reserved[pos] += qty
            rid = f"R-{self.prefix}-{self.serial + 1}"
            sku, site = self.sku_ids[pos // self.n_sites], self.site_ids[pos % self.n_sites]
            self._count("ReserveStock")
            out.append(f'{{"command":"ReserveStock","idempotency_key":"{self._key()}","reservation_id":"{rid}",'
                       f'"sku":"{sku}","site":"{site}","qty":{qty}}}\n')
        return out
