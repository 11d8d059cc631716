"""Folding a member's events into their state: balance, lots, stamps, spend, vouchers.

    >>> state = fold(events)            # any arrival order: events are sorted first
    >>> state.balance, state.stamps

Balances are a fold of events. The terminal shows the hub's snapshot (a folded state, see
`MemberState.to_dict`) with its own not-yet-included events folded onto it (`fold_onto`:
applied on top, or everything refolded when one of them sorts before the snapshot).

Points live in lots, one per crediting event, each with an expiry instant written in the
event (`data["expires_at"]`, decided by the side that recorded it). Spending takes from the
oldest lot first (FIFO); an expiry takes from the lot it names; a reversal takes first from
the lots its own receipt created, and gives back to exactly the lots a reversed spend took
from. When lots run out the member owes points (`debt`, e.g. after an offline double
spend); later credits pay the debt before they form a lot. Always:
`balance == sum(lot.remaining) - debt == sum(event.points)`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any

from loyalty.events import Event, Kind, parse_instant

DEFAULT_LOT_DAYS = 365


@dataclass
class Lot:
    lot_id: str
    earned_at: datetime
    expires_at: datetime
    original: int
    remaining: int


@dataclass
class Voucher:
    code: str
    reward_id: str
    valid_until: str
    status: str = "issued"  # issued | used | revoked
    source_ref: str = ""


@dataclass
class ReceiptRecord:
    """What one receipt did to this member, so it can be reversed exactly."""

    ref: str
    occurred_at: datetime
    event_ids: list[str] = field(default_factory=list)
    earn_event_id: str | None = None
    points: int = 0
    purchase_points: int = 0
    stamps: dict[str, int] = field(default_factory=dict)
    purchase_stamps: dict[str, int] = field(default_factory=dict)
    amount: int = 0
    rewards: list[str] = field(default_factory=list)
    vouchers_issued: list[str] = field(default_factory=list)
    vouchers_used: list[str] = field(default_factory=list)
    once_keys: list[str] = field(default_factory=list)
    reversed_points: int = 0
    reversed_purchase_points: int = 0
    reversed_stamps: dict[str, int] = field(default_factory=dict)
    reversed_purchase_stamps: dict[str, int] = field(default_factory=dict)
    reversed_amount: int = 0
    voided: bool = False
    completions: dict[str, list[Any]] = field(default_factory=dict)
    """Per voucher a stamp card completion on this receipt issued: [card, stamps it took],
    so a void gives back exactly the completions whose voucher it can still revoke."""
    items: list[list[Any]] = field(default_factory=list)
    """The sale's lines as the earn recorded them (issue 17), for returns by line:
    [line_no, qty, net, earning, exact points (decimal text), {card: stamps}]."""
    earn_rounding: str = ""
    """The rounding the earn used (`Rounding` value): a line return rounds the same way."""
    returned: dict[str, int] = field(default_factory=dict)
    """Units returned so far per line number (text keys: snapshots are JSON)."""
    refunded_by_amount: bool = False
    """A partial refund by amount (not by line) was made: lines can no longer be returned."""


@dataclass
class Hold:
    """Points an origin asserted beyond the program's rules (a hub `hold` event about the
    event `held_event` names): kept in the balance, not spendable until HQ releases them
    (a hub `release` event). Either may fold first: a release that sorts before its hold
    leaves `released` set for the hold to find."""

    hold_id: str = ""
    ref: str = ""
    kind: str = ""
    """The held event's kind: what undoing it (a void, a refund) takes off the hold."""
    points: int = 0
    released: bool = False


