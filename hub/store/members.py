"""Members at the hub: profile, cards, the hot columns and the cached fold (the snapshot
terminals pull).

    >>> rows = lock_rows(conn, db, ["0192..."])        # FOR UPDATE on PostgreSQL
    >>> snaps = lock_members(conn, db, ["0192..."])    # ... and their caught-up states
    >>> find_member(conn, card="6012345678901234")

Two speeds (docs/hub.md, "Snapshots behind the ledger"): `balance`, `debt`, `last_tier`,
`hub_seq` and `last_hlc` are exact after every batch; the JSON snapshot (`state`,
`MemberState.to_dict()`, with the member's whole history) is the fold of the member's
events up to `state_seq` only. A member is *stale* while `state_seq < hub_seq`; whoever
needs the state (pull, authorisation, the online channel, jobs, admin) catches it up
under the member's lock with `lock_members`, which folds the events after `state_seq`
(or refolds when one sorts before what the snapshot holds) and writes it back. So every
reader still sees exactly fold(all events), and a member pushed in many batches has its
snapshot serialised once per read instead of once per batch. `rebuild_member` folds the
ledger alone, and tests check the two agree.
"""

from __future__ import annotations

import threading
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, and_, or_, select

from hub.db import Database, bulk_update, now_text
from hub.exceptions import Conflict, Invalid, NotFound
from hub.tables import cards, events, members
from loyalty.events import Event
from loyalty.fold import MemberState, apply, fold

HOT_COLUMNS = (members.c.member_id, members.c.balance, members.c.debt, members.c.last_tier,
               members.c.hub_seq, members.c.last_hlc, members.c.state_seq, members.c.state_at,
               members.c.updated_at)
CHUNK = 900


@dataclass
class Snapshot:
    member_id: str
    state: MemberState
    balance: int
    hub_seq: int
    exists: bool


# States folded by this process, keyed by member with the snapshot's (state_seq, state_at)
# as the version: parsing a snapshot's JSON costs more than folding a batch into it. An
# entry is used only when the row still carries its version (another process, a
# rolled-back transaction or a rebuild changes it), and is taken out while in use, so a
# state mutated by a transaction that then fails never comes back.
#
# A batch that leaves the snapshot behind (`save_hot`) still folds its events into the
# cached state (`advance_cached`): the next reader then only writes the state out, instead
# of reading, parsing and folding those events again (most of a pull after an outage). Such
# an entry also names the row's hub_seq and updated_at as that batch wrote them; it is used
# only while the row still carries both, because a rolled-back batch leaves the row as it
# was and the entry holding events the ledger does not have must then never be used.
@dataclass
class _Cached:
    version: tuple[int, str]
    """The snapshot's (state_seq, state_at) the state was read or written at."""
    state: MemberState
    through: int
    """The hub_seq the state holds all events up to."""
    stamp: str | None = None
    """The row's updated_at when `through` passed the snapshot's state_seq; None when the
    state is the snapshot itself."""


_cache: OrderedDict[str, _Cached] = OrderedDict()
_cache_lock = threading.Lock()
CACHE_SIZE = 50_000


def _version(state_seq: int, state_at: str) -> tuple[int, str]:
    return (state_seq, state_at)


def forget(member_ids: Iterable[str]) -> None:
    """Take states out of the cache before changing them in place."""
    with _cache_lock:
        for member_id in member_ids:
            _cache.pop(member_id, None)


def remember(member_id: str, state: MemberState, state_seq: int, state_at: str) -> None:
    """Cache a state that equals the snapshot just written (or read) at this version."""
    _put(member_id, _Cached(_version(state_seq, state_at), state, state_seq))


def _put(member_id: str, entry: _Cached) -> None:
    with _cache_lock:
        _cache[member_id] = entry
        _cache.move_to_end(member_id)
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)


def _take(member_id: str, row: Any) -> _Cached | None:
    """The cached entry of a locked member if it is still current for its row: the same
    snapshot version and, for an advanced entry, the same hub_seq and updated_at."""
    with _cache_lock:
        hit = _cache.pop(member_id, None)
    if hit is None or hit.version != _version(row.state_seq, row.state_at):
        return None
    if hit.stamp is not None and (hit.through != row.hub_seq or hit.stamp != row.updated_at):
        return None
    return hit


