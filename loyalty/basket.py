"""The basket and its priced ticket: lines, rewards applied, discounts, tax summary.

A basket is a value: every function returns a new one.

    >>> basket = add_item(Basket(), sku="LATTE", name="Latte", category="coffee",
    ...                   unit_price=350, tax_rate=550, qty=2)
    >>> basket = add_item(basket, sku="CROISSANT", name="Croissant", category="pastry",
    ...                   unit_price=180, tax_rate=550)
    >>> ticket = price(program, basket, [Applied("ten-off")])
    >>> ticket.subtotal, ticket.discount_total, ticket.total
    (880, 88, 792)

Prices are tax-inclusive (a European till: the shelf price is what the customer pays), in
integer minor units; tax rates are integers in hundredths of a percent (550 = 5.5%).

Rewards on the ticket (`price`), in this order, each on what the previous left:

1. free product (`free_product`, also a stamp card's voucher): one unit at 0, the
   cheapest eligible unit (ties: the lowest line number). Eligible lines are the reward's
   `products`/`categories`; without any, a stamp card's reward takes its card's, any
   other reward every line.
2. percent discounts: `percent` of the eligible lines' net, rounded half up to the minor
   unit.
3. fixed discounts: `value`, at most the eligible lines' net (a ticket never goes below 0).

Each basket discount is shared over its eligible lines in proportion to their net before
it (largest remainder, ties to the lower line number), so the shares sum exactly to the
discount and each line's `net` is what the customer pays for it. Pay with points, gift
cards and store credit are tenders (loyalty.tender), not discounts; a charity donation
is not a basket reward at all.

Tax summary: per rate, the nets of its lines summed (tax included), then
`tax = round_half_up(gross x rate / (10000 + rate))` once per rate, `base = gross - tax`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace

from loyalty.errors import RedemptionError, SaleError
from loyalty.fold import MemberState
from loyalty.money import MAX_SALE_MINOR
from loyalty.program import Program, Reward, RewardKind
from loyalty.redemption import BASKET_KINDS
from loyalty.sale import MAX_QTY, make_line
from loyalty.validation import check_text

MAX_TAX_RATE = 10_000  # 100.00 %
_ORDER = {RewardKind.FREE_PRODUCT: 0, RewardKind.PERCENT_DISCOUNT: 1,
          RewardKind.FIXED_DISCOUNT: 2}


@dataclass(frozen=True)
class BasketLine:
    line_no: int
    sku: str
    name: str
    category: str
    qty: int
    unit_price: int
    """Catalogue price of one unit, tax included, minor units."""
    tax_rate: int
    """Hundredths of a percent: 550 = 5.5%."""
    override_price: int | None = None
    """A price the cashier typed instead of the catalogue's (with `override_reason`)."""
    override_reason: str = ""

    @property
    def price(self) -> int:
        """The unit price charged: the override if any, else the catalogue price."""
        return self.unit_price if self.override_price is None else self.override_price

    @property
    def total(self) -> int:
        return self.qty * self.price


@dataclass(frozen=True)
class Basket:
    lines: tuple[BasketLine, ...] = ()
    next_line_no: int = 1
    """Line numbers are never reused, so a receipt's line N always means one line."""

    def line(self, line_no: int) -> BasketLine:
        """The line numbered `line_no`, or SaleError."""
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise SaleError(f"there is no line {line_no} in the basket")


