"""The audit trail: events (filtered to the caller's sites) and the hash-chain check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stockmesh.entrypoints.api import queries
from stockmesh.entrypoints.api.deps import Limit, PrincipalDep, RuntimeDep
from stockmesh.entrypoints.api.problems import Busy

router = APIRouter(tags=["audit"])


@router.get("/audit/events")
def events(rt: RuntimeDep, principal: PrincipalDep, after: Annotated[int, Query(ge=0, le=10**12)] = 0,
           limit: Limit = 100,
           stream: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
           newest_first: bool = False,
           before: Annotated[int | None, Query(ge=1, le=10**12, description="With newest_first: only events "
                                               "before this position (the `next_before` of the last page).")] = None
           ) -> dict[str, Any]:
    with rt.view.current() as state:
        return queries.audit_events(rt.store, state, principal, after=after, limit=limit, stream=stream,
                                    newest_first=newest_first, before=before)


@router.get("/audit/verify")
def verify(rt: RuntimeDep, principal: PrincipalDep,
           full: Annotated[bool, Query(description="Walk the whole chain (admin tokens; one at a time).")] = False
           ) -> dict[str, Any]:
    """Check the hash chain: the events appended since this server last checked (at most
    ``verify_budget_events`` per call; ``complete`` says whether it reached the head), and that the
    event it checked last is unchanged. ``full=true``: the whole chain, for an admin, one at a time."""
    if not full:
        return queries.verify(rt.store, rt.chain)
    principal.require("govern")
    if not rt.chain.full_walk.acquire(blocking=False):
        raise Busy("a whole-chain walk is already running on this server; retry later "
                   "(or run `stockmesh audit verify`)")
    try:
        return queries.verify(rt.store)
    finally:
        rt.chain.full_walk.release()