def advance_cached(row: Any, events: list[Event], hub_seq: int, stamp: str) -> None:
    """Fold a batch of a member's new events (sorted, all after what it holds) into the
    cached state, for a batch that writes only the hot columns (hub_seq = `hub_seq`,
    updated_at = `stamp`). `row`: the member's locked row before the batch, None for a
    member the batch enrols. Without a usable entry nothing is cached: the next reader
    folds from the snapshot, as before."""
    member_id = events[0].member_id
    if row is None:
        state = MemberState(member_id=member_id)
        version = _version(0, "")
    else:
        hit = _take(member_id, row)
        # The entry must hold every event up to the row's hub_seq, no more, no fewer.
        if hit is None or hit.through != row.hub_seq:
            return
        state, version = hit.state, hit.version
        if state.event_ids and events[0].hlc <= state.last_hlc:
            return  # sorts before what the state holds: the reader refolds
    for e in events:
        apply(state, e)
    _put(member_id, _Cached(version, state, hub_seq, stamp))


def forget_all() -> None:
    with _cache_lock:
        _cache.clear()


def lock_rows(conn: Connection, db: Database, member_ids: Iterable[str], *,
              lock: bool = True) -> dict[str, Any]:
    """The hot columns of these members (locked on PostgreSQL in id order, so two batches
    never deadlock; SQLite write transactions hold the database's write lock already)."""
    out: dict[str, Any] = {}
    ids = sorted(set(member_ids))
    if lock:
        db.lock_ledger(conn)  # whoever locks member rows holds it (hub.store.projector)
    for start in range(0, len(ids), CHUNK):
        stmt = (select(*HOT_COLUMNS).where(db.among(members.c.member_id, ids[start:start + CHUNK]))
                .order_by(members.c.member_id))
        # .all(): iterating a result fetches row by row (a tenth of an ingest's time)
        for r in conn.execute(db.for_update(stmt) if lock else stmt).all():
            out[r.member_id] = r
    return out


def lock_members(conn: Connection, db: Database, member_ids: list[str], *,
                 lock: bool = True) -> dict[str, Snapshot]:
    """Load members with their state caught up to every event the hub holds. With `lock`
    (a write transaction), rows are locked, states come from this process's cache when
    still current, and a caught-up snapshot is written back; without, nothing is written
    or cached."""
    rows = lock_rows(conn, db, member_ids, lock=lock)
    states = catch_up(conn, rows, save=lock)
    return {m: Snapshot(m, states[m], r.balance, r.hub_seq, True) for m, r in rows.items()}


def catch_up(conn: Connection, rows: dict[str, Any], *, save: bool,
             locked: bool | None = None,
             written: dict[str, dict[str, Any]] | None = None) -> dict[str, MemberState]:
    """The states of `rows` (from `lock_rows`) as fold(all their events). `locked`
    (default: `save`): the caller holds the rows' locks, so states may come from this
    process's cache (taken out: the caller may change them and remembers them once
    written). `save`: caught-up snapshots are written back and the states cached; their
    column values go to `written` when given."""
    locked = save if locked is None else locked
    out: dict[str, MemberState] = {}
    missing: list[str] = []
    # From where each stale member's events must be read: its snapshot, or further on
    # when the cached state already holds more (advanced by batches, `advance_cached`).
    after: dict[str, int] = {}
    for member_id, r in rows.items():
        hit = _take(member_id, r) if locked else None
        if hit is not None:
            out[member_id] = hit.state
            if hit.through < r.hub_seq:
                after[member_id] = hit.through
        else:
            missing.append(member_id)
            if r.state_seq < r.hub_seq:
                after[member_id] = r.state_seq
    for start in range(0, len(missing), CHUNK):
        for r in conn.execute(select(members.c.member_id, members.c.state)
                              .where(members.c.member_id.in_(missing[start:start + CHUNK]))):
            out[r.member_id] = MemberState.from_dict(orjson.loads(r.state))
    stale = [m for m, r in rows.items() if r.state_seq < r.hub_seq]
    pending = _events_after(conn, {m: (seq, rows[m].hub_seq) for m, seq in after.items()})
    saved: list[dict[str, Any]] = []
    state_at = now_text()
    for member_id in stale:
        state = out[member_id] = _fold_onto(conn, out[member_id], pending.get(member_id, []),
                                            upto=rows[member_id].hub_seq)
        if save:
            values = snapshot_values(state, rows[member_id].hub_seq, state_at)
            saved.append({"member_id": member_id, **values})
            if written is not None:
                written[member_id] = values
    save_snapshots(conn, saved)
    if save:
        for member_id, r in rows.items():
            if member_id in stale:
                remember(member_id, out[member_id], r.hub_seq, state_at)
            else:
                remember(member_id, out[member_id], r.state_seq, r.state_at)
    return out


