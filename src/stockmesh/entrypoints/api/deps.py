"""Dependencies as ``Annotated`` aliases: the runtime, the authenticated principal, pages."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from stockmesh.entrypoints.api.problems import RateLimited
from stockmesh.entrypoints.api.runtime import Runtime
from stockmesh.governance.auth import Principal, Unauthenticated, authenticate
from stockmesh.governance.state import GovernanceState


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def _limit(rt: Runtime, key: str) -> None:
    wait = rt.limiter.hit(key)
    if wait:
        raise RateLimited(wait)


def get_principal(request: Request, rt: RuntimeDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    client = request.client.host if request.client else "unknown"
    if scheme.lower() != "bearer" or not secret:
        _limit(rt, f"ip:{client}")
        raise Unauthenticated("send 'Authorization: Bearer <token>' (see `stockmesh token issue`)")
    with rt.view.current() as state:
        try:
            principal = authenticate(state, secret.strip(), rt.clock.now())
        except Unauthenticated:
            _limit(rt, f"ip:{client}")
            raise
    _limit(rt, f"token:{principal.token_id}")
    return principal


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def get_state(rt: RuntimeDep) -> GovernanceState:
    return rt.view.refresh()


StateDep = Annotated[GovernanceState, Depends(get_state)]
Limit = Annotated[int, Query(ge=1, le=500, description="Page size (at most 500).")]
Offset = Annotated[int, Query(ge=0, le=10**9)]
SiteQuery = Annotated[str | None, Query(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/#+\-]{0,127}$")]
