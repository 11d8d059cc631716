"""Recording events: the one path by which anything enters the hub's ledger.

    >>> result = ingest(conn, ctx, "S001-T1", 1, events, defer=True)  # a terminal's push
    >>> result = record_drafts(conn, ctx, "online", drafts, at)       # the hub seals them

Per batch, in the caller's single transaction: take the ledger lock (shared for a push,
exclusive otherwise: `hub.store.projector`), lock the origin's stream, sort repeats from
new events (a repeat with the same content is acknowledged with its hub_seq; the same id
or seq with other content is a conflict), check the new events continue the stream's seq
and hash chain and name known members, append them. A push stops there: the projector
folds it later. Otherwise what is pending is folded first, then this batch
(`fold_batch`): lock the members it touches, fold each once (load snapshot,
`loyalty.fold.apply` the new events, write back), flags, stock, notifications, and the
change feed last (it takes the change counter's lock; see `hub.store.changes`).

Refusals raise an `ApiError` whose `flag` attribute, when set, is a flag the caller
records in a fresh transaction after rolling this one back.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, and_, func, select, text

from hub.context import HubContext
from hub.db import bulk_insert, insert_rows, now_text
from hub.exceptions import ApiError, Conflict, Invalid
from hub.store import changes, notifications, programs, projector
from hub.store import members as member_store
from hub.store.flags import add_flags
from hub.tables import (
    cards,
    events,
    members,
    origin_totals,
    origins,
    reward_stock,
    streams,
)
from loyalty.earning import recompute_earn
from loyalty.errors import LoyaltyError, RedemptionError
from loyalty.events import (
    GENESIS,
    Event,
    EventDraft,
    Kind,
    canonical_json,
    format_instant,
    seal,
)
from loyalty.fold import MemberState, apply, fold
from loyalty.program import Program
from loyalty.redemption import redeem, use_voucher

HUB_EPOCH = 1


@dataclass
class IngestResult:
    results: list[dict[str, Any]] = field(default_factory=list)
    high_seq: int = 0
    states: dict[str, MemberState] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)

    @property
    def new(self) -> int:
        return sum(1 for r in self.results if r["status"] == "new")

    def body(self) -> dict[str, Any]:
        return {"results": self.results, "high_seq": self.high_seq}


def refuse(cls: type[ApiError], detail: str, *, code: str, flag: dict | None = None,
           **extra: Any) -> ApiError:
    exc = cls(detail, code=code, **extra)
    exc.flag = flag  # type: ignore[attr-defined]
    return exc


def _lock_stream(conn: Connection, ctx: HubContext, origin: str, epoch: int) -> tuple[int, str]:
    db = ctx.db
    conn.execute(
        db.insert(streams).values(origin=origin, origin_epoch=epoch, high_seq=0,
                                  chain_hash=GENESIS, updated_at=now_text())
        .on_conflict_do_nothing(index_elements=[streams.c.origin, streams.c.origin_epoch])
    )
    row = conn.execute(db.for_update(
        select(streams.c.high_seq, streams.c.chain_hash)
        .where(streams.c.origin == origin, streams.c.origin_epoch == epoch))).one()
    return int(row.high_seq), row.chain_hash


def _reward_columns(event: Event) -> tuple[str | None, str | None, str | None, int | None]:
    """(reward_id, action, tier, units) of the events table; the actions are defined in
    `hub.store.reports.rewards`. units is left NULL (one reward) but for stamp events."""
    data = event.data
    if event.kind == Kind.REDEEM:
        if data.get("voucher_used"):
            return data.get("voucher_reward_id"), "voucher", data.get("tier"), None
        if data.get("reward_id"):
            # a gift card or store credit bought with points is a voucher, used later
            action = "issue" if data.get("vouchers_issued") else "redeem"
            return data.get("reward_id"), action, data.get("tier"), None
    if event.kind == Kind.STAMP and data.get("vouchers_issued"):
        issued = data["vouchers_issued"]
        reward = issued[0].get("reward_id") if isinstance(issued[0], dict) else None
        return reward, "stamp", None, len(issued)
    return None, None, None, None


EVENT_COLUMNS = ("hub_seq", "event_id", "origin", "origin_epoch", "origin_seq", "member_id",
                 "kind", "points", "amount", "program_version", "ref", "occurred_at", "hlc",
                 "received_at", "reward_id", "reward_action", "reward_units", "tier",
                 "content")


def event_values(event: Event, hub_seq: int, content: str, received_at: str) -> tuple:
    """The event's row of the `events` table, in `EVENT_COLUMNS` order."""
    reward_id, action, tier, units = _reward_columns(event)
    return (hub_seq, event.event_id, event.origin, event.origin_epoch, event.origin_seq,
            event.member_id, event.kind, event.points, event.amount, event.program_version,
            event.ref, event.occurred_at, event.hlc, received_at,
            _column_text(reward_id), action, units, _column_text(tier), content)


