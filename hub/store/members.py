"""Members at the hub: profile, cards, and the cached fold (the snapshot terminals pull).

    >>> rows = lock_members(conn, db, ["0192..."])    # FOR UPDATE on PostgreSQL
    >>> find_member(conn, card="6012345678901234")

The snapshot (`members.state`, `MemberState.to_dict()`) is a cache: `rebuild_member`
folds the member's events again, and tests check the two agree.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, bindparam, select

from hub.db import Database, now_text
from hub.exceptions import NotFound
from hub.tables import cards, events, members
from loyalty.events import Event
from loyalty.fold import MemberState, fold

SNAPSHOT_COLUMNS = (members.c.member_id, members.c.state, members.c.balance, members.c.hub_seq,
                    members.c.last_tier)


@dataclass
class Snapshot:
    member_id: str
    state: MemberState
    balance: int
    hub_seq: int
    exists: bool


# States folded by this process, keyed by member with the row's (hub_seq, updated_at) as
# the version: parsing a snapshot's JSON costs more than folding a batch into it. An entry
# is used only when the row still carries its version (another process, a rolled-back
# transaction or a rebuild changes it), and is taken out while in use, so a state
# mutated by a transaction that then fails never comes back.
_cache: OrderedDict[str, tuple[str, MemberState]] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 50_000


def _version(hub_seq: int, updated_at: str) -> str:
    return f"{hub_seq}|{updated_at}"


def remember(member_id: str, state: MemberState, hub_seq: int, updated_at: str) -> None:
    with _cache_lock:
        _cache[member_id] = (_version(hub_seq, updated_at), state)
        _cache.move_to_end(member_id)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def forget_all() -> None:
    with _cache_lock:
        _cache.clear()


def lock_members(conn: Connection, db: Database, member_ids: list[str], *,
                 lock: bool = True) -> dict[str, Snapshot]:
    """Load (and on PostgreSQL lock, in id order, so two batches never deadlock) members.
    With `lock`, states come from this process's cache when still current."""
    out: dict[str, Snapshot] = {}
    ids = sorted(set(member_ids))
    for start in range(0, len(ids), 900):
        chunk = ids[start:start + 900]
        if not lock:
            stmt = (select(*SNAPSHOT_COLUMNS).where(members.c.member_id.in_(chunk))
                    .order_by(members.c.member_id))
            for r in conn.execute(stmt):
                out[r.member_id] = Snapshot(r.member_id,
                                            MemberState.from_dict(json.loads(r.state)),
                                            r.balance, r.hub_seq, True)
            continue
        stmt = db.for_update(
            select(members.c.member_id, members.c.balance, members.c.hub_seq,
                   members.c.updated_at)
            .where(members.c.member_id.in_(chunk)).order_by(members.c.member_id))
        missing = []
        for r in conn.execute(stmt):
            with _cache_lock:
                hit = _cache.pop(r.member_id, None)
            if hit is not None and hit[0] == _version(r.hub_seq, r.updated_at):
                out[r.member_id] = Snapshot(r.member_id, hit[1], r.balance, r.hub_seq, True)
            else:
                missing.append(r.member_id)
                out[r.member_id] = Snapshot(r.member_id, MemberState(r.member_id), r.balance,
                                            r.hub_seq, True)
        if missing:
            for r in conn.execute(select(members.c.member_id, members.c.state)
                                  .where(members.c.member_id.in_(missing))):
                out[r.member_id].state = MemberState.from_dict(json.loads(r.state))
    return out


def lock_member(conn: Connection, db: Database, member_id: str) -> Snapshot:
    found = lock_members(conn, db, [member_id])
    if member_id not in found:
        raise NotFound(f"no member {member_id} at the hub", code="unknown_member")
    return found[member_id]


def next_expiry(state: MemberState) -> str | None:
    dates = [lot.expires_at for lot in state.lots if lot.remaining > 0]
    return now_text(min(dates)) if dates else None


def snapshot_values(state: MemberState, hub_seq: int) -> dict[str, Any]:
    return {
        "state": json.dumps(state.to_dict(), separators=(",", ":")),
        "balance": state.balance,
        "debt": state.debt,
        "last_tier": state.last_tier,
        "hub_seq": hub_seq,
        "next_expiry": next_expiry(state),
        "updated_at": now_text(),
    }


_UPDATE = (
    members.update()
    .where(members.c.member_id == bindparam("b_member_id"))
    .values(state=bindparam("state"), balance=bindparam("balance"), debt=bindparam("debt"),
            last_tier=bindparam("last_tier"), hub_seq=bindparam("hub_seq"),
            next_expiry=bindparam("next_expiry"),
            updated_at=bindparam("updated_at"))
)


def save_snapshots(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write back folded states: rows of `snapshot_values(...)` plus `b_member_id`."""
    if rows:
        conn.execute(_UPDATE, rows)


def profile_from_enrol(event: Event) -> dict[str, Any]:
    profile = event.data.get("profile") or {}
    if not isinstance(profile, dict):
        profile = {}

    def text(key: str, limit: int) -> str | None:
        value = profile.get(key)
        return str(value)[:limit] if value not in (None, "") else None

    return {
        "name": text("name", 120), "phone": text("phone", 20), "email": text("email", 254),
        "birthday": text("birthday", 10),
        "consent_email": bool(profile.get("consent_email")),
        "consent_sms": bool(profile.get("consent_sms")),
    }


def new_member_row(event: Event, state: MemberState, hub_seq: int) -> dict[str, Any]:
    return {"member_id": event.member_id, "origin": event.origin, "created_at": now_text(),
            **profile_from_enrol(event), **snapshot_values(state, hub_seq)}


def card_owners(conn: Connection, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    rows = conn.execute(select(cards.c.card_number, cards.c.member_id)
                        .where(cards.c.card_number.in_(numbers)))
    return {r.card_number: r.member_id for r in rows}


def member_events(conn: Connection, member_id: str) -> list[Event]:
    rows = conn.execute(select(events.c.content).where(events.c.member_id == member_id))
    return [Event.from_dict(json.loads(r.content)) for r in rows]


def rebuild_member(conn: Connection, member_id: str) -> MemberState:
    """The member's state folded from the ledger alone."""
    evs = member_events(conn, member_id)
    return fold(evs) if evs else MemberState(member_id=member_id)


def find_member_id(
    conn: Connection, *, member_id: str | None = None, card: str | None = None,
    email: str | None = None, phone: str | None = None,
) -> str:
    """The member for one identifier, or NotFound / an ambiguity refusal."""
    if member_id:
        stmt = select(members.c.member_id).where(members.c.member_id == member_id)
    elif card:
        stmt = select(cards.c.member_id).where(cards.c.card_number == card)
    elif email:
        stmt = select(members.c.member_id).where(members.c.email == email)
    elif phone:
        stmt = select(members.c.member_id).where(members.c.phone == phone)
    else:
        raise NotFound("give member_id, card, email or phone", code="no_identifier")
    found = [r[0] for r in conn.execute(stmt.limit(2))]
    if not found:
        raise NotFound("no member matches", code="unknown_member")
    if len(found) > 1:
        from hub.exceptions import Conflict

        raise Conflict("several members match: use the card number", code="ambiguous")
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
        "hub_seq": m["hub_seq"], "state": json.loads(m["state"]),
    }


def find_member_id_or_none(conn: Connection, **ident: str | None) -> str | None:
    try:
        return find_member_id(conn, **ident)
    except NotFound:
        return None
