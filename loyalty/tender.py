"""Tenders and settlement: how a ticket is paid, the change, the cash rounding.

    >>> s = settle(program, ticket, [card(500), cash(1000)])     # ticket.total == 1292
    >>> s.paid, s.change, s.remaining
    (1292, 208, 0)

Kinds: cash (gives change), card (the amount the payment terminal took: never more than
is due, never change), points (N points worth N x `point_value` of the program's
pay-with-points reward, within its `min_points`/`max_points` and the member's spendable
points), gift card and store credit (a code and an amount; this records the tender only:
the stored value behind the code is another issue).

Order: whatever the order given, non-cash tenders are taken first (points, gift card,
store credit, card), then cash, so cash is what closes the ticket and gives change.

Cash rounding: `[program] cash_rounding` (currency units in the file, e.g. "0.05" for
CHF; 0 = none, as for EUR). When cash pays what is left, that amount is rounded to the
nearest multiple (halves up: 0.025 -> 0.05); `rounding` is the difference (+ or -) and
belongs to the amount due. No rounding applies when a card or points pay the rest.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from loyalty.basket import Ticket
from loyalty.errors import TenderError
from loyalty.money import format_money
from loyalty.program import Program, Reward, RewardKind


class TenderKind(StrEnum):
    CASH = "cash"
    CARD = "card"
    POINTS = "points"
    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"


_TAKE_ORDER = {TenderKind.POINTS: 0, TenderKind.GIFT_CARD: 1, TenderKind.STORE_CREDIT: 2,
               TenderKind.CARD: 3, TenderKind.CASH: 4}


@dataclass(frozen=True)
class Tender:
    kind: TenderKind
    amount: int
    """Money in minor units: cash handed over, card charged, points' or code's value."""
    points: int = 0
    """Points tender: how many points."""
    code: str = ""
    """Gift card / store credit: its code."""


def cash(amount: int) -> Tender:
    """Cash handed over: `cash(2000)` (change is given from it)."""
    return Tender(TenderKind.CASH, _money(amount))


def card(amount: int) -> Tender:
    """A card payment of `amount`, taken by the external payment terminal: `card(1292)`."""
    return Tender(TenderKind.CARD, _money(amount))


def gift_card(code: str, amount: int) -> Tender:
    """`amount` paid from gift card `code`: `gift_card("GX7K2", 1000)`."""
    return Tender(TenderKind.GIFT_CARD, _money(amount), code=_code(code))


def store_credit(code: str, amount: int) -> Tender:
    """`amount` paid from store credit `code`: `store_credit("CX7K2", 300)`."""
    return Tender(TenderKind.STORE_CREDIT, _money(amount), code=_code(code))


def pay_reward(program: Program) -> Reward:
    """The program's pay-with-points reward, or TenderError if it has none."""
    reward = next((r for r in program.rewards if r.kind is RewardKind.PAY_WITH_POINTS), None)
    if reward is None:
        raise TenderError(f"this program has no way to pay with {program.points_name}")
    return reward


def points(program: Program, n: int) -> Tender:
    """`n` points as a payment, worth `n x point_value`: `points(program, 500)` (the
    limits are checked by `settle`, which knows the ticket and the member)."""
    if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
        raise TenderError(f"say how many {program.points_name} to pay with (more than 0)")
    return Tender(TenderKind.POINTS, n * (pay_reward(program).point_value or 0), points=n)


