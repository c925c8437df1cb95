"""Stock positions, network availability, the posture grid and one SKU x site in detail."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from stockmesh.entrypoints.api import queries
from stockmesh.entrypoints.api.deps import Limit, Offset, PrincipalDep, RuntimeDep, SiteQuery

router = APIRouter(tags=["positions"])
IdPath = Annotated[str, Path(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/#+\-]{0,127}$")]


Cursor = Annotated[str | None, Query(min_length=3, max_length=257, pattern=r"^[^|]+\|[^|]+$",
                                     description="The `next` of the previous page (SKU|SITE): the page after it.")]


@router.get("/positions")
def list_positions(rt: RuntimeDep, principal: PrincipalDep, sku: SiteQuery = None, site: SiteQuery = None,
                   limit: Limit = 100, offset: Offset = 0, after: Cursor = None) -> dict[str, Any]:
    """Stock per SKU x site, only for the sites the token is scoped to, a page at a time (in SKU,
    site order; ``next`` is the cursor of the following page)."""
    rt.catch_up()
    after_key = tuple(after.split("|", 1)) if after else None
    return queries.positions_page(rt.store, principal, sku, site, limit=limit, offset=offset,
                                  after_key=after_key)  # type: ignore[arg-type]


@router.get("/network/availability")
def availability(rt: RuntimeDep, principal: PrincipalDep, sku: SiteQuery = None) -> dict[str, Any]:
    """Available, in-transit and on-order units of one SKU (or the first 500 SKUs) across the visible sites."""
    rt.catch_up()
    if sku is None:
        return queries.network_availability_all(rt.store, principal)
    return queries.network_availability(rt.store, principal, sku)


@router.get("/network/posture")
def network_posture(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """Days of cover per site x SKU class."""
    rt.catch_up()
    return queries.posture(rt.store, rt.view, principal)


@router.get("/stock/{sku}/{site}")
def stock_detail(rt: RuntimeDep, principal: PrincipalDep, sku: IdPath, site: IdPath) -> dict[str, Any]:
    """History, forecast fan, projected inventory and open orders of one SKU x site."""
    rt.catch_up()
    with rt.view.current() as state:
        return queries.stock_detail(rt.store, state, principal, sku, site, today=rt.clock.now().date())
