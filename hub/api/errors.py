"""Every error answer is JSON `{"error": code, "detail": sentence, ...}`.

Validation errors name the field (`events[3].points: ...`); unexpected errors are logged
and answered 500 without internals; database lock timeouts and deadlocks answer 503 so
clients retry.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.exceptions import ApiError
from loyalty.validation import dotted

log = logging.getLogger(__name__)


def _field(loc: tuple) -> str:
    parts = tuple(p for p in loc if p not in ("body", "query", "path", "header"))
    return dotted(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(exc.body(), status_code=exc.status)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
        msg = str(first.get("msg", "")).removeprefix("Value error, ")
        return JSONResponse(
            {"error": "invalid", "detail": f"{_field(tuple(first.get('loc', ())))}: {msg}",
             "errors": len(errors)},
            status_code=422,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        return JSONResponse({"error": codes.get(exc.status_code, "http_error"),
                             "detail": str(exc.detail)}, status_code=exc.status_code)

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse({"error": "conflict", "detail": "a concurrent request wrote the "
                             "same thing first; send it again"}, status_code=409)

    @app.exception_handler(DBAPIError)
    async def database(_: Request, exc: DBAPIError) -> JSONResponse:
        log.warning("database error: %s", exc.orig)
        return JSONResponse({"error": "busy", "detail": "the hub's database is busy; "
                             "try again shortly"}, status_code=503)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse({"error": "internal", "detail": "the hub failed to handle this "
                             "request; it was logged"}, status_code=500)
