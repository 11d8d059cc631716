"""Returns by line and the void of a card-completing sale (issue 17)."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.basket import Applied, Basket, add_item, price
from loyalty.earning import earn_for_sale, purchase_points, recompute_earn
from loyalty.errors import ReversalError
from loyalty.events import data_problem
from loyalty.fold import MemberState
from loyalty.redemption import use_voucher
from loyalty.rederive import excess
from loyalty.reversal import return_lines, reverse_receipt
from loyalty.sale import SaleLine, make_sale

from .conftest import BASE, Ledger, make_program, utc

AT = utc(2026, 11, 25, 10)
M = "m-void"


def _coffees(ledger: Ledger, program, n: int, receipt: str) -> None:
    state = ledger.state(M)
    sale = make_sale([SaleLine("FILTER", "coffee", n, 250)])
    ledger.record(earn_for_sale(program, state, sale, AT, receipt_no=receipt).drafts, AT)


def test_voiding_a_card_completing_sale_after_its_voucher_was_used(program):
    # 9 stamps, then a sale of 1 coffee completes the card (voucher V), V is used on R3,
    # 2 more coffees (R4): the card shows 2. Voiding R2 must take back the 1 stamp it
    # added and nothing more (V was had): 1 stamp, not 11, and no second free coffee.
    ledger = Ledger()
    _coffees(ledger, program, 9, "R1")
    _coffees(ledger, program, 1, "R2")
    state = ledger.state(M)
    [code] = [c for c, v in state.vouchers.items() if v.status == "issued"]
    ledger.record(use_voucher(program, state, code, AT, receipt_no="R3"), AT)
    _coffees(ledger, program, 2, "R4")
    assert ledger.state(M).stamps["coffee"] == 2
    ledger.record(reverse_receipt(ledger.state(M), "R2"), AT)
    after = ledger.state(M)
    assert after.stamps["coffee"] == 1
    assert after.vouchers[code].status == "used"
    _coffees(ledger, program, 8, "R5")  # 9 stamps: no card completes
    final = ledger.state(M)
    assert final.stamps["coffee"] == 9
    assert [v.code for v in final.vouchers.values() if v.status == "issued"] == []


def test_voiding_the_receipt_that_used_the_voucher_afterwards_does_not_reissue_it(program):
    # same story, then R3 (the voucher's use) is voided too: the voucher is not given back
    # (its sale is void), its completion's 10 stamps are: the card is as before R2 (9 + 2)
    ledger = Ledger()
    _coffees(ledger, program, 9, "R1")
    before_r2 = ledger.state(M).comparable()
    _coffees(ledger, program, 1, "R2")
    state = ledger.state(M)
    [code] = list(state.vouchers)
    ledger.record(use_voucher(program, state, code, AT, receipt_no="R3"), AT)
    ledger.record(reverse_receipt(ledger.state(M), "R2"), AT)
    ledger.record(reverse_receipt(ledger.state(M), "R3"), AT)
    after = ledger.state(M)
    assert after.stamps["coffee"] == 9
    assert after.vouchers[code].status == "revoked"
    assert after.comparable() == before_r2


def test_voiding_a_completing_sale_whose_voucher_is_unused_revokes_it(program):
    ledger = Ledger()
    _coffees(ledger, program, 9, "R1")
    before = ledger.state(M).comparable()
    _coffees(ledger, program, 3, "R2")  # 12: completes, 2 left
    draft = reverse_receipt(ledger.state(M), "R2")
    assert draft.stamps == {"coffee": 7} and len(draft.data["vouchers_revoked"]) == 1
    ledger.record(draft, AT)
    assert ledger.state(M).comparable() == before


# -- returns by line ------------------------------------------------------------------------

EXTRA = """
[[program.stamp_cards]]
id = "beans"
name = "Beans card"
stamps_to_complete = 5
categories = ["beans"]
reward = "free-beans"

[[program.rewards]]
id = "free-beans"
name = "Free bag of beans"
kind = "free_product"
cost = 0

[[program.rewards]]
id = "ten-off"
name = "10% off"
kind = "percent_discount"
cost = 250
percent = 10