def _column_text(value: Any) -> str | None:
    """A value of the event's data kept in a column of its own for reports: text of at most
    64 characters, without NUL (PostgreSQL text cannot hold it; `content` keeps it all)."""
    return str(value).replace("\x00", "")[:64] if value else None


def ingest(
    conn: Connection,
    ctx: HubContext,
    origin: str,
    epoch: int,
    batch: list[Event],
    *,
    authorize: bool = False,
    check_chain: bool = True,
    eager: bool = False,
    defer: bool = False,
) -> IngestResult:
    """Record a batch of one origin's events (see the module docstring). `defer` (a
    terminal's push): append and answer, the projector folds them later; `authorize`
    (the last event a redeem the hub must approve) is always appended so, once judged
    by `_authorize_ahead` against all the member's events. Otherwise the
    batch is folded now, after whatever is pending (`fold_batch`); `eager`: fold every
    touched member and return the states in `result.states` (the hub's own operations
    answer from them); without it only members whose batch may change more than their
    balance are folded (see `_balance_only`)."""
    db = ctx.db
    defer = defer or authorize
    db.lock_ledger(conn, shared=defer)
    if not defer:
        projector.project_pending(conn, ctx)
    result = IngestResult()
    if not batch:
        result.high_seq, _ = _lock_stream(conn, ctx, origin, epoch)
        return result
    high, chain = _lock_stream(conn, ctx, origin, epoch)
    first = batch[0].origin_seq
    for i, event in enumerate(batch):
        if event.origin_seq != first + i:
            raise refuse(Conflict, f"the batch skips origin_seq {first + i}: send events "
                         "in origin_seq order without gaps", code="gap", expected_seq=first + i)
    # Same JSON as Event.canonical(), without dataclasses.asdict's deep copy (a third of
    # the ingest time): the fields are plain JSON values already.
    canon = [canonical_json(vars(e)) for e in batch]
    n_old = max(0, min(len(batch), high - first + 1))
    if n_old:
        rows = conn.execute(
            select(events.c.origin_seq, events.c.event_id, events.c.hub_seq, events.c.content)
            .where(events.c.origin == origin, events.c.origin_epoch == epoch,
                   events.c.origin_seq.between(first, first + n_old - 1)))
        by_seq = {r.origin_seq: r for r in rows}
        for event, content in zip(batch[:n_old], canon[:n_old], strict=True):
            row = by_seq.get(event.origin_seq)
            if row is None or row.event_id != event.event_id or row.content != content:
                what = ("another event" if row is not None and row.event_id != event.event_id
                        else "different content")
                raise refuse(
                    Conflict,
                    f"origin_seq {event.origin_seq} ({event.event_id}) was already received "
                    f"with {what}: the terminal's ledger does not match the hub's copy",
                    code="conflict", event_id=event.event_id,
                    flag={"kind": "conflict", "origin": origin, "member_id": event.member_id,
                          "event_ids": [event.event_id] + ([row.event_id] if row else []),
                          "detail": f"event {event.event_id} (seq {event.origin_seq}) re-sent "
                                    f"with {what}"})
            result.results.append({"event_id": event.event_id, "origin_seq": event.origin_seq,
                                   "hub_seq": row.hub_seq, "status": "duplicate"})
    new = batch[n_old:]
    new_canon = canon[n_old:]
    if not new:
        result.high_seq = high
        return result
    if new[0].origin_seq != high + 1:
        raise refuse(Conflict, f"the hub has this stream up to origin_seq {high}; the batch "
                     f"starts at {new[0].origin_seq}", code="gap", expected_seq=high + 1)
    hashes: list[str] = []
    for event, content in zip(new, new_canon, strict=True):
        if check_chain and event.prev_hash != chain:
            raise refuse(
                Conflict, f"event {event.origin_seq} does not continue the hub's copy of this "
                "terminal's chain (prev_hash differs): a restored backup or a tampered ledger; "
                "start a new epoch", code="chain_broken", expected_seq=event.origin_seq,
                flag={"kind": "chain_broken", "origin": origin, "member_id": event.member_id,
                      "event_ids": [event.event_id],
                      "detail": f"prev_hash of seq {event.origin_seq} does not match"})
        chain = hashlib.sha256(content.encode()).hexdigest()
        hashes.append(chain)

    received = now_text()
    if defer:
        _check_known(conn, db, new, ctx.known_members)
        if authorize:
            result.states.update(_authorize_ahead(conn, ctx, new))
        hub_seqs = _insert_events(conn, db, new, new_canon, received)
    else:
        hub_seqs = None
    _append_done(conn, ctx, origin, epoch, new, hashes[-1], received)
    if not defer:
        hub_seqs, result.states = fold_batch(
            conn, ctx, origin, new, None, received, eager=eager,
            insert=lambda: _insert_events(conn, db, new, new_canon, received))
        projector.set_mark(conn, db, max(hub_seqs))
    for event, seq in zip(new, hub_seqs, strict=True):
        result.results.append({"event_id": event.event_id, "origin_seq": event.origin_seq,
                               "hub_seq": seq, "status": "new"})
    ctx.observe(max(e.hlc for e in new))
    result.high_seq = new[-1].origin_seq
    result.events = new
    return result


