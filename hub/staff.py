"""Staff at HQ: cashiers and managers with their own PINs, pulled by their store's tills.

    >>> member = add_staff(conn, db, name="Ann Lee", role="cashier", store="S001", pin="4821")
    >>> member["staff_id"], member["role"]
    (1, 'cashier')
    >>> disable_staff(conn, db, 1); set_staff_pin(conn, db, 1, "5930")
    >>> list_staff(conn)                            # never the PIN hash

`pos-hub staff add NAME --role cashier|manager [--store S001]`, `staff list`, `staff
disable ID`, `staff set-pin ID` (`register` adds them to the `pos-hub` parser). A PIN is
typed at a hidden prompt or read from stdin with `--pin-stdin`, never from the command
line, and kept only as its argon2id hash (`loyalty.pins`). Every change is a `staff`
change in the pull feed (`hub.store.changes`): a store's terminals get the staff of their
store and of every store (store NULL), with the hash, to check PINs offline; a member of
staff moved to another store or disabled reaches the old store's tills as inactive.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from hub.db import Database, now_text
from hub.exceptions import Invalid, NotFound
from hub.store import changes
from hub.tables import staff
from loyalty.pins import PinError, hash_pin

ROLES = ("cashier", "manager")
_SHOWN = ("staff_id", "name", "role", "store", "active", "created_at", "updated_at")


def _public(row: Any) -> dict[str, Any]:
    m = row._mapping
    return {k: (bool(m[k]) if k == "active" else m[k]) for k in _SHOWN}


def _hash(pin: str) -> str:
    try:
        return hash_pin(pin)
    except PinError as exc:
        raise Invalid(str(exc), code="bad_pin") from exc


def add_staff(conn: Connection, db: Database, *, name: str, role: str, store: str | None,
              pin: str) -> dict[str, Any]:
    """A new cashier or manager (of `store`, or of every store with None)."""
    name = " ".join(name.split())
    if not 1 <= len(name) <= 80 or not name.isprintable():
        raise Invalid("a staff name is 1 to 80 printable characters", code="bad_name")
    if role not in ROLES:
        raise Invalid(f"role must be one of {', '.join(ROLES)}", code="bad_role")
    if store is not None and not (store.isascii() and store.isalnum() and len(store) <= 12):
        raise Invalid("a store id is 1 to 12 letters or digits, e.g. S001", code="bad_store")
    at = now_text()
    staff_id = conn.execute(staff.insert().values(
        name=name, role=role, store=store, pin_hash=_hash(pin), active=True, created_at=at,
        updated_at=at)).inserted_primary_key[0]
    changes.touch(conn, db, "staff", [str(staff_id)])
    return get_staff(conn, staff_id)


def get_staff(conn: Connection, staff_id: int) -> dict[str, Any]:
    row = conn.execute(select(staff).where(staff.c.staff_id == staff_id)).first()
    if row is None:
        raise NotFound(f"no staff member {staff_id}: `pos-hub staff list` shows them",
                       code="unknown_staff")
    return _public(row)


def list_staff(conn: Connection) -> list[dict[str, Any]]:
    """Every member of staff, active or not, without the PIN hash."""
    return [_public(r) for r in conn.execute(select(staff).order_by(staff.c.staff_id))]


def _update(conn: Connection, db: Database, staff_id: int, **values: Any) -> dict[str, Any]:
    get_staff(conn, staff_id)
    conn.execute(staff.update().where(staff.c.staff_id == staff_id)
                 .values(**values, updated_at=now_text()))
    changes.touch(conn, db, "staff", [str(staff_id)])
    return get_staff(conn, staff_id)


def disable_staff(conn: Connection, db: Database, staff_id: int) -> dict[str, Any]:
    """The tills refuse their PIN from their next pull on; their events stay."""
    return _update(conn, db, staff_id, active=False)


def set_staff_pin(conn: Connection, db: Database, staff_id: int, pin: str) -> dict[str, Any]:
    """A new PIN (tills reset the wrong-try count when they pull it); re-enables them."""
    return _update(conn, db, staff_id, pin_hash=_hash(pin), active=True)


def pull_change(conn: Connection, key: str, change_seq: int,
                terminal_store: str | None) -> dict[str, Any] | None:
    """The pull feed's `staff` change for a terminal of `terminal_store` (None: a channel,
    which gets none): with the PIN hash for the staff of its store or of every store, and
    as inactive without it for anyone else (moved away, so that the old store's tills stop
    taking their PIN)."""
    if terminal_store is None:
        return None
    row = conn.execute(select(staff).where(staff.c.staff_id == int(key))).first()
    if row is None:
        return None
    m = row._mapping
    base = {"type": "staff", "change_seq": change_seq, "staff_id": str(m["staff_id"])}
    if m["store"] not in (None, terminal_store):
        return {**base, "active": False}
    return {**base, "name": m["name"], "role": m["role"], "store": m["store"],
            "pin_hash": m["pin_hash"], "active": bool(m["active"])}


# -- `pos-hub staff ...` ----------------------------------------------------------------------
def _pin(args: argparse.Namespace, label: str) -> str:
    if args.pin_stdin:
        line = sys.stdin.readline()
        if not line:
            raise Invalid(f"--pin-stdin: stdin is empty: give {label} on one line")
        return line.strip()
    if not sys.stdin.isatty():
        raise Invalid(f"{label} is needed: type it at the prompt (run in a terminal) or pipe "
                      "it with --pin-stdin")
    pin = getpass.getpass(f"{label[0].upper()}{label[1:]}: ").strip()
    if getpass.getpass("Again, to be sure: ").strip() != pin:
        raise Invalid("the two PINs typed differ: nothing was changed, try again")
    return pin


def _staff_id(text: str) -> int:
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) < 2**62:  # not "١"
        raise Invalid(f"'{text}' is not a staff id: `pos-hub staff list` shows them")
    return int(text)


Emit = Callable[[argparse.Namespace, Any, list[str]], None]


def register(sub: Any, command: Callable[..., argparse.ArgumentParser],
             config: argparse.ArgumentParser, both: list[argparse.ArgumentParser],
             ctx_for: Callable[[Any], Any], emit: Emit,
             table: Callable[[list[dict[str, Any]], list[str]], list[str]]) -> None:
    """Add `pos-hub staff add|list|disable|set-pin` to the parser."""

    def writing(work: Callable[[Connection, Database, argparse.Namespace, str],
                               dict[str, Any]],
                said: Callable[[dict[str, Any]], str],
                pin_label: Callable[[argparse.Namespace], str] | None = None
                ) -> Callable[..., int]:
        def run(args: argparse.Namespace, settings: Any) -> int:
            # asked before the write transaction: a prompt must not hold the database
            pin = _pin(args, pin_label(args)) if pin_label else ""
            ctx = ctx_for(settings)
            try:
                with ctx.db.write() as conn:
                    row = work(conn, ctx.db, args, pin)
            finally:
                ctx.close()
            emit(args, row, [said(row)])
            return 0
        return run

    def run_list(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                rows = list_staff(conn)
        finally:
            ctx.close()
        emit(args, {"staff": rows}, table(rows, ["staff_id", "name", "role", "store",
                                                 "active", "updated_at"]))
        return 0

    pin_stdin = argparse.ArgumentParser(add_help=False)
    pin_stdin.add_argument("--pin-stdin", action="store_true",
                           help="read the PIN from stdin (one line) instead of a prompt")
    p = command(sub, "staff", "cashiers and managers: add, list, disable, set a PIN",
                "Staff are people with their own PINs (4-8 digits, kept as argon2id "
                "hashes). Terminals pull their store's staff: cashiers log in with their "
                "PIN, managers approve voids and refunds with theirs.", [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "add", "add a cashier or a manager (PIN at a prompt or --pin-stdin)",
                "Add a member of staff; their PIN is asked at a hidden prompt (twice) or "
                "read from stdin with --pin-stdin, never from the command line. Prints "
                "their staff id: they type it with their PIN at the till.",
                [*both, pin_stdin])
    q.add_argument("name", help="their name, as the till and the day report show it")
    q.add_argument("--role", required=True, choices=ROLES,
                   help="cashier: sells; manager: also approves voids and refunds, opens "
                   "the manager screen")
    q.add_argument("--store", help="their store, e.g. S001 (default: every store)")
    q.set_defaults(func=writing(
        lambda conn, db, a, pin: add_staff(conn, db, name=a.name, role=a.role,
                                           store=a.store, pin=pin),
        lambda r: f"staff {r['staff_id']}: {r['name']}, {r['role']} of "
                  f"{r['store'] or 'every store'}; tills get them on their next sync",
        lambda a: f"{a.name}'s PIN"))
    q = command(ops, "list", "list staff (never their PINs)",
                "List every member of staff, active or disabled.", both)
    q.set_defaults(func=run_list)
    q = command(ops, "disable", "disable a member of staff (their PIN stops working)",
                "Disable a member of staff: the tills refuse their PIN from their next "
                "sync on. Their events keep their staff id.", both)
    q.add_argument("staff_id", metavar="ID", help="their staff id (`pos-hub staff list`)")
    q.set_defaults(func=writing(
        lambda conn, db, a, _: disable_staff(conn, db, _staff_id(a.staff_id)),
        lambda r: f"staff {r['staff_id']} ({r['name']}) disabled"))
    q = command(ops, "set-pin", "give a member of staff a new PIN (and re-enable them)",
                "Set a new PIN (at a hidden prompt, or --pin-stdin): the tills take it, and "
                "forget the wrong tries, on their next sync.", [*both, pin_stdin])
    q.add_argument("staff_id", metavar="ID", help="their staff id (`pos-hub staff list`)")
    q.set_defaults(func=writing(
        lambda conn, db, a, pin: set_staff_pin(conn, db, _staff_id(a.staff_id), pin),
        lambda r: f"new PIN for staff {r['staff_id']} ({r['name']}); tills get it on their "
                  "next sync",
        lambda a: f"staff {a.staff_id}'s new PIN"))


__all__ = ["ROLES", "add_staff", "disable_staff", "get_staff", "list_staff",
           "pull_change", "register", "set_staff_pin"]
