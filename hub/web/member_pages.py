"""The member's own pages (issue 19), served by `pos-hub serve` itself: plain HTML forms,
no JavaScript, one CSS file, mobile first.

    GET  /                the sign-in page (card number or e-mail, and PIN)
    POST /login           sign in; 303 to /me, or the page again with why (401, 429)
    GET  /me              balance, tier and progress, expiring points, stamps, vouchers
    GET  /me/history      the member's events in words, newest first
    GET  /me/card         the member QR (inline SVG) to show at the counter
    GET  /me/rewards      the rewards the member may redeem online, and their cost
    POST /me/rewards/{id} redeem one (hub.online.redeem): its voucher code and QR
    POST /me/pin          change the PIN (the current one checked as at sign-in)
    GET  /me/consent      notification consent per channel (e-mail, SMS)
    POST /me/consent      change it (recorded with its time and source, fed to the tills)
    GET  /me/export       the member's own data as a JSON download (hub.privacy)
    POST /logout          this browser only
    POST /me/logout-all   every session of the member (their session generation moves on)

and the JSON twins, built by the same query functions (`hub.web.member_data`):

    GET  /v1/me   /v1/me/history   /v1/me/card   /v1/me/rewards   /v1/me/consent
    (the same session cookie; 401 without)

Who the member is comes from the signed session cookie only, never from the URL or the
form. Every POST carries the CSRF field of its page (403 without). Sessions, CSRF and the
wrong-PIN limits: hub.web.sessions.
"""

from __future__ import annotations

import logging
import re
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import qrcode
import qrcode.constants
from fastapi import APIRouter, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from qrcode.image.svg import SvgPathImage

from hub import member_pins, online
from hub.api.guard import AuthLimiter, client_address
from hub.context import HubContext
from hub.exceptions import ApiError, Unauthorized
from hub.web import member_data
from hub.web.sessions import (
    COOKIE,
    CSRF_FIELD,
    KEY_LABEL,
    WRONG,
    Session,
    SignIn,
    check_login,
    next_generation,
    pin_format_ok,
    session_is_live,
)

log = logging.getLogger("hub.web.auth")
HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["money"] = lambda minor, view: member_data.money(view, minor)
templates.env.filters["signed"] = lambda n: f"{n:+,}"

router = APIRouter()
# The JSON twins answer to the session cookie, not to a bearer token: they are left out of
# the OpenAPI document, whose every operation is a token's (docs/member-pages.md).
TWIN = {"include_in_schema": False, "tags": ["member"]}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
                               "form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


# -- plumbing -------------------------------------------------------------------------------
class MemberWeb(SignIn):
    """The members' sign-in (sessions.SignIn): cookie `pos_member`, SameSite=Lax (a link
    from the shop's e-mail opens the page signed in)."""

    def __init__(self, ctx: HubContext, limiter: AuthLimiter) -> None:
        super().__init__(ctx, limiter, label=KEY_LABEL, cookie=COOKIE, samesite="lax")


def web(request: Request) -> MemberWeb:
    return request.app.state.member_web


def _now() -> datetime:
    return datetime.now(UTC)


def _session(request: Request) -> Session | None:
    return web(request).session(request)


def _set_cookie(request: Request, response: Response, session: Session) -> None:
    web(request).set_cookie(request, response, session)


def _signed_in(request: Request) -> str | None:
    """The member id of a live session (signed, not too old, not logged out), or None."""
    session = _session(request)
    if session is None or session.member_id is None:
        return None
    with web(request).ctx.db.read() as conn:
        return session.member_id if session_is_live(conn, session) else None


def _page(request: Request, name: str, context: dict[str, Any], *, status: int = 200,
          session: Session | None = None, private: bool = True) -> HTMLResponse:
    """Render a page; every form on it carries the CSRF token of `session` (the request's,
    or a new anonymous one, set as the cookie)."""
    fresh = session is None and (session := _session(request)) is None
    if session is None:
        session = Session.anonymous()
    response = templates.TemplateResponse(request, name, {
        **context, "csrf_field": CSRF_FIELD, "csrf": web(request).codec.csrf_token(session),
        "root": request.scope.get("root_path", "")}, status_code=status)
    if fresh:
        _set_cookie(request, response, session)
    response.headers.update(SECURITY_HEADERS)
    if private:
        response.headers["Cache-Control"] = "no-store"
    return response


def _csrf_refused(request: Request) -> HTMLResponse:
    log.warning("member page POST without a valid CSRF token: address=%s path=%r",
                client_address(request.scope), request.url.path)
    return _page(request, "error.html", {
        "title": "Form expired", "message": "This form has expired or did not come from "
        "this site. Open the page again and send it once more."}, status=403)