def _check_known(conn: Connection, db: Any, new: list[Event], rows: Any) -> None:
    """Refuse a batch that names a member the hub does not know and the batch does not
    enrol. `rows`: members known already (their rows). Otherwise known means having
    an event in the ledger, folded or not: an event only gets in for a known member,
    and the member index answers that without reading a row."""
    enrolled = {e.member_id for e in new if e.kind == Kind.ENROL}
    # (membership tests only: `rows` may be the process's shared set, growing meanwhile)
    unknown = sorted(m for m in {e.member_id for e in new} - enrolled if m not in rows)
    if unknown:
        unknown = sorted(set(unknown) - set(conn.execute(
            select(events.c.member_id).distinct()
            .where(db.among(events.c.member_id, unknown))).scalars()))
    if unknown:
        raise refuse(Invalid, f"member {unknown[0]} is not known at the hub and the batch "
                     "does not enrol them", code="unknown_member", member_id=unknown[0])


def _authorize_ahead(conn: Connection, ctx: HubContext,
                     new: list[Event]) -> dict[str, MemberState]:
    """An authorisation appended like a push: judged against everything the ledger holds
    of the member, folded or still waiting for the projector, so it never waits for a
    backlog of other members' pushes. The member's own lock (not its row, which may not
    exist yet) makes two authorisations of one member take turns: the second sees the
    first's redemption among the member's events. Returns the member's state after the
    batch, to answer from."""
    last = new[-1]
    if last.kind != Kind.REDEEM:
        raise refuse(Invalid, "the last event of an authorisation must be a redeem",
                     code="not_a_redemption")
    ctx.db.lock_member_key(conn, last.member_id)
    state = member_store.current_state(conn, last.member_id) \
        or MemberState(member_id=last.member_id)
    before = sorted((e for e in new[:-1] if e.member_id == last.member_id),
                    key=lambda e: e.sort_key)
    if before and state.event_ids and before[0].hlc <= state.last_hlc:
        # an offline event of the batch sorts before what the hub holds: refold
        state = fold(member_store.member_events(conn, last.member_id) + before)
    else:
        for e in before:
            apply(state, e)
    reward_id = last.data.get("reward_id")
    stock = {r.reward_id: int(r.units_left) for r in conn.execute(
        select(reward_stock.c.reward_id, reward_stock.c.units_left)
        .where(reward_stock.c.reward_id == str(reward_id)))} if reward_id else {}
    _authorize_check(conn, state, last, stock)
    apply(state, last)
    return {last.member_id: state}


