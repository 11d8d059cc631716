"""What a cashier does, each as one transaction: sale, check-in, redeem, voucher, void, refund.

    >>> result = record_sale(store, member_id, make_sale(total=1250))
    >>> result.receipt_no, result.points_earned, result.balance
    ('S001-T1-000042', 17, 230)
    >>> redeem_reward(store, member_id, "free-latte", found_by="qr")   # offline rules
    >>> redeem_reward(store, member_id, "pay", found_by="card", pin="4821", points=200)
    >>> void_receipt(store, "S001-T1-000042")
    >>> refund_receipt(store, "S001-T1-000043", 500)

The arithmetic is `loyalty`'s (earn_for_sale, redeem, reverse_receipt...); this module
only reads the member's state, records the drafts (`pos_agent.ledger.record`) with the
receipt, and returns what the till shows (the receipt is printed after the commit:
`pos_agent.printing`). A domain refusal
(`LoyaltyError`) or a store refusal (`PosError`) raised inside the transaction rolls
everything back: nothing is written.

Spending (a reward, paying with points, a voucher) first needs proof that the member is
there (`pos_agent.pins.prove_possession`): their scanned QR, or their PIN, as the
program's `spend_proof` says; a typed card number or a phone number earns but does not
spend. A PIN try is recorded in its own transaction before the spend's.

Redemption asks an `Authorizer` first (the sync agent plugs the hub in); the default says
the hub is unreachable, so the offline rules apply and the event is marked
`approved_offline` beside it (approval is not part of the event: ARCHITECTURE.md).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from loyalty.basket import Applied, Basket, Ticket, applied_voucher, price
from loyalty.earning import earn_for_sale, visit_bonuses
from loyalty.errors import RedemptionError, ReversalError
from loyalty.events import Event, EventDraft, parse_instant
from loyalty.fold import MemberState
from loyalty.money import format_money, parse_amount
from loyalty.program import Program
from loyalty.redemption import OfflineContext, redeem, use_voucher
from loyalty.reversal import _part, return_lines, returnable, reverse_receipt
from loyalty.sale import Sale
from loyalty.tender import Settlement, Tender, TenderKind, pay_reward, settle
from loyalty.tiers import tier_at
from pos_agent.exceptions import MemberNotFound, ReceiptNotFound, StoreError
from pos_agent.ledger import (
    SEQ_MAX,
    Recorder,
    event_key,
    mark_acknowledged,
    pending_events,
    record,
    unacked_streams,
)
from pos_agent.limits import check_sale_total
from pos_agent.pins import prove_possession
from pos_agent.reports import day_bounds
from pos_agent.returns import returned_quantities
from pos_agent.staff import StaffMember, require_approval
from pos_agent.store import Store

# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SaleResult:
    receipt_no: str
    member_id: str | None
    total: int
    points_earned: int
    """Everything this receipt credited: purchase points (with tier and promotions) and
    bonuses."""
    purchase_points: int = 0
    promotions: tuple[str, ...] = ()
    bonuses: tuple[tuple[str, int], ...] = ()
    stamps: dict[str, int] = field(default_factory=dict)
    vouchers: tuple[dict, ...] = ()
    balance: int | None = None
    tier: str | None = None
    events: tuple[Event, ...] = ()
    state: MemberState | None = None
    """The member's state just after the sale (what `member_view` reads back now)."""


@dataclass(frozen=True)
class CheckinResult:
    member_id: str
    receipt_no: str | None
    """None when nothing was due (already checked in today): nothing is recorded."""
    bonuses: tuple[tuple[str, int], ...]
    balance: int
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class RedeemResult:
    receipt_no: str
    member_id: str
    reward_id: str
    reward_name: str
    points_spent: int
    approved_offline: bool
    balance: int
    vouchers: tuple[dict, ...] = ()
    event: Event | None = None


@dataclass(frozen=True)
class ReversalResult:
    receipt_no: str
    original: str
    kind: Literal["void", "refund"]
    amount: int
    points_reversed: int
    """Points taken back (positive) or given back (negative, voiding a redemption)."""
    member_id: str | None
    balance: int | None
    events: tuple[Event, ...] = ()


# -- authorisation (the sync agent plugs in here) -------------------------------------------


@dataclass(frozen=True)
class Authorization:
    status: Literal["authorized", "unreachable", "refused"]
    code: str = ""
    detail: str = ""
    results: tuple[dict, ...] = ()
    """The hub's push results (event_id, origin_seq, hub_seq) when authorized."""
    sent: bool = False
    """unreachable after the request left (a timeout): the hub may have recorded it."""


