"""Errors as RFC 9457 problem details (``application/problem+json``), one mapping for the app."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from stockmesh.domain.errors import (
    AlreadyExists,
    ConcurrencyError,
    DomainError,
    IdempotencyConflict,
    InsufficientStock,
    InvalidInput,
    InvalidTransition,
    LedgerError,
    Rejected,
    StockmeshError,
    UnknownEntity,
)
from stockmesh.governance.auth import Forbidden, Unauthenticated

log = logging.getLogger("stockmesh.api")
MEDIA_TYPE = "application/problem+json"

# Most specific first.
STATUS: list[tuple[type[BaseException], int, str]] = [
    (Unauthenticated, 401, "unauthenticated"),
    (Forbidden, 403, "forbidden"),
    (InvalidInput, 422, "invalid-input"),
    (IdempotencyConflict, 422, "idempotency-conflict"),
    (UnknownEntity, 404, "unknown-entity"),
    (AlreadyExists, 409, "already-exists"),
    (InsufficientStock, 409, "insufficient-stock"),
    (InvalidTransition, 409, "invalid-transition"),
    (DomainError, 409, "domain-rule"),
    (ConcurrencyError, 409, "concurrency"),
    (LedgerError, 503, "ledger-unavailable"),
]


class RateLimited(StockmeshError):
    """A client over its rate limit: 429 with Retry-After (its own handler, ahead of StockmeshError's)."""

    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after
        super().__init__(f"rate limit exceeded: retry after {retry_after} s")


class Busy(StockmeshError):
    """A bounded resource (the admin's whole-chain walk) is in use: 503 at once, not a queue."""

    def __init__(self, detail: str, retry_after: int = 5) -> None:
        self.retry_after = retry_after
        super().__init__(detail)


def problem(status: int, title: str, detail: str | None = None, *, slug: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"https://stockmesh.dev/problems/{slug or status}", "title": title,
                            "status": status}
    if detail:
        body["detail"] = detail[:2000]
    body.update({k: v for k, v in extra.items() if v is not None})
    return JSONResponse(body, status_code=status, media_type=MEDIA_TYPE, headers=headers)


def from_error(exc: StockmeshError) -> JSONResponse:
    if isinstance(exc, Rejected) and exc.errors:  # refused as a whole: answered as its first problem
        exc = exc.error
    for cls, status, slug in STATUS:
        if isinstance(exc, cls):
            if status >= 500:
                log.error("ledger error: %s", exc)
            return problem(status, slug.replace("-", " "), str(exc), slug=slug, field=getattr(exc, "field", None),
                           headers={"WWW-Authenticate": "Bearer"} if status == 401 else None)
    return problem(400, "bad request", str(exc), slug="bad-request")


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors()[:20]:
        out.append({"loc": [str(p)[:60] for p in err.get("loc", ())], "msg": str(err.get("msg", ""))[:200],
                    "type": str(err.get("type", ""))})
    return out


def install(app: FastAPI) -> None:
    @app.exception_handler(StockmeshError)
    async def _domain(request: Request, exc: StockmeshError) -> JSONResponse:
        return from_error(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _validation_errors(exc)
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors[:5])
        return problem(422, "invalid input", detail, slug="invalid-input", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail) if exc.status_code != 404 else "not found",
                       str(exc.detail), headers=getattr(exc, "headers", None))

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> JSONResponse:
        return problem(429, "too many requests", str(exc), slug="rate-limited",
                       headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Busy)
    async def _busy(request: Request, exc: Busy) -> JSONResponse:
        return problem(503, "server busy", str(exc), slug="busy", headers={"Retry-After": str(exc.retry_after)})

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal error", "an unexpected error occurred; it has been logged", slug="internal")