def _append_done(conn: Connection, ctx: HubContext, origin: str, epoch: int,
                 new: list[Event], chain: str, received: str) -> None:
    """The stream's new high-water mark and chain head, the origin's last push, totals."""
    conn.execute(streams.update()
                 .where(streams.c.origin == origin, streams.c.origin_epoch == epoch)
                 .values(high_seq=new[-1].origin_seq, chain_hash=chain,
                         updated_at=received))
    conn.execute(origins.update().where(origins.c.origin == origin)
                 .values(last_push_at=received))
    _add_totals(conn, ctx, origin, new)


def fold_batch(
    conn: Connection,
    ctx: HubContext,
    origin: str,
    new: list[Event],
    hub_seqs: list[int] | None,
    received: str,
    *,
    insert: Callable[[], list[int]] | None = None,
    eager: bool = False,
    touched: dict[str, set[str]] | None = None,
) -> tuple[list[int], dict[str, MemberState]]:
    """Fold one batch of an origin's events into the members they touch, with what
    follows from them (earn check, flags, cards, stock, notifications, change feed). The
    events are in the ledger with `hub_seqs` (the projector), or go in through `insert`
    once the members' states before them are read (an eager ingest). `touched`: collect
    the change feed's keys there instead of recording them (the projector records a
    chunk's at once). The caller holds the ledger lock exclusive. Returns the hub_seqs
    and the folded states (every touched member's with `eager`)."""
    db = ctx.db
    touched_ids = sorted({e.member_id for e in new})
    rows = member_store.lock_rows(conn, db, touched_ids)
    if insert is not None:
        _check_known(conn, db, new, rows)
    by_member: dict[str, list[Event]] = defaultdict(list)
    for event in new:
        by_member[event.member_id].append(event)
    folded = set()
    for member_id, evs in by_member.items():
        evs.sort(key=lambda e: e.sort_key)
        if eager or not _balance_only(rows.get(member_id), evs):
            folded.add(member_id)
    # Side effects are judged on the states just before this batch: caught up to each
    # row's hub_seq, which this batch's events are above.
    snaps = member_store.catch_up(conn, {m: rows[m] for m in folded if m in rows},
                                  save=False, locked=True)
    if insert is not None:
        hub_seqs = insert()
    assert hub_seqs is not None
    seq_of = dict(zip([e.event_id for e in new], hub_seqs, strict=True))
    states: dict[str, MemberState] = {}

    # -- each touched member once: folded, or only its balance (snapshot behind) -------
    flags: list[dict[str, Any]] = []
    stock = _lock_stock(conn, ctx, new)
    stock_before = dict(stock)
    updates: list[dict[str, Any]] = []
    hot: list[dict[str, Any]] = []
    inserts: list[dict[str, Any]] = []
    card_rows: list[tuple[str, str, str]] = []
    balances: dict[str, tuple[int, int]] = {}
    last_hlcs: dict[str, str] = {}
    remember: list[tuple[str, MemberState, int, str]] = []
    advanced: list[tuple[Any, list[Event], int]] = []
    for member_id, evs in by_member.items():
        row = rows.get(member_id)
        before = row.balance if row is not None else 0
        top = max([row.hub_seq if row is not None else 0]
                  + [seq_of[e.event_id] for e in evs])
        for e in evs:
            if e.kind == Kind.EARN:
                flags += _check_earn(conn, e)
            if e.kind in (Kind.ENROL, Kind.LINK) and e.data.get("card_number"):
                card_rows.append((str(e.data["card_number"]), member_id, e.origin))
        if member_id not in folded:
            after = before + sum(e.points for e in evs)
            last_hlcs[member_id] = evs[-1].hlc
            for e in evs:
                if e.kind == Kind.REDEEM and e.data.get("reward_id") in stock:
                    stock[e.data["reward_id"]] -= 1
            values = {"balance": after, "hub_seq": top, "last_hlc": evs[-1].hlc,
                      "updated_at": received}
            if row is None:
                enrol = _enrolment(evs)
                inserts.append({
                    "member_id": member_id, "origin": enrol.origin, "created_at": received,
                    **member_store.profile_from_enrol(enrol), **values,
                    "state": member_store.empty_snapshot(member_id), "state_seq": 0,
                    "state_at": "", "debt": 0, "last_tier": None, "next_expiry": None})
            else:
                hot.append({"member_id": member_id, **values})
            balances[member_id] = (before, after)
            advanced.append((row, evs, top))
            continue
        state = snaps.get(member_id) or MemberState(member_id=member_id)
        in_order = not state.event_ids or evs[0].hlc > state.last_hlc
        for e in evs:
            _side_effects(state, e, stock)
            apply(state, e)
        if not in_order:
            # An event older than what the state holds (an offline terminal catching
            # up, an expiry dated in the past): refold from the ledger, which now
            # includes this batch, so the snapshot equals fold(all events) exactly.
            state = fold(member_store.member_events(conn, member_id, upto=top))
        if state.balance < 0 and state.balance < before:
            flags.append(_negative_flag(conn, member_id, state.balance, evs))
        balances[member_id] = (before, state.balance)
        last_hlcs[member_id] = state.last_hlc
        values = member_store.snapshot_values(state, top, received)
        remember.append((member_id, state, top, received))
        if row is None:
            inserts.append(member_store.new_member_row(_enrolment(evs), state, top))
        else:
            updates.append({"member_id": member_id, **values})
        states[member_id] = state
    bulk_insert(conn, members, inserts)  # (folded or not, a new row has the same keys)
    member_store.save_snapshots(conn, updates)
    member_store.save_hot(conn, hot)
    for item in remember:
        member_store.remember(*item)
    for row, evs, top in advanced:
        member_store.advance_cached(row, evs, top, received)
    flags += _add_cards(conn, card_rows)
    _save_stock(conn, stock, stock_before, flags, origin)
    add_flags(conn, flags)
    notifications.rewards_unlocked(conn, ctx, balances, last_hlcs)

    # -- the change feed, last (see hub.store.changes) ---------------------------------
    changed = [s for s in stock if stock[s] != stock_before.get(s)]
    if touched is not None:
        touched["stock"].update(changed)
        touched["member"].update(by_member)
    else:
        if changed:
            changes.touch(conn, db, "stock", changed)
        changes.touch(conn, db, "member", list(by_member))
    return hub_seqs, states


