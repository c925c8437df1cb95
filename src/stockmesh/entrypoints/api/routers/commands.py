"""Command ingest: one command per request, idempotent by the ``Idempotency-Key`` header."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response

from stockmesh.entrypoints.api import services
from stockmesh.entrypoints.api.deps import PrincipalDep, RuntimeDep
from stockmesh.entrypoints.api.schemas import CommandAccepted, CommandBody

router = APIRouter(tags=["commands"])
KeyHeader = Annotated[str, Header(alias="Idempotency-Key", min_length=1, max_length=200,
                                  pattern=r"^[\x20-\x7e]+$",
                                  description="Same key and body: the first response again; other body: 422.")]


@router.post("/commands", status_code=201, response_model=CommandAccepted)
def ingest(rt: RuntimeDep, principal: PrincipalDep, idempotency_key: KeyHeader,
           body: Annotated[CommandBody, Body()], response: Response) -> CommandAccepted:
    state = rt.view.state  # brought up to date by the authentication just before
    with rt.writes:
        result = services.ingest_command(rt.store, state, principal, body.model_dump(exclude_none=True),
                                         idempotency_key)
    if result.status == "duplicate":
        response.headers["Idempotent-Replayed"] = "true"
    return CommandAccepted(**result.body())