def _fold_onto(conn: Connection, state: MemberState, evs: list[Event],
               upto: int | None) -> MemberState:
    """`state` with the member's later events `evs` (the ledger's, up to hub_seq `upto`)
    applied in fold order; or, when one sorts before what the state holds (an offline
    terminal catching up, an expiry dated at its lot's instant), the member refolded
    from the ledger up to `upto`, never applied on top."""
    evs = sorted(evs, key=lambda e: e.sort_key)
    if evs and state.event_ids and evs[0].hlc <= state.last_hlc:
        return rebuild_member(conn, state.member_id, upto=upto)
    for e in evs:
        apply(state, e)
    return state


def _events_after(conn: Connection,
                  after: dict[str, tuple[int, int]]) -> dict[str, list[Event]]:
    """Each member's events with hub_seq in its own (mark, row's hub_seq] (the composite
    index): not those above the row, which the projector has still to fold."""
    found: dict[str, list[Event]] = defaultdict(list)
    items = sorted(after.items())
    for start in range(0, len(items), 200):
        chunk = items[start:start + 200]
        stmt = select(events.c.member_id, events.c.content).where(or_(*(
            and_(events.c.member_id == m, events.c.hub_seq > seq, events.c.hub_seq <= upto)
            for m, (seq, upto) in chunk)))
        # .all(): iterating a result fetches row by row, a tenth of a catch-up's time
        for member_id, content in conn.execute(stmt).all():
            found[member_id].append(Event.from_dict(orjson.loads(content)))
    return found


def fresh_snapshots(conn: Connection, db: Database,
                    member_ids: list[str]) -> dict[str, tuple[str, int]]:
    """Caught-up snapshots as JSON text with the hub_seq they hold through, for members
    read as stale (pull); in a write transaction."""
    written: dict[str, dict[str, Any]] = {}
    rows = lock_rows(conn, db, member_ids)
    catch_up(conn, {m: r for m, r in rows.items() if r.state_seq < r.hub_seq}, save=True,
             written=written)
    out = {m: (v["state"], v["state_seq"]) for m, v in written.items()}
    others = [m for m in rows if m not in out]  # caught up meanwhile by another request
    if others:
        for r in conn.execute(select(members.c.member_id, members.c.state, members.c.state_seq)
                              .where(members.c.member_id.in_(others))):
            out[r.member_id] = (r.state, r.state_seq)
    return out


def stale_ids(conn: Connection, limit: int, after: str = "") -> list[str]:
    """Members after `after` (in key order) whose snapshot is behind their events. A scan
    in primary-key order, not an index: an index of stale members would be rewritten by
    every batch (migration 0004)."""
    return list(conn.execute(select(members.c.member_id)
                             .where(members.c.member_id > after,
                                    members.c.state_seq < members.c.hub_seq)
                             .order_by(members.c.member_id).limit(limit)).scalars())


def catch_up_all(db: Database, chunk: int = 500) -> int:
    """Bring every stale snapshot up to date (jobs and rebuild read `state` and
    `next_expiry` of many members), a chunk per short write transaction, in one pass
    over the members by key."""
    done, after = 0, ""
    while True:
        with db.write() as conn:
            ids = stale_ids(conn, chunk, after)
            if ids:
                lock_members(conn, db, ids)
        done += len(ids)
        if len(ids) < chunk:
            return done
        after = ids[-1]


def lock_member(conn: Connection, db: Database, member_id: str) -> Snapshot:
    found = lock_members(conn, db, [member_id])
    if member_id not in found:
        raise NotFound(f"no member {member_id} at the hub", code="unknown_member")
    return found[member_id]


def next_expiry(state: MemberState) -> str | None:
    dates = [lot.expires_at for lot in state.lots if lot.remaining > 0]
    return now_text(min(dates)) if dates else None


