"""Request bodies parsed strictly before any route sees them (an ASGI middleware).

FastAPI reads JSON bodies with the standard library, which keeps the last of repeated keys:
``{"qty": 1, "qty": 40}`` would ship 40. Every JSON body goes through the one strict loader
(``service.strict_json``) first; a key given twice, a too deep container or a malformed text is a
422 problem naming the field (``command.qty``), and the route never runs. What passes is replayed
to the app unchanged, where the routes' pydantic models validate it as before.
"""

from __future__ import annotations

from stockmesh.domain.errors import InvalidInput
from stockmesh.entrypoints.api import problems
from stockmesh.entrypoints.api.limits import ASGIApp, Receive, Scope, Send, replaying
from stockmesh.service.strict_json import loads_json


def _parsed_as_json(scope: Scope) -> bool:
    """What a route may parse as JSON: ``application/json``, ``application/*+json``, or no content
    type (FastAPI's default refuses it now, but a route reading the body itself would not)."""
    value = dict(scope.get("headers") or []).get(b"content-type")
    if value is None:
        return True
    media = value.split(b";", 1)[0].strip().lower()
    kind, _, subtype = media.partition(b"/")
    return bool(kind == b"application" and (subtype == b"json" or subtype.endswith(b"+json")))


class StrictJSONBodies:
    """Refuses a JSON body the strict loader refuses (422), before the route parses it."""

    def __init__(self, app: ASGIApp, max_depth: int) -> None:
        self.app = app
        self.max_depth = max_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS") or not _parsed_as_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:  # the size is bounded already: BodyLimits runs first
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if body:
            try:
                loads_json(body, max_depth=self.max_depth)
            except InvalidInput as exc:
                await problems.from_error(exc)(scope, receive, send)
                return
        await self.app(scope, replaying(body, receive), send)
