"""Members at the hub: profile, cards, and the fold of their events (the snapshot
terminals pull).

    >>> snaps = lock_members(conn, db, ["0192..."])    # FOR UPDATE on PostgreSQL
    >>> member_state(conn, "0192...")                   # read only
    >>> find_member_id(conn, card="6012345678901234")

A member row holds `state`, `MemberState.to_dict()` of every event of the member in the
ledger (written in the same transaction as the events: `hub.store.fold`), and beside it
the numbers reports filter on (balance, debt, last_tier, hub_seq, last_hlc, next_expiry).
`rebuild_member` folds the ledger alone; `pos-hub rebuild --check` proves the two agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from hub.db import Database, bulk_insert, bulk_update, now_text
from hub.exceptions import Conflict, Invalid, NotFound, StorageError
from hub.tables import cards, events, members
from loyalty.contact import PhoneError, phone_lookup_forms
from loyalty.errors import LoyaltyError
from loyalty.events import Event
from loyalty.fold import MemberState, fold

CHUNK = 900


@dataclass
class Snapshot:
    member_id: str
    state: MemberState
    hub_seq: int
    """The member's newest event in the ledger; `state` holds every event up to it."""


def lock_members(conn: Connection, db: Database, member_ids: Iterable[str], *,
                 lock: bool = True) -> dict[str, Snapshot]:
    """The members that have a row, with their states; with `lock`, their rows are locked
    until commit, in member_id order so that two batches never deadlock (SQLite's write
    transaction holds the database's lock already)."""
    out: dict[str, Snapshot] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), CHUNK):
        stmt = (select(members.c.member_id, members.c.state, members.c.hub_seq)
                .where(db.among(members.c.member_id, ids[start:start + CHUNK]))
                .order_by(members.c.member_id))
        for r in conn.execute(db.for_update(stmt) if lock else stmt):
            out[r.member_id] = Snapshot(r.member_id, state_from_json(r.state), r.hub_seq)
    return out


def lock_member(conn: Connection, db: Database, member_id: str) -> Snapshot:
    found = lock_members(conn, db, [member_id])
    if member_id not in found:
        raise NotFound(f"no member {member_id} at the hub", code="unknown_member")
    return found[member_id]


def member_state(conn: Connection, member_id: str) -> MemberState | None:
    """The member's current state (every event the hub holds), or None if unknown."""
    text = conn.execute(select(members.c.state)
                        .where(members.c.member_id == member_id)).scalar()
    return state_from_json(text) if text is not None else None


def state_from_json(text: str) -> MemberState:
    try:
        return MemberState.from_dict(orjson.loads(text))
    except (ValueError, TypeError, KeyError, AttributeError, LoyaltyError) as exc:
        raise StorageError(f"a member's stored state does not decode ({_why(exc)}): "
                           "`pos-hub rebuild` rewrites it from the ledger") from exc


def next_expiry(state: MemberState) -> str | None:
    dates = [lot.expires_at for lot in state.lots if lot.remaining > 0]
    return now_text(min(dates)) if dates else None


def snapshot_values(state: MemberState, hub_seq: int, at: str | None = None) -> dict[str, Any]:
    """Every column the fold decides, for a state that holds the events to `hub_seq`."""
    return {
        "state": orjson.dumps(state.to_dict()).decode(),
        "balance": state.balance,
        "debt": state.debt,
        "held": state.held,
        "last_tier": state.last_tier,
        "hub_seq": hub_seq,
        "last_hlc": state.last_hlc,
        "next_expiry": next_expiry(state),
        "updated_at": at or now_text(),
    }


def save_members(conn: Connection, inserts: list[dict[str, Any]],
                 updates: list[dict[str, Any]]) -> None:
    """Write folded states: new rows (`new_member_row`) and updates (`snapshot_values`
    plus member_id)."""
    bulk_insert(conn, members, inserts)
    bulk_update(conn, members, "member_id", updates)


def profile_from_enrol(event: Event) -> dict[str, Any]:
    profile = event.data.get("profile") or {}
    if not isinstance(profile, dict):
        profile = {}

    def text(key: str, limit: int) -> str | None:
        value = profile.get(key)
        # (a NUL, which PostgreSQL text cannot hold, is dropped: the event keeps it)
        return str(value).replace("\x00", "")[:limit] if value not in (None, "") else None

    return {
        "name": text("name", 120), "phone": text("phone", 20), "email": text("email", 254),
        "birthday": text("birthday", 10),
        "consent_email": bool(profile.get("consent_email")),
        "consent_sms": bool(profile.get("consent_sms")),
    }