@dataclass
class MemberState:
    member_id: str
    balance: int = 0
    debt: int = 0
    lots: list[Lot] = field(default_factory=list)
    stamps: dict[str, int] = field(default_factory=dict)
    spend: dict[str, list[Any]] = field(default_factory=dict)
    """Qualifying spend per earn event id: [instant, amount net of refunds]."""
    vouchers: dict[str, Voucher] = field(default_factory=dict)
    once_keys: set[str] = field(default_factory=set)
    """Bonuses that may be given once (welcome, visit:DAY, birthday:YEAR)."""
    reward_counts: dict[str, int] = field(default_factory=dict)
    receipts: dict[str, ReceiptRecord] = field(default_factory=dict)
    consumptions: dict[str, list[list[Any]]] = field(default_factory=dict)
    """Per spending event: [[lot_id or None for debt, points], ...]."""
    debt_paid: dict[str, int] = field(default_factory=dict)
    """Per crediting event: the part of it that paid debt instead of making a lot, so that
    reversing it owes those points again rather than taking another lot's."""
    paid_tier: list[Any] | None = None
    """[tier name, until instant] of a paid membership."""
    enrolled_at: datetime | None = None
    last_tier: str | None = None
    earned_total: int = 0
    spent_total: int = 0
    event_ids: set[str] = field(default_factory=set)
    last_hlc: str = ""
    pin_hash: str | None = None
    """The member's PIN as its argon2id hash (loyalty.pins), from their `pin` events."""
    pin_failures: int = 0
    """Wrong PIN tries in a row, every origin's once synced: the lockout counts them."""
    pin_failed_at: datetime | None = None
    """When the last of those wrong tries was: the lockout runs from it."""
    holds: dict[str, Hold] = field(default_factory=dict)
    """Per held event id: the hub's hold of its excess points (see `held`)."""

    # -- serialisation (hub snapshots travel to terminals as JSON) --------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "member_id": self.member_id,
            "balance": self.balance,
            "debt": self.debt,
            "lots": [
                [lot.lot_id, _iso(lot.earned_at), _iso(lot.expires_at), lot.original, lot.remaining]
                for lot in self.lots
            ],
            "stamps": dict(self.stamps),
            "spend": {k: [_iso(v[0]), v[1]] for k, v in self.spend.items()},
            "vouchers": {k: vars(v).copy() for k, v in self.vouchers.items()},
            "once_keys": sorted(self.once_keys),
            "reward_counts": dict(self.reward_counts),
            "receipts": {k: _receipt_to_dict(r) for k, r in self.receipts.items()},
            "consumptions": {k: [list(c) for c in v] for k, v in self.consumptions.items()},
            "debt_paid": dict(self.debt_paid),
            "paid_tier": [self.paid_tier[0], _iso(self.paid_tier[1])] if self.paid_tier else None,
            "enrolled_at": _iso(self.enrolled_at) if self.enrolled_at else None,
            "last_tier": self.last_tier,
            "earned_total": self.earned_total,
            "spent_total": self.spent_total,
            "event_ids": sorted(self.event_ids),
            "last_hlc": self.last_hlc,
            # Terminals need the hash to check a PIN offline; only the sync pull carries
            # snapshots: what the hub and `pos` print about a member leaves it out.
            "pin": ([self.pin_hash, self.pin_failures,
                     _iso(self.pin_failed_at) if self.pin_failed_at else None]
                    if self.pin_hash or self.pin_failures else None),
            # [hold event id, receipt, held event's kind, points, released] per held event
            "holds": {k: [h.hold_id, h.ref, h.kind, h.points, h.released]
                      for k, h in self.holds.items()},
        }

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> MemberState:
        return cls(
            member_id=raw["member_id"],
            balance=raw["balance"],
            debt=raw["debt"],
            lots=[
                Lot(lot_id, parse_instant(e), parse_instant(x), o, r)
                for lot_id, e, x, o, r in raw["lots"]
            ],
            stamps=dict(raw["stamps"]),
            spend={k: [parse_instant(v[0]), v[1]] for k, v in raw["spend"].items()},
            vouchers={k: Voucher(**v) for k, v in raw["vouchers"].items()},
            once_keys=set(raw["once_keys"]),
            reward_counts=dict(raw["reward_counts"]),
            receipts={k: _receipt_from_dict(k, v) for k, v in raw["receipts"].items()},
            consumptions={k: [list(c) for c in v] for k, v in raw["consumptions"].items()},
            debt_paid=dict(raw.get("debt_paid", {})),
            paid_tier=(
                [raw["paid_tier"][0], parse_instant(raw["paid_tier"][1])]
                if raw.get("paid_tier")
                else None
            ),
            enrolled_at=parse_instant(raw["enrolled_at"]) if raw.get("enrolled_at") else None,
            last_tier=raw.get("last_tier"),
            earned_total=raw.get("earned_total", 0),
            spent_total=raw.get("spent_total", 0),
            event_ids=set(raw["event_ids"]),
            last_hlc=raw.get("last_hlc", ""),
            **_pin_from(raw.get("pin")),
            # snapshots written before holds existed (2026-12) have none
            holds={k: Hold(*h) for k, h in raw.get("holds", {}).items()},
        )

    def comparable(self) -> dict[str, Any]:
        """What the member has, without bookkeeping: for comparing two folds."""
        out = self.to_dict()
        out["stamps"] = {k: v for k, v in self.stamps.items() if v}
        out["lots"] = [lot for lot in out["lots"] if lot[4]]
        for key in ("event_ids", "last_hlc", "receipts", "consumptions", "debt_paid",
                    "earned_total", "spent_total"):
            out.pop(key)
        out["reward_counts"] = {k: v for k, v in self.reward_counts.items() if v}
        out["spend"] = {k: v for k, v in out["spend"].items() if v[1]}
        out["vouchers"] = {k: v for k, v in out["vouchers"].items() if v["status"] != "revoked"}
        out["held"] = self.held
        return out

    # -- held points (issue 16: the hub holds what an origin asserted beyond the rules) ------
    def still_held(self, held_event: str) -> int:
        """What one hold keeps from being spent now: its points, less what undoing the held
        event took back (a void of its receipt ends the hold; a refund of a held earn takes
        the held part first), 0 once released."""
        hold = self.holds.get(held_event)
        if hold is None or hold.released:
            return 0
        rec = self.receipts.get(hold.ref) if hold.ref else None
        if rec is None or hold.kind == Kind.REVERSE:
            return hold.points
        if rec.voided:
            return 0
        if hold.kind == Kind.EARN:
            return max(0, hold.points - rec.reversed_points)
        return hold.points

    @property
    def held(self) -> int:
        """Points held for HQ review, never more than the balance (points that already left
        the balance, spent or expired, cannot be spent again): `balance - held` is what
        may be spent."""
        if not self.holds:
            return 0
        total = sum(self.still_held(k) for k in self.holds)
        return max(0, min(total, self.balance))

    @property
    def spendable(self) -> int:
        """The balance a redemption may use: everything but the held points."""
        return self.balance - self.held

    def copy(self) -> MemberState:
        """An independent copy (to_dict/from_dict would share the receipts' lists)."""
        return copy.deepcopy(self)


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="microseconds")


