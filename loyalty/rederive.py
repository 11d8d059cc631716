"""What each origin may assert, and the points an event carries beyond the program's rules.

The hub re-derives every event a terminal or the online channel records, with the program
version the event names and the member's state just before it (in fold order), using the
same functions the recording side used (`loyalty.earning`, `loyalty.reversal`, the
reward catalog):

    >>> may_send("terminal", "adjust")
    False
    >>> found = excess(program, state, event)       # None: the rules give what it says
    >>> found.points, found.reason
    (999989, 'receipt S001-T1-000042 earned 999,999; program 3f2a9c0e1b2d4f60 gives 10')

An `Excess` with `points > 0` is minted value: the hub keeps the event (a receipt is a
fact) and holds those points (a `hold` event, `loyalty.fold.Hold`) until HQ releases
them. `points == 0` is a mismatch that mints nothing (an earn below what the rules give,
stamps beyond them): flagged for HQ, nothing held.

What is re-derived, by kind:

- earn: purchase points from the event's own lines (rate, promotions of the day, rounding),
  at the tier the event names unless the member's state gives a lower one; lines that do
  not add up to the sale's amount count as the amount alone. Stamps beyond what the lines
  give are reported, not held.
- bonus: only the program's own bonuses, at their points, each once: `welcome`,
  `referred`, `referral:<member>`, `visit:<day>` (the local day the event happened) and
  `birthday:<year>` (the year it happened, in the member's birthday month).
- redeem: a reward taken for fewer points than it costs; pay with points worth more
  money than its points buy.
- reverse: a void or refund that gives back more, or takes back less, than the receipt
  it reverses allows (`loyalty.reversal.reverse_receipt` on the same state).

Everything else a terminal or channel may send moves no points (enrol, stamp, link, pin).
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal

from loyalty.earning import (
    earn_items,
    lines_of_items,
    local_day,
    purchase_points,
    stamps_for_lines,
)
from loyalty.errors import ReversalError
from loyalty.events import Event, Kind
from loyalty.fold import MemberState
from loyalty.ids import deterministic_event_id
from loyalty.program import Program, RewardKind, Tier
from loyalty.reversal import return_lines, reverse_receipt
from loyalty.sale import OTHER_SKU, SaleLine
from loyalty.tiers import tier_at

# What each kind of origin may record. A till makes sales, enrolments, its program's own
# bonuses, redemptions, voids and refunds, card links and PIN events; the web shop the same
# but card links (it issues its own cards at enrolment). Adjustments, merges, expiry, tier
# changes, paid memberships, holds and releases are the hub's own (admin and jobs).
ROLE_KINDS: dict[str, frozenset[str]] = {
    "terminal": frozenset({Kind.ENROL, Kind.EARN, Kind.STAMP, Kind.BONUS, Kind.REDEEM,
                           Kind.REVERSE, Kind.LINK, Kind.PIN}),
    "channel": frozenset({Kind.ENROL, Kind.EARN, Kind.STAMP, Kind.BONUS, Kind.REDEEM,
                          Kind.REVERSE, Kind.PIN}),
    "hub": frozenset(Kind),
}


def may_send(role: str, kind: str) -> bool:
    """Whether an origin of `role` (terminal, channel, hub) may record events of `kind`."""
    return kind in ROLE_KINDS.get(role, ())


@dataclass(frozen=True)
class Excess:
    points: int
    """Points beyond the rules (held); 0 for a mismatch that mints nothing."""
    reason: str
    """One sentence for HQ: what the event says and what the rules give."""
    stamps: dict[str, int] = field(default_factory=dict)
    """Stamps beyond what the rules give, per card (reported, not held)."""


def hold_event_id(event: Event) -> str:
    """The id of the hub's `hold` of `event`'s excess: the same for every try, so a hold
    is recorded once."""
    return deterministic_event_id(event.member_id, Kind.HOLD, event.event_id)


def release_event_id(member_id: str, hold_id: str) -> str:
    """The id of the `release` of a hold (HQ released or cancelled it): recorded once."""
    return deterministic_event_id(member_id, Kind.RELEASE, hold_id)


def needs_birthday(event: Event) -> bool:
    """Whether judging `event` needs the member's birthday (a birthday bonus)."""
    return event.kind == Kind.BONUS and str(event.data.get("once", "")).startswith("birthday:")


