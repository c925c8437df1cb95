"""The kill switch, and who am I."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stockmesh.entrypoints.api import services
from stockmesh.entrypoints.api.deps import PrincipalDep, RuntimeDep
from stockmesh.entrypoints.api.schemas import KillSwitchIn
from stockmesh.governance import decisions

router = APIRouter(tags=["governance"])


@router.get("/me")
def me(principal: PrincipalDep) -> dict[str, Any]:
    from stockmesh.governance.auth import PERMISSIONS

    return {"user_id": principal.user_id, "role": principal.role, "sites": list(principal.sites),
            "permissions": sorted(PERMISSIONS[principal.role])}


@router.get("/killswitch")
def get_kill_switch(rt: RuntimeDep, principal: PrincipalDep) -> dict[str, Any]:
    with rt.view.current() as state:
        return {"engaged": state.kill_switch, "sites": sorted(state.killed_sites),
                "history": state.kill_switch_history[-50:]}


@router.post("/killswitch")
def set_kill_switch(rt: RuntimeDep, principal: PrincipalDep, body: KillSwitchIn) -> dict[str, Any]:
    """Engage or release the kill switch for the network (no ``site``) or one site."""
    principal.require("govern")
    if body.site is None and not principal.all_sites:
        from stockmesh.governance.auth import Forbidden

        raise Forbidden("the network-wide kill switch needs a token scoped to every site")
    if body.site is not None:
        principal.require_sites([body.site])
    services.govern(rt.store, principal, decisions.set_kill_switch(body.engaged, body.site, principal.user_id,
                                                                   body.reason))
    return get_kill_switch(rt, principal)