def _enrolment(evs: list[Event]) -> Event:
    """The event that enrols a member new to the hub (a push was refused without one;
    the first event stands in, should a ledger ever lack it)."""
    return next((e for e in evs if e.kind == Kind.ENROL), evs[0])


def _insert_events(conn: Connection, db: Any, new: list[Event], canon: list[str],
                   received: str) -> list[int]:
    """Insert the events; their hub_seqs in order. SQLite: the write transaction holds the
    database's write lock, so the next rowids are max + 1 ... as SQLite would pick them.
    PostgreSQL: n values of the column's own sequence first (in order, as the INSERT would
    have drawn them): an ordered INSERT ... RETURNING costs twice the insert. Then one
    driver-level insert of every row (`hub.db.insert_rows`)."""
    if db.is_sqlite:
        top = conn.execute(select(func.max(events.c.hub_seq))).scalar() or 0
        seqs = list(range(top + 1, top + 1 + len(new)))
    else:
        seqs = sorted(conn.execute(_NEXT_HUB_SEQS, {"n": len(new)}).scalars())
    written = insert_rows(conn, events, EVENT_COLUMNS,
                          [event_values(e, seq, c, received)
                           for e, seq, c in zip(new, seqs, canon, strict=True)],
                          conflict=("event_id",))
    if written != len(new):
        _refuse_reused_id(conn, db, new)
    return seqs


