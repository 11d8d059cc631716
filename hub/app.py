"""The FastAPI application: `create_app(settings)`.

    >>> app = create_app(load_settings("hub.toml"))
    >>> uvicorn.run(app, host="127.0.0.1", port=8750)

The app owns a `HubContext` (database engines, settings, clock) in `app.state.ctx`.
Jobs run only when `pos-hub serve` starts the scheduler (not in every app instance), so
tests and several workers behind a load balancer choose where jobs run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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
    limit = settings.hub.max_body_bytes

    @app.middleware("http")
    async def body_limit(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            return JSONResponse({"error": "too_large",
                                 "detail": f"the body is over {limit} bytes"}, status_code=413)
        return await call_next(request)

    app.include_router(sync.router)
    app.include_router(online.router)
    app.include_router(admin.router)
    _declare_push_body(app)
    return app


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
