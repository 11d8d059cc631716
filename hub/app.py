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

from hub.api import admin, errors, online, sync
from hub.api.models import PushRequest
from hub.context import HubContext
from hub.settings import HubSettings

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


def create_app(settings: HubSettings, ctx: HubContext | None = None) -> FastAPI:
    ctx = ctx or HubContext.from_settings(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        ctx.close()

    app = FastAPI(title="pos-loyalty hub", version="1", description=DESCRIPTION,
                  lifespan=lifespan)
    app.state.ctx = ctx
    errors.install(app)
    app.add_middleware(BodyLimit, limit=settings.hub.max_body_bytes)
    app.add_middleware(NoNulInUrl)
    app.include_router(sync.router)
    app.include_router(online.router)
    app.include_router(admin.router)
    _declare_push_body(app)
    return app


class NoNulInUrl:
    """A NUL character in the path or a query parameter (`%00`) is answered 422 before
    any endpoint runs: PostgreSQL text cannot hold one, so any parameter that reaches a
    query with it would fail there as a database error (503), whatever its endpoint.
    Refused here once for every endpoint, not parameter by parameter. (Body text is
    checked by the request models; event content keeps what it carries.)"""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and ("\x00" in scope["path"]
                                        or b"%00" in scope["query_string"]):
            # named like a validation error: the parameter first
            where = next((name for name, value in parse_qsl(
                scope["query_string"].decode("latin-1"), keep_blank_values=True)
                if "\x00" in value or "\x00" in name), "path")
            response = JSONResponse({"error": "invalid", "detail": f"{where}: holds a NUL "
                                     "character (%00), which no parameter may"},
                                    status_code=422)
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


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


def _declare_push_body(app: FastAPI) -> None:
    """Put PushRequest (read by `sync.push_body`, not by FastAPI) into the OpenAPI
    components that the push and authorize operations refer to."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            spec = build()
            schema = PushRequest.model_json_schema(ref_template="#/components/schemas/{model}")
            found = spec.setdefault("components", {}).setdefault("schemas", {})
            found.update(schema.pop("$defs", {}))
            found["PushRequest"] = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