def _refuse_reused_id(conn: Connection, db: Any, new: list[Event]) -> None:
    """Some event ids of the batch were in the ledger already (the insert skipped them,
    so no separate look-up runs for the usual batch): refuse for the first of them."""
    ids = [e.event_id for e in new]
    old = {r.event_id: r for r in conn.execute(
        select(events.c.event_id, events.c.origin, events.c.origin_epoch,
               events.c.origin_seq).where(db.among(events.c.event_id, ids)))}
    for event in new:
        row = old.get(event.event_id)
        if row is None or (row.origin, row.origin_epoch, row.origin_seq) \
                == (event.origin, event.origin_epoch, event.origin_seq):
            continue  # the row this very insert wrote
        raise refuse(
            Conflict, f"event id {event.event_id} is already used by {row.origin} "
            f"seq {row.origin_seq}", code="conflict", event_id=event.event_id,
            flag={"kind": "conflict", "origin": event.origin, "member_id": event.member_id,
                  "event_ids": [event.event_id],
                  "detail": f"event id reused by {event.origin} seq {event.origin_seq}"})
    raise refuse(Conflict, "an event id of this batch is already in the ledger",
                 code="conflict")


# The values BIGSERIAL would give, taken in one round trip.
_NEXT_HUB_SEQS = text("SELECT nextval(pg_get_serial_sequence('events', 'hub_seq')) "
                      "FROM generate_series(1, :n)")


def _balance_only(row: Any, evs: list[Event]) -> bool:
    """Whether these new events of a member (sorted) can change nothing the fold decides
    in the hot columns but the balance, so its snapshot may stay behind: no debt before,
    every event sorts after what the member holds, the balance never dips below zero on
    the way (so no debit runs past the lots: `debt` stays 0), no tier change, and no full
    void (its stock give-back reads the receipt from the state)."""
    if row is not None and (row.debt or (row.last_hlc and evs[0].hlc <= row.last_hlc)):
        return False
    balance = row.balance if row is not None else 0
    for e in evs:
        if e.kind == Kind.TIER or (e.kind == Kind.REVERSE and e.data.get("full")):
            return False
        balance += e.points
        if balance < 0:
            return False
    return True


def _add_totals(conn: Connection, ctx: HubContext, origin: str, new: list[Event]) -> None:
    credited = sum(e.points for e in new if e.points > 0)
    debited = -sum(e.points for e in new if e.points < 0)
    stmt = ctx.db.insert(origin_totals).values(
        origin=origin, events=len(new), points=credited - debited, credited=credited,
        debited=debited)
    stmt = stmt.on_conflict_do_update(index_elements=[origin_totals.c.origin], set_={
        "events": origin_totals.c.events + len(new),
        "points": origin_totals.c.points + (credited - debited),
        "credited": origin_totals.c.credited + credited,
        "debited": origin_totals.c.debited + debited,
    })
    conn.execute(stmt)


