"""Credentials: random bearer tokens, stored only as SHA-256 hashes.

    >>> token = add_credential(conn, "terminal", "S001-T1")   # shown once to the manager
    >>> authenticate(conn, token).name
    'S001-T1'

A terminal or channel token is bound to one origin; the hub accepts only that origin's
events from it. Admin tokens open the HQ endpoints.

Channels (issue 18) are the online sales channels HQ runs: the web shop, an app, a
marketplace. Each has a name (`webshop`), its own tokens and its own origin, kept in the
`channels` table: `online` for the channel named `online` (the one channel of hubs before
migration 0013, whose tokens keep working), `online-NAME` by default for the
others. Every channel origin is `online` or starts with `online-`, so it is never a
terminal id (a terminal of a store named `online` is refused), `store_of` says `online`
for all of them, and `hub.store.ingest.role_of` knows a channel's events from a till's
without asking the database. A channel credential's `name` column holds its origin, as a
terminal's does.

    >>> add_credential(conn, "channel", "webshop")            # origin online-webshop
    >>> add_credential(conn, "channel", "app", origin="online-app2")
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from hub.db import now_text
from hub.exceptions import Conflict, Invalid
from hub.tables import channels, credentials, origins

KINDS = ("terminal", "channel", "admin")
ONLINE = "online"
"""The origin (and name) of the first online channel; the store of every channel."""
TERMINAL_ID = re.compile(r"^[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,8}$")
ADMIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
CHANNEL_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,23}$")
CHANNEL_ORIGIN = re.compile(r"^online(-[a-z0-9][a-z0-9_-]{0,23})?$")


@dataclass(frozen=True)
class Credential:
    id: int
    kind: str
    name: str

    @property
    def store(self) -> str:
        return store_of(self.name)


def store_of(origin: str) -> str:
    """S001-T1 -> S001; online, online-webshop (every channel) -> online."""
    if is_channel_origin(origin):
        return ONLINE
    return origin.split("-", 1)[0] if TERMINAL_ID.match(origin) else origin


def is_channel_origin(origin: str) -> bool:
    """Whether events of `origin` are a channel's (online, online-webshop...)."""
    return CHANNEL_ORIGIN.fullmatch(origin) is not None


def default_origin(channel: str) -> str:
    """online -> online; webshop -> online-webshop."""
    return ONLINE if channel == ONLINE else f"{ONLINE}-{channel}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(kind: str, name: str) -> None:
    if kind == "terminal" and not TERMINAL_ID.fullmatch(name):  # match: "S001-T1\n"
        raise Invalid(f"'{name}' is not a terminal id: use STORE-TERMINAL, e.g. S001-T1")
    if kind == "terminal" and name.split("-", 1)[0].casefold() == ONLINE:
        raise Invalid(f"'{name}' is not a terminal id: the store '{ONLINE}' is the online "
                      "channels' (`pos-hub channel add`)")
    if kind == "channel" and not CHANNEL_NAME.fullmatch(name):
        raise Invalid(f"'{name}' is not a channel name: lower-case letters, digits, _ and "
                      "-, at most 24, e.g. webshop")
    if kind == "admin" and not ADMIN_NAME.fullmatch(name):
        raise Invalid(f"'{name}' is not a valid admin name (letters, digits, . _ @ -)")


