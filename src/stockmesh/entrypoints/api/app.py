"""The FastAPI application factory. Nothing is opened at import time: ``create_app`` opens the
store named by the settings (or takes one already open) and builds the runtime."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from stockmesh.domain.clock import SYSTEM_CLOCK, Clock
from stockmesh.entrypoints.api import problems
from stockmesh.entrypoints.api.bodies import StrictJSONBodies
from stockmesh.entrypoints.api.limits import BodyLimits, RateLimiter, ReadLimits, Timing
from stockmesh.entrypoints.api.metrics import Metrics
from stockmesh.entrypoints.api.routers import (
    audit,
    commands,
    dashboard,
    governance,
    metrics,
    policies,
    positions,
    proposals,
    reads,
)
from stockmesh.entrypoints.api.runtime import Runtime
from stockmesh.entrypoints.api.settings import Settings
from stockmesh.governance.state import GovernanceView
from stockmesh.ledger.port import EventStore

API_PREFIX = "/api"


def create_app(settings: Settings | None = None, *, store: EventStore | None = None,
               create: bool = False, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """``create``: make the ledger if the URL names none; otherwise a missing ledger raises
    ``LedgerMissing`` (an operator's typo must not start a server on a new, empty ledger).
    ``clock``: the time the routes read (a test hands a ``ManualClock``)."""
    settings = settings or Settings.from_env()
    owns_store = store is None
    if store is None:
        from stockmesh.bootstrap import open_store

        store = open_store(settings.db_url, create=create)
    runtime = Runtime(settings=settings, store=store, view=GovernanceView(store),
                      limiter=RateLimiter(settings.rate_limit_per_minute, settings.rate_limit_burst),
                      metrics=Metrics(), clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owns_store:
            store.close()

    app = FastAPI(title="stockmesh", version="0.1.0", lifespan=lifespan,
                  description="Positions, command ingest, proposals and approvals, policies, forecasts, KPIs, "
                              "the audit trail. Authenticate with `Authorization: Bearer <token>`; errors are "
                              "application/problem+json.")
    app.state.runtime = runtime
    problems.install(app)
    for module in (positions, commands, proposals, policies, governance, reads, audit):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(metrics.router)
    app.include_router(dashboard.router)
    app.mount("/static", StaticFiles(directory=dashboard.STATIC), name="static")

    app.add_middleware(Timing, metrics=runtime.metrics)
    app.add_middleware(StrictJSONBodies, max_depth=settings.max_json_depth)  # inside BodyLimits: sized first
    app.add_middleware(BodyLimits, max_bytes=settings.max_body_bytes, max_depth=settings.max_json_depth)
    app.add_middleware(ReadLimits, total=settings.max_concurrent_reads,
                       per_client=settings.max_concurrent_reads_per_client)
    return app
