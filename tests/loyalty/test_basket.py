"""The basket and its ticket: every amount worked out by hand (issue 17)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.basket import (
    Applied,
    Basket,
    add_item,
    allocate,
    applied_voucher,
    override_price,
    price,
    remove_line,
    set_qty,
)
from loyalty.errors import RedemptionError, SaleError
from loyalty.fold import MemberState, Voucher
from loyalty.program import load_program

EXAMPLE = load_program("config.example.toml")


def cafe() -> Basket:
    """3 lines: 2 lattes 3.50 (5.5%), 1 croissant 1.80 (5.5%), 1 mug 12.00 (20%)."""
    b = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                 tax_rate=550, qty=2)
    b = add_item(b, sku="CROISSANT", name="Croissant", category="pastry", unit_price=180,
                 tax_rate=550)
    return add_item(b, sku="MUG", name="Mug", category="goods", unit_price=1200,
                    tax_rate=2000)


def test_basket_functions_return_new_values():
    b = cafe()
    assert [(ln.line_no, ln.qty) for ln in b.lines] == [(1, 2), (2, 1), (3, 1)]
    more = add_item(b, sku="LATTE", name="Latte", category="coffee", unit_price=350,
                    tax_rate=550)
    assert more.line(1).qty == 3 and b.line(1).qty == 2
    assert set_qty(b, 2, 4).line(2).qty == 4
    gone = remove_line(b, 2)
    assert [ln.line_no for ln in gone.lines] == [1, 3]
    # numbers are not reused: a new line after a removal is line 4
    again = add_item(gone, sku="TEA", name="Tea", category="tea", unit_price=300,
                     tax_rate=550)
    assert again.lines[-1].line_no == 4
    assert set_qty(b, 2, 0).lines == gone.lines


def test_price_override_needs_a_reason():
    b = cafe()
    with pytest.raises(SaleError, match="say why line 3"):
        override_price(b, 3, 1000, "  ")
    cheaper = override_price(b, 3, 1000, "chipped")
    assert cheaper.line(3).price == 1000 and cheaper.line(3).override_reason == "chipped"
    assert price_of(cheaper) == 700 + 180 + 1000
    assert override_price(cheaper, 3, None, "").line(3).price == 1200
    with pytest.raises(SaleError, match="no line 9"):
        override_price(b, 9, 100, "x")


def price_of(basket: Basket) -> int:
    return sum(ln.total for ln in basket.lines)


def test_ten_percent_on_a_three_line_basket(example_program):
    t = price(example_program, cafe(), [Applied("ten-off")])
    assert t.subtotal == 2080
    [d] = t.discounts
    assert (d.label, d.amount, d.reward_id, d.kind) == (
        "10% off your basket", 208, "ten-off", "percent_discount")
    # shares by value: 700/2080, 180/2080, 1200/2080 of 208 -> 70, 18, 120
    assert d.shares == ((1, 70), (2, 18), (3, 120))
    assert [ln.net for ln in t.lines] == [630, 162, 1080]
    assert sum(ln.net for ln in t.lines) == t.total == 2080 - 208 == 1872
    # tax summary, tax included: 5.5% on 792 -> 792 x 550/10550 = 41.29 -> 41;
    # 20% on 1080 -> 180 exactly
    assert [(x.rate, x.gross, x.base, x.tax) for x in t.taxes] == [
        (550, 792, 751, 41), (2000, 1080, 900, 180)]
    assert t.tax_total == 221


def test_remainders_go_to_the_largest_then_lowest_line():
    assert allocate(100, [(1, 1), (2, 1), (3, 1)]) == [(1, 34), (2, 33), (3, 33)]
    assert allocate(10, [(1, 0), (2, 0)]) == [(1, 10), (2, 0)]
    # 1.5 and 3.5: equal remainders, the lower line takes the unit
    assert allocate(5, [(1, 3), (2, 7)]) == [(1, 2), (2, 3)]
    assert allocate(7, [(1, 1), (2, 2)]) == [(1, 2), (2, 5)]  # 2.33 / 4.67


def test_free_latte_zeroes_the_cheapest_latte(example_program):
    b = add_item(cafe(), sku="LATTE", name="Latte", category="coffee", unit_price=300,
                 tax_rate=550)  # a second latte line at an older price: the cheapest unit
    t = price(example_program, b, [Applied("free-latte")])
    [d] = t.discounts
    assert (d.label, d.amount, d.shares) == ("Free latte", 300, ((4, 300),))
    assert t.line(4).net == 0 and t.line(4).free_qty == 1
    assert t.line(1).net == 700 and t.total == 2080
    # without a latte the reward has nothing to apply to
    with pytest.raises(SaleError, match="nothing in the basket"):
        price(example_program, remove_line(remove_line(b, 4), 1), [Applied("free-latte")])


def test_a_stamp_card_voucher_makes_its_free_product(example_program):
    state = MemberState("m", vouchers={"VCOFFEE1": Voucher("VCOFFEE1", "free-coffee",
                                                           "2027-01-01")})
    applied = applied_voucher(state, "vcoffee1")
    assert applied == Applied("free-coffee", "VCOFFEE1")
    # the coffee card's reward: a coffee-category unit (the latte, not the croissant)
    t = price(example_program, cafe(), [applied])
    [d] = t.discounts
    assert (d.amount, d.voucher, d.shares) == (350, "VCOFFEE1", ((1, 350),))
    assert t.line(1).net == 350 and t.line(1).free_qty == 1
    assert t.vouchers_used == ("VCOFFEE1",) and t.rewards_bought == ()
    state.vouchers["VCOFFEE1"].status = "used"
    with pytest.raises(RedemptionError, match="already used"):
        applied_voucher(state, "VCOFFEE1")
    with pytest.raises(SaleError, match="apply the member's voucher"):
        price(example_program, cafe(), [Applied("free-coffee")])


def test_rewards_stack_free_then_percent_then_fixed(example_program):
    t = price(example_program, cafe(), [Applied("five-euro"), Applied("ten-off"),
                                          Applied("free-latte")])
    # free latte 350 -> 1730 left; 10% = 173 -> 1557; 5.00 off -> 1057
    assert [(d.reward_id, d.amount) for d in t.discounts] == [
        ("free-latte", 350), ("ten-off", 173), ("five-euro", 500)]
    assert t.total == 1057 == sum(ln.net for ln in t.lines)


def test_a_fixed_discount_never_takes_the_ticket_below_zero(example_program):
    b = add_item(Basket(), sku="CROISSANT", name="Croissant", category="pastry",
                 unit_price=180, tax_rate=550)
    t = price(example_program, b, [Applied("five-euro")])
    assert t.discounts[0].amount == 180 and t.total == 0 and t.taxes[0].tax == 0


def test_tenders_are_not_discounts(example_program):
    for reward in ("pay", "gift-10", "credit-3"):
        with pytest.raises(SaleError, match="take it as a tender"):
            price(example_program, cafe(), [Applied(reward)])
    with pytest.raises(SaleError, match="not a basket reward"):
        price(example_program, cafe(), [Applied("tree")])
    with pytest.raises(SaleError, match="already on the ticket"):
        price(example_program, cafe(), [Applied("ten-off"), Applied("ten-off")])


lines_st = st.lists(st.tuples(st.sampled_from(["LATTE", "CROISSANT", "MUG", "BEANS"]),
                              st.integers(1, 5), st.integers(0, 5000),
                              st.sampled_from([0, 550, 1000, 2000])), min_size=1, max_size=8)
rewards_st = st.lists(st.sampled_from(["ten-off", "five-euro", "free-latte"]), unique=True)


@settings(max_examples=150, deadline=None)
@given(lines_st, rewards_st)
def test_any_ticket_adds_up(lines, rewards):
    example_program = EXAMPLE
    b = Basket()
    cats = {"LATTE": "coffee", "CROISSANT": "pastry", "MUG": "goods", "BEANS": "beans"}
    for sku, qty, cents, rate in lines:
        b = add_item(b, sku=sku, name=sku.title(), category=cats[sku], unit_price=cents,
                     tax_rate=rate, qty=qty)
    try:
        t = price(example_program, b, [Applied(r) for r in rewards])
    except SaleError:
        return  # a free latte without a latte
    assert all(ln.net >= 0 for ln in t.lines)
    assert sum(ln.net for ln in t.lines) == t.total >= 0
    assert t.subtotal - t.discount_total == t.total
    for d in t.discounts:
        assert sum(a for _, a in d.shares) == d.amount >= 0
    assert sum(x.gross for x in t.taxes) == t.total
    assert all(x.base + x.tax == x.gross and x.tax >= 0 for x in t.taxes)