def excess(program: Program, state: MemberState, event: Event, *,
           birthday: date | None = None, once_taken: Collection[str] = ()) -> Excess | None:
    """What `event` asserts beyond `program`'s rules, judged on `state` (the member just
    before it), or None. `birthday`: the member's, for a birthday bonus. `once_taken`:
    once-only bonus keys other events already took (the hub passes those of the member
    as it stood before the batch, so the second of two bonuses is held whichever sorts
    first).

        >>> excess(program, state, second_welcome).reason
        'receipt S001-T1-000007: a second Welcome bonus (welcome): each is given once'
    """
    if event.kind == Kind.EARN:
        return _earn(program, state, event)
    if event.kind == Kind.BONUS:
        return _bonus(program, state, event, birthday, once_taken)
    if event.kind == Kind.REDEEM:
        return _redeem(program, state, event)
    if event.kind == Kind.REVERSE:
        return _reverse(state, event)
    return None


def _receipt(event: Event) -> str:
    return f"receipt {event.ref}" if event.ref else f"event {event.event_id}"


def _lines(event: Event) -> tuple[SaleLine, ...]:
    """The sale's lines as recorded, or the amount alone when they are malformed or do not
    add up to it (an honest till's lines always do: `loyalty.sale.make_sale`)."""
    raw = event.data.get("lines")
    lines: list[SaleLine] = []
    if isinstance(raw, list):
        for line in raw:
            if not (isinstance(line, list) and len(line) == 4
                    and isinstance(line[0], str) and isinstance(line[1], str)
                    and type(line[2]) is int and type(line[3]) is int
                    and line[2] >= 1 and line[3] >= 0):
                lines = []
                break
            lines.append(SaleLine(*line))
    if lines and sum(line.total for line in lines) == event.amount:
        return tuple(lines)
    return (SaleLine(OTHER_SKU, "", 1, event.amount),) if event.amount > 0 else ()


def _tier(program: Program, state: MemberState, event: Event) -> tuple[Tier, str]:
    """The tier to earn at: the one the event names, unless the member's state before it
    gives a lower one (a till can only know less spend than the hub, or as much)."""
    claimed = program.tier_named(str(event.data.get("tier", ""))) or program.tiers[0]
    at = event.occurred
    if claimed.threshold <= program.tiers[0].threshold or _reaches(state, program, claimed, at):
        return claimed, ""
    actual = tier_at(state, program, at)
    return actual, f" at tier {actual.name} (the event says {claimed.name})"


def _reaches(state: MemberState, program: Program, tier: Tier, at: datetime) -> bool:
    """Whether the member is in `tier` or above at `at`: `tier_at`'s answer, but summing
    the spend window newest first and stopping at the threshold (spend entries are net
    of refunds, never negative), as most earns of a member in a tier get there within a
    few sales (a Gold member's earn re-derived in 20 us, not 70, with 200 sales)."""
    if state.paid_tier and at < state.paid_tier[1]:
        paid = program.tier_named(state.paid_tier[0])
        if paid and paid.threshold >= tier.threshold:
            return True
    start = at - timedelta(days=program.tier_window_days)
    total = 0
    for when, amount in reversed(state.spend.values()):
        if start < when <= at:
            total += amount
            if total >= tier.threshold:
                return True
    return False


def _items_usable(event: Event) -> bool:
    """Whether the earn's `items` (issue 17: nets after discounts) can be re-derived
    from: well formed (the hub's edge checked their shapes) and adding up to its amount."""
    items = event.data.get("items")
    return (isinstance(items, list) and bool(items)
            and all(i["qty"] >= 1 and i["net"] >= 0 for i in items)
            and sum(i["net"] for i in items) == event.amount)


def _earn(program: Program, state: MemberState, event: Event) -> Excess | None:
    tier, why = _tier(program, state, event)
    day = local_day(program, event.occurred)
    if _items_usable(event):
        earn_lines = lines_of_items(program, event.data)
        expected, _, items = earn_items(program, tier, earn_lines, day)
        stamps = stamps_for_lines(program, tuple(
            SaleLine(ln.sku, ln.category, ln.qty, 0) for ln in earn_lines))
        # a line's recorded exact points decide what a return of it takes back: one
        # written above the rules would keep points when the line comes back
        bad = [mine["line_no"] for mine, said in zip(items, event.data["items"], strict=True)
               if Decimal(said["exact"]) > Decimal(mine["exact"])]
        if bad and expected == event.points:
            return Excess(0, f"{_receipt(event)}: line(s) {', '.join(map(str, bad))} record "
                             f"more exact points than program {program.version} gives")
    else:
        lines = _lines(event)
        expected, _ = purchase_points(program, tier, lines, day)
        stamps = stamps_for_lines(program, lines)
    extra = {card: n - stamps.get(card, 0) for card, n in event.stamps.items()
             if n > stamps.get(card, 0)}
    if expected == event.points and not extra:
        return None
    reason = (f"{_receipt(event)} earned {event.points:,}; program {program.version} "
              f"gives {expected:,}{why}")
    if extra:
        reason += "; stamps " + ", ".join(
            f"{card} {event.stamps[card]} (gives {stamps.get(card, 0)})" for card in extra)
    return Excess(max(0, event.points - expected), reason, extra)


