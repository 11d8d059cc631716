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

What follows from the batch: the earn check (`rule_mismatch`), negative balances, card
registrations and conflicts, reward stock, "reward unlocked" notes, and last the change
feed terminals pull (it takes the change counter's lock: see `hub.store.changes`).
"""

from __future__ import annotations

from collections import defaultdict
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
from hub.tables import cards, events, reward_stock
from loyalty.earning import recompute_earn
from loyalty.errors import LoyaltyError
from loyalty.events import Event, Kind
from loyalty.fold import MemberState, fold_onto


def fold_batch(conn: Connection, ctx: HubContext, new: list[Event], hub_seqs: list[int],
               received: str, *, authorizing: bool = False) -> dict[str, MemberState]:
    """Fold `new` (one origin's events, appended with `hub_seqs`) into their members and
    record what follows; returns each touched member's state after the batch.
    `authorizing`: the last event is a redemption the hub must approve against the
    member's state just before it (`hub.store.authorize`); refused, nothing is kept."""
    db = ctx.db
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
        if authorizing and member_id == last.member_id:
            # judged on the state just before the redemption, then applied with the rest
            state = fold_onto(state, [e for e in evs if e is not last],
                              partial(_ledger, conn, member_id, top, last.event_id))
            authorize.check(conn, state, last, stock)
        state = fold_onto(state, evs, partial(_ledger, conn, member_id, top))

        for e in evs:
            if e.kind == Kind.EARN:
                flags += _check_earn(conn, e)
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
    changed = [s for s in stock if stock[s] != stock_before.get(s)]
    if changed:
        changes.touch(conn, db, "stock", changed)
    changes.touch(conn, db, "member", list(by_member))  # last: the change counter's lock
    return states


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


def _check_earn(conn: Connection, event: Event) -> list[dict[str, Any]]:
    """The hub recomputes an earn with the program version the origin used: a receipt is a
    fact and is kept, a difference is flagged for HQ."""
    program = programs.program_by_version(conn, event.program_version)
    base = {"origin": event.origin, "member_id": event.member_id,
            "event_ids": [event.event_id]}
    if program is None:
        return [{**base, "kind": "unknown_program",
                 "detail": f"earn recorded with program {event.program_version}, which the hub "
                           "never published"}]
    try:
        expected = recompute_earn(program, event)
    except (LoyaltyError, TypeError, ValueError, KeyError) as exc:
        return [{**base, "kind": "rule_mismatch",
                 "detail": f"cannot recompute earn {event.ref}: {exc}"}]
    if expected != event.points:
        return [{**base, "kind": "rule_mismatch",
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

