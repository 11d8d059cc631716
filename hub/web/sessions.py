"""Member sign-in for the hub's own pages: signed session cookies, CSRF tokens, PIN checks
with lockout, and the per-address limit of wrong tries.

    >>> codec = SessionCodec(session_key(ctx.signing_key()))
    >>> cookie = codec.dumps(Session.anonymous())
    >>> codec.loads(cookie, now)                 # the Session, or None (forged, too old)
    >>> codec.csrf_token(session)                # the hidden field of every form
    >>> check_login(ctx, "6012345678901234", "4821", now, unknown)   # a LoginResult

The cookie (`pos_member`) is its JSON signed by itsdangerous (HMAC-SHA256). The HMAC key is
derived from the hub's own Ed25519 key (`[hub] signing_key_file`) with a label, so every
hub process serving one database signs and accepts the same cookies and there is no
other secret to set up; a new hub key logs every member out. The cookie holds a random
nonce, the member id (none before sign-in), the member's session generation and the
time it was issued; it is HttpOnly, SameSite=Lax, Secure when the request came over
https, and is refused after `SESSION_MAX_AGE_S`. A member's session generation lives in
`member_sessions`: "log out everywhere" moves it on and every older cookie is refused.

CSRF: every form carries `csrf`, an HMAC of the session's nonce; a POST whose field does
not match its cookie is answered 403 before anything else is read. Signing in makes a
new nonce (no session fixation).

Wrong PINs:
- per member: the lockout of `loyalty.pins` (5 wrong in a row lock for 1 minute, then
  doubling up to a day), counted in the member's `pin` events like a till's wrong tries,
  so the web and every till count together once synced. A wrong try is a hub `pin`
  event (`failed`), a right one after wrong ones an `ok`. A locked PIN is refused
  without being checked.
- per identifier nobody can sign in with (unknown card or e-mail, a member without a
  PIN): the same backoff counted in this process's memory, so an unknown card answers
  exactly like a known one, locks included; the PIN is checked against a dummy hash so
  the answer takes as long.
- per client address (IPv6 by its /64): `hub.api.guard.AuthLimiter` with the hub's
  `auth_failures_per_address` and `auth_failure_window_s`, a limiter of its own (wrong
  member PINs do not lock the tills behind the same address out of the sync API).
The answer never says whether the card exists: "card number, e-mail or PIN is wrong".
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Literal

from itsdangerous import BadSignature, Signer, URLSafeSerializer
from sqlalchemy import Connection, select

from hub.context import HubContext
from hub.db import Database, now_text
from hub.exceptions import ApiError
from hub.store import members as member_store
from hub.store.fold import HUB_ORIGIN
from hub.store.ingest import record_drafts
from hub.tables import member_sessions
from loyalty.events import EventDraft, Kind
from loyalty.pins import PIN_MAX, PIN_MIN, hash_pin, lock_wait, locked_until, verify_pin

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response

    from hub.api.guard import AuthLimiter

log = logging.getLogger("hub.web.auth")

COOKIE = "pos_member"
CSRF_FIELD = "csrf"
SESSION_MAX_AGE_S = 12 * 3600
"""A signed-in session lasts 12 hours from sign-in, then the member signs in again."""
KEY_LABEL = b"pos-hub member page sessions v1"
WRONG = "The card number, e-mail or PIN is wrong."
MAX_UNKNOWN = 100_000
"""Identifiers counted at once in memory; beyond, the oldest are forgotten."""


def session_key(signing_key: bytes, label: bytes = KEY_LABEL) -> bytes:
    """The cookie HMAC key: derived from the hub's private key under `label`, never the
    key itself; each kind of sign-in has its own label, so a member's cookie (or CSRF
    token) is never an HQ one."""
    return hmac.new(signing_key, label, hashlib.sha256).digest()


class SignIn:
    """What one kind of sign-in (the members at `/`, HQ at `/hq`) shares in an app: its
    cookie (name, SameSite), the codec keyed from the hub's signing key on first use, the
    wrong-try limiter per address and the unknown identifiers' tries.

        >>> members = SignIn(ctx, limiter, label=KEY_LABEL, cookie=COOKIE, samesite="lax")
        >>> members.set_cookie(request, response, Session.anonymous())
    """

    def __init__(self, ctx: HubContext, limiter: AuthLimiter, *, label: bytes, cookie: str,
                 samesite: Literal["lax", "strict"]) -> None:
        self.ctx = ctx
        self.limiter = limiter
        self.unknown = UnknownTries()
        self.label, self.cookie, self.samesite = label, cookie, samesite
        self._codec: SessionCodec | None = None

    @property
    def codec(self) -> SessionCodec:
        if self._codec is None:
            self._codec = SessionCodec(session_key(self.ctx.signing_key(), self.label))
        return self._codec

    def session(self, request: Request) -> Session | None:
        return self.codec.loads(request.cookies.get(self.cookie), datetime.now(UTC))

    def set_cookie(self, request: Request, response: Response, session: Session) -> None:
        response.set_cookie(self.cookie, self.codec.dumps(session),
                            max_age=SESSION_MAX_AGE_S, path="/", httponly=True,
                            samesite=self.samesite, secure=request.url.scheme == "https")


@dataclass(frozen=True)
class Session:
    nonce: str
    member_id: str | None = None
    generation: int = 0
    issued_at: int = 0
    """Unix seconds."""

    @classmethod
    def anonymous(cls, now: datetime | None = None) -> Session:
        return cls(secrets.token_urlsafe(16), None, 0,
                   int((now or datetime.now(UTC)).timestamp()))

    @classmethod
    def signed_in(cls, member_id: str, generation: int, now: datetime) -> Session:
        return cls(secrets.token_urlsafe(16), member_id, generation, int(now.timestamp()))


class SessionCodec:
    """Signs and reads the cookie with itsdangerous (HMAC-SHA256 over a compact JSON body,
    URL-safe), under this hub's derived key."""

    def __init__(self, key: bytes) -> None:
        self.key = key
        self._cookie = URLSafeSerializer(key, salt="pos_member",
                                         signer_kwargs={"digest_method": hashlib.sha256})
        self._csrf = Signer(key, salt="pos_member csrf", digest_method=hashlib.sha256)

    def dumps(self, session: Session) -> str:
        return self._cookie.dumps({"n": session.nonce, "m": session.member_id,
                                   "g": session.generation, "t": session.issued_at})

    def loads(self, text: str | None, now: datetime) -> Session | None:
        """The session of a cookie this hub signed and that is not too old; None else."""
        if not text or len(text) > 512:
            return None
        try:
            raw = self._cookie.loads(text)
            session = Session(str(raw["n"]), raw["m"], int(raw["g"]), int(raw["t"]))
        except (BadSignature, ValueError, TypeError, KeyError):
            return None
        age = now.timestamp() - session.issued_at
        if session.member_id is not None and not -60 <= age <= SESSION_MAX_AGE_S:
            return None
        return session

    def csrf_token(self, session: Session) -> str:
        return self._csrf.get_signature(session.nonce).decode()

    def csrf_ok(self, session: Session | None, token: str | None) -> bool:
        return (session is not None and bool(token)
                and self._csrf.verify_signature(session.nonce, str(token)))


