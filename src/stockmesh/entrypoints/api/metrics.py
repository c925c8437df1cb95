"""Prometheus metrics of one app (its own registry, so several apps can live in one process)."""

from __future__ import annotations

import time
from datetime import datetime

from prometheus_client import CollectorRegistry, Gauge, Histogram, generate_latest

from stockmesh.governance.state import GovernanceState


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.decision_latency = Histogram(
            "stockmesh_decision_latency_seconds", "Time to review a proposal and record the decision", registry=r,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5))
        self.request_latency = Histogram(
            "stockmesh_http_request_duration_seconds", "HTTP request latency", ["method", "route"], registry=r)
        self.events_total = Gauge("stockmesh_ledger_events", "Events in the ledger (head position)", registry=r)
        self.events_rate = Gauge("stockmesh_ledger_events_per_second",
                                 "Events appended per second since the previous scrape", registry=r)
        self.data_age = Gauge("stockmesh_data_age_seconds", "Seconds since a site's stock data last arrived",
                              ["site"], registry=r)
        self.queue_size = Gauge("stockmesh_approval_queue_size", "Proposals waiting for a person", registry=r)
        self.service_level = Gauge("stockmesh_service_level",
                                   "Units shipped / (shipped + backordered), whole network", registry=r)
        self.proposals = Gauge("stockmesh_proposals", "Proposals by status", ["status"], registry=r)
        self._last: tuple[float, int] | None = None

    def render(self, state: GovernanceState, head: int, now_utc: datetime) -> bytes:
        now = time.monotonic()
        self.events_total.set(head)
        if self._last is not None and now > self._last[0]:
            self.events_rate.set((head - self._last[1]) / (now - self._last[0]))
        self._last = (now, head)
        for site, hours in state.data_age_hours(now_utc).items():
            self.data_age.labels(site=site).set(hours * 3600.0)
        counts: dict[str, int] = {}
        for record in state.proposals.values():
            counts[record.status] = counts.get(record.status, 0) + 1
        for status in ("queued", "approved", "executed", "failed", "rejected", "expired", "superseded"):
            self.proposals.labels(status=status).set(counts.get(status, 0))
        self.queue_size.set(counts.get("queued", 0))
        level = state.service_level()
        if level is not None:
            self.service_level.set(level)
        return generate_latest(self.registry)
