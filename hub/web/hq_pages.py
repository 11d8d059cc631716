"""HQ's back office pages (issue 19, HQ side), served by `pos-hub serve` itself under
/hq: plain HTML forms, no JavaScript, the chart drawn on the server as inline SVG.

    GET  /hq                         sign-in (username and password)
    POST /hq/login                   303 to /hq/dashboard, or the page again with why
    POST /hq/logout
    GET  /hq/dashboard               points issued and redeemed per day (30 days), liability
                                     per store and channel, stores behind on sync, open flags
    GET  /hq/members?q=              search by card, phone, e-mail or name
    GET  /hq/members/{member_id}     ledger (newest first), flags, balance
    POST /hq/members/{member_id}/adjust        points and a reason: a hub `adjust` event
    GET  /hq/flags                   the open flags
    POST /hq/flags/{flag_id}/resolve           a note; held points: release or cancel
    GET  /hq/stores                  terminals with their sync health
    POST /hq/stores/terminals        add one: its token is shown once
    POST /hq/stores/terminals/{origin}/revoke
    GET  /hq/audit                   every change made here (admin, finance)
    GET  /hq/program                 the published versions (who, when) and, for an admin,
                                     the editor: the current version as TOML
    POST /hq/program/preview         the draft's field errors, or its diff against the
                                     published version and a sample basket's points
                                     before and after (admin)
    POST /hq/program/publish         publishes the draft as `pos-hub program publish` does
                                     (hub.store.programs.publish), by the admin (admin)

and the JSON twins, built by the same query functions (`hub.web.hq_data`), answering to
the same session cookie (401 without, 403 for the role, 404 beyond its scope):

    GET  /v1/hq/dashboard  /v1/hq/members?q=  /v1/hq/members/{id}  /v1/hq/flags
    GET  /v1/hq/stores     /v1/hq/audit       /v1/hq/program

Roles (hub.web.hq_users): admin everything; finance reads everything and every POST is
403; a store manager sees and acts on their own store only (another store's member, flag
or terminal is 404, adding another store's terminal 403). Every POST checks, in this
order: its CSRF field (403), a live session (303 to /hq, or 401 for the twins), the role
(403), the scope (404), then the form (422). Every change is written to `hq_audit` with
the numbers before and after. docs/hq-pages.md.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Form, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select

from hub import admin as service
from hub.api.guard import AuthLimiter, client_address
from hub.api.models import UUID
from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import ApiError, Conflict, Forbidden, Invalid, Unauthorized
from hub.store import members as member_store
from hub.store.credentials import TERMINAL_ID, add_credential, check_name, revoke
from hub.store.fold import HUB_ORIGIN
from hub.store.ingest import record_drafts
from hub.store.programs import current_program, current_version, publish
from hub.tables import credentials
from hub.web import hq_data
from hub.web.hq_users import HqUser, check_password, live_user
from hub.web.member_pages import SECURITY_HEADERS
from hub.web.sessions import CSRF_FIELD, Session, SignIn
from loyalty.events import EventDraft, Kind
from loyalty.expiry import lot_expiry
from loyalty.validation import NO_CONTROL

log = logging.getLogger("hub.web.hq")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["num"] = lambda n: "-" if n is None else f"{n:,}"
templates.env.filters["signed"] = lambda n: f"{n:+,}"

COOKIE = "pos_hq"
KEY_LABEL = b"pos-hub hq sessions v1"
MAX_ADJUST = 1_000_000
router = APIRouter()
TWIN = {"include_in_schema": False, "tags": ["hq"]}
"""The twins answer to the HQ session cookie, not to a bearer token: left out of the
OpenAPI document, whose every operation is a token's (as the member pages' twins)."""
DONE = {
    "adjusted": "The points were adjusted.",
    "resolved": "The flag was resolved.",
    "revoked": "The terminal's tokens were revoked: it can no longer sync.",
}


class HqWeb(SignIn):
    """HQ's sign-in (sessions.SignIn): cookie `pos_hq` under a key of its own label, so a
    member's cookie or CSRF token is never an HQ one; SameSite=Strict (nothing links
    into the back office from outside)."""

    def __init__(self, ctx: HubContext, limiter: AuthLimiter) -> None:
        super().__init__(ctx, limiter, label=KEY_LABEL, cookie=COOKIE, samesite="strict")


def web(request: Request) -> HqWeb:
    return request.app.state.hq_web


def _now() -> datetime:
    return datetime.now(UTC)


def _session(request: Request) -> Session | None:
    return web(request).session(request)


def _set_cookie(request: Request, response: Response, session: Session) -> None:
    web(request).set_cookie(request, response, session)


def _user(request: Request) -> HqUser | None:
    session = _session(request)
    if session is None or session.member_id is None:
        return None
    with web(request).ctx.db.read() as conn:
        return live_user(conn, session.member_id)


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200,
          session: Session | None = None, user: HqUser | None = None) -> HTMLResponse:
    fresh = session is None and (session := _session(request)) is None
    if session is None:
        session = Session.anonymous()
    response = templates.TemplateResponse(request, name, {
        **context, "user": user, "csrf_field": CSRF_FIELD,
        "csrf": web(request).codec.csrf_token(session),
        "root": request.scope.get("root_path", "")}, status_code=status)
    if fresh:
        _set_cookie(request, response, session)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def _error(request: Request, exc: ApiError, user: HqUser | None) -> HTMLResponse:
    titles = {401: "Sign in first", 403: "Not allowed", 404: "Not found", 409: "Not done",
              422: "Not done"}
    return _page(request, "hq/error.html", {"title": titles.get(exc.status, "Not done"),
                                            "message": exc.detail}, status=exc.status,
                 user=user)


def _csrf_refused(request: Request) -> HTMLResponse:
    log.warning("HQ page POST without a valid CSRF token: address=%s path=%r",
                client_address(request.scope), request.url.path)
    return _page(request, "hq/error.html", {
        "title": "Form expired", "message": "This form has expired or did not come from "
        "this site. Open the page again and send it once more."}, status=403)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/hq", status_code=303)


def _posting(request: Request, csrf: str) -> HqUser | Response:
    """The user who may change things with this POST, or the answer that refuses it."""
    if not web(request).codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    user = _user(request)
    if user is None:
        return _to_login()
    if not user.can_write:
        log.warning("HQ POST refused for role %s: user=%s path=%r", user.role,
                    user.username, request.url.path)
        return _error(request, Forbidden("your role (finance) reads every page and changes "
                                         "nothing", code="read_only"), user)
    return user


def _read(request: Request, query: Any, *args: Any) -> Any:
    with web(request).ctx.db.read() as conn:
        return query(conn, *args)


def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


def _user_or_401(request: Request) -> HqUser:
    user = _user(request)
    if user is None:
        raise Unauthorized("sign in on /hq first (username and password)",
                           code="not_signed_in")
    return user


# -- sign-in --------------------------------------------------------------------------------
@router.get("/hq", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, bye: str | None = None) -> Response:
    if _user(request):
        return RedirectResponse("/hq/dashboard", status_code=303)
    return _page(request, "hq/login.html", {
        "title": "HQ sign-in", "notice": "You are signed out." if bye else None})


@router.post("/hq/login", response_class=HTMLResponse, include_in_schema=False)
def login(request: Request, username: str = Form(default="", max_length=64),
          password: str = Form(default="", max_length=200),
          csrf: str = Form(default="", max_length=64)) -> Response:
    session = _session(request)
    w = web(request)
    if not w.codec.csrf_ok(session, csrf):
        return _csrf_refused(request)
    address = client_address(request.scope)
    wait = w.limiter.retry_after(address, None)
    if wait is not None:
        limited = _page(request, "hq/login.html", {
            "title": "HQ sign-in", "username": username,
            "error": f"Too many wrong passwords from this connection: try again in {wait} s."},
            status=429, session=session)
        limited.headers["Retry-After"] = str(wait)
        return limited
    now = _now()
    result = check_password(w.ctx, username, password, now, w.unknown)
    if result.user is None:
        if result.guess:
            w.limiter.failed(address, None)
        log.warning("HQ sign-in refused: address=%s locked=%s", address, result.locked)
        return _page(request, "hq/login.html", {"title": "HQ sign-in", "username": username,
                                                "error": result.refusal},
                     status=429 if result.locked else 401, session=session)
    with w.ctx.db.write() as conn:
        hq_data.record_audit(conn, result.user, "sign_in", result.user.username, {},
                             {"address": address}, now_text(now))
    response = RedirectResponse("/hq/dashboard", status_code=303)
    _set_cookie(request, response, Session.signed_in(result.user.username, 0, now))
    return response


@router.post("/hq/logout", include_in_schema=False)
def logout(request: Request, csrf: str = Form(default="", max_length=64)) -> Response:
    if not web(request).codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    user = _user(request)
    if user is not None:
        with web(request).ctx.db.write() as conn:
            hq_data.record_audit(conn, user, "sign_out", user.username, {}, {}, now_text())
    response = RedirectResponse("/hq?bye=1", status_code=303)
    _set_cookie(request, response, Session.anonymous())
    return response


# -- the dashboard --------------------------------------------------------------------------
def chart_geometry(days: list[dict[str, Any]]) -> dict[str, Any]:
    """Bars for the inline SVG: issued and redeemed side by side per day, a y axis
    rounded up to a readable number, a date label every fifth day."""
    width, height, left, right, top, bottom = 760, 240, 56, 8, 12, 28
    peak = max([1] + [max(d["issued"], d["redeemed"]) for d in days])
    magnitude = 10 ** (len(str(peak)) - 1)
    top_value = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= peak)
    top_value = int(top_value)
    plot_w, plot_h = width - left - right, height - top - bottom
    step = plot_w / max(len(days), 1)
    bar = step * 0.38
    bars, labels = [], []
    for i, d in enumerate(days):
        x = left + i * step + step * 0.1
        for j, key in enumerate(("issued", "redeemed")):
            h = plot_h * d[key] / top_value
            bars.append({"x": round(x + j * bar, 1), "y": round(top + plot_h - h, 1),
                         "w": round(bar, 1), "h": round(h, 1), "kind": key,
                         "title": f"{d['day']}: {d[key]:,} {key}"})
        if i % 5 == 0 or i == len(days) - 1:
            labels.append({"x": round(left + i * step + step / 2, 1), "text": d["day"][5:]})
    grid = [{"y": round(top + plot_h - plot_h * f, 1), "text": f"{int(top_value * f):,}"}
            for f in (0, 0.5, 1)]
    return {"width": width, "height": height, "left": left, "right": width - right,
            "base": top + plot_h, "bars": bars, "labels": labels, "grid": grid,
            "label_y": height - 8}


def _signed_in_page(request: Request) -> HqUser | Response:
    user = _user(request)
    return user if user is not None else _to_login()


@router.get("/hq/dashboard", response_class=HTMLResponse, include_in_schema=False)
def dashboard_page(request: Request) -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    view = _read(request, hq_data.dashboard, user, _now())
    return _page(request, "hq/dashboard.html", {
        "title": "HQ dashboard", "tab": "dashboard", "d": view,
        "chart": chart_geometry(view["chart"]["days"])}, user=user)


@router.get("/v1/hq/dashboard", **TWIN, summary="What GET /hq/dashboard shows")
def dashboard_json(request: Request) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.dashboard, user, _now()))


# -- members --------------------------------------------------------------------------------
@router.get("/hq/members", response_class=HTMLResponse, include_in_schema=False)
def members_page(request: Request, q: str = "") -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    view = _read(request, hq_data.search_members, user, q[:200],
                 web(request).ctx.settings.hub.region)
    return _page(request, "hq/members.html", {"title": "Members", "tab": "members",
                                              "found": view}, user=user)


@router.get("/v1/hq/members", **TWIN, summary="What GET /hq/members shows")
def members_json(request: Request, q: str = "") -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.search_members, user, q[:200],
                       web(request).ctx.settings.hub.region))


MEMBER_ID = PathParam(pattern=UUID)


@router.get("/hq/members/{member_id}", response_class=HTMLResponse, include_in_schema=False)
def member_page(request: Request, member_id: str = MEMBER_ID, done: str = "") -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    try:
        view = _read(request, hq_data.member, user, member_id.lower())
    except ApiError as exc:
        return _error(request, exc, user)
    return _page(request, "hq/member.html", {"title": view["name"] or "Member",
                                             "tab": "members", "m": view,
                                             "notice": DONE.get(done)}, user=user)


@router.get("/v1/hq/members/{member_id}", **TWIN, summary="What GET /hq/members/ID shows")
def member_json(request: Request, member_id: str = MEMBER_ID) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.member, user, member_id.lower()))


def _adjust(ctx: HubContext, user: HqUser, member_id: str, points: int, reason: str) -> None:
    at = _now()
    with ctx.db.write() as conn:
        hq_data.visible_member(conn, user, member_id)
        snap = member_store.lock_member(conn, ctx.db, member_id)
        before = hq_data.balances(conn, member_id)
        if before["balance"] + points < 0:
            raise Invalid(f"the balance is {before['balance']:,}: an adjust may take it to 0, "
                          "not below", code="below_zero")
        data: dict[str, Any] = {"reason": reason, "by": user.username, "channel": "hq"}
        program = current_program(conn)
        if points > 0 and program is not None:
            data["expires_at"] = lot_expiry(snap.state, program, at)
        draft = EventDraft(kind=Kind.ADJUST, member_id=member_id, points=points,
                           ref="HQ-ADJUST", data=data)
        result = record_drafts(conn, ctx, HUB_ORIGIN, [draft], at)
        after = hq_data.balances(conn, member_id)
        hq_data.record_audit(conn, user, "adjust", member_id,
                             {**before}, {**after, "points": points, "reason": reason,
                                          "event_id": result.events[0].event_id},
                             now_text(at))


@router.post("/hq/members/{member_id}/adjust", include_in_schema=False)
def adjust(request: Request, member_id: str = MEMBER_ID,
           points: str = Form(default="", max_length=12),
           reason: str = Form(default="", max_length=500),
           csrf: str = Form(default="", max_length=64)) -> Response:
    user = _posting(request, csrf)
    if isinstance(user, Response):
        return user
    member_id = member_id.lower()
    reason = " ".join(reason.split())
    try:
        text = points.strip().replace(",", "").replace(" ", "")
        if not text.lstrip("+-").isascii() or not text.lstrip("+-").isdigit():
            raise Invalid("points: a whole number, e.g. 150 or -150", code="bad_points")
        amount = int(text)
        if not 0 < abs(amount) <= MAX_ADJUST:
            raise Invalid(f"points: not 0, at most {MAX_ADJUST:,} either way",
                          code="bad_points")
        if not reason or not reason.isprintable():
            raise Invalid("a reason is needed, for the record (the member sees the points)",
                          code="no_reason")
        _adjust(web(request).ctx, user, member_id, amount, reason)
    except ApiError as exc:
        return _error(request, exc, user)
    return RedirectResponse(f"/hq/members/{member_id}?done=adjusted", status_code=303)


# -- flags ----------------------------------------------------------------------------------
@router.get("/hq/flags", response_class=HTMLResponse, include_in_schema=False)
def flags_page(request: Request, done: str = "") -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    view = _read(request, hq_data.flag_queue, user)
    return _page(request, "hq/flags.html", {"title": "Flags", "tab": "flags", "queue": view,
                                            "notice": DONE.get(done)}, user=user)


@router.get("/v1/hq/flags", **TWIN, summary="What GET /hq/flags shows")
def flags_json(request: Request) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.flag_queue, user))


def _flag_state(conn: Any, user: HqUser, flag_id: int) -> dict[str, Any]:
    flag = hq_data.visible_flag(conn, user, flag_id)
    out: dict[str, Any] = {"status": flag["status"]}
    if flag["member_id"]:
        out.update(hq_data.balances(conn, flag["member_id"]))
    return out


@router.post("/hq/flags/{flag_id}/resolve", include_in_schema=False)
def resolve(request: Request, flag_id: int = PathParam(ge=1, le=2**62),
            note: str = Form(default="", max_length=500),
            held: str = Form(default="", max_length=16),
            csrf: str = Form(default="", max_length=64)) -> Response:
    user = _posting(request, csrf)
    if isinstance(user, Response):
        return user
    ctx = web(request).ctx
    note = " ".join(note.split())
    try:
        with ctx.db.read() as conn:
            before = _flag_state(conn, user, flag_id)
        if not note or not note.isprintable():
            raise Invalid("a note is needed, for the record", code="no_note")
        if held not in ("", "release", "cancel"):
            raise Invalid("held points: release or cancel", code="bad_held")
        # hub.admin.resolve_flag: the code `pos-hub flags resolve` and the admin API run
        result = service.resolve_flag(ctx, flag_id, note=note, points=None,
                                      by=f"hq:{user.username}", release=held == "release",
                                      cancel=held == "cancel")
        with ctx.db.write() as conn:
            after = _flag_state(conn, user, flag_id)
            after.update({k: result.get(k) for k in ("outcome", "points", "adjust_event_id",
                                                     "release_event_id") if result.get(k)})
            after["note"] = note
            hq_data.record_audit(conn, user, "resolve_flag", str(flag_id), before, after,
                                 now_text())
    except ApiError as exc:
        return _error(request, exc, user)
    return RedirectResponse("/hq/flags?done=resolved", status_code=303)


# -- stores and terminals -------------------------------------------------------------------
@router.get("/hq/stores", response_class=HTMLResponse, include_in_schema=False)
def stores_page(request: Request, done: str = "") -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    view = _read(request, hq_data.stores, user, _now())
    return _page(request, "hq/stores.html", {"title": "Stores", "tab": "stores", "s": view,
                                             "notice": DONE.get(done)}, user=user)


@router.get("/v1/hq/stores", **TWIN, summary="What GET /hq/stores shows")
def stores_json(request: Request) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.stores, user, _now()))


def _live_tokens(conn: Any, origin: str) -> int:
    return int(conn.execute(select(func.count()).select_from(credentials).where(
        credentials.c.kind == "terminal", credentials.c.name == origin,
        credentials.c.revoked_at.is_(None))).scalar_one())


@router.post("/hq/stores/terminals", include_in_schema=False)
def add_terminal(request: Request, terminal: str = Form(default="", max_length=40,
                                                         pattern=NO_CONTROL),
                 csrf: str = Form(default="", max_length=64)) -> Response:
    user = _posting(request, csrf)
    if isinstance(user, Response):
        return user
    origin = terminal.strip()
    ctx = web(request).ctx
    try:
        check_name("terminal", origin)
        hq_data.check_new_terminal(user, origin)
        with ctx.db.write() as conn:
            live = _live_tokens(conn, origin)
            if live:
                raise Conflict(f"{origin} already has a live token: revoke it first to give "
                               "it a new one", code="terminal_exists")
            token = add_credential(conn, "terminal", origin)
            hq_data.record_audit(conn, user, "add_terminal", origin, {"live_tokens": live},
                                 {"live_tokens": live + 1}, now_text())
    except ApiError as exc:
        return _error(request, exc, user)
    return _page(request, "hq/token.html", {"title": "Terminal added", "tab": "stores",
                                            "origin": origin, "token": token}, user=user)


@router.post("/hq/stores/terminals/{origin}/revoke", include_in_schema=False)
def revoke_terminal(request: Request,
                    origin: str = PathParam(pattern=TERMINAL_ID.pattern, max_length=21),
                    csrf: str = Form(default="", max_length=64)) -> Response:
    user = _posting(request, csrf)
    if isinstance(user, Response):
        return user
    ctx = web(request).ctx
    try:
        with ctx.db.write() as conn:
            origin = hq_data.visible_terminal(conn, user, origin)
            live = _live_tokens(conn, origin)
            revoked = revoke(conn, "terminal", origin)
            hq_data.record_audit(conn, user, "revoke_terminal", origin,
                                 {"live_tokens": live},
                                 {"live_tokens": live - revoked, "revoked": revoked},
                                 now_text())
    except ApiError as exc:
        return _error(request, exc, user)
    return RedirectResponse("/hq/stores?done=revoked", status_code=303)


# -- the audit log --------------------------------------------------------------------------
@router.get("/hq/audit", response_class=HTMLResponse, include_in_schema=False)
def audit_page(request: Request) -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    try:
        view = _read(request, hq_data.audit, user)
    except ApiError as exc:
        return _error(request, exc, user)
    return _page(request, "hq/audit.html", {"title": "Audit log", "tab": "audit",
                                            "log": view}, user=user)


@router.get("/v1/hq/audit", **TWIN, summary="What GET /hq/audit shows")
def audit_json(request: Request) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.audit, user))


# -- the program ----------------------------------------------------------------------------
def _editor(request: Request, user: HqUser, *, draft: str | None = None,
            preview: dict[str, Any] | None = None, sample: str = hq_data.DEFAULT_SAMPLE,
            tier: str = "", status: int = 200, notice: str | None = None) -> HTMLResponse:
    view = _read(request, hq_data.program_versions, user)
    tiers = view["versions"][0]["tiers"] if view["versions"] else []
    return _page(request, "hq/program.html", {
        "title": "Program", "tab": "program", "p": view, "pv": preview,
        "draft": view["draft"] if draft is None else draft, "sample": sample,
        "tier": tier or (tiers[0] if tiers else ""), "tiers": tiers, "notice": notice},
        status=status, user=user)


@router.get("/hq/program", response_class=HTMLResponse, include_in_schema=False)
def program_page(request: Request, done: str = "") -> Response:
    user = _signed_in_page(request)
    if isinstance(user, Response):
        return user
    return _editor(request, user, notice="The new version is published: every till takes "
                   "it on its next sync." if done == "published" else None)


@router.get("/v1/hq/program", **TWIN, summary="What GET /hq/program shows")
def program_json(request: Request) -> JSONResponse:
    user = _user_or_401(request)
    return _json(_read(request, hq_data.program_versions, user))


def _editing(request: Request, csrf: str) -> HqUser | Response:
    """The admin who may edit the program with this POST, or the answer that refuses it
    (finance: 403 by `_posting`; a store manager reads the program and changes it not)."""
    user = _posting(request, csrf)
    if isinstance(user, Response):
        return user
    try:
        hq_data.check_program_editor(user)
    except ApiError as exc:
        log.warning("HQ program POST refused for role %s: user=%s", user.role,
                    user.username)
        return _error(request, exc, user)
    return user


DRAFT = Form(default="", max_length=hq_data.EDITOR_LIMIT)
SAMPLE = Form(default=hq_data.DEFAULT_SAMPLE, max_length=4_000)
TIER = Form(default="", max_length=64)
BASE = Form(default="", max_length=32)
CSRF_FORM = Form(default="", max_length=64)


@router.post("/hq/program/preview", response_class=HTMLResponse, include_in_schema=False)
def program_preview(request: Request, draft: str = DRAFT, sample: str = SAMPLE,
                    tier: str = TIER, csrf: str = CSRF_FORM) -> Response:
    user = _editing(request, csrf)
    if isinstance(user, Response):
        return user
    read = hq_data.read_draft(draft)
    preview = _read(request, hq_data.program_preview, user, read, sample, tier, _now())
    return _editor(request, user, draft=read.text, preview=preview, sample=sample,
                   tier=tier, status=422 if read.errors else 200)


@router.post("/hq/program/publish", response_class=HTMLResponse, include_in_schema=False)
def program_publish(request: Request, draft: str = DRAFT, sample: str = SAMPLE,
                    tier: str = TIER, base: str = BASE, csrf: str = CSRF_FORM) -> Response:
    user = _editing(request, csrf)
    if isinstance(user, Response):
        return user
    read = hq_data.read_draft(draft)
    if read.program is None or read.raw is None:
        preview = _read(request, hq_data.program_preview, user, read, sample, tier, _now())
        return _editor(request, user, draft=read.text, preview=preview, sample=sample,
                       tier=tier, status=422)
    ctx = web(request).ctx
    try:
        with ctx.db.write() as conn:
            before = current_version(conn)
            if base and base != before:
                raise Conflict(f"version {before} was published since your preview of "
                               f"{base}: preview the draft again", code="stale_draft")
            if read.program.version == before:
                raise Conflict("the draft is the published version: nothing to publish",
                               code="unchanged")
            # the code of `pos-hub program publish` (hub.store.programs.publish)
            version, new = publish(conn, ctx.db, read.raw, by=user.username)
            hq_data.record_audit(conn, user, "publish_program", version,
                                 {"version": before},
                                 {"version": version, "new_version": new}, now_text())
    except ApiError as exc:
        return _error(request, exc, user)
    log.info("HQ user %s published program version %s (was %s)", user.username, version,
             before)
    return RedirectResponse("/hq/program?done=published", status_code=303)