def _pin_from(raw: list[Any] | None) -> dict[str, Any]:
    if not raw:
        return {}
    pin_hash, failures, failed_at = raw
    return {"pin_hash": pin_hash, "pin_failures": failures,
            "pin_failed_at": parse_instant(failed_at) if failed_at else None}


# A snapshot holds one record per receipt the member ever had, and most of a record's
# fields keep their default: only the others are written (`ref` is the key), and readers
# fill in the defaults. Every default is falsy and no field ever holds a falsy value other
# than its default (ids are never empty), so "differs from its default" is "truthy".
_RECEIPT_DEFAULTS = {
    f.name: f.default_factory() if f.default_factory is not MISSING else f.default
    for f in fields(ReceiptRecord)
    if f.name not in ("ref", "occurred_at")
}
assert not any(_RECEIPT_DEFAULTS.values())


def _receipt_to_dict(record: ReceiptRecord) -> dict[str, Any]:
    out: dict[str, Any] = {"occurred_at": _iso(record.occurred_at)}
    for name in _RECEIPT_DEFAULTS:
        value = getattr(record, name)
        if value:
            out[name] = copy.copy(value)
    return out


def _receipt_from_dict(ref: str, raw: dict[str, Any]) -> ReceiptRecord:
    raw = dict(raw)
    raw["occurred_at"] = parse_instant(raw["occurred_at"])
    raw.setdefault("ref", ref)  # snapshots written before 2026-11-24 carry it
    return ReceiptRecord(**raw)