def _to_login() -> RedirectResponse:
    return RedirectResponse("/", status_code=303)


def _member_or_401(request: Request) -> str:
    member_id = _signed_in(request)
    if member_id is None:
        raise Unauthorized("sign in on / first (card number or e-mail and PIN)",
                           code="not_signed_in")
    return member_id


# -- sign-in --------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def login_page(request: Request, bye: str | None = None) -> Response:
    if _signed_in(request):
        return RedirectResponse("/me", status_code=303)
    message = {"all": "You are logged out on every device.",
               "one": "You are logged out."}.get(bye or "")
    return _page(request, "login.html", {"title": "Sign in", "notice": message})


@router.post("/login", response_class=HTMLResponse, include_in_schema=False)
async def login(request: Request, identifier: str = Form(default="", max_length=254),
                pin: str = Form(default="", max_length=32),
                csrf: str = Form(default="", max_length=64)) -> Response:
    session = _session(request)
    w = web(request)
    if not w.codec.csrf_ok(session, csrf):
        return _csrf_refused(request)
    address = client_address(request.scope)
    wait = w.limiter.retry_after(address, None)
    if wait is not None:
        limited = _page(request, "login.html", {
            "title": "Sign in", "identifier": identifier,
            "error": f"Too many wrong PINs from this connection: try again in {wait} s."},
            status=429, session=session)
        limited.headers["Retry-After"] = str(wait)
        return limited
    now = _now()
    result = await run_in_threadpool(check_login, w.ctx, identifier, pin.strip(), now,
                                     w.unknown)
    if result.refusal is not None:
        if result.guess:
            w.limiter.failed(address, None)
        log.warning("member sign-in refused: address=%s locked=%s", address, result.locked)
        return _page(request, "login.html", {"title": "Sign in", "identifier": identifier,
                                             "error": result.refusal},
                     status=429 if result.locked else 401, session=session)
    assert result.member_id is not None
    response = RedirectResponse("/me", status_code=303)
    _set_cookie(request, response, Session.signed_in(result.member_id, result.generation, now))
    return response


@router.post("/logout", include_in_schema=False)
async def logout(request: Request, csrf: str = Form(default="", max_length=64)) -> Response:
    if not web(request).codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    response = RedirectResponse("/?bye=one", status_code=303)
    _set_cookie(request, response, Session.anonymous())
    return response


@router.post("/me/logout-all", include_in_schema=False)
async def logout_all(request: Request, csrf: str = Form(default="", max_length=64)) -> Response:
    session = _session(request)
    w = web(request)
    if not w.codec.csrf_ok(session, csrf):
        return _csrf_refused(request)
    member_id = await run_in_threadpool(_signed_in, request)
    if member_id is None:
        return _to_login()

    def bump() -> None:
        with w.ctx.db.write() as conn:
            next_generation(conn, w.ctx.db, member_id)

    await run_in_threadpool(bump)
    response = RedirectResponse("/?bye=all", status_code=303)
    _set_cookie(request, response, Session.anonymous())
    return response


# -- the member's pages ---------------------------------------------------------------------
def _read(request: Request, query: Any, *args: Any) -> Any:
    with web(request).ctx.db.read() as conn:
        return query(conn, *args)


@router.get("/me", response_class=HTMLResponse, include_in_schema=False)
def me_page(request: Request) -> Response:
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    view = _read(request, member_data.me, member_id, _now())
    return _page(request, "me.html", {"title": view["program"], "me": view, "tab": "me"})


@router.get("/me/history", response_class=HTMLResponse, include_in_schema=False)
def history_page(request: Request) -> Response:
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    view = _read(request, member_data.history, member_id)
    return _page(request, "history.html", {"title": "History", "history": view,
                                           "tab": "history"})


def qr_svg(payload: str) -> str:
    """The member QR as an SVG element (the receipts' policy: error correction M, the
    smallest version, a 4-module quiet zone; printers.member_qr)."""
    code = qrcode.QRCode(version=None, error_correction=qrcode.constants.ERROR_CORRECT_M,
                         box_size=10, border=4, image_factory=SvgPathImage)
    code.add_data(payload)
    code.make(fit=True)
    svg = code.make_image().to_string(encoding="unicode")
    return svg[svg.index("<svg"):]  # no XML declaration inside HTML


@router.get("/me/card", response_class=HTMLResponse, include_in_schema=False)
def card_page(request: Request) -> Response:
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    ctx = web(request).ctx
    view = _read(request, lambda conn, m: member_data.card(conn, ctx, m), member_id)
    svg = qr_svg(view["qr_payload"]) if view["qr_payload"] else None
    return _page(request, "card.html", {"title": "My card", "card": view, "qr_svg": svg,
                                        "tab": "card"})


