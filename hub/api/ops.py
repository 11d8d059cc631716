"""Operations: is the process up, can it serve, and what it is doing.

    GET /healthz   200 {"status": "ok"}: the process answers (nothing else is asked)
    GET /readyz    200 {"status": "ready", "schema": "0017"}: the database answers and its
                   schema is this code's newest migration; else 503 {"status":
                   "not_ready", "reason": ...} (a load balancer sends no traffic there)
    GET /metrics   the Prometheus text format (hub.metrics), with an admin token

/healthz and /readyz take no token: they say nothing about members or money, and a load
balancer or systemd's watchdog has none. They are left out of /openapi.json, whose every
operation takes a bearer token (tests/hub/test_api_edges.py holds it to that). /metrics
takes an admin token (business figures: liability per store, held points): Prometheus
sends it as `authorization: {credentials: ...}`.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response

from hub.api.deps import admin, context
from hub.context import HubContext
from hub.db import alembic_config, schema_revision
from hub.store.credentials import Credential

router = APIRouter(tags=["operations"])


def head_revision() -> str:
    """The newest migration this code ships."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head() or ""


@router.get("/healthz", include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz", include_in_schema=False)
def readyz(ctx: HubContext = Depends(context)) -> Response:
    """Readiness: the database answers and is at this code's schema."""
    try:
        schema = schema_revision(ctx.db)
    except Exception as exc:  # any failure to reach the database means: not ready
        return JSONResponse({"status": "not_ready",
                             "reason": f"the database does not answer: {exc}"[:300]},
                            status_code=503)
    head = head_revision()
    if schema != head:
        return JSONResponse({"status": "not_ready", "schema": schema, "expected": head,
                             "reason": "the schema is not this version's: run "
                                       "`pos-hub init` (it migrates)"}, status_code=503)
    return JSONResponse({"status": "ready", "schema": schema})


@router.get("/metrics", response_class=Response,
            responses={200: {"content": {"text/plain": {}},
                             "description": "Prometheus text format"}})
def metrics(request: Request, _: Credential = Depends(admin)) -> Response:
    """Prometheus metrics (hub.metrics)."""
    body, content_type = request.app.state.metrics.exposition()
    return Response(body, media_type=content_type)