def fold(events: Iterable[Event], state: MemberState | None = None) -> MemberState:
    """Fold events (of one member) into a state; arrival order does not matter."""
    ordered = sorted(events, key=lambda e: e.sort_key)
    if state is None:
        if not ordered:
            raise ValueError("fold() needs events or a starting state")
        state = MemberState(member_id=ordered[0].member_id)
    for event in ordered:
        apply(state, event)
    return state


def fold_onto(state: MemberState, later: Iterable[Event],
              everything: Callable[[], Iterable[Event]], *,
              before: Callable[[MemberState, Event], None] | None = None) -> MemberState:
    """The one "fold or refold" rule: `state` with the member's `later` events applied in
    fold order, or, when one of them sorts at or before what `state` already holds (an
    offline till catching up, an expiry dated at its lot's instant), `fold(everything())`
    from scratch, because applying it on top would put it in the wrong place.

        >>> state = fold_onto(snapshot, new_events, lambda: ledger_events(member_id))

    `everything` must return all the member's events, `later` included; it is called
    only for a refold. Returns the state to use (`state` itself, changed in place, or a
    new one).

    `before(state, event)`, when given, is called for each of the `later` events with
    the state just before it in fold order (the hub re-derives what each asserts)."""
    ordered = sorted((e for e in later if e.event_id not in state.event_ids),
                     key=lambda e: e.sort_key)
    if ordered and state.event_ids and ordered[0].hlc <= state.last_hlc:
        events = list(everything())
        if before is None:
            return fold(events) if events else MemberState(member_id=state.member_id)
        judged = {e.event_id for e in ordered}
        state = MemberState(member_id=state.member_id)
        ordered = sorted(events, key=lambda e: e.sort_key)
    else:
        judged = None
    for event in ordered:
        if before is not None and (judged is None or event.event_id in judged):
            before(state, event)
        apply(state, event)
    return state


def apply(state: MemberState, event: Event) -> MemberState:
    """Apply one event in place. A repeat of an applied event_id changes nothing."""
    if event.event_id in state.event_ids:
        return state
    state.event_ids.add(event.event_id)
    state.last_hlc = max(state.last_hlc, event.hlc)
    at = event.occurred
    data = event.data

    if event.kind == Kind.ENROL and state.enrolled_at is None:
        state.enrolled_at = at

    if event.points > 0:
        if event.kind == Kind.REVERSE:
            _restore(state, event)
        else:
            _credit(state, event.event_id, event.points, at, data)
            state.earned_total += event.points
    elif event.points < 0:
        _debit(state, event)
        if event.kind == Kind.REDEEM:
            state.spent_total += -event.points
    state.balance += event.points

    for card, delta in event.stamps.items():
        state.stamps[card] = state.stamps.get(card, 0) + delta

    if event.kind == Kind.EARN and event.amount:
        state.spend[event.event_id] = [at, event.amount]
    if event.kind == Kind.MEMBERSHIP and data.get("tier") and data.get("until"):
        state.paid_tier = [data["tier"], parse_instant(data["until"])]
    if event.kind == Kind.TIER:
        state.last_tier = data.get("tier")
    if event.kind == Kind.HOLD and data.get("held_event"):
        place_hold(state, str(data["held_event"]), hold_id=event.event_id, ref=event.ref,
                   kind=str(data.get("held_kind", "")), points=int(data.get("points", 0)))
    elif event.kind == Kind.RELEASE and data.get("held_event"):
        state.holds.setdefault(str(data["held_event"]), Hold()).released = True
    if event.kind == Kind.PIN:
        _apply_pin(state, data.get("action"), data.get("hash"), at)
    if data.get("once"):
        state.once_keys.add(data["once"])
    for voucher in data.get("vouchers_issued", ()):
        state.vouchers[voucher["code"]] = Voucher(
            code=voucher["code"],
            reward_id=voucher["reward_id"],
            valid_until=voucher["valid_until"],
            source_ref=event.ref,
        )
    if data.get("voucher_used") and data["voucher_used"] in state.vouchers:
        state.vouchers[data["voucher_used"]].status = "used"
    if event.kind == Kind.REDEEM and data.get("reward_id"):
        rid = data["reward_id"]
        state.reward_counts[rid] = state.reward_counts.get(rid, 0) + 1

    if event.ref:
        if event.kind == Kind.REVERSE:
            _record_reversal(state, event)
        elif event.kind in (Kind.EARN, Kind.STAMP, Kind.BONUS, Kind.REDEEM):
            _record_receipt(state, event, at)
    return state


