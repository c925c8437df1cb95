"""``/metrics`` in the Prometheus text format, and a health check."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from stockmesh.entrypoints.api.deps import RuntimeDep, get_principal

router = APIRouter(tags=["operations"])


@router.get("/metrics", response_class=Response)
def metrics(rt: RuntimeDep, request: Request) -> Response:
    if not rt.settings.metrics_public:
        get_principal(request, rt)
    with rt.view.current() as state:
        body = rt.metrics.render(state, rt.store.head()[0])
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
def health(rt: RuntimeDep) -> dict[str, object]:
    return {"ok": True, "head": rt.store.head()[0]}
