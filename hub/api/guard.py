"""Authentication at the door: every endpoint that needs a token has it checked here,
before any byte of the body is read, and failed tries are counted and limited.

    >>> app.add_middleware(Authenticate, app=..., limiter=AuthLimiter.from_settings(s.hub))

`Authenticate` is a pure ASGI middleware. It finds the route a request is for; when that
route depends on `deps.credential` it checks the bearer token (and the role checks the
route names: `deps.terminal`, `deps.online`, `deps.admin`...) and leaves the credential in
the request's state, where `deps.credential` picks it up. FastAPI reads and parses a
body before it runs any dependency, so a check there came after a 15 MB body had been
parsed (and a bad token with malformed JSON was answered 422, not 401).

`AuthLimiter` counts failed tries per client address (an IPv6 address by its /64: one
host has them all) and per wrong token (by a prefix of its SHA-256, never the token), in
a sliding window, in this process's memory. Nothing is kept in the database: a hub of
several processes (`pos-hub serve --workers N`, or several hosts) counts per process, so
an address gets up to N times the limit; with 256-bit tokens the limit is there to keep
guessing and log floods cheap, not to make guessing hard. Every failure is logged
(`hub.auth`, WARNING) with the address, the path, the reason and the token's hash prefix.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import fastapi.routing
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from hub.exceptions import ApiError, Unauthorized
from hub.store.credentials import Credential, authenticate

log = logging.getLogger("hub.auth")
STATE_KEY = "credential"
TOKEN_PREFIX = 12
"""Hex digits of a token's SHA-256 kept in the counters and logs."""
MAX_KEYS = 100_000
"""Addresses and tokens counted at once; beyond, the oldest are forgotten (memory stays
bounded whatever an attacker rotates through)."""