# -- session generations ("log out everywhere") ---------------------------------------------
def generation(conn: Connection, member_id: str) -> int:
    value = conn.execute(select(member_sessions.c.generation)
                         .where(member_sessions.c.member_id == member_id)).scalar()
    return int(value or 0)


def next_generation(conn: Connection, db: Database, member_id: str) -> int:
    """Move the member's generation on: every cookie issued before is refused."""
    stmt = db.insert(member_sessions).values(member_id=member_id, generation=1,
                                             updated_at=now_text())
    stmt = stmt.on_conflict_do_update(
        index_elements=[member_sessions.c.member_id],
        set_={"generation": member_sessions.c.generation + 1, "updated_at": now_text()})
    conn.execute(stmt)
    return generation(conn, member_id)


def session_is_live(conn: Connection, session: Session | None) -> bool:
    return (session is not None and session.member_id is not None
            and generation(conn, session.member_id) == session.generation)


# -- sign-in --------------------------------------------------------------------------------
@dataclass(frozen=True)
class LoginResult:
    member_id: str | None = None
    generation: int = 0
    refusal: str | None = None
    """None: signed in; else the sentence to show (the same for a known or unknown card)."""
    locked: bool = False
    guess: bool = False
    """A PIN was tried (and counted for the address): not for a lock or a malformed PIN."""