def add_item(basket: Basket, *, sku: str, name: str, category: str, unit_price: int,
             tax_rate: int, qty: int = 1) -> Basket:
    """The basket with `qty` more of a product: added to its line when the same SKU is
    already there at the catalogue price, else as a new line.

        >>> add_item(Basket(), sku="LATTE", name="Latte", category="coffee",
        ...          unit_price=350, tax_rate=550).lines[0].line_no
        1
    """
    make_line(sku, category, qty, unit_price)  # the sale's own checks: SKU, qty, price
    check_text(name, f"the name of {sku}")
    if not 0 <= tax_rate <= MAX_TAX_RATE:
        raise SaleError(f"the tax rate of {sku} must be between 0 and 100%")
    for line in basket.lines:
        if (line.sku == sku and line.override_price is None and line.unit_price == unit_price
                and line.tax_rate == tax_rate):
            return set_qty(basket, line.line_no, line.qty + qty)
    new = BasketLine(basket.next_line_no, sku, name, category, qty, unit_price, tax_rate)
    return Basket((*basket.lines, new), basket.next_line_no + 1)


def set_qty(basket: Basket, line_no: int, qty: int) -> Basket:
    """The basket with line `line_no` at `qty` units (0 removes it):
    `set_qty(basket, 1, 3)`."""
    if qty == 0:
        return remove_line(basket, line_no)
    if not 1 <= qty <= MAX_QTY:
        raise SaleError(f"quantity {qty} must be between 1 and {MAX_QTY}")
    return _replace(basket, replace(basket.line(line_no), qty=qty))


def remove_line(basket: Basket, line_no: int) -> Basket:
    """The basket without line `line_no`: `remove_line(basket, 2)`."""
    basket.line(line_no)
    return Basket(tuple(ln for ln in basket.lines if ln.line_no != line_no),
                  basket.next_line_no)


def override_price(basket: Basket, line_no: int, unit_price: int | None, reason: str) -> Basket:
    """The basket with line `line_no` charged `unit_price` per unit instead of the
    catalogue price; a reason is required (it goes on the receipt and the day report).
    `unit_price=None` goes back to the catalogue price.

        >>> override_price(basket, 1, 300, "damaged cup").lines[0].price
        300
    """
    line = basket.line(line_no)
    if unit_price is None:
        return _replace(basket, replace(line, override_price=None, override_reason=""))
    if not isinstance(unit_price, int) or isinstance(unit_price, bool):
        raise SaleError("the price must be an integer amount of minor units")
    if not 0 <= unit_price <= MAX_SALE_MINOR:
        raise SaleError(f"the price of line {line_no} is out of range")
    reason = check_text(reason, "the reason").strip() if reason else ""
    if not reason:
        raise SaleError(f"say why line {line_no} ({line.name}) has another price")
    return _replace(basket, replace(line, override_price=unit_price, override_reason=reason))


def _replace(basket: Basket, new: BasketLine) -> Basket:
    return Basket(tuple(new if ln.line_no == new.line_no else ln for ln in basket.lines),
                  basket.next_line_no)


# -- rewards on the ticket ----------------------------------------------------------------

@dataclass(frozen=True)
class Applied:
    """A reward applied to the basket: by id (bought with points at tender), or a
    member's voucher (`voucher` = its code; `reward_id` the voucher's reward)."""

    reward_id: str
    voucher: str = ""


def applied_voucher(state: MemberState, code: str) -> Applied:
    """The member's voucher `code` as a reward for the basket, or RedemptionError (the
    codes of loyalty.redemption.use_voucher): `applied_voucher(state, "VX7K2")`. The
    voucher is marked used by `use_voucher`'s event at tender, not here."""
    voucher = state.vouchers.get(code.strip().upper())
    if voucher is None:
        raise RedemptionError("unknown_voucher", f"voucher {code} does not belong to this member")
    if voucher.status != "issued":
        raise RedemptionError("voucher_used", f"voucher {code} was already {voucher.status}")
    return Applied(voucher.reward_id, voucher.code)


@dataclass(frozen=True)
class TicketLine:
    line_no: int
    sku: str
    name: str
    category: str
    qty: int
    unit_price: int
    """The unit price charged (an override if any)."""
    tax_rate: int
    total: int
    """qty x unit_price, before rewards."""
    discount: int
    """Its share of every reward on the ticket (a free unit included)."""
    net: int
    """total - discount: what the customer pays for this line (earns, is refunded)."""
    free_qty: int = 0
    """Units of it a free-product reward made free."""
    override_reason: str = ""