def max_points(program: Program, due: int, spendable: int) -> int:
    """The most points that can pay `due`: within the balance, `max_points`, and not
    worth more than `due` (points give no change). 0 if below `min_points`.
    `max_points(program, 1292, 800)` -> 800."""
    reward = pay_reward(program)
    value = reward.point_value or 1
    most = min(due // value, max(spendable, 0))
    if reward.max_points is not None:
        most = min(most, reward.max_points)
    return most if most >= reward.min_points and most > 0 else 0


@dataclass(frozen=True)
class Settlement:
    tenders: tuple[Tender, ...]
    """As taken: non-cash first, then cash."""
    due: int
    """ticket.total + rounding."""
    paid: int
    """What the tenders cover of `due` (change excluded)."""
    change: int
    """Cash given back."""
    rounding: int
    """Cash rounding added to the ticket total (negative: rounded down)."""
    remaining: int
    """Still to pay; 0 when settled."""

    @property
    def points_spent(self) -> int:
        return sum(t.points for t in self.tenders if t.kind is TenderKind.POINTS)

    @property
    def points_value(self) -> int:
        """Money paid with points (what may not earn: `[program] earn_on_points_paid`)."""
        return sum(t.amount for t in self.tenders if t.kind is TenderKind.POINTS)

    def by_kind(self) -> dict[str, int]:
        """Money per tender kind, net of change (the day report's "money by tender")."""
        out: dict[str, int] = {}
        for t in self.tenders:
            out[t.kind.value] = out.get(t.kind.value, 0) + t.amount
        if self.change:
            out[TenderKind.CASH.value] -= self.change
        return out


def round_cash(program: Program, amount: int) -> int:
    """`amount` rounded to the program's cash step, halves up: 1292 -> 1290 with a step
    of 5; unchanged without a step."""
    step = program.cash_rounding
    if step <= 1:
        return amount
    return (2 * amount + step) // (2 * step) * step


def settle(program: Program, ticket: Ticket, tenders: Sequence[Tender], *,
           spendable: int | None = None, complete: bool = True) -> Settlement:
    """Take `tenders` against `ticket`: `settle(program, ticket, [points(program, 300),
    cash(1000)], spendable=state.spendable)`. `complete=False` answers what is still to
    pay instead of refusing a short payment. TenderError: not enough paid, a card or
    points paying more than is due, points outside their limits or above `spendable`."""
    money = program.currency_exponent, program.currency

    def fmt(minor: int) -> str:
        return format_money(minor, *money)

    non_cash = [t for t in tenders if t.kind is not TenderKind.CASH]
    non_cash.sort(key=lambda t: _TAKE_ORDER[t.kind])  # stable within a kind
    cash_given = sum(t.amount for t in tenders if t.kind is TenderKind.CASH)
    spent = sum(t.points for t in non_cash if t.kind is TenderKind.POINTS)
    if spent:
        _check_points(program, spent, spendable)
    left = ticket.total
    for t in non_cash:
        if t.amount > left:
            what = {TenderKind.CARD: "a card payment gives no change",
                    TenderKind.POINTS: f"use fewer {program.points_name}"}.get(
                        t.kind, "a code pays at most what is due")
            raise TenderError(f"{t.kind.value.replace('_', ' ')} {fmt(t.amount)} is more than "
                              f"the {fmt(left)} left to pay: {what}")
        left -= t.amount
    rounding = 0
    change = 0
    if cash_given and left > 0:
        rounded = round_cash(program, left)
        if cash_given >= rounded:
            rounding = rounded - left
            change = cash_given - rounded
            left = 0
        else:
            left -= cash_given
    elif cash_given:
        raise TenderError(f"nothing is left to pay in cash ({fmt(cash_given)} given)")
    if complete and left > 0:
        raise TenderError(f"not enough paid: {fmt(left)} still to pay")
    due = ticket.total + rounding
    ordered = tuple(non_cash) + tuple(t for t in tenders if t.kind is TenderKind.CASH)
    return Settlement(ordered, due, due - left, change, rounding, left)


def _check_points(program: Program, spent: int, spendable: int | None) -> None:
    reward = pay_reward(program)
    name = program.points_name
    if spent < reward.min_points:
        raise TenderError(f"paying with {name} needs at least {reward.min_points:,}")
    if reward.max_points is not None and spent > reward.max_points:
        raise TenderError(f"at most {reward.max_points:,} {name} per payment "
                          f"({spent:,} asked)")
    if spendable is not None and spent > spendable:
        raise TenderError(f"the member has {max(spendable, 0):,} {name} to spend, "
                          f"not {spent:,}")


def _money(amount: int) -> int:
    if not isinstance(amount, int) or isinstance(amount, bool) or amount <= 0:
        raise TenderError("a payment must be a positive integer amount of minor units")
    return amount


def _code(code: str) -> str:
    code = str(code).strip().upper()
    if not code:
        raise TenderError("a gift card or store credit payment needs its code")
    return code