Authorizer = Callable[[Event, list[Event]], Authorization]
"""authorizer(redeem_event, pending_events_before_it) -> Authorization. Called inside the
redemption's transaction, with the event already numbered; it must return within the
authorize timeout. The real one POSTs /v1/redemptions/authorize."""


def offline_authorizer(event: Event, pending: list[Event]) -> Authorization:
    """The default: no hub (the CLI, or a terminal set up without one)."""
    return Authorization("unreachable")


# -- operations ---------------------------------------------------------------------------


def record_sale(
    store: Store,
    member_id: str | None,
    sale: Sale,
    *,
    at: datetime | None = None,
) -> SaleResult:
    """Record a sale; with a member, its points, stamps, card completions and due bonuses."""
    at = at or datetime.now(UTC)
    lines = [[ln.sku, ln.category, ln.qty, ln.unit_price] for ln in sale.lines]
    with record(store, at) as rec:
        receipt_no = rec.next_receipt_no()
        if member_id is None:
            rec.add_receipt(receipt_no, "sale", total=sale.total, lines=lines)
            return SaleResult(receipt_no, None, sale.total, 0)
        birthday = rec.birthday(member_id)
        state = rec.state(member_id)
        earn = earn_for_sale(rec.program, state, sale, at, receipt_no=receipt_no,
                             birthday=birthday)
        events = tuple([rec.append(d) for d in earn.drafts])
        points = earn.points
        details: dict = {"tier": earn.tier}
        # Only what this sale had: the readers take a missing list as empty.
        if earn.stamps:
            details["stamps"] = earn.stamps
        if earn.promotions:
            details["promotions"] = list(earn.promotions)
        if earn.bonuses:
            details["bonuses"] = earn.bonuses
        if earn.vouchers:
            details["vouchers"] = [v["code"] for v in earn.vouchers]
        rec.add_receipt(receipt_no, "sale", member_id=member_id, total=sale.total,
                        lines=lines, points_earned=points, details=details)
        program = rec.program
    # The sale's own earn event is the only spend it adds to the window (it is at `at`).
    tier = tier_at(state, program, at, spend=earn.qualifying_spend + sale.total)
    return SaleResult(
        receipt_no, member_id, sale.total, points, earn.purchase_points,
        earn.promotions, tuple(earn.bonuses), dict(earn.stamps), tuple(earn.vouchers),
        state.balance, tier.name, events, state,
    )


def check_in(store: Store, member_id: str, *, at: datetime | None = None) -> CheckinResult:
    """A store visit without a sale: the day's visit bonus (and birthday bonus) if due."""
    at = at or datetime.now(UTC)
    with record(store, at) as rec:
        _require_member(rec.conn, member_id)
        state = rec.state(member_id)
        receipt_no = f"{rec.identity.origin}-pending"
        drafts = visit_bonuses(rec.program, state, at, receipt_no=receipt_no,
                               birthday=rec.birthday(member_id))
        if not drafts:
            return CheckinResult(member_id, None, (), state.balance)
        receipt_no = rec.next_receipt_no()
        events = tuple(rec.append(_with_ref(d, receipt_no)) for d in drafts)
        bonuses = tuple((d.data["reason"], d.points) for d in drafts)
        rec.add_receipt(receipt_no, "checkin", member_id=member_id,
                        points_earned=sum(e.points for e in events),
                        details={"bonuses": bonuses})
    return CheckinResult(member_id, receipt_no, bonuses, state.balance, events)


