"""HQ's users: the people who sign in to the back office pages under /hq, with a role.

    >>> add_user(conn, "ann", role="admin", store=None, password="correct horse battery")
    >>> add_user(conn, "bob", role="store_manager", store="S001", password="...")
    >>> check_password(ctx, "ann", "correct horse battery", now, unknown)   # an HqLogin
    >>> list_users(conn); disable_user(conn, "bob")                          # never a hash

Roles: `admin` may do everything; `finance` reads every page and changes nothing (every
POST is 403); `store_manager` sees only their own store (its dashboard rows, terminals,
flags and the members enrolled there) and may act there (resolve its flags, add or revoke
its terminals, adjust its members).

`pos-hub hq-user add NAME --role ROLE [--store S001] [--password-stdin]`, `hq-user list
[--json]`, `hq-user disable NAME` (`register` adds them to the `pos-hub` parser). The
password is typed at a hidden prompt or read from stdin, never from the command line, and
kept only as its argon2id hash (argon2-cffi, the parameters of `loyalty.pins`).

Wrong passwords: 5 wrong in a row lock the user for 1 minute, then doubling up to a day
(`loyalty.pins.locked_until`), counted in the user's row so that every hub process counts
together; a username nobody has is counted the same way in this process's memory
(`hub.web.sessions.UnknownTries`) and checked against a dummy hash, so it answers exactly
like a known one. The per-address limit is the member pages' (`AuthLimiter`).
"""

from __future__ import annotations

import argparse
import getpass
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import Conflict, Invalid, NotFound
from hub.tables import hq_users
from hub.web.sessions import UnknownTries
from loyalty.events import parse_instant
from loyalty.pins import lock_wait, locked_until

if TYPE_CHECKING:
    from argon2 import PasswordHasher

ROLES = ("admin", "finance", "store_manager")
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")
STORE = re.compile(r"^[A-Za-z0-9]{1,12}$")
PASSWORD_MIN, PASSWORD_MAX = 10, 200
WRONG = "The username or password is wrong."
_SHOWN = ("username", "role", "store", "active", "created_at")


@dataclass(frozen=True)
class HqUser:
    username: str
    role: str
    store: str | None

    @property
    def can_write(self) -> bool:
        return self.role != "finance"

    def sees_store(self, store: str | None) -> bool:
        """Whether this user may see (and, but finance, act on) rows of `store`."""
        return self.role != "store_manager" or (store is not None and store == self.store)


@cache
def _hasher() -> PasswordHasher:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32,
                          salt_len=16, type=Type.ID)


def hash_password(password: str) -> str:
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX or not password.isprintable():
        raise Invalid(f"a password is {PASSWORD_MIN} to {PASSWORD_MAX} printable characters",
                      code="bad_password")
    return _hasher().hash(password)


def verify_password(stored: str, password: str) -> bool:
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


@cache
def _dummy_hash() -> str:
    return _hasher().hash("not anybody's password")


