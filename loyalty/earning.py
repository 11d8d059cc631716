"""The earning rule: what a sale, a visit or an enrolment earns, as events to record.

Purchase points for a sale = sum over lines of
    line total x earn_rate x (tier multiplier x promotions, capped) / 10^currency_exponent
computed exactly (fractions) and rounded once per sale with the program's rounding. The
tier is the member's tier just before the sale. Stamps: one per unit on lines whose
category or SKU a stamp card lists; a card that reaches its count issues its reward as a
voucher and starts again (a sale can complete a card more than once).

    >>> result = earn_for_sale(program, state, sale, at, receipt_no="S001-T1-000042")
    >>> [d.kind for d in result.drafts], result.purchase_points
    (['earn', 'bonus'], 12)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import (
    ROUND_CEILING,
    ROUND_FLOOR,
    Context,
    Decimal,
    Inexact,
    InvalidOperation,
    Overflow,
)
from typing import Any

from loyalty.basket import Ticket, allocate
from loyalty.errors import SaleError
from loyalty.events import Event, EventDraft, Kind
from loyalty.expiry import lot_expiry
from loyalty.fold import MemberState
from loyalty.ids import voucher_code
from loyalty.program import Program, Rounding, Tier
from loyalty.promotions import line_multiplier
from loyalty.sale import Sale, SaleLine
from loyalty.tiers import qualifying_spend, tier_at

# Exact decimal arithmetic: multipliers are decimals with a few digits and amounts are
# integers, so with this much precision no product or sum is ever rounded (the traps
# would say so); the one rounding is the program's, once per sale.
_EXACT = Context(prec=60, traps=[Inexact, Overflow, InvalidOperation])
_HALF = Decimal("0.5")


def round_points(exact: Decimal, rounding: Rounding) -> int:
    if rounding is Rounding.FLOOR:
        return int(exact.to_integral_value(ROUND_FLOOR, _EXACT))
    if rounding is Rounding.CEIL:
        return int(exact.to_integral_value(ROUND_CEILING, _EXACT))
    return int(_EXACT.add(exact, _HALF).to_integral_value(ROUND_FLOOR, _EXACT))


def purchase_points(
    program: Program, tier: Tier, lines: tuple[SaleLine, ...], day: date
) -> tuple[int, tuple[str, ...]]:
    """Points for the lines of a sale and the names of the promotions that applied (in the
    order they first applied): each line's total x earn rate x its multiplier, summed
    exactly, then rounded once."""
    exact = Decimal(0)
    used: list[str] = []
    for line in lines:
        multiplier, promos = line_multiplier(program, tier, line, day)
        exact = _EXACT.add(exact, _EXACT.multiply(Decimal(line.total * program.earn_rate),
                                                  multiplier))
        used += [p for p in promos if p not in used]
    exact = _EXACT.scaleb(exact, -program.currency_exponent)
    return round_points(exact, program.rounding), tuple(used)


@dataclass(frozen=True)
class EarnLine:
    """One line as the earn sees it: `net` is what the customer pays for it (after its
    share of basket discounts), `earning` the part of it that earns (less its share of a
    points payment unless `[program] earn_on_points_paid`), `stamp_qty` its units that
    earn stamps (units a reward made free earn none)."""

    line_no: int
    sku: str
    category: str
    qty: int
    net: int
    earning: int
    stamp_qty: int


def earn_lines(program: Program, sale: Sale | Ticket, points_paid: int = 0) -> list[EarnLine]:
    """The earn's view of a sale or a priced ticket, `points_paid` (money paid with
    points) shared over the lines by their net: `earn_lines(program, ticket, 300)`."""
    if isinstance(sale, Ticket):
        raw = [(ln.line_no, ln.sku, ln.category, ln.qty, ln.net, ln.qty - ln.free_qty)
               for ln in sale.lines]
    else:
        raw = [(i, ln.sku, ln.category, ln.qty, ln.total, ln.qty)
               for i, ln in enumerate(sale.lines, 1)]
    total = sum(r[4] for r in raw)
    if points_paid < 0 or points_paid > total:
        raise SaleError("the part paid with points must be between 0 and the total")
    shares = dict(allocate(0 if program.earn_on_points_paid else points_paid,
                           [(r[0], r[4]) for r in raw]))
    return [EarnLine(no, sku, cat, qty, net, net - shares.get(no, 0), sq)
            for no, sku, cat, qty, net, sq in raw]


def earn_items(program: Program, tier: Tier, lines: list[EarnLine],
               day: date) -> tuple[int, tuple[str, ...], list[dict[str, Any]]]:
    """Purchase points of `lines` (exactly as `purchase_points`: summed exactly, rounded
    once), the promotions used, and per line the record a line return needs:
    `{"line_no", "sku", "category", "qty", "net", "earning", "exact", "points",
    "stamps"}`. A line's `points` is its share of the rounded total (rounded on the
    running sum, so the shares add up to it); `exact` its unrounded points as decimal text."""
    used: list[str] = []
    items: list[dict[str, Any]] = []
    running = Decimal(0)
    given = 0
    for ln in lines:
        multiplier, promos = line_multiplier(
            program, tier, SaleLine(ln.sku, ln.category, ln.qty, 0), day)
        used += [p for p in promos if p not in used]
        exact = _EXACT.scaleb(_EXACT.multiply(Decimal(ln.earning * program.earn_rate),
                                              multiplier), -program.currency_exponent)
        running = _EXACT.add(running, exact)
        share = round_points(running, program.rounding) - given
        given += share
        stamps = {card.id: ln.stamp_qty for card in program.stamp_cards
                  if ln.stamp_qty and (ln.category in card.categories
                                       or ln.sku in card.products)}
        items.append({"line_no": ln.line_no, "sku": ln.sku, "category": ln.category,
                      "qty": ln.qty, "net": ln.net, "earning": ln.earning,
                      "exact": _decimal_text(exact), "points": share, "stamps": stamps})
    return given, tuple(used), items


def _decimal_text(value: Decimal) -> str:
    return format(value.normalize(_EXACT), "f") if value else "0"


def stamps_for_lines(program: Program, lines: tuple[SaleLine, ...]) -> dict[str, int]:
    stamps: dict[str, int] = {}
    for card in program.stamp_cards:
        count = sum(
            line.qty
            for line in lines
            if line.category in card.categories or line.sku in card.products
        )
        if count:
            stamps[card.id] = count
    return stamps


def local_day(program: Program, at: datetime) -> date:
    return at.astimezone(program.zone).date()


@dataclass(frozen=True)
class EarnResult:
    drafts: list[EventDraft]
    purchase_points: int
    promotions: tuple[str, ...]
    bonuses: list[tuple[str, int]] = field(default_factory=list)
    stamps: dict[str, int] = field(default_factory=dict)
    vouchers: list[dict] = field(default_factory=list)
    tier: str = ""
    qualifying_spend: int = 0
    """The member's qualifying spend just before the sale (what `tier` was chosen from):
    the tier after the sale is `tier_at(..., spend=qualifying_spend + sale.total)`."""

    @property
    def points(self) -> int:
        return sum(d.points for d in self.drafts)


def earn_for_sale(
    program: Program,
    state: MemberState,
    sale: Sale | Ticket,
    at: datetime,
    *,
    receipt_no: str,
    birthday: date | None = None,
    points_paid: int = 0,
) -> EarnResult:
    """The events a sale earns: purchase points and stamps, card completions, and the
    day's visit bonus and the birthday bonus when they are due. `sale` is a Sale (lines
    at their price) or a priced Ticket (each line earns on its net, after its share of
    the ticket's discounts; units a reward made free earn no stamp); `points_paid` is the
    money paid with points (`Settlement.points_value`), which earns only with `[program]
    earn_on_points_paid`:
    `earn_for_sale(program, state, ticket, at, receipt_no="S001-T1-000042", points_paid=300)`.

    The earn's `data.items` holds each line's facts (see `earn_items`), so a return by
    line (loyalty.reversal.return_lines) takes back exactly what it earned."""
    spend = qualifying_spend(state, program, at)
    tier = tier_at(state, program, at, spend=spend)
    day = local_day(program, at)
    lines = earn_lines(program, sale, points_paid)
    points, promos, items = earn_items(program, tier, lines, day)
    stamps: dict[str, int] = {}
    for item in items:
        for card_id, n in item["stamps"].items():
            stamps[card_id] = stamps.get(card_id, 0) + n
    # the lines at their price, as earns have always recorded them (readers of "lines")
    gross = [[ln.sku, ln.category, ln.qty, ln.unit_price] for ln in sale.lines]
    # Every lot this sale credits is in the same tier at the same instant.
    expires_at = lot_expiry(state, program, at, tier)
    drafts = [
        EventDraft(
            kind=Kind.EARN,
            member_id=state.member_id,
            points=points,
            stamps=stamps,
            amount=sale.total,
            currency=program.currency,
            ref=receipt_no,
            data={
                "lines": gross,
                "tier": tier.name,
                "promotions": list(promos),
                "expires_at": expires_at,
                "items": items,
                "rounding": program.rounding.value,
                "points_paid": points_paid,
            },
        )
    ]
    vouchers: list[dict] = []
    for card in program.stamp_cards:
        have = state.stamps.get(card.id, 0) + stamps.get(card.id, 0)
        completed = have // card.stamps_to_complete if have > 0 else 0
        if not completed:
            continue
        reward = program.reward(card.reward)
        valid_until = (day + timedelta(days=reward.voucher_days if reward else 90)).isoformat()
        issued = [
            {
                "code": voucher_code(state.member_id, f"{receipt_no}/{card.id}", i),
                "reward_id": card.reward,
                "valid_until": valid_until,
            }
            for i in range(completed)
        ]
        vouchers += issued
        drafts.append(
            EventDraft(
                kind=Kind.STAMP,
                member_id=state.member_id,
                stamps={card.id: -completed * card.stamps_to_complete},
                ref=receipt_no,
                data={"card": card.id, "completed": completed, "vouchers_issued": issued},
            )
        )
    bonus_drafts = visit_bonuses(program, state, at, receipt_no=receipt_no, birthday=birthday,
                                 tier=tier, day=day, expires_at=expires_at)
    drafts += bonus_drafts
    return EarnResult(
        drafts=drafts,
        purchase_points=points,
        promotions=promos,
        bonuses=[(d.data["reason"], d.points) for d in bonus_drafts],
        stamps=stamps,
        vouchers=vouchers,
        tier=tier.name,
        qualifying_spend=spend,
    )


def _bonus(
    program: Program, state: MemberState, at: datetime, points: int, reason: str, once: str,
    ref: str, member_id: str | None = None, tier: Tier | None = None,
    expires_at: str | None = None,
) -> EventDraft:
    return EventDraft(
        kind=Kind.BONUS,
        member_id=member_id or state.member_id,
        points=points,
        ref=ref,
        data={"reason": reason, "once": once,
              "expires_at": expires_at or lot_expiry(state, program, at, tier)},
    )


def visit_bonuses(
    program: Program,
    state: MemberState,
    at: datetime,
    *,
    receipt_no: str,
    birthday: date | None = None,
    tier: Tier | None = None,
    day: date | None = None,
    expires_at: str | None = None,
) -> list[EventDraft]:
    """The first-visit-of-the-day bonus and, in the birthday month, the yearly birthday
    bonus; each only if this member has not had it for that day/year. A caller that has
    the member's tier, the local day and the lot expiry for `at` already passes them."""
    day = day or local_day(program, at)
    drafts: list[EventDraft] = []
    visit_key = f"visit:{day.isoformat()}"
    due_visit = program.bonuses.visit and visit_key not in state.once_keys
    birthday_key = f"birthday:{day.year}"
    due_birthday = (
        program.bonuses.birthday
        and birthday is not None
        and birthday.month == day.month
        and birthday_key not in state.once_keys
    )
    if not (due_visit or due_birthday):
        return drafts
    if expires_at is None:
        expires_at = lot_expiry(state, program, at, tier)
    if due_visit:
        drafts.append(
            _bonus(program, state, at, program.bonuses.visit, "Store visit", visit_key, receipt_no,
                   expires_at=expires_at)
        )
    if due_birthday:
        drafts.append(
            _bonus(program, state, at, program.bonuses.birthday, "Birthday", birthday_key,
                   receipt_no, expires_at=expires_at)
        )
    return drafts


def enrolment_drafts(
    program: Program,
    member_id: str,
    at: datetime,
    *,
    receipt_no: str,
    channel: str,
    referrer: MemberState | None = None,
) -> list[EventDraft]:
    """Enrolment, welcome bonus and, if referred, the referral bonus for both sides."""
    fresh = MemberState(member_id=member_id)
    drafts = [EventDraft(kind=Kind.ENROL, member_id=member_id, ref=receipt_no,
                         data={"channel": channel})]
    if program.bonuses.welcome:
        drafts.append(
            _bonus(program, fresh, at, program.bonuses.welcome, "Welcome", "welcome", receipt_no)
        )
    if referrer is not None:
        if program.bonuses.referral_referee:
            drafts.append(
                _bonus(program, fresh, at, program.bonuses.referral_referee, "Referred by a friend",
                       "referred", receipt_no)
            )
        if program.bonuses.referral_referrer:
            drafts.append(
                _bonus(program, referrer, at, program.bonuses.referral_referrer,
                       "Referred a friend", f"referral:{member_id}", receipt_no,
                       member_id=referrer.member_id)
            )
    return drafts


def recompute_earn(program: Program, event: Event) -> int:
    """What an `earn` event's points should be under `program`, from its own recorded
    lines and tier: the hub compares this with the event and flags a mismatch."""
    tier = program.tier_named(event.data.get("tier", "")) or program.tiers[0]
    day = local_day(program, event.occurred)
    if event.data.get("items"):
        points, _, _ = earn_items(program, tier, lines_of_items(program, event.data), day)
        return points
    lines = tuple(SaleLine(*line) for line in event.data.get("lines", ()))
    points, _ = purchase_points(program, tier, lines, day)
    return points


def lines_of_items(program: Program, data: dict[str, Any]) -> list[EarnLine]:
    """The earn lines an earn event's `data.items` records, with the part that earns
    re-derived under `program` from the nets and `data.points_paid` (not the recorded
    `earning`): what the hub re-derives with. Stamps: one per unit, the most a line
    can give."""
    paid = data.get("points_paid", 0)
    items = data["items"]
    total = sum(i["net"] for i in items)
    paid = paid if type(paid) is int and 0 <= paid <= total else 0
    shares = dict(allocate(0 if program.earn_on_points_paid else paid,
                           [(i["line_no"], i["net"]) for i in items]))
    return [EarnLine(i["line_no"], str(i.get("sku", "")), str(i.get("category", "")),
                     i["qty"], i["net"], i["net"] - shares.get(i["line_no"], 0), i["qty"])
            for i in items]