def _lock_stock(conn: Connection, ctx: HubContext, new: list[Event]) -> dict[str, int]:
    reward_ids = {str(e.data["reward_id"]) for e in new
                  if e.kind == Kind.REDEEM and e.data.get("reward_id")}
    if any(e.kind == Kind.REVERSE and e.data.get("full") for e in new):
        reward_ids.add("*")
    if not reward_ids:
        return {}
    stmt = select(reward_stock.c.reward_id, reward_stock.c.units_left)
    if "*" not in reward_ids:
        stmt = stmt.where(reward_stock.c.reward_id.in_(sorted(reward_ids)))
    stmt = ctx.db.for_update(stmt.order_by(reward_stock.c.reward_id))
    return {r.reward_id: int(r.units_left) for r in conn.execute(stmt)}


def _side_effects(state: MemberState, event: Event, stock: dict[str, int]) -> None:
    """What an event does outside the member's fold (stock), from the state before it."""
    if event.event_id in state.event_ids:
        return
    if event.kind == Kind.REDEEM and event.data.get("reward_id") in stock:
        stock[event.data["reward_id"]] -= 1
    elif event.kind == Kind.REVERSE and event.data.get("full"):
        rec = state.receipts.get(event.ref)
        for reward_id in rec.rewards if rec else ():
            if reward_id in stock:
                stock[reward_id] += 1


def _save_stock(conn: Connection, stock: dict[str, int], before: dict[str, int],
                flags: list[dict[str, Any]], origin: str) -> None:
    for reward_id, left in stock.items():
        if left == before.get(reward_id):
            continue
        conn.execute(reward_stock.update().where(reward_stock.c.reward_id == reward_id)
                     .values(units_left=left, updated_at=now_text()))
        if left < 0 <= before.get(reward_id, 0):
            flags.append({"kind": "stock_negative", "origin": origin,
                          "detail": f"reward {reward_id} is over-redeemed: {left} left"})


def _authorize_check(conn: Connection, state: MemberState, event: Event,
                     stock: dict[str, int]) -> None:
    """Would the hub approve this redemption now? The domain's own checks, against the
    hub's state of the member just before it."""
    program = (programs.program_by_version(conn, event.program_version)
               or programs.current_program(conn))
    if program is None:
        raise refuse(Conflict, "the hub has no program published", code="no_program")
    data = event.data
    try:
        if data.get("voucher_used"):
            use_voucher(program, state, str(data["voucher_used"]), event.occurred,
                        receipt_no=event.ref)
        else:
            reward_id = str(data.get("reward_id", ""))
            redeem(program, state, reward_id, event.occurred, receipt_no=event.ref,
                   points=-event.points if event.points < 0 else None,
                   stock_left=stock.get(reward_id))
            reward = program.reward(reward_id)
            if reward is not None and reward.kind.value != "pay_with_points" \
                    and -event.points != reward.cost:
                raise RedemptionError("wrong_cost", f"{reward.name} costs {reward.cost}, "
                                      f"the redemption takes {-event.points}")
    except RedemptionError as exc:
        raise refuse(Conflict, str(exc), code=exc.code, balance=state.balance) from exc


_line_memos: dict[str, dict] = {}


def _recompute(program: Program, event: Event) -> int:
    """recompute_earn with the line multipliers remembered per program version (they
    depend on the tier, the day and the line's product only): working them out was the
    costliest step of an earn's check."""
    memo = _line_memos.get(program.version)
    if memo is None or len(memo) > 100_000:
        memo = _line_memos[program.version] = {}
    return recompute_earn(program, event, memo)