def _public(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {k: (bool(m[k]) if k == "active" else m[k]) for k in _SHOWN}


def add_user(conn: Connection, username: str, *, role: str, store: str | None,
             password: str) -> dict[str, Any]:
    if not USERNAME.fullmatch(username):
        raise Invalid(f"'{username}' is not a username: letters, digits, . _ @ -, at most 64",
                      code="bad_username")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", code="bad_role")
    if role == "store_manager":
        if not store or not STORE.fullmatch(store):
            raise Invalid("a store manager needs --store, 1 to 12 letters or digits, e.g. "
                          "S001", code="bad_store")
    elif store is not None:
        raise Invalid(f"only a store manager has a store (an {role} sees every store)",
                      code="bad_store")
    if conn.execute(select(hq_users.c.username)
                    .where(hq_users.c.username == username)).first() is not None:
        raise Conflict(f"there is already an HQ user {username}", code="user_exists")
    conn.execute(hq_users.insert().values(
        username=username, role=role, store=store, password_hash=hash_password(password),
        active=True, failures=0, created_at=now_text()))
    return get_user(conn, username)


def get_user(conn: Connection, username: str) -> dict[str, Any]:
    row = conn.execute(select(hq_users).where(hq_users.c.username == username)).first()
    if row is None:
        raise NotFound(f"no HQ user {username}: `pos-hub hq-user list` shows them",
                       code="unknown_user")
    return _public(row)


def list_users(conn: Connection) -> list[dict[str, Any]]:
    return [_public(r) for r in conn.execute(select(hq_users).order_by(hq_users.c.username))]


def disable_user(conn: Connection, username: str) -> dict[str, Any]:
    """Their sessions stop working on their next request (`live_user`)."""
    get_user(conn, username)
    conn.execute(update(hq_users).where(hq_users.c.username == username).values(active=False))
    return get_user(conn, username)


def live_user(conn: Connection, username: str | None) -> HqUser | None:
    """The active user of a session, or None (unknown, disabled)."""
    if not username:
        return None
    row = conn.execute(select(hq_users.c.username, hq_users.c.role, hq_users.c.store)
                       .where(hq_users.c.username == username,
                              hq_users.c.active.is_(True))).first()
    return HqUser(row.username, row.role, row.store) if row else None


# -- sign-in --------------------------------------------------------------------------------
@dataclass(frozen=True)
class HqLogin:
    user: HqUser | None = None
    refusal: str | None = None
    locked: bool = False
    guess: bool = False


def _locked(wait: str) -> HqLogin:
    return HqLogin(refusal=f"Too many wrong passwords: try again in {wait}.", locked=True)


def check_password(ctx: HubContext, username: str, password: str, now: datetime,
                   unknown: UnknownTries) -> HqLogin:
    """Sign an HQ user in (module docstring); the refusal never says whether the user
    exists."""
    username = username.strip()
    if not password or len(password) > PASSWORD_MAX:
        return HqLogin(refusal=WRONG)
    with ctx.db.read() as conn:
        row = conn.execute(select(hq_users).where(hq_users.c.username == username)).first() \
            if USERNAME.fullmatch(username) else None
    if row is None or not row.active:
        wait = unknown.wait(username, now)
        if wait:
            return _locked(wait)
        verify_password(_dummy_hash(), password)  # as slow as a real check
        unknown.failed(username, now)
        return HqLogin(refusal=WRONG, guess=True)
    failed_at = parse_instant(row.failed_at) if row.failed_at else None
    wait = lock_wait(locked_until(row.failures, failed_at), now)
    if wait:
        return _locked(wait)
    right = verify_password(row.password_hash, password)
    with ctx.db.write() as conn:
        if right:
            conn.execute(update(hq_users).where(hq_users.c.username == username)
                         .values(failures=0, failed_at=None))
            return HqLogin(user=HqUser(row.username, row.role, row.store))
        conn.execute(update(hq_users).where(hq_users.c.username == username)
                     .values(failures=hq_users.c.failures + 1, failed_at=now_text(now)))
    return HqLogin(refusal=WRONG, guess=True)


# -- `pos-hub hq-user ...` --------------------------------------------------------------------
def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise Invalid("--password-stdin: stdin is empty: give the password on one line")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise Invalid("a password is needed: type it at the prompt (run in a terminal) or "
                      "pipe it with --password-stdin")
    password = getpass.getpass(f"{args.name}'s password: ")
    if getpass.getpass("Again, to be sure: ") != password:
        raise Invalid("the two passwords typed differ: nothing was changed, try again")
    return password


Emit = Callable[[argparse.Namespace, Any, list[str]], None]


def register(sub: Any, command: Callable[..., argparse.ArgumentParser],
             config: argparse.ArgumentParser, both: list[argparse.ArgumentParser],
             ctx_for: Callable[[Any], Any], emit: Emit,
             table: Callable[[list[dict[str, Any]], list[str]], list[str]]) -> None:
    """Add `pos-hub hq-user add|list|disable` to the parser."""

    def run_add(args: argparse.Namespace, settings: Any) -> int:
        password = _password(args)  # before the write transaction
        ctx = ctx_for(settings)
        try:
            with ctx.db.write() as conn:
                row = add_user(conn, args.name, role=args.role, store=args.store,
                               password=password)
        finally:
            ctx.close()
        emit(args, row, [f"HQ user {row['username']}: {row['role']}"
                         + (f" of store {row['store']}" if row["store"] else "")
                         + "; they sign in on /hq"])
        return 0

    def run_list(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                rows = list_users(conn)
        finally:
            ctx.close()
        emit(args, {"users": rows}, table(rows, list(_SHOWN)))
        return 0

    def run_disable(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.write() as conn:
                row = disable_user(conn, args.name)
        finally:
            ctx.close()
        emit(args, row, [f"HQ user {row['username']} disabled: their sessions end now"])
        return 0

    p = command(sub, "hq-user", "people who sign in to HQ's back office pages (/hq)",
                "HQ users sign in to /hq with a username and password (kept as argon2id "
                "hashes). Roles: admin (everything), finance (reads everything, changes "
                "nothing), store_manager (their --store only).", [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "add", "add an HQ user (password at a prompt or --password-stdin)",
                "Add an HQ user; the password (10 to 200 characters) is asked at a hidden "
                "prompt (twice) or read from stdin with --password-stdin, never from the "
                "command line.", both)
    q.add_argument("name", help="their username, e.g. ann or ann@example.org")
    q.add_argument("--role", required=True, choices=ROLES,
                   help="admin: everything; finance: read-only; store_manager: one store")
    q.add_argument("--store", help="store_manager: their store, e.g. S001")
    q.add_argument("--password-stdin", action="store_true",
                   help="read the password from stdin (one line) instead of a prompt")
    q.set_defaults(func=run_add)
    q = command(ops, "list", "list HQ users (never their passwords)",
                "List every HQ user, active or disabled.", both)
    q.set_defaults(func=run_list)
    q = command(ops, "disable", "disable an HQ user (their sessions end)",
                "Disable an HQ user: they can no longer sign in, and their open sessions "
                "are refused from their next request on.", both)
    q.add_argument("name", help="their username (`pos-hub hq-user list`)")
    q.set_defaults(func=run_disable)


__all__ = ["ROLES", "HqLogin", "HqUser", "add_user", "check_password", "disable_user",
           "get_user", "list_users", "live_user", "register"]
