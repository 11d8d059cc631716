"""Authentication: `Authorization: Bearer <token>` checked against hashed credentials.

    >>> @router.get("/x")
    ... def x(cred: Credential = Depends(terminal)): ...
"""

from __future__ import annotations

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from hub.api.guard import STATE_KEY
from hub.context import HubContext
from hub.exceptions import Forbidden, Unauthorized
from hub.store.credentials import Credential, authenticate

bearer = HTTPBearer(auto_error=False, description="A token from `pos-hub ... add`")


def context(request: Request) -> HubContext:
    return request.app.state.ctx


def credential(
    request: Request, auth: HTTPAuthorizationCredentials | None = Depends(bearer)
) -> Credential:
    # Checked (and counted, and limited) by hub.api.guard before the body was read.
    checked = request.scope.get("state", {}).get(STATE_KEY)
    if checked is not None:
        return checked
    if auth is None or auth.scheme.lower() != "bearer":
        raise Unauthorized("send Authorization: Bearer <token> (from `pos-hub ... add`)")
    ctx = context(request)
    with ctx.db.read() as conn:
        cred = authenticate(conn, auth.credentials)
    if cred is None:
        raise Unauthorized("this token is wrong or was revoked: ask HQ for a new one",
                           code="bad_token")
    return cred


def terminal(cred: Credential = Depends(credential)) -> Credential:
    if cred.kind != "terminal":
        raise Forbidden("this needs a terminal's token", code="wrong_credential")
    return cred


def terminal_or_channel(cred: Credential = Depends(credential)) -> Credential:
    if cred.kind not in ("terminal", "channel"):
        raise Forbidden("this needs a terminal's or channel's token", code="wrong_credential")
    return cred


def online(cred: Credential = Depends(credential)) -> Credential:
    # any online channel HQ runs (`pos-hub channel add`): its name is its origin
    if cred.kind != "channel":
        raise Forbidden("this needs an online channel's token", code="wrong_credential")
    return cred


def admin(cred: Credential = Depends(credential)) -> Credential:
    if cred.kind != "admin":
        raise Forbidden("this needs an admin token (`pos-hub admin add NAME`)",
                        code="wrong_credential")
    return cred


ROLE_CHECKS = (terminal, terminal_or_channel, online, admin)
"""The role checks hub.api.guard runs before the body, for the routes that name them."""
