"""The FastAPI application: `create_app(settings)`.

    >>> app = create_app(load_settings("hub.toml"))
    >>> uvicorn.run(app, host="127.0.0.1", port=8750)

The app owns a `HubContext` (database engines, settings, clock) in `app.state.ctx`.
Jobs run only when `pos-hub serve` starts the scheduler (not in every app instance), so
tests and several workers behind a load balancer choose where jobs run.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.api import admin, errors, online, ops, sync
from hub.api.admission import Admission
from hub.api.errors import ErrorBody
from hub.api.guard import Authenticate, AuthLimiter
from hub.api.models import PushRequest
from hub.context import HubContext
from hub.metrics import HubMetrics, RequestMetrics
from hub.settings import HubSettings
from hub.web import install as install_web
from loyalty.validation import NO_CONTROL, text_problem

DESCRIPTION = """The pos-loyalty hub: the authoritative ledger.

* **sync** - store terminals push their events and pull snapshots (`terminal` tokens)
* **online** - the web shop channel (`online` channel token)
* **admin** - HQ: flags, consolidated balances, liability, sync health (`admin` tokens)

Errors are always `{"error": code, "detail": sentence}`.
"""


def app_from_environment() -> FastAPI:
    """The app of one worker of `pos-hub serve --workers N`: settings from the file named
    by `$POS_HUB_CONFIG`, with the same `POS_HUB__...` overrides."""
    from hub.settings import load_settings

    app = create_app(load_settings())
    tune_collector()
    return app


def tune_collector() -> None:
    """Once per serving process, when it has started: what start-up built is frozen out of
    the cycle collector, and young collections run per 50,000 allocations instead of 700.

    Serves the storm floor (50 terminals pushing 100,000 events, bench/bench_hub_ingest.py,
    issue #15): a 500-event push allocates some 100,000 short-lived objects that reference
    counting frees, yet at the default threshold the collector ran a hundred times a push
    and walked every long-lived object (FastAPI, SQLAlchemy, pydantic schemas) in its full
    collections. Measured 2026-12-02 on PostgreSQL: 411 us of hub CPU an event without,
    304 us with (the floor is not met either way; see docs/hub.md)."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def create_app(settings: HubSettings, ctx: HubContext | None = None,
               limiter: AuthLimiter | None = None) -> FastAPI:
    """The hub's app; `limiter` (tests: one with its own clock) counts failed tokens."""
    ctx = ctx or HubContext.from_settings(settings)
    limiter = limiter or AuthLimiter.from_settings(settings.hub)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(title="pos-loyalty hub", version="1", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.ctx = ctx
    app.state.auth_limiter = limiter
    errors.install(app)
    # outermost last: control characters in the URL, the token (before any body), admission
    # of sync requests (after the token: a stranger is not told to come back), the body size
    app.add_middleware(BodyLimit, limit=settings.hub.max_body_bytes)
    app.add_middleware(Admission, limit=settings.hub.max_sync_in_flight)
    app.add_middleware(Authenticate, routes=lambda: app.routes, limiter=limiter)
    app.add_middleware(NoNulInUrl)
    app.state.metrics = HubMetrics(ctx)
    app.add_middleware(RequestMetrics, metrics=app.state.metrics)
    app.include_router(sync.router)
    app.include_router(online.router)
    app.include_router(admin.router)
    app.include_router(ops.router)
    install_web(app, ctx, settings)  # the member's pages (issue 19)
    _finish_openapi(app)
    return app


class NoNulInUrl:
    """A control character in the path or a query parameter (`%00`, `%1b`, `%E2%80%AE`...:
    `loyalty.validation`'s rule) is answered 422 before any endpoint runs. PostgreSQL text
    cannot hold NUL, so any parameter that reaches a query with it used to fail there as a
    database error (503), whatever its endpoint; and the others have no business in an
    identifier or a filter. Refused here once for every endpoint, not parameter by
    parameter (the OpenAPI document says so on every string parameter). Body text is
    checked by the request models; event content keeps what it carries."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            where = _control_in_url(scope)
            if where is not None:
                response = JSONResponse({"error": "invalid", "detail": where}, status_code=422)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def _control_in_url(scope: Scope) -> str | None:
    """What holds a control character (named like a validation error), or None."""
    path: str = scope["path"]
    if not (path.isascii() and path.isprintable()) and text_problem(path):
        return f"path: {_nul_or(path, text_problem(path))}"
    query: bytes = scope["query_string"]
    if not query or (query.isascii() and b"%" not in query
                     and all(b >= 0x20 for b in query)):
        return None
    for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
        for text in (name, value):
            problem = text_problem(text)
            if problem:
                return f"{name}: {_nul_or(text, problem)}"
    return None


def _nul_or(text: str, problem: str | None) -> str:
    if "\x00" in text:
        return "holds a NUL character (%00), which no parameter may"
    return str(problem)


class BodyLimit:
    """`[hub] max_body_bytes` for every request: a declared Content-Length over the limit
    is answered 413 before anything is read; otherwise (a chunked body declares no
    length) the bytes are counted as they arrive, and the read that goes over raises a
    413 `HTTPException`, which FastAPI's body parsing passes on to the JSON error
    handler. A pure ASGI middleware: `@app.middleware("http")` would wrap every push in
    an extra task and stream copy."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    def _detail(self) -> str:
        return f"the body is over {self.limit} bytes ([hub] max_body_bytes)"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope["headers"]:
            if name == b"content-length":
                # (uvicorn refuses a Content-Length that is not a number itself)
                if value.isdigit() and int(value) > self.limit:
                    response = JSONResponse({"error": "too_large", "detail": self._detail()},
                                            status_code=413)
                    await response(scope, receive, send)
                    return
                break
        received = 0

        async def counted() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise HTTPException(413, self._detail())
            return message

        await self.app(scope, counted, send)


ERRORS: dict[int, str] = {
    401: "No token, or a wrong or revoked one (`error`: unauthorized, bad_token).",
    403: "A token of the wrong kind for this endpoint, or events of another origin.",
    404: "No such member, card, order, flag or reward.",
    409: "Refused as it stands: a gap, a broken chain, a conflict, not enough points...; "
         "nothing was written.",
    413: "The body is over `[hub] max_body_bytes`, or the batch over `[hub] max_batch`.",
    422: "The request does not validate; `detail` names the field.",
    429: "Too many failed authentications from this address or with this token; wait "
         "Retry-After seconds.",
    503: "The database is busy; send the same request again shortly.",
}


def error_statuses(method: str, path: str, guarded: bool) -> list[int]:
    """The error statuses an operation may answer: every one 422, 413 and 503; one that
    needs a token 401, 403 and 429; a write 404 and 409 (a database conflict can refuse
    any write); a read of one thing (a path parameter, a member lookup) 404."""
    codes = [413, 422, 503]
    if guarded:
        codes += [401, 403, 429]
    if method == "post":
        codes += [404, 409]
    elif "{" in path or path.endswith("/members"):
        codes.append(404)
    return sorted(codes)


def _finish_openapi(app: FastAPI) -> None:
    """The OpenAPI document as the hub answers: PushRequest (read by `sync.push_body`, not
    by FastAPI) in the components the push and authorize operations refer to; the one
    error body (`ErrorBody`) for every status each operation may answer, in place of
    FastAPI's HTTPValidationError, which the hub never sends; optional parameters without
    FastAPI's `null` alternative (a parameter left out is absent, never "null")."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schemas = spec.setdefault("components", {}).setdefault("schemas", {})
            push = PushRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(push.pop("$defs", {}))
            schemas["PushRequest"] = push
            schemas.pop("HTTPValidationError", None)
            schemas.pop("ValidationError", None)
            schemas["ErrorBody"] = ErrorBody.model_json_schema()
            for path, item in spec.get("paths", {}).items():
                for method, operation in item.items():
                    _declare_errors(operation, method, path)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _declare_errors(operation: dict[str, Any], method: str, path: str) -> None:
    body = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorBody"}}}
    responses = operation.setdefault("responses", {})
    for code in error_statuses(method, path, "security" in operation):
        answer: dict[str, Any] = {"description": ERRORS[code], "content": body}
        if code == 429:
            answer["headers"] = {"Retry-After": {
                "description": "seconds to wait", "required": True,
                "schema": {"type": "integer", "minimum": 1}}}
        responses[str(code)] = answer
    for parameter in operation.get("parameters", []):
        schema = parameter.get("schema", {})
        kinds = schema.get("anyOf")
        if kinds and {"type": "null"} in kinds and len(kinds) == 2:
            (kept,) = [k for k in kinds if k != {"type": "null"}]
            del schema["anyOf"]
            schema.update(kept)
        if schema.get("type") == "string" and "pattern" not in schema \
                and "format" not in schema:
            schema["pattern"] = NO_CONTROL  # refused by NoNulInUrl whatever the endpoint