def snapshot_values(state: MemberState, hub_seq: int, at: str | None = None) -> dict[str, Any]:
    """Every column the fold decides, for a snapshot that holds the events to `hub_seq`."""
    at = at or now_text()
    return {
        "state": orjson.dumps(state.to_dict()).decode(),
        "state_seq": hub_seq,
        "state_at": at,
        "balance": state.balance,
        "debt": state.debt,
        "last_tier": state.last_tier,
        "hub_seq": hub_seq,
        "last_hlc": state.last_hlc,
        "next_expiry": next_expiry(state),
        "updated_at": at,
    }


def save_snapshots(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Write back folded states: rows of `snapshot_values(...)` plus `member_id`."""
    bulk_update(conn, members, "member_id", rows)


def save_hot(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """After a batch that cannot change what the fold decides beyond the balance (see
    hub.store.ledger): the hot columns only, the snapshot stays behind (stale until
    someone catches it up). rows: {member_id, balance, hub_seq, last_hlc, updated_at}."""
    bulk_update(conn, members, "member_id", rows)


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


def new_member_row(event: Event, state: MemberState, hub_seq: int) -> dict[str, Any]:
    return {"member_id": event.member_id, "origin": event.origin, "created_at": now_text(),
            **profile_from_enrol(event), **snapshot_values(state, hub_seq)}


def empty_snapshot(member_id: str) -> str:
    """The JSON of a member before any event (a new member's snapshot, written behind)."""
    return orjson.dumps(MemberState(member_id=member_id).to_dict()).decode()


def card_owners(conn: Connection, numbers: list[str]) -> dict[str, str]:
    if not numbers:
        return {}
    rows = conn.execute(select(cards.c.card_number, cards.c.member_id)
                        .where(cards.c.card_number.in_(numbers)))
    return {r.card_number: r.member_id for r in rows}


def member_events(conn: Connection, member_id: str, upto: int | None = None) -> list[Event]:
    """The member's events in hub_seq order; up to hub_seq `upto` when given (a member
    row holds its events up to its hub_seq; any above wait for the projector)."""
    stmt = select(events.c.content).where(events.c.member_id == member_id)
    if upto is not None:
        stmt = stmt.where(events.c.hub_seq <= upto)
    rows = conn.execute(stmt.order_by(events.c.hub_seq))
    return [Event.from_dict(orjson.loads(r.content)) for r in rows]


def rebuild_member(conn: Connection, member_id: str, upto: int | None = None) -> MemberState:
    """The member's state folded from the ledger alone (up to hub_seq `upto`)."""
    evs = member_events(conn, member_id, upto)
    return fold(evs) if evs else MemberState(member_id=member_id)


def current_state(conn: Connection, member_id: str) -> MemberState | None:
    """The member as every event the ledger holds makes it, folded by the projector or
    still waiting (`hub.store.projector`), without writing anything: the snapshot plus
    the events after it, or a refold when one sorts before what the snapshot holds.
    None when the ledger has no event of the member."""
    row = conn.execute(select(members.c.state, members.c.state_seq)
                       .where(members.c.member_id == member_id)).first()
    if row is None:
        evs = member_events(conn, member_id)
        return fold(evs) if evs else None
    rows = conn.execute(select(events.c.content)
                        .where(events.c.member_id == member_id,
                               events.c.hub_seq > row.state_seq)).all()
    return _fold_onto(conn, MemberState.from_dict(orjson.loads(row.state)),
                      [Event.from_dict(orjson.loads(r.content)) for r in rows], upto=None)


def find_member_id(
    conn: Connection, *, member_id: str | None = None, card: str | None = None,
    email: str | None = None, phone: str | None = None,
) -> str:
    """The member for one identifier (the first given of member_id, card, email, phone),
    or Invalid (none given), NotFound naming what was tried, or an ambiguity refusal."""
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
        tried = ("phone", phone)
        stmt = select(members.c.member_id).where(members.c.phone == phone)
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
    state = catch_up(conn, {member_id: row}, save=False)[member_id]
    return {
        "member_id": member_id, "name": m["name"], "phone": m["phone"], "email": m["email"],
        "birthday": m["birthday"], "card_numbers": card_list, "origin": m["origin"],
        "created_at": m["created_at"], "balance": m["balance"], "debt": m["debt"],
        "hub_seq": m["hub_seq"], "state": state.to_dict(),
    }


def find_member_id_or_none(conn: Connection, **ident: str | None) -> str | None:
    try:
        return find_member_id(conn, **ident)
    except NotFound:
        return None
