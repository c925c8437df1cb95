"""The audit trail: events (filtered to the caller's sites) and the hash-chain check."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stockmesh.entrypoints.api import queries
from stockmesh.entrypoints.api.deps import Limit, PrincipalDep, RuntimeDep

router = APIRouter(tags=["audit"])


@router.get("/audit/events")
def events(rt: RuntimeDep, principal: PrincipalDep, after: Annotated[int, Query(ge=0, le=10**12)] = 0,
           limit: Limit = 100,
           stream: Annotated[str | None, Query(min_length=1, max_length=300)] = None,
           newest_first: bool = False) -> dict[str, Any]:
    with rt.view.current() as state:
        return queries.audit_events(rt.store, state, principal, after=after, limit=limit, stream=stream,
                                    newest_first=newest_first)


@router.get("/audit/verify")
def verify(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    """Walk the hash chain over the whole ledger; report the first tampered position."""
    return queries.verify(rt.store)