def new_member_row(enrolment: Event, values: dict[str, Any]) -> dict[str, Any]:
    """A member's first row: the profile its enrolment carries, the folded `values`."""
    return {"member_id": enrolment.member_id, "origin": enrolment.origin,
            "created_at": values["updated_at"], "merged_into": None,
            **profile_from_enrol(enrolment), **values}


def card_owners(conn: Connection, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    rows = conn.execute(select(cards.c.card_number, cards.c.member_id)
                        .where(cards.c.card_number.in_(numbers)))
    return {r.card_number: r.member_id for r in rows}


def member_events(conn: Connection, member_id: str, upto: int | None = None) -> list[Event]:
    """The member's events in hub_seq order; up to hub_seq `upto` when given."""
    stmt = select(events.c.content).where(events.c.member_id == member_id)
    if upto is not None:
        stmt = stmt.where(events.c.hub_seq <= upto)
    rows = conn.execute(stmt.order_by(events.c.hub_seq))
    return [event_from_row(r.content) for r in rows]


def event_from_row(content: str) -> Event:
    """An event from its row's canonical content."""
    try:
        return Event.from_dict(orjson.loads(content))
    except (ValueError, TypeError, KeyError, AttributeError, LoyaltyError) as exc:
        raise StorageError(f"an event of the hub's ledger does not decode ({_why(exc)}): "
                           "it was edited or damaged; restore the database from the "
                           "backup") from exc


def _why(exc: BaseException) -> str:
    if type(exc).__name__ == "JSONDecodeError":
        return "invalid JSON"
    return f"{exc.args[0]!r} is missing" if isinstance(exc, KeyError) else str(exc)[:120]


def rebuild_member(conn: Connection, member_id: str, upto: int | None = None) -> MemberState:
    """The member's state folded from the ledger alone (up to hub_seq `upto`)."""
    evs = member_events(conn, member_id, upto)
    return fold(evs) if evs else MemberState(member_id=member_id)


def find_member_id(
    conn: Connection, *, member_id: str | None = None, card: str | None = None,
    email: str | None = None, phone: str | None = None, region: str = "",
) -> str:
    """The member for one identifier (the first given of member_id, card, email, phone),
    or Invalid (none given), NotFound naming what was tried, or an ambiguity refusal. A
    phone in any usual format is read with `region` ([hub] region) to E.164, and also
    tried as its digits: rows stored before E.164 keep that form.

        >>> find_member_id(conn, phone="06 11 22 33 44", region="FR")
    """
    if member_id:
        tried = ("member_id", member_id)
        stmt = select(members.c.member_id).where(members.c.member_id == member_id)
    elif card:
        tried = ("card", card)
        stmt = select(cards.c.member_id).where(cards.c.card_number == card)
    elif email:
        tried = ("email", email)
        stmt = select(members.c.member_id).where(members.c.email == email)
    elif phone:
        try:
            forms = phone_lookup_forms(phone, region)
        except PhoneError as exc:
            raise Invalid(str(exc), code="invalid_phone") from None
        tried = ("phone", forms[0])
        stmt = select(members.c.member_id).where(members.c.phone.in_(forms))
    else:
        raise Invalid("give member_id, card, email or phone", code="no_identifier")
    found = [r[0] for r in conn.execute(stmt.limit(2))]
    if not found:
        raise NotFound(f"no member matches {tried[0]} {tried[1]}", code="unknown_member",
                       **{tried[0]: tried[1]})
    if len(found) > 1:
        raise Conflict(f"several members match {tried[0]} {tried[1]}: use the card number",
                       code="ambiguous")
    return found[0]


def member_profile(conn: Connection, member_id: str) -> dict[str, Any]:
    row = conn.execute(select(members).where(members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"no member {member_id} at the hub", code="unknown_member")
    card_list = [r[0] for r in conn.execute(
        select(cards.c.card_number).where(cards.c.member_id == member_id)
        .order_by(cards.c.added_at))]
    m = row._mapping
    return {
        "member_id": member_id, "name": m["name"], "phone": m["phone"], "email": m["email"],
        "birthday": m["birthday"], "card_numbers": card_list, "origin": m["origin"],
        "created_at": m["created_at"], "balance": m["balance"], "debt": m["debt"],
        "hub_seq": m["hub_seq"], "state": orjson.loads(m["state"]),
    }


def find_member_id_or_none(conn: Connection, **ident: str | None) -> str | None:
    try:
        return find_member_id(conn, **ident)
    except NotFound:
        return None
