"""Credentials: random bearer tokens, stored only as SHA-256 hashes.

    >>> token = add_credential(conn, "terminal", "S001-T1")   # shown once to the manager
    >>> authenticate(conn, token).name
    'S001-T1'

A terminal or channel token is bound to one origin; the hub accepts only that origin's
events from it. Admin tokens open the HQ endpoints.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from hub.db import now_text
from hub.exceptions import Invalid
from hub.tables import credentials, origins

KINDS = ("terminal", "channel", "admin")
CHANNELS = ("online",)
TERMINAL_ID = re.compile(r"^[A-Za-z0-9]{1,12}-[A-Za-z0-9]{1,8}$")
ADMIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True)
class Credential:
    id: int
    kind: str
    name: str

    @property
    def store(self) -> str:
        return store_of(self.name)


def store_of(origin: str) -> str:
    """S001-T1 -> S001; online -> online."""
    return origin.split("-", 1)[0] if TERMINAL_ID.match(origin) else origin


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_name(kind: str, name: str) -> None:
    if kind == "terminal" and not TERMINAL_ID.fullmatch(name):  # match: "S001-T1\n"
        raise Invalid(f"'{name}' is not a terminal id: use STORE-TERMINAL, e.g. S001-T1")
    if kind == "channel" and name not in CHANNELS:
        raise Invalid(f"'{name}' is not a channel; the channels are: {', '.join(CHANNELS)}")
    if kind == "admin" and not ADMIN_NAME.fullmatch(name):
        raise Invalid(f"'{name}' is not a valid admin name (letters, digits, . _ @ -)")


def add_credential(conn: Connection, kind: str, name: str) -> str:
    """Create a credential and return its token (the only time it exists in clear)."""
    if kind not in KINDS:
        raise Invalid(f"unknown credential kind {kind!r}")
    check_name(kind, name)
    token = f"{kind[0]}_{secrets.token_urlsafe(32)}"
    now = now_text()
    conn.execute(credentials.insert().values(
        token_hash=hash_token(token), kind=kind, name=name, created_at=now))
    if kind != "admin" and conn.execute(
        select(origins.c.origin).where(origins.c.origin == name)
    ).first() is None:
        conn.execute(origins.insert().values(
            origin=name, kind=kind, store=store_of(name), created_at=now))
    return token


def revoke(conn: Connection, kind: str, name: str) -> int:
    """Revoke every live credential of `name`; returns how many."""
    result = conn.execute(
        update(credentials)
        .where(credentials.c.kind == kind, credentials.c.name == name,
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
    """Credentials (never tokens), oldest first; only those of `kind` when given."""
    stmt = select(credentials.c.id, credentials.c.kind, credentials.c.name,
                  credentials.c.created_at, credentials.c.revoked_at).order_by(credentials.c.id)
    if kind is not None:
        stmt = stmt.where(credentials.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(stmt)]
