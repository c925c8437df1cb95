"""Policy versions and their rollout: publish, activate, roll back, canary, shadow, canary KPIs."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from stockmesh.domain.errors import UnknownEntity
from stockmesh.entrypoints.api import queries, services
from stockmesh.entrypoints.api.deps import PrincipalDep, RuntimeDep
from stockmesh.entrypoints.api.schemas import (
    ActivateIn,
    CanaryIn,
    CanaryKpisIn,
    DecisionIn,
    PolicyIn,
    RollbackIn,
    ShadowIn,
    StopIn,
)
from stockmesh.governance import decisions
from stockmesh.governance.policy import load_policy_text

router = APIRouter(tags=["policies"])
Name = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9._-]{0,63}$")]


@router.get("/policies")
def list_policies(rt: RuntimeDep, principal: PrincipalDep) -> list[dict[str, Any]]:
    with rt.view.current() as state:
        return queries.policies(state)


@router.get("/policies/{name}")
def get_policy(rt: RuntimeDep, principal: PrincipalDep, name: Name) -> dict[str, Any]:
    with rt.view.current() as state:
        for p in queries.policies(state):
            if p["name"] == name:
                record = state.policies[name]
                p["documents"] = {v: d.to_dict() for v, d in record.versions.items()}
                return p
    raise UnknownEntity(f"unknown policy {name!r}", field="name")


@router.post("/policies", status_code=201)
def publish(rt: RuntimeDep, principal: PrincipalDep, body: PolicyIn) -> dict[str, Any]:
    """Publish a policy document (YAML). The same document again changes nothing."""
    principal.require("govern")
    doc = load_policy_text(body.yaml)
    with rt.decisions, rt.view.current() as state:
        created = services.publish_policy(rt.store, state, principal, doc)
    return {"policy": doc.name, "version": doc.version, "digest": doc.digest(), "created": created}


def _govern(rt: Any, principal: Any, build: Any) -> dict[str, Any]:
    principal.require("govern")
    with rt.decisions, rt.view.current() as state:
        emitted = build(state)
        services.govern(rt.store, principal, emitted)
    return {"events": [e.type for _, e in emitted]}


@router.post("/policies/{name}/activate")
def activate(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: ActivateIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.activate_policy(s, name, body.version, principal.user_id,
                                                                      body.reason))


@router.post("/policies/{name}/rollback")
def rollback(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: RollbackIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.rollback_policy(s, name, principal.user_id, body.reason,
                                                                      body.to_version))


@router.post("/policies/{name}/canary")
def canary(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: CanaryIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.start_canary(s, name, body.version, body.share,
                                                                   principal.user_id, body.max_regression))


@router.post("/policies/{name}/canary/promote")
def promote(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: DecisionIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.promote_canary(s, name, principal.user_id, body.reason))


@router.post("/policies/{name}/canary/kpis")
def canary_kpis(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: CanaryKpisIn) -> dict[str, Any]:
    """The twin's comparison hook over HTTP: KPIs per arm; a regression rolls the canary back."""
    return _govern(rt, principal, lambda s: decisions.record_canary_kpis(
        s, name, body.control, body.canary, source=body.source, by=principal.user_id))


@router.post("/policies/{name}/shadow")
def shadow(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: ShadowIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.start_shadow(s, name, body.version, principal.user_id))


@router.post("/policies/{name}/rollout/stop")
def stop(rt: RuntimeDep, principal: PrincipalDep, name: Name, body: StopIn) -> dict[str, Any]:
    return _govern(rt, principal, lambda s: decisions.stop_rollout(s, name, body.mode, principal.user_id,
                                                                   body.reason))