def redeem_reward(
    store: Store,
    member_id: str,
    reward_id: str,
    *,
    found_by: str,
    pin: str | None = None,
    points: int | None = None,
    authorizer: Authorizer = offline_authorizer,
    at: datetime | None = None,
) -> RedeemResult:
    """Spend points on a reward: online authorisation first, else the offline rules.
    `found_by` is how the member was identified (`MemberMatch.found_by`); with a typed
    card or phone number `pin` is their PIN (`pos_agent.pins.prove_possession`)."""
    at = at or datetime.now(UTC)
    prove_possession(store, member_id, found_by, pin, at=at)
    cancelled: RedemptionError | None = None
    with record(store, at) as rec:
        _require_member(rec.conn, member_id)
        program = rec.program
        state = rec.state(member_id)
        receipt_no = rec.next_receipt_no()
        draft = redeem(program, state, reward_id, at, receipt_no=receipt_no, points=points,
                       stock_left=stock_left(rec.conn, program, reward_id))
        # Decide now whether the offline rules would allow it, while `state` is still the
        # state before this redemption; used only if the hub does not answer.
        offline_refusal: RedemptionError | None = None
        try:
            redeem(program, state, reward_id, at, receipt_no=receipt_no, points=points,
                   offline=_offline_context(rec.conn, program, member_id, at))
        except RedemptionError as exc:
            offline_refusal = exc
        spent = _authorized(rec, state, draft, offline_refusal, authorizer, receipt_no)
        event, approved_offline, cancelled = spent
        if cancelled is not None:
            rec.add_receipt(receipt_no, "redemption", member_id=member_id,
                            details={"reward_id": reward_id, "cancelled": True},
                            print_job=False)
        else:
            reward = program.reward(reward_id)
            rec.add_receipt(
                receipt_no, "redemption", member_id=member_id, points_spent=-event.points,
                approved_offline=approved_offline,
                details={"reward_id": reward_id, "reward_name": reward.name if reward else "",
                         "value": draft.data.get("value"),
                         "vouchers": [v["code"] for v in draft.data.get("vouchers_issued", ())]},
            )
    if cancelled is not None:
        raise cancelled
    reward = program.reward(reward_id)
    return RedeemResult(receipt_no, member_id, reward_id, reward.name if reward else reward_id,
                        -event.points, approved_offline, state.balance,
                        tuple(draft.data.get("vouchers_issued", ())), event)


def _authorized(rec: Recorder, state: MemberState, draft: EventDraft,
                offline_refusal: RedemptionError | None, authorizer: Authorizer,
                receipt_no: str) -> tuple[Event, bool, RedemptionError | None]:
    """Record the redemption `draft`, asking the hub first: (event, approved_offline,
    cancelled). Refused by the hub: RedemptionError (the caller's transaction rolls back;
    the hub kept nothing either). No answer: the offline rules decide (`offline_refusal`,
    computed by the caller on the state before it); if they refuse but the request may
    have reached the hub, the event is kept and taken back at once (`cancelled`: the
    caller commits that, then raises it), so its origin_seq means the same everywhere and
    no points move."""
    # Numbered before asking the hub: if the answer is lost, the event the hub may hold
    # and the one recorded here are the same (same id, seq, content).
    event = rec.append(draft)
    pending = [e for e in pending_events(rec.conn, 10_000, rec.identity.epoch)
               if e.event_id != event.event_id]
    answer = authorizer(event, pending)
    if answer.status == "refused":
        raise RedemptionError(answer.code or "refused",
                              answer.detail or "the hub refused this redemption")
    if answer.status == "authorized":
        mark_acknowledged(rec.conn, list(answer.results))
        return event, False, None
    if offline_refusal is not None:
        if not answer.sent:
            raise offline_refusal
        rec.append(reverse_receipt(state, receipt_no,
                                   reason="not authorised: the hub did not answer"))
        return event, True, offline_refusal
    rec.conn.execute("UPDATE events SET approved_offline = 1 WHERE event_key = ?",
                     (event_key(event.origin_epoch, event.origin_seq),))
    return event, True, None


def redeem_voucher(
    store: Store, member_id: str, code: str, *, found_by: str, pin: str | None = None,
    at: datetime | None = None
) -> RedeemResult:
    """Use one of the member's vouchers (a completed stamp card, a gift card); the same
    proof as `redeem_reward`."""
    at = at or datetime.now(UTC)
    prove_possession(store, member_id, found_by, pin, at=at)
    with record(store, at) as rec:
        _require_member(rec.conn, member_id)
        state = rec.state(member_id)
        receipt_no = rec.next_receipt_no()
        draft = use_voucher(rec.program, state, code, at, receipt_no=receipt_no)
        event = rec.append(draft)
        reward_id = draft.data["voucher_reward_id"]
        reward = rec.program.reward(reward_id)
        name = reward.name if reward else reward_id
        rec.add_receipt(receipt_no, "redemption", member_id=member_id,
                        details={"reward_id": reward_id, "reward_name": name,
                                 "voucher": draft.data["voucher_used"]})
    return RedeemResult(receipt_no, member_id, reward_id, name, 0, False, state.balance, (),
                        event)