# once key (before any ":") -> (the bonus's name, the program's points for it)
def _bonus_rules(program: Program) -> dict[str, tuple[str, int]]:
    b = program.bonuses
    return {"welcome": ("Welcome", b.welcome), "referred": ("Referred by a friend",
            b.referral_referee), "referral": ("Referred a friend", b.referral_referrer),
            "visit": ("Store visit", b.visit), "birthday": ("Birthday", b.birthday)}


def _bonus(program: Program, state: MemberState, event: Event, birthday: date | None,
           once_taken: Collection[str]) -> Excess | None:
    if event.points <= 0:
        return None
    once = event.data.get("once")
    what = _receipt(event)
    key, _, arg = once.partition(":") if isinstance(once, str) else ("", "", "")
    rule = _bonus_rules(program).get(key)
    # welcome and referred are keys of their own; the others name their day, year or member
    well_formed = once == key if key in ("welcome", "referred") else bool(arg)
    if rule is None or not well_formed:
        said = event.data.get("reason") or once or "with no reason"
        return Excess(event.points, f"{what}: a bonus {said!r} of {event.points:,} is not "
                                    f"one of program {program.version}'s bonuses")
    name, points = rule
    if once in state.once_keys or once in once_taken:
        return Excess(event.points, f"{what}: a second {name} bonus ({once}): each is "
                                    "given once")
    day = local_day(program, event.occurred)
    if key == "visit" and arg != day.isoformat():
        return Excess(event.points, f"{what}: a Store visit bonus for {arg} on {day}")
    if key == "birthday" and (birthday is None or birthday.month != day.month
                              or arg != str(day.year)):
        known = f"is in {birthday:%B}" if birthday else "is not known at the hub"
        return Excess(event.points, f"{what}: a Birthday bonus ({once}) on {day}; "
                                    f"the member's birthday {known}")
    if event.points > points:
        return Excess(event.points - points, f"{what}: a {name} bonus of {event.points:,}; "
                                             f"program {program.version} gives {points:,}")
    return None


def _redeem(program: Program, state: MemberState, event: Event) -> Excess | None:
    used = event.data.get("voucher_used")
    if used:
        return _voucher(state, event, used)
    reward_id = event.data.get("reward_id")
    if not isinstance(reward_id, str):
        return None
    reward = program.reward(reward_id)
    if reward is None:
        return None
    if reward.cost == 0 and reward.kind is not RewardKind.PAY_WITH_POINTS:
        # nothing to hold, but a free product taken without its stamp card's voucher
        return Excess(0, f"{_receipt(event)} took {reward.id} directly; it is given only "
                         "by a completed stamp card's voucher")
    taken = -event.points
    if reward.kind is RewardKind.PAY_WITH_POINTS:
        need = reward.min_points
        value = event.data.get("value")
        if reward.point_value and type(value) is int and value > 0:
            need = max(need, math.ceil(value / reward.point_value))
        priced = f"{reward.name} worth {value} needs {need:,}"
    else:
        need = reward.cost
        priced = f"{reward.name} costs {need:,}"
    if taken >= need:
        return None
    return Excess(need - taken, f"{_receipt(event)} redeemed {reward.id} for {taken:,}; "
                                f"in program {program.version} {priced}")


def _voucher(state: MemberState, event: Event, code: object) -> Excess | None:
    """A voucher is used once, and only one the member was issued: a second use (two
    offline stores) or a made-up code gives a free product, which cannot be held, so HQ
    is told."""
    voucher = state.vouchers.get(str(code).upper())
    if voucher is None:
        return Excess(0, f"{_receipt(event)} used voucher {code}, which this member was "
                         "never issued")
    if voucher.status != "issued":
        return Excess(0, f"{_receipt(event)} used voucher {code}, already {voucher.status}")
    return None


def _reverse(state: MemberState, event: Event) -> Excess | None:
    full = bool(event.data.get("full"))
    returns = event.data.get("returns")
    try:
        if returns:
            expected = return_lines(state, event.ref,
                                    [(r["line_no"], r["qty"]) for r in returns]).points
        else:
            expected = reverse_receipt(state, event.ref,
                                       refund_amount=None if full else -event.amount).points
    except ReversalError:
        expected = 0  # nothing left to reverse: it may take points back, never give any
    if event.points <= expected:
        return None
    what = "void" if full else "refund"
    return Excess(event.points - expected, f"{_receipt(event)}: the {what} moves "
                                           f"{event.points:+,} points; the receipt allows "
                                           f"{expected:+,}")