def _check_earn(conn: Connection, event: Event) -> list[dict[str, Any]]:
    program = programs.program_by_version(conn, event.program_version)
    if program is None:
        return [{"kind": "unknown_program", "origin": event.origin, "member_id": event.member_id,
                 "event_ids": [event.event_id],
                 "detail": f"earn recorded with program {event.program_version}, which the hub "
                           "never published"}]
    try:
        expected = _recompute(program, event)
    except (LoyaltyError, TypeError, ValueError, KeyError) as exc:
        return [{"kind": "rule_mismatch", "origin": event.origin, "member_id": event.member_id,
                 "event_ids": [event.event_id],
                 "detail": f"cannot recompute earn {event.ref}: {exc}"}]
    if expected != event.points:
        return [{"kind": "rule_mismatch", "origin": event.origin, "member_id": event.member_id,
                 "event_ids": [event.event_id],
                 "detail": f"receipt {event.ref} earned {event.points}; program "
                           f"{event.program_version} gives {expected}"}]
    return []


def _negative_flag(conn: Connection, member_id: str, balance: int,
                   evs: list[Event]) -> dict[str, Any]:
    drivers = [e for e in evs if e.points < 0]
    earlier = conn.execute(
        select(events.c.event_id).where(and_(events.c.member_id == member_id,
                                             events.c.points < 0))
        .order_by(events.c.hub_seq.desc()).limit(len(drivers) + 5)).scalars().all()
    ids = list(dict.fromkeys([e.event_id for e in drivers] + list(earlier)))
    origin = drivers[-1].origin if drivers else evs[-1].origin
    return {"kind": "negative_balance", "member_id": member_id, "origin": origin,
            "event_ids": ids,
            "detail": f"balance {balance} after "
                      + ", ".join(f"{e.kind} {e.points} ({e.origin} {e.ref})".strip()
                                  for e in drivers[:5])
                      + ": kept; later earnings pay it down"}


def _add_cards(conn: Connection, card_rows: list[tuple[str, str, str]]) -> list[dict]:
    if not card_rows:
        return []
    owners = member_store.card_owners(conn, [c for c, _, _ in card_rows])
    flags = []
    fresh = []
    now = now_text()
    for card, member_id, origin in card_rows:
        owner = owners.get(card)
        if owner is None:
            owners[card] = member_id
            fresh.append({"card_number": card[:16], "member_id": member_id,
                          "source": origin[:16], "added_at": now})
        elif owner != member_id:
            flags.append({"kind": "card_conflict", "member_id": member_id, "origin": origin,
                          "detail": f"card {card} is already registered to member {owner}"})
    if fresh:
        conn.execute(cards.insert(), fresh)
    return flags


# -- events the hub records itself (online channel, jobs, admin) ---------------------------
def record_drafts(
    conn: Connection,
    ctx: HubContext,
    origin: str,
    drafts: list[EventDraft],
    at: datetime,
    *,
    program_version: str | None = None,
) -> IngestResult:
    """Seal drafts as `origin` (online, hub) with the next seqs of its chain and record
    them. Drafts with a deterministic id the hub already has are skipped (a job run twice
    records once). Callers lock the members they computed the drafts from first."""
    ids = [d.event_id for d in drafts if d.event_id]
    if ids:
        have = set(conn.execute(select(events.c.event_id)
                                .where(events.c.event_id.in_(ids))).scalars())
        drafts = [d for d in drafts if d.event_id not in have]
    if not drafts:
        return IngestResult()
    ctx.db.lock_ledger(conn)  # before the stream's lock, as every ledger writer takes them
    high, chain = _lock_stream(conn, ctx, origin, HUB_EPOCH)
    version = program_version or programs.current_version(conn) or ""
    sealed: list[Event] = []
    occurred = format_instant(at)
    for i, draft in enumerate(drafts):
        event = seal(draft, origin=origin, origin_seq=high + 1 + i, origin_epoch=HUB_EPOCH,
                     prev_hash=chain, occurred_at=occurred, hlc=ctx.stamp(at),
                     program_version=version)
        chain = event.content_hash()
        sealed.append(event)
    return ingest(conn, ctx, origin, HUB_EPOCH, sealed, eager=True)


def event_from_row(content: str) -> Event:
    return Event.from_dict(json.loads(content))