def void_receipt(store: Store, receipt_no: str, *, at: datetime | None = None,
                 reason: str = "", approved_by: StaffMember | None = None) -> ReversalResult:
    """Void a sale or a redemption: reverse everything it still holds. On a till with
    staff, `approved_by` is the manager who entered their PIN
    (`pos_agent.staff.check_staff_pin(..., role="manager")`); the event names them."""
    return _reverse(store, receipt_no, None, at or datetime.now(UTC), reason, approved_by)


def refund_receipt(store: Store, receipt_no: str, amount: int, *, at: datetime | None = None,
                   reason: str = "", approved_by: StaffMember | None = None) -> ReversalResult:
    """Refund part (or the rest) of a sale; points and stamps go back in proportion. The
    same approval as `void_receipt`."""
    if amount <= 0:
        raise ReversalError("the refund amount must be more than 0")
    return _reverse(store, receipt_no, amount, at or datetime.now(UTC), reason, approved_by)


def _reverse(store: Store, receipt_no: str, amount: int | None, at: datetime,
             reason: str, approved_by: StaffMember | None = None) -> ReversalResult:
    kind: Literal["void", "refund"] = "void" if amount is None else "refund"
    with record(store, at) as rec:
        approver = require_approval(rec.conn, approved_by, f"a {kind}")
        row = rec.conn.execute(
            "SELECT kind, member_id, total, refunded, voided_by FROM receipts "
            "WHERE receipt_no = ?", (receipt_no,)
        ).fetchone()
        if row is None:
            raise ReceiptNotFound(
                f"no receipt {receipt_no} on this terminal: check the number on the receipt"
            )
        orig_kind, member_id, total, refunded, voided_by = row
        allowed = ("sale", "redemption") if kind == "void" else ("sale",)
        if orig_kind not in allowed:
            article = "an" if orig_kind[0] in "aeiou" else "a"
            raise StoreError(f"receipt {receipt_no} is {article} {orig_kind} receipt: it cannot be "
                             f"{'voided' if kind == 'void' else 'refunded'}")
        if voided_by:
            raise ReversalError(f"receipt {receipt_no} was already voided by {voided_by}")
        left = total - refunded
        if kind == "refund":
            if left <= 0:
                raise ReversalError(f"receipt {receipt_no} was already refunded in full")
            if amount > left:
                raise ReversalError(
                    f"at most {_money(rec.program, left)} of receipt {receipt_no} can still "
                    "be refunded"
                )
        new_no = rec.next_receipt_no()
        events: tuple[Event, ...] = ()
        balance = None
        # Every member receipt of these kinds has events (an earn, a redeem, a voucher use).
        if member_id is not None:
            state = rec.state(member_id)
            draft = reverse_receipt(state, receipt_no, refund_amount=amount,
                                    reason=reason or kind)
            if approver is not None:
                draft = replace(draft, data={**draft.data, "approved_by": approver})
            events = (rec.append(draft),)
            balance = state.balance
        reversed_points = -sum(e.points for e in events)
        money = left if kind == "void" else amount
        details = {"reason": reason} if reason else {}
        if approver is not None:
            details["approved_by"] = approver
        rec.add_receipt(new_no, kind, member_id=member_id, total=-money,
                        points_reversed=reversed_points, reverses=receipt_no,
                        details=details or None)
        if kind == "void":
            rec.conn.execute(
                "UPDATE receipts SET voided_by = ? WHERE receipt_no = ?", (new_no, receipt_no)
            )
        else:
            rec.conn.execute(
                "UPDATE receipts SET refunded = refunded + ? WHERE receipt_no = ?",
                (amount, receipt_no),
            )
    return ReversalResult(new_no, receipt_no, kind, money, reversed_points, member_id, balance,
                          events)


# -- the checkout: a basket paid at tender -------------------------------------------------


@dataclass(frozen=True)
class CheckoutResult:
    receipt_no: str
    member_id: str | None
    ticket: Ticket
    settlement: Settlement
    points_earned: int
    """What the earn credited (purchase points, promotions, bonuses)."""
    points_spent: int
    """Rewards bought on the ticket plus the points tender."""
    stamps: dict[str, int] = field(default_factory=dict)
    vouchers: tuple[dict, ...] = ()
    """Vouchers the sale issued (completed stamp cards)."""
    balance: int | None = None
    tier: str | None = None
    details: dict = field(default_factory=dict)
    """The receipt row's `details` (pos_agent.printing)."""
    events: tuple[Event, ...] = ()