def place_hold(state: MemberState, held_event: str, *, hold_id: str, ref: str, kind: str,
               points: int) -> None:
    """What a `hold` event does: `points` of the event `held_event` are not spendable.
    The hub also calls it on the state it is judging, for a hold it is about to record
    in the same transaction, so a redemption later in that batch sees it."""
    hold = state.holds.setdefault(held_event, Hold())
    hold.hold_id, hold.ref, hold.kind, hold.points = hold_id, ref, kind, points


def _credit(state: MemberState, lot_id: str, points: int, at: datetime, data: dict) -> None:
    paid = min(state.debt, points)
    state.debt -= paid
    points -= paid
    if paid:
        state.debt_paid[lot_id] = paid
    if points:
        expires = (
            parse_instant(data["expires_at"])
            if data.get("expires_at")
            else at + timedelta(days=DEFAULT_LOT_DAYS)
        )
        state.lots.append(Lot(lot_id, at, expires, points, points))


def _debit(state: MemberState, event: Event) -> None:
    need = -event.points
    taken: list[list[Any]] = []
    first: list[Lot] = []
    if event.kind in (Kind.EXPIRE, Kind.ADJUST) and event.data.get("lot"):
        # (an adjust that cancels held points takes them from the held event's own lot)
        first = [lot for lot in state.lots if lot.lot_id == event.data["lot"]]
    elif event.kind == Kind.REVERSE:
        own = set(event.data.get("reverses", ()))
        first = [lot for lot in state.lots if lot.lot_id in own]
    for lot in first:
        take = min(lot.remaining, need)
        if take:
            lot.remaining -= take
            need -= take
            taken.append([lot.lot_id, take])
    if event.kind == Kind.REVERSE:
        # what the reversed credits paid of a debt is owed again: taking it from another
        # lot instead would spend points that have nothing to do with this receipt
        for source in event.data.get("reverses", ()):
            owed = min(state.debt_paid.get(source, 0), need)
            if owed:
                state.debt += owed
                need -= owed
                taken.append([None, owed])
                if state.debt_paid[source] == owed:
                    del state.debt_paid[source]
                else:
                    state.debt_paid[source] -= owed
    for lot in state.lots:
        if not need:
            break
        take = min(lot.remaining, need)
        if take:
            lot.remaining -= take
            need -= take
            taken.append([lot.lot_id, take])
    if need:
        state.debt += need
        taken.append([None, need])
    state.consumptions[event.event_id] = taken


def _restore(state: MemberState, event: Event) -> None:
    """A positive reversal gives points back to the lots the reversed spends took them from."""
    left = event.points
    by_id = {lot.lot_id: lot for lot in state.lots}
    for source in reversed(event.data.get("reverses", ())):
        for entry in reversed(state.consumptions.get(source, [])):
            if not left:
                break
            lot_id, amount = entry
            give = min(amount, left)
            if lot_id is None:
                give = min(give, state.debt)
                state.debt -= give
            elif lot_id in by_id:
                lot = by_id[lot_id]
                give = min(give, lot.original - lot.remaining)
                lot.remaining += give
            else:
                give = 0
            entry[1] -= give
            left -= give
    if left:
        _credit(state, event.event_id, left, event.occurred, event.data)