# -- the JSON twins -------------------------------------------------------------------------
def _json(data: Any) -> JSONResponse:
    return JSONResponse(data, headers={"Cache-Control": "no-store"})


@router.get("/v1/me", **TWIN,
            summary="The signed-in member's balance, tier, progress, stamps and vouchers")
def me_json(request: Request) -> JSONResponse:
    """What `GET /me` shows, from the same query."""
    member_id = _member_or_401(request)
    return _json(_read(request, member_data.me, member_id, _now()))


@router.get("/v1/me/history", **TWIN,
            summary="The signed-in member's events in words, newest first")
def history_json(request: Request) -> JSONResponse:
    """What `GET /me/history` shows, from the same query."""
    member_id = _member_or_401(request)
    return _json(_read(request, member_data.history, member_id))


@router.get("/v1/me/card", **TWIN,
            summary="The signed-in member's card number and signed QR payload")
def card_json(request: Request) -> JSONResponse:
    """What `GET /me/card` shows (the QR encodes `qr_payload`), from the same query."""
    member_id = _member_or_401(request)
    ctx = web(request).ctx
    return _json(_read(request, lambda conn, m: member_data.card(conn, ctx, m), member_id))


# -- redeeming online -----------------------------------------------------------------------
REQUEST_ID = re.compile(r"^[0-9a-f]{32}$")
REQUEST_PREFIX = "/me/"
"""Key of a page redemption in `online_requests` (hub.online): the form's request id
under a prefix no channel's request_id can have (they cannot start with "/")."""


def _rewards_page(request: Request, member_id: str, *, error: str | None = None,
                  status: int = 200) -> HTMLResponse:
    view = _read(request, member_data.rewards, member_id, _now())
    return _page(request, "rewards.html", {
        "title": "Rewards", "rewards": view, "tab": "rewards", "error": error,
        # a new id per form and page: the form sent twice (a double tap, a reload)
        # redeems once
        "request_ids": {r["reward_id"]: uuid.uuid4().hex for r in view["rewards"]}},
        status=status)


@router.get("/me/rewards", response_class=HTMLResponse, include_in_schema=False)
def rewards_page(request: Request) -> Response:
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    return _rewards_page(request, member_id)


@router.post("/me/rewards/{reward_id}", response_class=HTMLResponse, include_in_schema=False)
async def redeem_reward(request: Request, reward_id: str,
                        request_id: str = Form(default="", max_length=64),
                        csrf: str = Form(default="", max_length=64)) -> Response:
    """Redeem one reward through the online channel's own path (hub.online.redeem: one
    write transaction holding the member's lock, every check of the till, an `online`
    event, the answer kept under the request id); a basket reward comes as a voucher."""
    w = web(request)
    if not w.codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    member_id = await run_in_threadpool(_signed_in, request)
    if member_id is None:
        return _to_login()
    view = await run_in_threadpool(_read, request, member_data.rewards, member_id, _now())
    reward = next((r for r in view["rewards"] if r["reward_id"] == reward_id), None)
    if reward is None or not reward["online"]:
        return await run_in_threadpool(lambda: _rewards_page(
            request, member_id, status=404,
            error="This reward cannot be redeemed online: ask at the counter."))
    if not REQUEST_ID.match(request_id):
        return await run_in_threadpool(lambda: _rewards_page(
            request, member_id, status=400, error="Open the page again and send it once more."))
    try:
        answer = await run_in_threadpool(
            lambda: online.redeem(w.ctx, reward_id=reward_id, points=None, order_id=None,
                                  member_id=member_id, request_id=REQUEST_PREFIX + request_id,
                                  origin=online.ORIGIN, as_voucher=True))
    except ApiError as exc:
        log.info("member page redemption refused: %s", exc.code)
        # (the domain's sentences are the cashier's: said to the member here)
        refusal = ("This form was already sent for another reward: choose again."
                   if exc.code == "request_id_reused"
                   else exc.detail.replace("the member has", "you have"))
        return await run_in_threadpool(lambda: _rewards_page(
            request, member_id, status=409, error=refusal))
    issued = (answer.get("data") or {}).get("vouchers_issued") or []
    voucher = issued[0] if issued else None
    svg = qr_svg(voucher["code"]) if voucher else None
    return _page(request, "voucher.html", {
        "title": "Your voucher", "tab": "rewards", "reward": reward, "voucher": voucher,
        "qr_svg": svg, "duplicate": answer.get("status") == "duplicate",
        "balance": answer.get("balance"), "points_name": view["points_name"]})


@router.get("/v1/me/rewards", **TWIN,
            summary="The rewards the signed-in member may redeem online, and their cost")