@dataclass(frozen=True)
class LineRefundResult:
    receipt_no: str
    original: str
    amount: int
    """Money given back, split in `refunds` (the returned lines' nets, less the part paid
    with points: `refund_split`)."""
    lines: tuple[dict, ...]
    refunds: tuple[dict, ...]
    points_reversed: int
    stamps: dict[str, int]
    """Stamps taken back per card (negative)."""
    member_id: str | None
    balance: int | None
    events: tuple[Event, ...] = ()


def checkout(
    store: Store,
    member_id: str | None,
    basket: Basket,
    applied: Sequence[Applied],
    tenders: Sequence[Tender],
    *,
    found_by: str | None = None,
    pin: str | None = None,
    authorizer: Authorizer = offline_authorizer,
    at: datetime | None = None,
) -> CheckoutResult:
    """Price `basket` with `applied` rewards, take `tenders` and record it all in one
    transaction: each voucher used (`use_voucher`), each reward bought and the points
    tender (`redeem`; the points tender as the program's pay-with-points reward), the earn
    on what was paid (`points_paid` = the money paid with points), the receipt with its
    `details` and its print job. Any refusal records nothing. `Applied("", code)` is the
    member's voucher `code` (its reward is read from the member). Spending (a reward, a
    voucher, points) needs the proof `redeem_reward` needs (`found_by`, `pin`).

    Authorisation: a ticket whose points go to one spend (one reward bought, or the points
    tender) asks the hub through `authorizer` as `redeem_reward` does (the hub approves the
    last redemption of a push); refused, nothing is recorded; no answer, the offline rules
    decide. A ticket with several point spends keeps to the offline rules for all of them
    (approved_offline): the hub authorises one redemption per request, and a refusal of
    the second after the first was approved would leave the first at the hub alone. A
    voucher costs no points and is not asked about (the hub flags a voucher used twice).

        >>> checkout(store, member_id, basket, [Applied("ten-off")], [cash(2000)],
        ...          found_by="qr").settlement.change
        1208
    """
    at = at or datetime.now(UTC)
    if not basket.lines:
        raise StoreError("the basket is empty: add an item first")
    spends = bool(applied) or any(t.kind is TenderKind.POINTS for t in tenders)
    if spends:
        if member_id is None:
            raise StoreError("rewards, vouchers and points need a member: attach the member "
                             "first")
        prove_possession(store, member_id, found_by or "", pin, at=at)
    with record(store, at) as rec:
        program = rec.program
        receipt_no = rec.next_receipt_no()
        state = None
        if member_id is not None:
            birthday = rec.birthday(member_id)  # MemberNotFound
            state = rec.state(member_id)
            applied = [applied_voucher(state, a.voucher) if a.voucher and not a.reward_id
                       else a for a in applied]
        ticket = price(program, basket, applied)
        check_sale_total(store.settings, program, ticket)
        settlement = settle(program, ticket, tenders,
                            spendable=state.spendable if state is not None else None)
        if state is None and settlement.points_spent:
            raise StoreError("paying with points needs a member")
        events: list[Event] = []
        spent = 0
        approved_offline = False
        cancelled: RedemptionError | None = None
        if state is not None:
            offline = _offline_context(rec.conn, program, member_id, at)
            bought = [(reward_id, None) for reward_id in ticket.rewards_bought]
            if settlement.points_spent:
                bought.append((pay_reward(program).id, settlement.points_spent))
            ask_hub = len(bought) == 1 and authorizer is not offline_authorizer
            for code in ticket.vouchers_used:
                events.append(rec.append(use_voucher(program, state, code, at,
                                                     receipt_no=receipt_no)))
            for reward_id, points in bought:
                stock = stock_left(rec.conn, program, reward_id)
                if not ask_hub:
                    draft = redeem(program, state, reward_id, at, receipt_no=receipt_no,
                                   points=points, stock_left=stock, offline=offline)
                    events.append(rec.append(draft, approved_offline=True))
                    approved_offline = True
                    continue
                draft = redeem(program, state, reward_id, at, receipt_no=receipt_no,
                               points=points, stock_left=stock)
                refusal: RedemptionError | None = None
                try:  # on the state before it, as redeem_reward: if the hub does not answer
                    redeem(program, state, reward_id, at, receipt_no=receipt_no,
                           points=points, stock_left=stock, offline=offline)
                except RedemptionError as exc:
                    refusal = exc
                event, approved_offline, cancelled = _authorized(
                    rec, state, draft, refusal, authorizer, receipt_no)
                events.append(event)
            if cancelled is not None:
                rec.add_receipt(receipt_no, "redemption", member_id=member_id,
                                details={"reward_id": bought[0][0], "cancelled": True},
                                print_job=False)
            else:
                spent = -sum(e.points for e in events)
                earn = earn_for_sale(program, state, ticket, at, receipt_no=receipt_no,
                                     birthday=birthday, points_paid=settlement.points_value)
                events += [rec.append(d) for d in earn.drafts]
        if cancelled is None:  # else committed as it stands: the spend taken back, no sale
            details = ticket_details(program, ticket, settlement)
            earned = 0
            stamps: dict[str, int] = {}
            vouchers: tuple[dict, ...] = ()
            if state is not None:
                earned = earn.points
                stamps, vouchers = dict(earn.stamps), tuple(earn.vouchers)
                details["tier"] = earn.tier
                if earn.stamps:
                    details["stamps"] = earn.stamps
                if earn.promotions:
                    details["promotions"] = list(earn.promotions)
                if earn.bonuses:
                    details["bonuses"] = earn.bonuses
                if earn.vouchers:
                    details["vouchers"] = [v["code"] for v in earn.vouchers]
            gross = [[ln.sku, ln.category, ln.qty, ln.unit_price] for ln in ticket.lines]
            rec.add_receipt(receipt_no, "sale", member_id=member_id, total=ticket.total,
                            lines=gross, points_earned=earned, points_spent=spent,
                            approved_offline=approved_offline, details=details)
    if cancelled is not None:
        raise cancelled
    tier = None
    if state is not None:
        # as record_sale: the sale's own earn is the only spend it adds to the window
        tier = tier_at(state, program, at, spend=earn.qualifying_spend + ticket.total).name
    return CheckoutResult(receipt_no, member_id, ticket, settlement, earned, spent, stamps,
                          vouchers, state.balance if state is not None else None, tier,
                          details, tuple(events))