[[program.rewards]]
id = "two-off"
name = "2 EUR off"
kind = "fixed_discount"
cost = 100
value = "2.00"
"""
PROGRAM = make_program(EXTRA)
CATS = {"LATTE": "coffee", "BEANS": "beans", "MUG": "goods"}


def basket(*lines: tuple[str, int, int]) -> Basket:
    b = Basket()
    for sku, qty, cents in lines:
        b = add_item(b, sku=sku, name=sku.title(), category=CATS[sku], unit_price=cents,
                     tax_rate=550, qty=qty)
    return b


def sell(ledger: Ledger, ticket, receipt: str, points_paid: int = 0):
    result = earn_for_sale(PROGRAM, ledger.state(M), ticket, AT, receipt_no=receipt,
                           points_paid=points_paid)
    return ledger.record(result.drafts, AT)


def test_earn_on_the_net_and_the_line_facts_it_records():
    ledger = Ledger()
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800)), [Applied("ten-off")])
    assert [ln.net for ln in t.lines] == [630, 720]
    [earn, *_] = sell(ledger, t, "R1")
    assert (earn.points, earn.amount, earn.stamps) == (135, 1350, {"coffee": 2, "beans": 1})
    assert earn.data["items"] == [
        {"line_no": 1, "sku": "LATTE", "category": "coffee", "qty": 2, "net": 630,
         "earning": 630, "exact": "63", "points": 63, "stamps": {"coffee": 2}},
        {"line_no": 2, "sku": "BEANS", "category": "beans", "qty": 1, "net": 720,
         "earning": 720, "exact": "72", "points": 72, "stamps": {"beans": 1}}]
    assert recompute_earn(PROGRAM, earn) == 135
    assert excess(PROGRAM, MemberState(M), earn) is None


def test_the_part_paid_with_points_earns_only_if_the_program_says_so():
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800)))  # 15.00
    ledger = Ledger()
    [earn, *_] = sell(ledger, t, "R1", points_paid=300)
    # 3.00 shared by net: 140 on the lattes, 160 on the beans -> 12.00 earns 120
    assert [i["earning"] for i in earn.data["items"]] == [560, 640]
    assert earn.points == 120 and earn.amount == 1500
    assert recompute_earn(PROGRAM, earn) == 120
    generous = make_program(EXTRA + "", base=BASE.replace(
        'rounding = "floor"', 'rounding = "floor"\nearn_on_points_paid = true'))
    assert generous.earn_on_points_paid
    result = earn_for_sale(generous, MemberState(M), t, AT, receipt_no="R2", points_paid=300)
    assert result.purchase_points == 150


def test_old_earn_events_without_items_recompute_as_before():
    ledger = Ledger()
    sale = make_sale([SaleLine("LATTE", "coffee", 3, 350)])
    [earn, *_] = ledger.record(
        earn_for_sale(PROGRAM, MemberState(M), sale, AT, receipt_no="R1").drafts, AT)
    old = replace(earn, data={k: v for k, v in earn.data.items()
                              if k not in ("items", "rounding", "points_paid")})
    assert recompute_earn(PROGRAM, old) == recompute_earn(PROGRAM, earn) == 105
    assert excess(PROGRAM, MemberState(M), old) is None


def test_returning_the_beans_takes_beans_stamps_not_coffee_stamps():
    ledger = Ledger()
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800)), [Applied("ten-off")])
    sell(ledger, t, "R1")
    draft = return_lines(ledger.state(M), "R1", [(2, 1)], reason="wrong grind")
    assert (draft.points, draft.amount, draft.stamps) == (-72, -720, {"beans": -1})
    assert draft.data["returns"] == [
        {"line_no": 2, "qty": 1, "refund": 720, "stamps": {"beans": 1}, "points": 72}]
    assert draft.data["full"] is False and draft.data["reason"] == "wrong grind"
    ledger.record(draft, AT)
    state = ledger.state(M)
    assert state.stamps == {"coffee": 2, "beans": 0}


def test_partial_quantities_and_what_is_left():
    ledger = Ledger()
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800)), [Applied("ten-off")])
    sell(ledger, t, "R1")
    before_hub = ledger.state(M)
    one = return_lines(before_hub, "R1", [(1, 1)])
    # the latte line's 630 net: 315 per unit; the kept latte earns floor(31.5) = 31 and
    # the beans 72, so 135 - 103 = 32 come back
    assert (one.amount, one.points, one.stamps) == (-315, -32, {"coffee": -1})
    [event] = ledger.record(one, AT)
    assert excess(PROGRAM, before_hub, event) is None
    with pytest.raises(ReversalError, match="line 1: 2 bought, 1 already returned; at most "
                                            "1 more can be returned"):
        return_lines(ledger.state(M), "R1", [(1, 2)])
    with pytest.raises(ReversalError, match="has no line 7"):
        return_lines(ledger.state(M), "R1", [(7, 1)])
    with pytest.raises(ReversalError, match="return the other lines"):
        reverse_receipt(ledger.state(M), "R1", refund_amount=100)


def test_a_full_return_by_lines_leaves_the_member_exactly_as_before():
    ledger = Ledger()
    _coffees(ledger, PROGRAM, 9, "R0")  # 9 coffee stamps: the next latte completes the card
    before = ledger.state(M).comparable()
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800), ("MUG", 1, 1200)),
              [Applied("two-off")])
    sell(ledger, t, "R1")
    assert ledger.state(M).stamps["coffee"] == 1  # completed, voucher issued
    ledger.record(return_lines(ledger.state(M), "R1", [(3, 1), (1, 1)]), AT)
    last = return_lines(ledger.state(M), "R1", [(1, 1), (2, 1)])
    assert last.data["full"] is True and len(last.data["vouchers_revoked"]) == 1
    ledger.record(last, AT)
    assert ledger.state(M).comparable() == before
    with pytest.raises(ReversalError, match="already voided"):
        return_lines(ledger.state(M), "R1", [(1, 1)])


def test_an_amount_only_receipt_has_one_line_and_old_receipts_refuse():
    ledger = Ledger()
    ledger.record(earn_for_sale(PROGRAM, MemberState(M), make_sale(total=1250), AT,
                                receipt_no="R1").drafts, AT)
    draft = return_lines(ledger.state(M), "R1", [(1, 1)])
    assert draft.data["full"] is True and draft.amount == -1250
    state = ledger.state(M)
    state.receipts["R1"].items = []
    with pytest.raises(ReversalError, match="without its lines"):
        return_lines(state, "R1", [(1, 1)])


# -- properties ----------------------------------------------------------------------------

line_st = st.tuples(st.sampled_from(sorted(CATS)), st.integers(1, 4), st.integers(0, 3000))


@st.composite
def scenario(draw):
    lines = draw(st.lists(line_st, min_size=1, max_size=5))
    rewards = draw(st.lists(st.sampled_from(["ten-off", "two-off"]), unique=True))
    prior = draw(st.integers(0, 9))
    paid_share = draw(st.integers(0, 100))
    seed = draw(st.lists(st.tuples(st.integers(0, 10), st.integers(1, 4)), max_size=12))
    return lines, rewards, prior, paid_share, seed


@settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck))
@given(scenario())
def test_returns_never_keep_more_than_the_net_earns_and_a_full_return_undoes_all(case):
    lines, rewards, prior, paid_share, seed = case
    ledger = Ledger()
    if prior:
        _coffees(ledger, PROGRAM, prior, "R0")
    before = ledger.state(M).comparable()
    t = price(PROGRAM, basket(*lines), [Applied(r) for r in rewards])
    points_paid = t.total * paid_share // 100
    [earn, *_] = sell(ledger, t, "R1", points_paid)
    items = {i["line_no"]: i for i in earn.data["items"]}
    tier = PROGRAM.tiers[0]
    returned = dict.fromkeys(items, 0)
    plan = [(sorted(items)[i % len(items)], q) for i, q in seed]
    for line_no, qty in [*plan, *((n, i["qty"]) for n, i in items.items())]:
        qty = min(qty, items[line_no]["qty"] - returned[line_no])
        if not qty:
            continue
        state = ledger.state(M)
        draft = return_lines(state, "R1", [(line_no, qty)])
        [event] = ledger.record(draft, AT)
        assert excess(PROGRAM, state, event) is None
        returned[line_no] += qty
        rec = ledger.state(M).receipts["R1"]
        kept = [SaleLine(i["sku"], i["category"], 1,
                         i["earning"] - i["earning"] * returned[n] // i["qty"])
                for n, i in items.items()]
        earns, _ = purchase_points(PROGRAM, tier, tuple(kept), AT.date())
        held = rec.purchase_points - rec.reversed_purchase_points
        assert 0 <= held <= earns
    assert ledger.state(M).receipts["R1"].voided
    assert ledger.state(M).comparable() == before


def test_the_hub_edge_refuses_malformed_line_data_and_flags_inflated_exact_points():
    assert data_problem({"items": [{"line_no": 1, "qty": 1, "net": 5, "earning": 5,
                                    "exact": "1e9", "stamps": {}}]}).startswith("data.items")
    assert data_problem({"returns": [{"line_no": 1, "qty": 0}]}).startswith("data.returns")
    assert data_problem({"vouchers_revoked": [1]}).startswith("data.vouchers_revoked")
    assert data_problem({"completed": "2"}) == "data.completed must be a positive integer"
    ledger = Ledger()
    t = price(PROGRAM, basket(("LATTE", 2, 350), ("BEANS", 1, 800)))
    [earn, *_] = sell(ledger, t, "R1")
    assert data_problem(earn.data) is None
    items = [dict(i) for i in earn.data["items"]]
    items[1]["exact"] = "800"  # a return of the beans would then keep 72 points
    forged = replace(earn, data={**earn.data, "items": items})
    found = excess(PROGRAM, MemberState(M), forged)
    assert found is not None and found.points == 0 and "line(s) 2" in found.reason


def test_a_unit_made_free_earns_neither_points_nor_a_stamp():
    voucher_program = make_program(EXTRA)
    t = price(voucher_program, basket(("LATTE", 2, 350)), [Applied("free-coffee", "V1")])
    result = earn_for_sale(voucher_program, MemberState(M), t, AT, receipt_no="R1")
    assert (t.total, result.purchase_points, result.stamps) == (350, 35, {"coffee": 1})