def rewards_json(request: Request) -> JSONResponse:
    """What `GET /me/rewards` shows, from the same query."""
    member_id = _member_or_401(request)
    return _json(_read(request, member_data.rewards, member_id, _now()))


# -- the PIN --------------------------------------------------------------------------------
def _settings_page(request: Request, member_id: str, *, error: str | None = None,
                   notice: str | None = None, status: int = 200,
                   session: Session | None = None) -> HTMLResponse:
    view = _read(request, member_data.consent, member_id)
    return _page(request, "settings.html", {"title": "Settings", "consent": view,
                                            "tab": "settings", "error": error,
                                            "notice": notice}, status=status, session=session)


@router.post("/me/pin", response_class=HTMLResponse, include_in_schema=False)
async def change_pin(request: Request, current: str = Form(default="", max_length=32),
                     pin: str = Form(default="", max_length=32),
                     again: str = Form(default="", max_length=32),
                     csrf: str = Form(default="", max_length=64)) -> Response:
    """Change the PIN: the current one is checked exactly as at sign-in (check_login, its
    lockout and per-address limit, a wrong one counted), the new one recorded by
    hub.member_pins.set_pin (a `pin` event every till gets)."""
    w = web(request)
    if not w.codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    member_id = await run_in_threadpool(_signed_in, request)
    if member_id is None:
        return _to_login()
    pin, again = pin.strip(), again.strip()
    if not pin_format_ok(pin):
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=422, error="A PIN is 4 to 8 digits."))
    if pin != again:
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=422, error="The two new PINs are not the same."))
    address = client_address(request.scope)
    wait = w.limiter.retry_after(address, None)
    if wait is not None:
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=429,
            error=f"Too many wrong PINs from this connection: try again in {wait} s."))
    numbers = await run_in_threadpool(_read, request, member_data.card_numbers, member_id)
    if not numbers:
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=409, error="Your account has no card: ask at the till."))
    result = await run_in_threadpool(check_login, w.ctx, numbers[0], current.strip(), _now(),
                                     w.unknown)
    if result.refusal is not None or result.member_id != member_id:
        if result.guess:
            w.limiter.failed(address, None)
        refusal = ("The current PIN is wrong." if result.refusal in (None, WRONG)
                   else result.refusal)
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=429 if result.locked else 401, error=refusal))
    try:
        await run_in_threadpool(member_pins.set_pin, w.ctx, member_id, pin,
                                origin=online.ORIGIN)
    except ApiError as exc:
        refusal = exc.detail
        return await run_in_threadpool(lambda: _settings_page(
            request, member_id, status=422, error=refusal))
    return await run_in_threadpool(lambda: _settings_page(
        request, member_id, notice="Your PIN is changed: use the new one here and at "
        "every till once it has synced."))


# -- notification consent -------------------------------------------------------------------
@router.get("/me/consent", response_class=HTMLResponse, include_in_schema=False)
def consent_page(request: Request) -> Response:
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    return _settings_page(request, member_id)


@router.post("/me/consent", response_class=HTMLResponse, include_in_schema=False)
async def consent_change(request: Request, email: str = Form(default="", max_length=8),
                         sms: str = Form(default="", max_length=8),
                         csrf: str = Form(default="", max_length=64)) -> Response:
    """A checkbox per channel (sent as "yes" when ticked, absent when not)."""
    w = web(request)
    if not w.codec.csrf_ok(_session(request), csrf):
        return _csrf_refused(request)
    member_id = await run_in_threadpool(_signed_in, request)
    if member_id is None:
        return _to_login()

    def save() -> None:
        with w.ctx.db.write() as conn:
            member_data.set_consent(conn, w.ctx.db, member_id, email=email == "yes",
                                    sms=sms == "yes", source="web", now=_now())

    await run_in_threadpool(save)
    return await run_in_threadpool(lambda: _settings_page(
        request, member_id, notice="Your choices are saved."))


@router.get("/v1/me/consent", **TWIN,
            summary="The signed-in member's notification consent per channel")
def consent_json(request: Request) -> JSONResponse:
    """What `GET /me/consent` shows, from the same query."""
    member_id = _member_or_401(request)
    return _json(_read(request, member_data.consent, member_id))


# -- export ---------------------------------------------------------------------------------
@router.get("/me/export", include_in_schema=False)
def export(request: Request) -> Response:
    """The member's own data, as HQ's export gives it (hub.privacy.export_member, less
    the PIN hashes: member_data.export), as a JSON download."""
    member_id = _signed_in(request)
    if member_id is None:
        return _to_login()
    data = _read(request, member_data.export, member_id)
    response = JSONResponse(data, headers={
        "Cache-Control": "no-store",
        "Content-Disposition": 'attachment; filename="my-loyalty-data.json"'})
    response.headers.update(SECURITY_HEADERS)
    return response