def ticket_details(program: Program, ticket: Ticket, settlement: Settlement) -> dict:
    """The receipt `details` of a priced, settled ticket (keys: pos_agent.printing):
    lines at their own (free-unit) discount, basket discounts, tax, tenders, change."""
    free_labels = {line_no: d.label for d in ticket.discounts if d.kind == "free_product"
                   for line_no, _ in d.shares}
    lines = []
    for ln in ticket.lines:
        free = ln.free_qty * ln.unit_price
        entry = {"line_no": ln.line_no, "sku": ln.sku, "name": ln.name,
                 "category": ln.category, "qty": ln.qty, "unit_price": ln.unit_price,
                 "total": ln.total - free, "net": ln.net, "tax_rate": ln.tax_rate}
        if free:
            entry["discount"] = free
            entry["discount_label"] = free_labels.get(ln.line_no, "free")
            if ln.free_qty >= ln.qty:
                entry["free"] = True
        if ln.override_reason:
            entry["override_reason"] = ln.override_reason
        lines.append(entry)
    return {
        "lines": lines,
        "subtotal": ticket.subtotal,
        "discounts": [{"label": d.label, "amount": d.amount, "reward_id": d.reward_id,
                       **({"voucher": d.voucher} if d.voucher else {})}
                      for d in ticket.discounts if d.kind != "free_product"],
        "tax": [{"rate": _rate_percent(t.rate), "base": t.base, "tax": t.tax}
                for t in ticket.taxes],
        "tenders": [_tender_entry(t) for t in settlement.tenders],
        "change": settlement.change,
        "rounding": settlement.rounding,
    }


def _tender_entry(t: Tender) -> dict:
    entry: dict = {"kind": t.kind.value, "amount": t.amount}
    if t.kind is TenderKind.POINTS:
        entry["points"] = t.points
    if t.code:
        entry["code_last4"] = t.code[-4:]
    return entry


