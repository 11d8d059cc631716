"""Terminal endpoints: whoami, push, authorize, pull, flags, day report
(docs/ARCHITECTURE.md, "Sync wire protocol")."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Header, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import func, select

from hub.api.deps import context, terminal, terminal_or_channel
from hub.api.models import AuthorizeAnswer, IsoDate, PullPage, PushAnswer, PushRequest
from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import ApiError, Forbidden, Invalid, PayloadTooLarge
from hub.store import changes, programs, terminal_keys
from hub.store import flags as flag_store
from hub.store.credentials import Credential
from hub.store.ingest import IngestResult, ingest
from hub.store.members import member_state
from hub.tables import events, origins
from loyalty.day_points import count_day_points
from loyalty.events import Event
from loyalty.ids import HUB_ISSUERS
from loyalty.member_qr import b64, key_id, public_key

router = APIRouter(tags=["sync"])


@router.get("/v1/terminal/whoami")
def whoami(cred: Credential = Depends(terminal_or_channel),
           ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Who this token belongs to, the hub's public key (which certifies terminal keys and
    signs the cards the hub issues: nothing secret), and the terminal's card issuer
    number (its credential's id: unique, so card numbers the terminal makes offline
    never collide with another's)."""
    with ctx.db.read() as conn:
        version = programs.current_version(conn)
    issuer = cred.id if cred.kind == "terminal" and cred.id in HUB_ISSUERS else None
    return {"origin": cred.name, "store": cred.store, **_hub_key(ctx),
            "hub_time": now_text(), "program_version": version, "card_issuer": issuer}


def _hub_key(ctx: HubContext) -> dict[str, str]:
    public = public_key(ctx.signing_key())
    return {"hub_key_id": key_id(public), "hub_public_key": b64(public)}


class CertificateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]$",  # 256 bits
                            description="the terminal's Ed25519 public key: 32 bytes, "
                            "base64url without padding")


async def certificate_body(request: Request,
                           cred: Credential = Depends(terminal)) -> CertificateRequest:
    """Read only once the terminal's token is checked, like a push."""
    raw = await request.body()
    try:
        return CertificateRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


@router.post("/v1/terminal/certificate", openapi_extra={"requestBody": {
    "required": True, "content": {"application/json": {
        "schema": CertificateRequest.model_json_schema()}}}})
def certificate(cred: Credential = Depends(terminal),
                body: CertificateRequest = Depends(certificate_body),
                ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Certify this terminal's public key (`pos init`, or the agent's first sync): the
    hub signs terminal id + public key + issue time. Every verifier pulls the
    certificate, so member cards the terminal signs verify at every till. The same key
    again answers the same certificate (`"status": "existing"`)."""
    public = terminal_keys.parse_public_key(body.public_key)
    with ctx.db.write() as conn:
        cert, new = terminal_keys.issue(conn, ctx.db, ctx.signing_key(), cred.name, public)
    return {"certificate": cert.to_dict(), "status": "new" if new else "existing",
            **_hub_key(ctx)}


async def push_body(request: Request, cred: Credential = Depends(terminal)) -> PushRequest:
    """The batch, read only once the terminal's token is checked (a request without one is
    answered 401 before its body is read), and validated by pydantic from the raw bytes
    so its errors name the field the way FastAPI's own do."""
    raw = await request.body()
    try:
        return PushRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        ) from None


# The body is read by push_body, so the schema is declared here (hub.app adds it).
PUSH_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"$ref": "#/components/schemas/PushRequest"}}}}}


def _json(value: Any) -> Response:
    return Response(orjson.dumps(value), media_type="application/json")


def _check_origin(ctx: HubContext, cred: Credential, body: PushRequest) -> list[Event]:
    if len(body.events) > ctx.settings.hub.max_batch:
        raise PayloadTooLarge(f"at most {ctx.settings.hub.max_batch} events per request; "
                              f"this one has {len(body.events)}",
                              max_batch=ctx.settings.hub.max_batch)
    bad = None
    if body.origin != cred.name:
        bad = f"this token belongs to {cred.name}, the batch says origin {body.origin}"
    else:
        for e in body.events:
            if e.origin != cred.name or e.origin_epoch != body.origin_epoch:
                bad = (f"event {e.event_id} has origin {e.origin} epoch {e.origin_epoch}; "
                       f"this token may only send {cred.name} epoch {body.origin_epoch}")
                break
    if bad:
        flag_store.record_refusal(ctx.db, {
            "kind": "wrong_origin", "origin": cred.name, "detail": bad,
            "event_ids": [e.event_id for e in body.events[:20]]})
        raise Forbidden(bad, code="wrong_origin")
    return [e.to_event() for e in body.events]


