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
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DBAPIError, IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from hub.api.guard import methods_at
from hub.exceptions import ApiError
from loyalty.validation import dotted

log = logging.getLogger(__name__)


class ErrorBody(BaseModel):
    """Every error answer of the hub (the OpenAPI document declares it for each status)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"additionalProperties": True})

    error: str = Field(description="machine-readable code, e.g. bad_token, gap, invalid")
    detail: str = Field(description="one sentence saying what is wrong and what to do")


def error_response(exc: Exception) -> JSONResponse:
    """The answer to an exception no endpoint meant: a database conflict (409), a busy or
    failing database (503), anything else (500, logged with its traceback)."""
    if isinstance(exc, ApiError):
        return JSONResponse(exc.body(), status_code=exc.status)
    if isinstance(exc, IntegrityError):
        log.warning("integrity error: %s", exc.orig)
        return JSONResponse({"error": "conflict", "detail": "a concurrent request wrote the "
                             "same thing first; send it again"}, status_code=409)
    if isinstance(exc, DBAPIError):
        log.warning("database error: %s", exc.orig)
        return JSONResponse({"error": "busy", "detail": "the hub's database is busy; "
                             "try again shortly"}, status_code=503)
    log.error("unexpected error", exc_info=exc)
    return JSONResponse({"error": "internal", "detail": "the hub failed to handle this "
                         "request; it was logged"}, status_code=500)


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
        where = _field(tuple(first.get("loc", ())))
        if first.get("type") == "json_invalid":  # its loc is a character position
            why = (first.get("ctx") or {}).get("error", "")
            where, msg = "body", f"not valid JSON ({why})" if why else "not valid JSON"
        return JSONResponse({"error": "invalid", "detail": f"{where}: {msg}",
                             "errors": len(errors)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # Starlette's "There was an error parsing the body" (not UTF-8, a broken form):
            # a body that cannot be read is invalid like one that does not parse (422).
            return JSONResponse({"error": "invalid", "detail": f"body: {exc.detail}"},
                                status_code=422)
        codes = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(methods_at(request.app.routes, request.scope))
        return JSONResponse({"error": codes.get(exc.status_code, "http_error"),
                             "detail": str(exc.detail)}, status_code=exc.status_code,
                            headers=headers or None)

    @app.exception_handler(IntegrityError)
    async def integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(DBAPIError)
    async def database(_: Request, exc: DBAPIError) -> JSONResponse:
        return error_response(exc)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        return error_response(exc)