def add_credential(conn: Connection, kind: str, name: str, *,
                   origin: str | None = None) -> str:
    """Create a credential and return its token (the only time it exists in clear). For a
    channel, `name` is the channel's and `origin` the origin of its events (default: the
    channel's own, or online-NAME for a new one)."""
    if kind not in KINDS:
        raise Invalid(f"unknown credential kind {kind!r}")
    check_name(kind, name)
    if origin is not None and kind != "channel":
        raise Invalid(f"a {kind}'s origin is its name")
    bound = _channel(conn, name, origin) if kind == "channel" else name
    token = f"{kind[0]}_{secrets.token_urlsafe(32)}"
    now = now_text()
    conn.execute(credentials.insert().values(
        token_hash=hash_token(token), kind=kind, name=bound, created_at=now))
    if kind != "admin":
        known = conn.execute(select(origins.c.kind)
                             .where(origins.c.origin == bound)).scalar()
        if known is None:
            conn.execute(origins.insert().values(
                origin=bound, kind=kind, store=store_of(bound), created_at=now))
        elif known != kind:
            raise Conflict(f"{bound} is a {known}'s origin, not a {kind}'s",
                           code="origin_taken", origin=bound)
    return token


def _channel(conn: Connection, name: str, origin: str | None) -> str:
    """The origin of channel `name`, made (with `origin`, or the default) if new."""
    known = channel_origin(conn, name)
    if known is not None:
        if origin is not None and origin != known:
            raise Conflict(f"channel {name} records its events as origin {known}, and an "
                           "origin never changes: leave out --origin, or name a new channel",
                           code="channel_exists", origin=known)
        return known
    origin = origin or default_origin(name)
    if not is_channel_origin(origin):
        raise Invalid(f"'{origin}' is not a channel origin: '{ONLINE}', or '{ONLINE}-' and "
                      "lower-case letters, digits, _ and -, at most 24, e.g. online-webshop")
    taken = conn.execute(select(channels.c.name).where(channels.c.origin == origin)).scalar()
    if taken is not None:
        raise Conflict(f"origin {origin} is channel {taken}'s: each channel has its own",
                       code="origin_taken", origin=origin)
    conn.execute(channels.insert().values(name=name, origin=origin, created_at=now_text()))
    return origin


def channel_origin(conn: Connection, name: str) -> str | None:
    """The origin of the channel named `name`; None if there is no such channel."""
    return conn.execute(select(channels.c.origin).where(channels.c.name == name)).scalar()


def credential_origin(conn: Connection, kind: str, name: str) -> str | None:
    """The origin a credential of `kind` and `name` is bound to (None: an admin, or no
    such channel)."""
    if kind == "channel":
        return channel_origin(conn, name)
    return None if kind == "admin" else name


def revoke(conn: Connection, kind: str, name: str) -> int:
    """Revoke every live credential of `name` (a channel's by the channel's name);
    returns how many."""
    bound = credential_origin(conn, kind, name) if kind == "channel" else name
    if bound is None:
        return 0
    result = conn.execute(
        update(credentials)
        .where(credentials.c.kind == kind, credentials.c.name == bound,
               credentials.c.revoked_at.is_(None))
        .values(revoked_at=now_text())
    )
    return result.rowcount


def authenticate(conn: Connection, token: str) -> Credential | None:
    if not token or len(token) > 200:
        return None
    row = conn.execute(
        select(credentials.c.id, credentials.c.kind, credentials.c.name).where(
            credentials.c.token_hash == hash_token(token), credentials.c.revoked_at.is_(None)
        )
    ).first()
    return Credential(row.id, row.kind, row.name) if row else None


def list_credentials(conn: Connection, kind: str | None = None) -> list[dict]:
    """Credentials (never tokens), oldest first; only those of `kind` when given. Each
    names the origin it is bound to (a channel's `name` is the channel's; admins: None)."""
    stmt = select(credentials.c.id, credentials.c.kind, credentials.c.name,
                  credentials.c.created_at, credentials.c.revoked_at).order_by(credentials.c.id)
    if kind is not None:
        stmt = stmt.where(credentials.c.kind == kind)
    names = {r.origin: r.name for r in conn.execute(select(channels.c.origin,
                                                           channels.c.name))}
    out = []
    for r in conn.execute(stmt):
        row = dict(r._mapping)
        row["origin"] = None if r.kind == "admin" else r.name
        if r.kind == "channel":
            row["name"] = names.get(r.name, r.name)
        out.append(row)
    return out
