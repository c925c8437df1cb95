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
        body = rt.metrics.render(state, rt.store.head()[0], rt.clock.now())
    return Response(body, media_type=CONTENT_TYPE_LATEST)


@router.get("/healthz")
async def health(request: Request) -> dict[str, object]:
    """On the event loop, with no database and no sync dependency (those take a worker thread): it
    answers while every worker thread is busy. ``head`` is the last position this server has read."""
    return {"ok": True, "head": request.app.state.runtime.view.state.position}