def run_ingest(ctx: HubContext, origin: str, epoch: int, batch: list[Event],
               authorize: bool = False) -> IngestResult:
    """One transaction per batch, appended and folded; a refusal's flag is written after
    the rollback."""
    try:
        with ctx.db.write() as conn:
            return ingest(conn, ctx, origin, epoch, batch, authorizing=authorize)
    except ApiError as exc:
        flag_store.record_refusal(ctx.db, getattr(exc, "flag", None), origin=origin,
                                  code=exc.code)
        raise


@router.post("/v1/sync/push", response_model=PushAnswer, openapi_extra=PUSH_BODY)
def push(request: Request, cred: Credential = Depends(terminal),
         body: PushRequest = Depends(push_body),
         ctx: HubContext = Depends(context)) -> Response:
    """Record a batch of this terminal's events, idempotently."""
    batch = _check_origin(ctx, cred, body)
    request.app.state.metrics.events_pushed.inc(len(batch))
    return _json(run_ingest(ctx, body.origin, body.origin_epoch, batch).body())


@router.post("/v1/redemptions/authorize", response_model=AuthorizeAnswer,
             openapi_extra=PUSH_BODY)
def authorize(cred: Credential = Depends(terminal), body: PushRequest = Depends(push_body),
              ctx: HubContext = Depends(context)) -> Response:
    """Record pending events plus a final redemption, only if the hub balance covers it."""
    batch = _check_origin(ctx, cred, body)
    if not batch:
        raise Invalid("the batch is empty; its last event must be the redemption",
                      code="not_a_redemption")
    result = run_ingest(ctx, body.origin, body.origin_epoch, batch, authorize=True)
    last = batch[-1]
    state = result.states.get(last.member_id)
    if state is None:  # the redemption was already recorded: answer from the ledger
        with ctx.db.read() as conn:
            state = member_state(conn, last.member_id)
        balance = state.balance if state is not None else None
    else:
        balance = state.balance
    return _json({**result.body(), "authorized": True, "balance": balance})


@router.get("/v1/sync/pull", response_model=PullPage)
def pull(cursor: int = Query(0, ge=0, le=2**62), limit: int = Query(500, ge=1, le=2000),
         high_seq: int | None = Header(None, alias="X-Origin-High-Seq", ge=0, le=2**53),
         cred: Credential = Depends(terminal_or_channel),
         ctx: HubContext = Depends(context)) -> Response:
    """Changes after `cursor`: member snapshots and profiles, programs, stock, terminal
    key certificates and revocations."""
    page = changes.pull(ctx.db, cursor, limit,
                        store=cred.store if cred.kind == "terminal" else None)
    values: dict[str, Any] = {"last_pull_at": now_text(), "last_cursor": page["cursor"]}
    if high_seq is not None:
        values.update(reported_high_seq=high_seq, reported_at=now_text())
    with ctx.db.write() as conn:
        conn.execute(origins.update().where(origins.c.origin == cred.name).values(**values))
    return _json(page)


@router.get("/v1/sync/flags")
def store_flags(cred: Credential = Depends(terminal),
                ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Open flags about this terminal's store."""
    with ctx.db.read() as conn:
        return {"flags": flag_store.list_flags(conn, status="open", store=cred.store,
                                               limit=100)}


@router.get("/v1/sync/day-report")
def day_report(day: Annotated[IsoDate, Query(alias="date")],
               cred: Credential = Depends(terminal),
               ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """What the hub holds of this terminal's day (program time zone)."""
    with ctx.db.read() as conn:
        program = programs.current_program(conn)
        zone = program.zone if program else UTC
        start = datetime.combine(day, time(), zone).astimezone(UTC)
        end = start + timedelta(days=1)
        window = (events.c.origin == cred.name, events.c.occurred_at >= now_text(start),
                  events.c.occurred_at < now_text(end))
        # per kind and sign: count_day_points counts sums of one sign as their rows
        credit = events.c.points > 0
        grouped = conn.execute(
            select(events.c.kind, credit, func.count(), func.sum(events.c.points))
            .where(*window).group_by(events.c.kind, credit)).all()
    counts: dict[str, int] = {}
    for kind, _, n, _ in grouped:
        counts[kind] = counts.get(kind, 0) + int(n)
    # The terminal's day report counts with the same function (pos_agent.reports).
    points = count_day_points((kind, int(total or 0)) for kind, _, _, total in grouped)
    return {"origin": cred.name, "date": day.isoformat(),
            "sales": counts.get("earn", 0), "events": sum(counts.values()),
            "points_issued": points.issued, "points_redeemed": points.redeemed,
            "points_reversed": points.reversed,
            "enrolments": counts.get("enrol", 0),
            "reversals": counts.get("reverse", 0)}
