"""Forecasts and KPIs (read-only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockmesh.entrypoints.api import queries
from stockmesh.entrypoints.api.deps import Limit, PrincipalDep, RuntimeDep, SiteQuery

router = APIRouter(tags=["forecasts and KPIs"])


@router.get("/forecasts")
def list_forecasts(rt: RuntimeDep, principal: PrincipalDep, sku: SiteQuery = None, site: SiteQuery = None,
                   limit: Limit = 100) -> dict[str, Any]:
    """The latest forecast event per SKU x site found in the ledger (``forecast:...`` streams)."""
    with rt.view.current() as state:
        return queries.forecasts(state, principal, sku, site, limit)


@router.get("/kpis")
def get_kpis(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    with rt.view.current() as state:
        return queries.kpis(rt.store, state, principal, rt.clock.now())