@dataclass(frozen=True)
class DiscountLine:
    label: str
    """The reward's name, printed on the receipt."""
    amount: int
    """Positive minor units taken off the ticket."""
    reward_id: str
    kind: str
    voucher: str = ""
    shares: tuple[tuple[int, int], ...] = ()
    """(line_no, amount) per line it was taken from; they sum to `amount`."""


@dataclass(frozen=True)
class TaxLine:
    rate: int
    gross: int
    """Nets of the lines at this rate, tax included."""
    base: int
    tax: int


@dataclass(frozen=True)
class Ticket:
    lines: tuple[TicketLine, ...]
    discounts: tuple[DiscountLine, ...]
    subtotal: int
    """Sum of the lines' totals, before rewards."""
    discount_total: int
    taxes: tuple[TaxLine, ...]
    total: int
    """subtotal - discount_total: what is to be paid (tenders)."""
    applied: tuple[Applied, ...] = ()

    def line(self, line_no: int) -> TicketLine:
        for line in self.lines:
            if line.line_no == line_no:
                return line
        raise SaleError(f"there is no line {line_no} on the ticket")

    @property
    def tax_total(self) -> int:
        return sum(t.tax for t in self.taxes)

    @property
    def rewards_bought(self) -> tuple[str, ...]:
        """Reward ids applied without a voucher: each is redeemed for its points at tender."""
        return tuple(a.reward_id for a in self.applied if not a.voucher)

    @property
    def vouchers_used(self) -> tuple[str, ...]:
        return tuple(a.voucher for a in self.applied if a.voucher)


def eligible(program: Program, reward: Reward, line: BasketLine | TicketLine) -> bool:
    """Whether `reward` applies to `line`: its products/categories, else (a stamp card's
    reward) its card's, else every line."""
    products, categories = reward.products, reward.categories
    if not products and not categories:
        cards = [c for c in program.stamp_cards if c.reward == reward.id]
        if not cards:
            return True
        products = tuple(p for c in cards for p in c.products)
        categories = tuple(k for c in cards for k in c.categories)
    return line.sku in products or line.category in categories


def price(program: Program, basket: Basket, applied: Sequence[Applied] = ()) -> Ticket:
    """The ticket for `basket` with `applied` rewards: `price(program, basket,
    [Applied("ten-off"), Applied("free-coffee", "VX7K2")])`. SaleError names a reward that
    cannot apply (unknown, not a basket reward, nothing eligible, applied twice)."""
    lines = basket.lines
    net = {ln.line_no: ln.total for ln in lines}
    free: dict[int, int] = {}
    discounts: list[DiscountLine] = []
    rewards: list[tuple[Applied, Reward]] = []
    seen: set[tuple[str, str]] = set()
    for item in applied:
        reward = _basket_reward(program, item)
        key = (item.reward_id, item.voucher)
        if key in seen:
            raise SaleError(f"{reward.name} is already on the ticket")
        seen.add(key)
        rewards.append((item, reward))
    # stable: free products first, then percent, then fixed; in the order given within
    rewards.sort(key=lambda pair: _ORDER[pair[1].kind])
    for item, reward in rewards:
        targets = [ln for ln in lines if eligible(program, reward, ln)]
        if reward.kind is RewardKind.FREE_PRODUCT:
            units = [ln for ln in targets if ln.qty - free.get(ln.line_no, 0) > 0
                     and net[ln.line_no] >= ln.price]
            if not units:
                raise SaleError(f"{reward.name}: nothing in the basket it applies to")
            cheapest = min(units, key=lambda ln: (ln.price, ln.line_no))
            free[cheapest.line_no] = free.get(cheapest.line_no, 0) + 1
            net[cheapest.line_no] -= cheapest.price
            shares: tuple[tuple[int, int], ...] = ((cheapest.line_no, cheapest.price),)
            amount = cheapest.price
        else:
            base = sum(net[ln.line_no] for ln in targets)
            if not targets:
                raise SaleError(f"{reward.name}: nothing in the basket it applies to")
            if reward.kind is RewardKind.PERCENT_DISCOUNT:
                amount = (base * (reward.percent or 0) * 2 + 100) // 200  # half up
            else:
                amount = min(reward.value or 0, base)
            shares = tuple(allocate(amount, [(ln.line_no, net[ln.line_no]) for ln in targets]))
            for line_no, share in shares:
                net[line_no] -= share
        discounts.append(DiscountLine(reward.name, amount, reward.id, reward.kind.value,
                                      item.voucher, tuple(s for s in shares if s[1])))
    ticket_lines = tuple(
        TicketLine(ln.line_no, ln.sku, ln.name, ln.category, ln.qty, ln.price, ln.tax_rate,
                   ln.total, ln.total - net[ln.line_no], net[ln.line_no],
                   free.get(ln.line_no, 0), ln.override_reason)
        for ln in lines)
    subtotal = sum(ln.total for ln in lines)
    discount_total = sum(d.amount for d in discounts)
    return Ticket(ticket_lines, tuple(discounts), subtotal, discount_total,
                  tax_summary(ticket_lines), subtotal - discount_total, tuple(applied))