class UnknownTries:
    """Wrong tries with identifiers nobody can sign in with, by a hash of the identifier,
    locked with the same backoff as a member's PIN (in this process's memory)."""

    def __init__(self) -> None:
        self._tries: OrderedDict[str, tuple[int, datetime]] = OrderedDict()
        self._lock = threading.Lock()

    @staticmethod
    def _key(identifier: str) -> str:
        return hashlib.sha256(identifier.casefold().encode()).hexdigest()[:24]

    def wait(self, identifier: str, now: datetime) -> str | None:
        with self._lock:
            found = self._tries.get(self._key(identifier))
        return lock_wait(locked_until(*found), now) if found else None

    def failed(self, identifier: str, now: datetime) -> None:
        key = self._key(identifier)
        with self._lock:
            failures = self._tries.pop(key, (0, now))[0] + 1
            self._tries[key] = (failures, now)
            while len(self._tries) > MAX_UNKNOWN:
                self._tries.popitem(last=False)


@cache
def _dummy_hash() -> str:
    return hash_pin("5829")


def pin_format_ok(pin: str) -> bool:
    return PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()


def parse_identifier(text: str) -> dict[str, str] | None:
    """{"card": ...} for 16 digits (spaces and dashes allowed), {"email": ...} for an
    address; None for anything else."""
    text = text.strip()
    digits = text.replace(" ", "").replace("-", "")
    if digits.isascii() and digits.isdigit() and len(digits) == 16:
        return {"card": digits}
    if "@" in text and 3 <= len(text) <= 254 and text.isprintable() and " " not in text:
        return {"email": text}
    return None


def find_member(conn: Connection, identifier: str) -> str | None:
    ident = parse_identifier(identifier)
    if ident is None:
        return None
    tries = [ident]
    if "email" in ident and ident["email"].lower() != ident["email"]:
        tries.append({"email": ident["email"].lower()})
    for one in tries:
        try:
            found = member_store.find_member_id_or_none(conn, **one)
        except ApiError:  # several members with this e-mail: only the card signs in
            return None
        if found:
            return found
    return None


def _locked(wait: str) -> LoginResult:
    return LoginResult(refusal=f"Too many wrong PINs: try again in {wait}. At the counter, "
                               "your card's QR code still works.", locked=True)


def check_login(ctx: HubContext, identifier: str, pin: str, now: datetime,
                unknown: UnknownTries) -> LoginResult:
    """Sign a member in with their card number or e-mail and PIN (module docstring)."""
    identifier = identifier.strip()
    if not pin_format_ok(pin):
        return LoginResult(refusal=f"A PIN is {PIN_MIN} to {PIN_MAX} digits.")
    with ctx.db.read() as conn:
        member_id = find_member(conn, identifier)
        state = member_store.member_state(conn, member_id) if member_id else None
    if state is None or state.pin_hash is None or member_id is None:
        wait = unknown.wait(identifier, now)
        if wait:
            return _locked(wait)
        verify_pin(_dummy_hash(), pin)  # as slow as a real check
        unknown.failed(identifier, now)
        return LoginResult(refusal=WRONG, guess=True)
    wait = lock_wait(locked_until(state.pin_failures, state.pin_failed_at), now)
    if wait:
        return _locked(wait)
    right = verify_pin(state.pin_hash, pin)  # the slow part, before any lock
    with ctx.db.write() as conn:
        state = member_store.lock_member(conn, ctx.db, member_id).state
        # another try may have locked it while this one was being checked
        wait = lock_wait(locked_until(state.pin_failures, state.pin_failed_at), now)
        if wait:
            return _locked(wait)
        if right:
            if state.pin_failures:
                _record_pin(conn, ctx, member_id, "ok", now)
            return LoginResult(member_id=member_id, generation=generation(conn, member_id))
        _record_pin(conn, ctx, member_id, "failed", now)
    return LoginResult(refusal=WRONG, guess=True)


def _record_pin(conn: Connection, ctx: HubContext, member_id: str, action: str,
                now: datetime) -> None:
    draft = EventDraft(kind=Kind.PIN, member_id=member_id,
                       data={"action": action, "channel": "web"})
    record_drafts(conn, ctx, HUB_ORIGIN, [draft], now)