def _apply_pin(state: MemberState, action: str | None, pin_hash: str | None,
               at: datetime) -> None:
    """A `pin` event: `set` (a new hash; the count starts again), `failed` (one more wrong
    try), `ok` (a right try after wrong ones: the count starts again)."""
    if action == "set" and pin_hash:
        state.pin_hash, state.pin_failures, state.pin_failed_at = pin_hash, 0, None
    elif action == "failed":
        state.pin_failures += 1
        state.pin_failed_at = at
    elif action == "ok":
        state.pin_failures, state.pin_failed_at = 0, None


def _record_receipt(state: MemberState, event: Event, at: datetime) -> None:
    rec = state.receipts.get(event.ref)
    if rec is None:
        rec = state.receipts[event.ref] = ReceiptRecord(ref=event.ref, occurred_at=at)
    rec.event_ids.append(event.event_id)
    rec.points += event.points
    rec.amount += event.amount
    for card, delta in event.stamps.items():
        rec.stamps[card] = rec.stamps.get(card, 0) + delta
    data = event.data
    if event.kind == Kind.EARN:
        rec.earn_event_id = event.event_id
        rec.purchase_points += event.points
        for card, delta in event.stamps.items():
            rec.purchase_stamps[card] = rec.purchase_stamps.get(card, 0) + delta
        if data.get("items"):
            rec.items = [[i["line_no"], i["qty"], i["net"], i["earning"], i["exact"],
                          dict(i.get("stamps", {}))] for i in data["items"]]
            rec.earn_rounding = str(data.get("rounding", ""))
    if event.kind == Kind.STAMP and data.get("card") and data.get("completed"):
        card = data["card"]
        each = -event.stamps.get(card, 0) // data["completed"]
        for voucher in data.get("vouchers_issued", ()):
            rec.completions[voucher["code"]] = [card, each]
    if event.kind == Kind.REDEEM and data.get("reward_id"):
        rec.rewards.append(data["reward_id"])

    rec.vouchers_issued += [v["code"] for v in data.get("vouchers_issued", ())]
    if data.get("voucher_used"):
        rec.vouchers_used.append(data["voucher_used"])
    if data.get("once"):
        rec.once_keys.append(data["once"])


def _record_reversal(state: MemberState, event: Event) -> None:
    rec = state.receipts.get(event.ref)
    data = event.data
    if rec is None:
        return
    rec.reversed_points += -event.points
    rec.reversed_purchase_points += data.get("purchase_points", 0)
    rec.reversed_amount += -event.amount
    for card, delta in event.stamps.items():
        rec.reversed_stamps[card] = rec.reversed_stamps.get(card, 0) - delta
    for card, delta in data.get("purchase_stamps", {}).items():
        rec.reversed_purchase_stamps[card] = rec.reversed_purchase_stamps.get(card, 0) + delta
    if event.amount and rec.earn_event_id in state.spend:
        state.spend[rec.earn_event_id][1] += event.amount
    for entry in data.get("returns", ()):
        key = str(entry["line_no"])
        rec.returned[key] = rec.returned.get(key, 0) + entry["qty"]
    if not data.get("full") and "returns" not in data and event.amount:
        rec.refunded_by_amount = True
    if data.get("full"):
        rec.voided = True
        for key in rec.once_keys:
            state.once_keys.discard(key)
        for rid in rec.rewards:
            state.reward_counts[rid] = state.reward_counts.get(rid, 0) - 1
        # Voids recorded since issue 17 name the vouchers they revoke (a used one whose
        # completion stays is not among them); older voids revoked every voucher issued.
        revoked = data.get("vouchers_revoked")
        for code in rec.vouchers_issued if revoked is None else revoked:
            if code in state.vouchers:
                state.vouchers[code].status = "revoked"
        for code in rec.vouchers_used:
            if code in state.vouchers and state.vouchers[code].status == "used":
                state.vouchers[code].status = "issued"
