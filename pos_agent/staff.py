"""Staff at the terminal: cashiers and managers pulled from the hub, checked by PIN.

    >>> ann = log_in(store, "7", "4821")        # the till now records as staff 7
    >>> ann.name, ann.role, store.staff_id
    ('Ann Lee', 'cashier', '7')
    >>> boss = check_staff_pin(store, "2", "5930", role="manager")   # approves a void
    >>> void_receipt(store, "S001-T1-000042", approved_by=boss)

Staff are set up at HQ (`pos-hub staff add`) and arrive with the pull (`staff` changes,
`apply_staff_change`); nothing about them is in pos.toml. Every event the terminal records
carries `data.staff_id` of whoever is logged in (`Store.staff_id`, read by
`pos_agent.ledger.record`); voids and refunds also carry `data.approved_by`, the manager
who typed their own PIN.

A PIN is refused for `loyalty.pins.locked_until` after 5 wrong tries in a row, counted on
this terminal (staff PIN tries are not events: they belong to no member); a new PIN from
HQ starts the count again.

**A terminal without any staff** (a fresh dev or test terminal, the demo before its first
pull, a till whose store has no staff at HQ yet) runs open, as before staff existed: no
login, events carry no staff id, voids and refunds need no approval, and the app says so
on its status line. From the first active member of staff pulled, login and approvals are
required.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loyalty.events import format_instant, parse_instant
from loyalty.pins import MAX_FAILURES, PinError, lock_wait, locked_until, verify_pin
from pos_agent.db import joined
from pos_agent.exceptions import ApprovalRequired, StoreError

if TYPE_CHECKING:
    from pos_agent.store import Store

ROLES = ("cashier", "manager")


@dataclass(frozen=True)
class StaffMember:
    staff_id: str
    name: str
    role: str

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    def __str__(self) -> str:
        return f"{self.name} (staff {self.staff_id})"


def has_staff(conn: sqlite3.Connection) -> bool:
    """Does this terminal have any active staff? Without, it runs open (module docstring)."""
    return conn.execute("SELECT 1 FROM staff WHERE active = 1 LIMIT 1").fetchone() is not None


def active_staff(conn: sqlite3.Connection) -> list[StaffMember]:
    return [StaffMember(*r) for r in conn.execute(
        "SELECT staff_id, name, role FROM staff WHERE active = 1 ORDER BY name, staff_id")]


def check_staff_pin(store: Store, staff_id: str, pin: str, *, role: str | None = None,
                    at: datetime | None = None) -> StaffMember:
    """The member of staff if `pin` is theirs (and they have `role`, e.g. "manager"),
    else PinError or StoreError with what to do. A wrong try is counted before it is
    refused; a right one starts the count again."""
    at = at or datetime.now(UTC)
    staff_id = staff_id.strip()
    row = store.conn.execute(
        "SELECT name, role, pin_hash, pin_failures, pin_failed_at FROM staff "
        "WHERE staff_id = ? AND active = 1", (staff_id,)).fetchone()
    if row is None:
        raise StoreError(f"no active staff member {staff_id!r} on this terminal: check the "
                         "number, or sync to get HQ's staff list")
    name, staff_role, pin_hash, failures, failed_at = row
    member = StaffMember(staff_id, name, staff_role)
    wait = lock_wait(locked_until(failures, parse_instant(failed_at) if failed_at else None),
                     at)
    if wait:
        raise PinError(f"{member}'s PIN is locked after {failures} wrong tries: try again in "
                       f"{wait}, or ask HQ for a new PIN")
    if not verify_pin(pin_hash, pin.strip()):  # ~30 ms, outside any write transaction
        with joined(store.conn) as conn:
            conn.execute("UPDATE staff SET pin_failures = pin_failures + 1, pin_failed_at = ? "
                         "WHERE staff_id = ?", (format_instant(at), staff_id))
        failures += 1
        wait = lock_wait(locked_until(failures, at), at)
        if wait:
            raise PinError(f"wrong PIN for {member}: it is now locked for {wait}")
        raise PinError(f"wrong PIN for {member}: {MAX_FAILURES - failures} more wrong tries "
                       "lock it")
    if failures:
        with joined(store.conn) as conn:
            conn.execute("UPDATE staff SET pin_failures = 0, pin_failed_at = NULL "
                         "WHERE staff_id = ?", (staff_id,))
    if role is not None and staff_role != role:
        raise StoreError(f"{member} is a {staff_role}: a {role} must enter their own PIN")
    return member


def log_in(store: Store, staff_id: str, pin: str, *, at: datetime | None = None) -> StaffMember:
    """Check the PIN and make them the one this store handle records as."""
    member = check_staff_pin(store, staff_id, pin, at=at)
    store.staff_id = member.staff_id
    return member


def log_out(store: Store) -> None:
    store.staff_id = None


def require_approval(conn: sqlite3.Connection, approved_by: StaffMember | None,
                     what: str) -> str | None:
    """The approving manager's id for a void or refund, or None on a terminal without
    staff; StoreError when staff exist and no manager approved."""
    if approved_by is None:
        if has_staff(conn):
            raise ApprovalRequired(f"{what} needs a manager's approval: a manager enters "
                                   "their own staff number and PIN")
        return None
    if not approved_by.is_manager:
        raise ApprovalRequired(f"{approved_by} is a {approved_by.role}: {what} needs a "
                               "manager's approval")
    return approved_by.staff_id


def apply_staff_change(conn: sqlite3.Connection, change: dict, now_text: str) -> None:
    """A `staff` change of the pull (hub.staff.pull_change): insert or update the member
    of staff; a new PIN hash starts the wrong-try count again; inactive without a hash
    (disabled, or moved to another store) keeps the row but refuses the PIN."""
    staff_id = str(change["staff_id"])
    if not change.get("active") or not change.get("pin_hash"):
        conn.execute("UPDATE staff SET active = 0, change_seq = ?, updated_at = ? "
                     "WHERE staff_id = ?", (change.get("change_seq"), now_text, staff_id))
        return
    role = change["role"]
    if role not in ROLES:
        raise ValueError(f"unknown staff role {role!r}")
    conn.execute(
        "INSERT INTO staff (staff_id, name, role, store, pin_hash, active, change_seq, "
        "updated_at) VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (staff_id) DO UPDATE SET "
        "name = excluded.name, role = excluded.role, store = excluded.store, active = 1, "
        "pin_failures = CASE WHEN staff.pin_hash = excluded.pin_hash "
        "THEN staff.pin_failures ELSE 0 END, "
        "pin_failed_at = CASE WHEN staff.pin_hash = excluded.pin_hash "
        "THEN staff.pin_failed_at ELSE NULL END, "
        "pin_hash = excluded.pin_hash, change_seq = excluded.change_seq, "
        "updated_at = excluded.updated_at",
        (staff_id, str(change["name"]), role, change.get("store"), str(change["pin_hash"]),
         change.get("change_seq"), now_text),
    )


__all__ = ["ROLES", "StaffMember", "active_staff", "apply_staff_change", "check_staff_pin",
           "has_staff", "log_in", "log_out", "require_approval"]