@dataclass
class AuthLimiter:
    per_address: int = 20
    per_token: int = 5
    window_s: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def from_settings(cls, hub: Any, clock: Callable[[], float] = time.monotonic
                      ) -> AuthLimiter:
        return cls(hub.auth_failures_per_address, hub.auth_failures_per_token,
                   float(hub.auth_failure_window_s), clock)

    def retry_after(self, address: str, token_key: str | None) -> int | None:
        """Seconds until this address (or this wrong token) may try again; None: now."""
        now = self.clock()
        waits = []
        with self._lock:
            for key, limit in self._keys(address, token_key):
                times = self._live(key, now)
                if times is not None and len(times) >= limit:
                    waits.append(times[len(times) - limit] + self.window_s - now)
        return max(1, math.ceil(max(waits))) if waits else None

    def failed(self, address: str, token_key: str | None) -> None:
        now = self.clock()
        with self._lock:
            for key, _ in self._keys(address, token_key):
                times = self._live(key, now)
                if times is None:
                    if len(self._failures) >= MAX_KEYS:
                        self._forget(now)
                    times = self._failures[key] = deque()
                times.append(now)

    def _keys(self, address: str, token_key: str | None) -> Iterable[tuple[str, int]]:
        yield f"a:{address}", self.per_address
        if token_key is not None:
            yield f"t:{token_key}", self.per_token

    def _live(self, key: str, now: float) -> deque[float] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times

    def _forget(self, now: float) -> None:
        for key in [k for k, t in self._failures.items() if t[-1] <= now - self.window_s]:
            del self._failures[key]
        if len(self._failures) >= MAX_KEYS:  # still full: drop the oldest half
            for key in list(self._failures)[: MAX_KEYS // 2]:
                del self._failures[key]


def client_address(scope: Scope) -> str:
    """The caller's address as uvicorn reports it (behind a proxy it trusts, the one in
    X-Forwarded-For); an IPv6 address by its /64."""
    client = scope.get("client")
    host = client[0] if client else "unknown"
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:  # ::ffff:192.0.2.1 is 192.0.2.1
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def token_key(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:TOKEN_PREFIX]


def bearer_token(scope: Scope) -> tuple[str | None, str]:
    """(the token, "") or (None, why there is none)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() != "bearer" or not token.strip():
                return None, "not_bearer"
            return token.strip(), ""
    return None, "no_token"


class Authenticate:
    """Check the token of every request to an authenticated route before its body is
    read; count and limit failures; answer 401/403/429 as JSON errors."""

    def __init__(self, app: ASGIApp, routes: Callable[[], list[Any]],
                 limiter: AuthLimiter) -> None:
        self.app = app
        self.routes = routes
        self.limiter = limiter
        self._guarded: list[Guarded] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        roles = self._route_roles(scope)
        if roles is None:  # no token needed (the OpenAPI document, an unknown path)
            await self.app(scope, receive, send)
            return
        try:
            cred = await self._authenticate(scope, roles)
        except ApiError as exc:
            headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
            if exc.status == 429:
                headers = {"Retry-After": str(exc.extra["retry_after"])}
            response = JSONResponse(exc.body(), status_code=exc.status, headers=headers)
            await response(scope, receive, send)
            return
        except Exception as exc:  # the app's exception handlers are not around us
            from hub.api.errors import error_response

            await error_response(exc)(scope, receive, send)
            return
        scope.setdefault("state", {})[STATE_KEY] = cred
        await self.app(scope, receive, send)

    async def _authenticate(self, scope: Scope,
                            roles: list[Callable[[Credential], Any]]) -> Credential:
        address = client_address(scope)
        token, why = bearer_token(scope)
        key = token_key(token) if token is not None else None
        wait = self.limiter.retry_after(address, key)
        if wait is not None:
            raise TooManyFailures(wait)
        if token is None:
            _log_failure(address, scope, why, None)
            raise Unauthorized("send Authorization: Bearer <token> (from `pos-hub ... add`)")
        cred = await run_in_threadpool(_check_token, scope, token)
        if cred is None:
            self.limiter.failed(address, key)
            _log_failure(address, scope, "bad_token", key)
            raise Unauthorized("this token is wrong or was revoked: ask HQ for a new one",
                               code="bad_token")
        for role in roles:
            role(cred)  # Forbidden (403) for a credential of the wrong kind
        return cred

    def _route_roles(self, scope: Scope) -> list[Callable[[Credential], Any]] | None:
        """The role checks of the route this request is for; None when it needs no token.
        (A path that matches with another method goes on to the router's 405.)"""
        if self._guarded is None:
            self._guarded = guarded_routes(self.routes())
        for route in self._guarded:
            if route.matches(scope):
                return route.roles
        return None


class TooManyFailures(ApiError):
    status = 429
    code = "too_many_failures"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed authentications from this address or with this "
                         f"token: try again in {retry_after} s", retry_after=retry_after)


def _check_token(scope: Scope, token: str) -> Credential | None:
    ctx = scope["app"].state.ctx
    with ctx.db.read() as conn:
        return authenticate(conn, token)


def _log_failure(address: str, scope: Scope, reason: str, key: str | None) -> None:
    # %r: the path is the client's text, and a log line must not be forged with a newline
    log.warning("authentication failed: address=%s path=%r reason=%s token_sha256=%s",
                address, scope.get("path", ""), reason, key or "-",
                extra={"auth_address": address, "auth_path": scope.get("path", ""),
                       "auth_reason": reason, "auth_token_sha256": key})


@dataclass(frozen=True)
class Guarded:
    """A route that needs a token: where it answers, and the role checks it names."""

    path_regex: re.Pattern[str]
    methods: frozenset[str]
    roles: list[Callable[[Credential], Any]]

    def matches(self, scope: Scope) -> bool:
        return (scope["method"] in self.methods
                and self.path_regex.match(_route_path(scope)) is not None)


def _route_path(scope: Scope) -> str:
    # what the routes match: the path below the app's root_path (as Starlette does)
    path, root = scope["path"], scope.get("root_path", "")
    return path[len(root):] or "/" if root and path.startswith(root) else path


def guarded_routes(routes: list[Any]) -> list[Guarded]:
    """Every route that depends on `deps.credential`, with its role checks."""
    from hub.api import deps

    out = []
    for where, route in _api_routes(routes):
        calls = _calls(route.dependant)
        if deps.credential in calls:
            out.append(Guarded(where.path_regex, frozenset(where.methods or ()),
                               [c for c in deps.ROLE_CHECKS if c in calls]))
    return out


def methods_at(routes: list[Any], scope: Scope) -> list[str]:
    """Every method some route answers at this request's path (a 405's Allow header:
    Starlette's names only the first route's, and GET and POST of one path are two)."""
    path = _route_path(scope)
    found: set[str] = set()
    for where, _ in _api_routes(routes):
        if where.path_regex.match(path):
            found |= set(where.methods or ())
    return sorted(found)


def _api_routes(routes: list[Any]) -> Iterator[tuple[Any, APIRoute]]:
    # FastAPI 0.120+ keeps included routers whole (their routes get the prefix through a
    # route context); before, include_router copied each APIRoute into the app's routes.
    contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    if contexts is None:
        for route in routes:
            if isinstance(route, APIRoute):
                yield route, route
        return
    for context in contexts(routes):
        if isinstance(context.original_route, APIRoute):
            yield context, context.original_route


def _calls(dependant: Any) -> list[Any]:
    found = []
    for sub in dependant.dependencies:
        found.append(sub.call)
        found += _calls(sub)
    return found
