"""Folding a batch of new ledger events into the members they touch, and what follows.

    >>> states = fold_batch(conn, ctx, new, hub_seqs, received)

Called by `hub.store.ingest` in the push's own transaction, right after the append, so
an answered push is already in every member row: no reader ever folds or waits.

The member rows the batch touches are locked in member_id order (FOR UPDATE on
PostgreSQL; SQLite's write transaction already holds the database's lock), so several
hub processes fold different members' batches in parallel and two batches sharing
members never deadlock. Each member is folded once (`loyalty.fold.fold_onto`: its
snapshot plus the batch, or a refold from the ledger when an event sorts before what
it holds) and written back whole: the snapshot always equals fold(all its events).

What follows from the batch: the re-derivation of every event a terminal or channel
asserts (`loyalty.rederive`: excess points to hold, `rule_mismatch` for what mints
nothing), negative balances, card registrations and conflicts, reward stock, "reward
unlocked" notes, and last the change feed terminals pull (it takes the change counter's
lock: see `hub.store.changes`). With `feed=False` the caller writes the feed itself
(`touch_feed`), after recording the holds: the hub stream's lock comes before the
change counter's.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import Any

from sqlalchemy import Connection, and_, select

from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import Invalid
from hub.store import authorize, changes, notifications, programs
from hub.store import members as member_store
from hub.store.append import refuse
from hub.store.flags import add_flags
from hub.tables import cards, events, members, reward_stock
from loyalty.errors import LoyaltyError
from loyalty.events import Event, Kind
from loyalty.fold import MemberState, fold_onto, place_hold
from loyalty.rederive import Excess, excess, hold_event_id, needs_birthday

HUB_ORIGIN = "hub"


@dataclass
class Folded:
    """What `fold_batch` did: each touched member's state after the batch, the excess it
    found to hold (recorded by the caller as hub `hold` events), and for the change feed
    the members and reward stock that changed."""

    states: dict[str, MemberState] = field(default_factory=dict)
    held: list[tuple[Event, Excess]] = field(default_factory=list)
    stock_changed: list[str] = field(default_factory=list)


def fold_batch(conn: Connection, ctx: HubContext, new: list[Event], hub_seqs: list[int],
               received: str, *, authorizing: bool = False, judge: bool = False,
               feed: bool = True) -> Folded:
    """Fold `new` (one origin's events, appended with `hub_seqs`) into their members and
    record what follows (module docstring).
    `authorizing`: the last event is a redemption the hub must approve against the
    member's state just before it (`hub.store.authorize`); refused, nothing is kept.
    `judge`: events of a terminal or channel are re-derived on the state just before
    each; the excess found is placed on the state at once (`loyalty.fold.place_hold`),
    so a redemption later in the batch cannot spend it, and returned in `Folded.held`
    for the caller to record as `hold` events in the same transaction."""
    db = ctx.db
    out = Folded()
    judge = judge and new[0].origin != HUB_ORIGIN
    snaps = member_store.lock_members(conn, db, [e.member_id for e in new])
    _refuse_unknown(snaps, new)
    by_member: dict[str, list[Event]] = defaultdict(list)
    for event in new:
        by_member[event.member_id].append(event)
    seq_of = dict(zip((e.event_id for e in new), hub_seqs, strict=True))
    stock = _lock_stock(conn, ctx, new)
    stock_before = dict(stock)
    flags: list[dict[str, Any]] = []
    balances: dict[str, tuple[int, int]] = {}
    last_hlcs: dict[str, str] = {}
    states: dict[str, MemberState] = {}
    inserts: list[dict[str, Any]] = []
    updates: list[dict[str, Any]] = []
    card_rows: list[tuple[str, str, str]] = []
    last = new[-1]
    for member_id, evs in sorted(by_member.items()):
        snap = snaps.get(member_id)
        state = snap.state if snap else MemberState(member_id=member_id)
        before = state.balance
        top = max([snap.hub_seq if snap else 0] + [seq_of[e.event_id] for e in evs])
        hook = (partial(_judge, conn, _Judging(set(state.once_keys), member_id, evs), out.held,
                        flags) if judge else None)
        if authorizing and member_id == last.member_id:
            # judged on the state just before the redemption, then applied with the rest
            state = fold_onto(state, [e for e in evs if e is not last],
                              partial(_ledger, conn, member_id, top, last.event_id),
                              before=hook)
            authorize.check(conn, state, last, stock)
        state = fold_onto(state, evs, partial(_ledger, conn, member_id, top), before=hook)

        for e in evs:
            if e.kind in (Kind.ENROL, Kind.LINK) and e.data.get("card_number"):
                card_rows.append((str(e.data["card_number"]), member_id, e.origin))
            _take_stock(state, e, stock)
        if state.balance < 0 and state.balance < before:
            flags.append(_negative_flag(conn, member_id, state.balance, evs))
        balances[member_id] = (before, state.balance)
        last_hlcs[member_id] = state.last_hlc
        values = member_store.snapshot_values(state, top, received)
        if snap is None:
            enrolment = next((e for e in evs if e.kind == Kind.ENROL), evs[0])
            inserts.append(member_store.new_member_row(enrolment, values))
        else:
            updates.append({"member_id": member_id, **values})
        states[member_id] = state

    member_store.save_members(conn, inserts, updates)
    flags += _add_cards(conn, card_rows)
    _save_stock(conn, stock, stock_before, flags, new[0].origin)
    add_flags(conn, flags)
    notifications.rewards_unlocked(conn, ctx, balances, last_hlcs)
    out.states = states
    out.stock_changed = [s for s in stock if stock[s] != stock_before.get(s)]
    if feed:
        touch_feed(conn, db, out)
    return out


def touch_feed(conn: Connection, db: Any, folded: Folded) -> None:
    """The change feed rows of a folded batch: last in the transaction, as it takes the
    change counter's lock (`hub.store.changes`)."""
    if folded.stock_changed:
        changes.touch(conn, db, "stock", folded.stock_changed)
    changes.touch(conn, db, "member", list(folded.states))


@dataclass
class _Judging:
    """What judging one member's events of a batch needs beside the state."""

    once_taken: set[str]
    """The member's once-only bonus keys before the batch: a bonus that sorts before one
    already recorded is still the second one."""
    member_id: str
    evs: list[Event]
    birthday: date | None = None
    birthday_read: bool = False


def _judge(conn: Connection, judging: _Judging, held: list[tuple[Event, Excess]],
           flags: list[dict[str, Any]], state: MemberState, event: Event) -> None:
    """Re-derive one asserted event on the state just before it (`fold_onto`'s hook):
    excess points are held (placed on the state now, recorded by the caller), a mismatch
    that mints nothing is flagged `rule_mismatch`."""
    if event.kind not in (Kind.EARN, Kind.BONUS, Kind.REDEEM, Kind.REVERSE):
        return
    program = programs.program_by_version(conn, event.program_version)
    base = {"origin": event.origin, "member_id": event.member_id,
            "event_ids": [event.event_id]}
    if program is None:
        if event.kind == Kind.EARN or event.points > 0:
            flags.append({**base, "kind": "unknown_program",
                          "detail": f"{event.kind} recorded with program "
                                    f"{event.program_version}, which the hub never "
                                    "published: checked under the current one"})
        program = programs.current_program(conn)
        if program is None:
            return
    if needs_birthday(event) and not judging.birthday_read:
        judging.birthday, judging.birthday_read = _birthday(conn, judging), True
    try:
        found = excess(program, state, event, birthday=judging.birthday,
                       once_taken=_taken(judging, state, event))
    except (LoyaltyError, TypeError, ValueError, KeyError, ArithmeticError) as exc:
        found = Excess(max(event.points, 0), f"cannot re-derive {event.kind} {event.ref}: "
                                             f"{exc}")
        if not found.points:
            flags.append({**base, "kind": "rule_mismatch", "detail": found.reason})
            return
    if found is None:
        return
    if found.points <= 0:
        flags.append({**base, "kind": "rule_mismatch", "detail": found.reason})
        return
    place_hold(state, event.event_id, hold_id=hold_event_id(event), ref=event.ref,
               kind=event.kind, points=found.points)
    held.append((event, found))


def _taken(judging: _Judging, state: MemberState, event: Event) -> tuple[str, ...]:
    """The once-only key of a bonus if another event already took it though the state
    before this one (in fold order) does not show it: it sorts later, but came first. A
    key given back by a void (its receipt voided) is free again."""
    once = event.data.get("once")
    if (event.kind != Kind.BONUS or not isinstance(once, str) or once in state.once_keys
            or once not in judging.once_taken):
        return ()
    if any(rec.voided and once in rec.once_keys for rec in state.receipts.values()):
        return ()
    return (once,)


def _birthday(conn: Connection, judging: _Judging) -> date | None:
    """The member's birthday: the enrolment in the batch says it, else the member row."""
    text = next((e.data["profile"].get("birthday") for e in judging.evs
                 if e.kind == Kind.ENROL and isinstance(e.data.get("profile"), dict)), None)
    if text is None:
        text = conn.execute(select(members.c.birthday)
                            .where(members.c.member_id == judging.member_id)).scalar()
    try:
        return date.fromisoformat(str(text)) if text else None
    except ValueError:
        return None


def _ledger(conn: Connection, member_id: str, upto: int,
            skip: str | None = None) -> list[Event]:
    """The member's events in the ledger up to hub_seq `upto` (this batch's included), but
    `skip`: what a refold starts from."""
    return [e for e in member_store.member_events(conn, member_id, upto) if e.event_id != skip]


def _refuse_unknown(snaps: dict[str, Any], new: list[Event]) -> None:
    """A member the hub has no row of must be enrolled by this very batch."""
    enrolled = {e.member_id for e in new if e.kind == Kind.ENROL}
    unknown = sorted({e.member_id for e in new} - enrolled - set(snaps))
    if unknown:
        raise refuse(Invalid, f"member {unknown[0]} is not known at the hub and the batch "
                     "does not enrol them", code="unknown_member", member_id=unknown[0])


def _lock_stock(conn: Connection, ctx: HubContext, new: list[Event]) -> dict[str, int]:
    """Units left of the rewards the batch may change, their rows locked in id order. A
    full void may give back any reward its receipt used, so it locks them all."""
    reward_ids = {str(e.data["reward_id"]) for e in new
                  if e.kind == Kind.REDEEM and e.data.get("reward_id")}
    full_void = any(e.kind == Kind.REVERSE and e.data.get("full") for e in new)
    if not reward_ids and not full_void:
        return {}
    stmt = select(reward_stock.c.reward_id, reward_stock.c.units_left)
    if not full_void:
        stmt = stmt.where(reward_stock.c.reward_id.in_(sorted(reward_ids)))
    stmt = ctx.db.for_update(stmt.order_by(reward_stock.c.reward_id))
    return {r.reward_id: int(r.units_left) for r in conn.execute(stmt)}


def _take_stock(state: MemberState, event: Event, stock: dict[str, int]) -> None:
    """A reward redeemed takes a unit; a full void gives back its receipt's rewards."""
    if event.kind == Kind.REDEEM and event.data.get("reward_id") in stock:
        stock[event.data["reward_id"]] -= 1
    elif event.kind == Kind.REVERSE and event.data.get("full"):
        record = state.receipts.get(event.ref)
        for reward_id in record.rewards if record else ():
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
    """Register the cards enrolments and links name; a card already registered to someone
    else is flagged, never moved."""
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