def _basket_reward(program: Program, item: Applied) -> Reward:
    reward = program.reward(item.reward_id)
    if reward is None:
        raise SaleError(f"there is no reward '{item.reward_id}' in the catalog")
    if reward.kind in (RewardKind.PAY_WITH_POINTS, RewardKind.GIFT_CARD,
                       RewardKind.STORE_CREDIT):
        raise SaleError(f"{reward.name} is a way to pay: take it as a tender at payment")
    if reward.kind not in BASKET_KINDS:
        raise SaleError(f"{reward.name} is not a basket reward")
    if reward.cost == 0 and not item.voucher:
        raise SaleError(f"{reward.name} comes with a completed stamp card: "
                        "apply the member's voucher")
    return reward


def allocate(amount: int, weights: Iterable[tuple[int, int]]) -> list[tuple[int, int]]:
    """`amount` shared over `(key, weight)` pairs in proportion to the weights, in whole
    minor units that sum exactly to `amount`: floors first, then one unit each to the
    largest remainders (ties: the lower key). A weight-0 entry gets 0 unless all are 0
    (then the first takes it all).

        >>> allocate(100, [(1, 1), (2, 1), (3, 1)])
        [(1, 34), (2, 33), (3, 33)]
    """
    pairs = list(weights)
    total = sum(w for _, w in pairs)
    if not pairs:
        return []
    if total == 0:
        return [(k, amount if i == 0 else 0) for i, (k, _) in enumerate(pairs)]
    shares = {k: amount * w // total for k, w in pairs}
    left = amount - sum(shares.values())
    order = sorted(pairs, key=lambda p: (-(amount * p[1] % total), p[0]))
    for k, _ in order[:left]:
        shares[k] += 1
    return [(k, shares[k]) for k, _ in pairs]


def tax_summary(lines: Iterable[TicketLine]) -> tuple[TaxLine, ...]:
    """Per tax rate (ascending): the nets summed, the tax they include (half up, once per
    rate) and the base without tax: `tax_summary(ticket.lines)`."""
    gross: dict[int, int] = {}
    for line in lines:
        gross[line.tax_rate] = gross.get(line.tax_rate, 0) + line.net
    out = []
    for rate in sorted(gross):
        g = gross[rate]
        tax = (2 * g * rate + (10_000 + rate)) // (2 * (10_000 + rate))
        out.append(TaxLine(rate, g, g - tax, tax))
    return tuple(out)