def _rate_percent(rate: int) -> str:
    return format(Decimal(rate) / 100, "f").rstrip("0").rstrip(".") if rate % 100 else str(
        rate // 100)


def refund_split(tenders: Sequence[dict], total: int, before: int, amount: int) -> list[dict]:
    """`amount` of returned lines given back to a sale's `tenders` (its receipt's
    `details["tenders"]`), after `before` was already returned of a ticket of `total`.

    The rule: the money tenders share `M = total - points paid`: after returns totalling
    R, M x R / total (floored) has gone back in money in all, each non-cash money tender
    having had floor(paid x R / total) of it, cash last taking the rest (without cash, the
    last non-cash tender), so returning every line gives each tender exactly what it paid
    (cash net of change; the cash rounding is not given back). Points paid are not turned
    into money: they come back as points with the return of the last line (the receipt's
    void gives its spends back), listed then as a `points` entry.

        >>> refund_split([{"kind": "card", "amount": 1000}, {"kind": "cash", "amount": 2000}],
        ...              2080, 0, 1200)
        [{'kind': 'card', 'amount': 576}, {'kind': 'cash', 'amount': 624}]
    """
    if amount <= 0 or total <= 0:
        return []
    points_paid = [t for t in tenders if t["kind"] == "points"]
    money_total = total - sum(int(t["amount"]) for t in points_paid)
    done, upto = money_total * before // total, money_total * (before + amount) // total
    non_cash = [t for t in tenders if t["kind"] not in ("cash", "points")]
    has_cash = any(t["kind"] == "cash" for t in tenders)
    out: list[dict] = []
    left = upto - done
    for i, t in enumerate(non_cash):
        paid = int(t["amount"])
        if not has_cash and i == len(non_cash) - 1:
            share = left
        else:
            share = min(paid * (before + amount) // total - paid * before // total, left)
        left -= share
        if share:
            out.append({**t, "amount": share})
    if left:
        out.append({"kind": "cash", "amount": left})
    if before + amount >= total:
        out += [dict(t) for t in points_paid]
    return out


def refund_lines(
    store: Store,
    receipt_no: str,
    returns: Sequence[tuple[int, int]],
    *,
    reason: str,
    approved_by: StaffMember | None = None,
    at: datetime | None = None,
) -> LineRefundResult:
    """Return `qty` units of lines `line_no` of checkout receipt `receipt_no`: with a
    member, `loyalty.reversal.return_lines` takes back exactly those lines' points and
    stamps (all lines back: the receipt's void); a refund receipt lists the lines and the
    money split to the original tenders (`refund_split`), in one transaction. A reason is
    required; above `[terminal] refund_approval_above`, on a till with staff, a manager
    approves (`approved_by`)."""
    at = at or datetime.now(UTC)
    reason = (reason or "").strip()
    if not reason:
        raise StoreError("say why the lines are returned: --reason TEXT")
    with record(store, at) as rec:
        program = rec.program
        row = rec.conn.execute(
            "SELECT kind, member_id, total, refunded, voided_by, details FROM receipts "
            "WHERE receipt_no = ?", (receipt_no,)).fetchone()
        if row is None:
            raise ReceiptNotFound(
                f"no receipt {receipt_no} on this terminal: check the number on the receipt")
        kind, member_id, total, refunded, voided_by, details_text = row
        details = json.loads(details_text or "{}")
        if kind != "sale":
            raise StoreError(f"receipt {receipt_no} is not a sale: only a sale's lines can be "
                             "returned")
        if voided_by:
            raise ReversalError(f"receipt {receipt_no} was already voided by {voided_by}")
        sold = {int(ln["line_no"]): ln for ln in details.get("lines", ())}
        if not sold:
            raise ReversalError(f"receipt {receipt_no} was recorded without its lines: "
                                "refund it by amount")
        returned = returned_quantities(rec.conn, [receipt_no]).get(receipt_no, {})
        if refunded and not returned:
            raise ReversalError(f"receipt {receipt_no} was refunded by amount: refund the "
                                "rest by amount")
        asked = returnable(receipt_no, {no: int(ln["qty"]) for no, ln in sold.items()},
                           returned, returns)
        parts = {no: _part(int(sold[no].get("net", sold[no]["total"])), int(sold[no]["qty"]),
                           returned.get(no, 0), k) for no, k in asked.items()}
        events: tuple[Event, ...] = ()
        balance = None
        stamps: dict[str, int] = {}
        state = None
        if member_id is not None:
            state = rec.state(member_id)
            draft = return_lines(state, receipt_no, sorted(asked.items()), reason=reason)
            for entry in draft.data.get("returns", ()):
                parts[int(entry["line_no"])] = int(entry["refund"])
            amount = -draft.amount if draft.amount else sum(parts.values())
        else:
            amount = sum(parts.values())
        limit = parse_amount(store.settings.terminal.refund_approval_above,
                             program.currency_exponent)
        approver = None
        if amount > limit:
            approver = require_approval(
                rec.conn, approved_by,
                f"a refund above {_money(program, limit)} ([terminal] refund_approval_above)")
        elif approved_by is not None and approved_by.is_manager:
            approver = approved_by.staff_id
        if state is not None:
            if approver is not None:
                draft = replace(draft, data={**draft.data, "approved_by": approver})
            events = (rec.append(draft),)
            balance = state.balance
            stamps = dict(events[0].stamps)
        points_reversed = -sum(e.points for e in events)
        new_no = rec.next_receipt_no()
        lines = [{"line_no": no, "sku": sold[no]["sku"], "name": sold[no].get("name", ""),
                  "qty": k, "unit_price": sold[no].get("unit_price", 0), "total": parts[no]}
                 for no, k in sorted(asked.items())]
        refunds = refund_split(details.get("tenders") or [{"kind": "cash", "amount": total}],
                               total, refunded, amount)
        money_back = sum(t["amount"] for t in refunds if t["kind"] != "points")
        out = {"lines": lines, "refunds": refunds, "reason": reason}
        if approver is not None:
            out["approved_by"] = approver
        out["returned"] = amount  # the lines' nets; `total` is the money given back
        rec.add_receipt(new_no, "refund", member_id=member_id, total=-money_back,
                        points_reversed=points_reversed, reverses=receipt_no, details=out)
        rec.conn.execute("UPDATE receipts SET refunded = refunded + ? WHERE receipt_no = ?",
                         (amount, receipt_no))
    return LineRefundResult(new_no, receipt_no, money_back, tuple(lines), tuple(refunds),
                            points_reversed, stamps, member_id, balance, events)


# -- helpers ------------------------------------------------------------------------------


def _require_member(conn: sqlite3.Connection, member_id: str) -> None:
    if not conn.execute("SELECT 1 FROM members WHERE member_id = ?", (member_id,)).fetchone():
        raise MemberNotFound(f"no member {member_id} on this terminal")


def _with_ref(draft: EventDraft, ref: str) -> EventDraft:
    return replace(draft, ref=ref)


def stock_left(conn: sqlite3.Connection, program: Program, reward_id: str) -> int | None:
    """Units of a reward left as far as this terminal knows (None: unlimited)."""
    reward = program.reward(reward_id)
    if reward is None:
        return None
    row = conn.execute(
        "SELECT units_left FROM reward_stock WHERE reward_id = ?", (reward_id,)
    ).fetchone()
    left = row[0] if row else reward.stock
    if left is None:
        return None
    # The hub's count does not know our redemptions it has not received yet.
    mine = sum(
        conn.execute(
            "SELECT COUNT(*) FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? AND acked_hub_seq IS NULL AND kind = 'redeem' "
            "AND json_extract(data, '$.reward_id') = ?",
            (event_key(epoch, acked), event_key(epoch, SEQ_MAX), origin, reward_id),
        ).fetchone()[0]
        for origin, epoch, acked in unacked_streams(conn)
    )
    return left - mine


def _offline_context(conn: sqlite3.Connection, program: Program, member_id: str,
                     at: datetime) -> OfflineContext:
    snap = conn.execute(
        "SELECT received_at FROM hub_snapshots WHERE member_id = ?", (member_id,)
    ).fetchone()
    age = at - parse_instant(snap[0]) if snap else None
    local = conn.execute(
        "SELECT enrolled_here FROM members WHERE member_id = ?", (member_id,)
    ).fetchone()
    start, end = _local_day_bounds(program, at)
    spent = conn.execute(
        "SELECT COALESCE(-SUM(points), 0) FROM events WHERE member_id = ? AND kind = 'redeem' "
        "AND approved_offline = 1 AND occurred_at >= ? AND occurred_at < ?",
        (member_id, start, end),
    ).fetchone()[0]
    return OfflineContext(snapshot_age=age, spent_today=spent,
                          local_member=bool(local and local[0]))


def _local_day_bounds(program: Program, at: datetime) -> tuple[str, str]:
    return day_bounds(program.zone, at.astimezone(program.zone).date())


def _money(program: Program, minor: int) -> str:
    return format_money(minor, program.currency_exponent, program.currency)


__all__ = [
    "Authorization", "Authorizer", "CheckinResult", "CheckoutResult", "LineRefundResult",
    "RedeemResult", "ReversalResult", "SaleResult", "check_in", "checkout", "refund_lines",
    "refund_split", "ticket_details", "offline_authorizer", "record_sale", "redeem_reward",
    "redeem_voucher", "refund_receipt", "void_receipt",
]
