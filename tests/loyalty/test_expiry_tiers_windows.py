"""Expiry by tier, what expires soon, reward validity windows, stamping by SKU, and tier
thresholds as a property: the documented rules, with numbers worked out by hand."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.earning import earn_for_sale, stamps_for_lines
from loyalty.errors import RedemptionError
from loyalty.events import EventDraft, Kind, parse_instant
from loyalty.expiry import add_months, due_expiries, expiring_within, lot_expiry
from loyalty.redemption import redeem
from loyalty.sale import SaleLine, make_sale
from loyalty.tiers import tier_at, tier_for_spend

from .conftest import Ledger, make_program, utc


def sale(ledger: Ledger, program, member: str, cents: int, at) -> int:
    """Record a sale of `cents` for `member` at `at`; the points it credited."""
    earned = earn_for_sale(program, ledger.state(member), make_sale(total=cents), at,
                           receipt_no=f"R{len(ledger.events)}")
    ledger.record(earned.drafts, at)
    return sum(d.points for d in earned.drafts)


@pytest.mark.parametrize(("spend", "tier", "months"), [
    (0, "Green", 12), (30000, "Silver", 18), (50000, "Gold", 24)])
def test_points_expire_after_the_validity_of_the_tier_they_were_earned_in(
        program, spend, tier, months):
    ledger = Ledger()
    start = utc(2026, 1, 31, 10)
    if spend:
        sale(ledger, program, "m", spend, start)  # reaches the tier (thresholds inclusive)
    at = utc(2026, 3, 31, 10)
    state = ledger.state("m")
    assert tier_at(state, program, at).name == tier
    before = len(state.lots)
    earned = sale(ledger, program, "m", 1000, at)
    lots = ledger.state("m").lots[before:]  # the purchase and the day's visit bonus
    assert sum(lot.original for lot in lots) == earned
    # 31 March + 12 / 18 / 24 months: 31 March 2027, 30 September 2027, 31 March 2028
    expected = {12: utc(2027, 3, 31, 10), 18: utc(2027, 9, 30, 10), 24: utc(2028, 3, 31, 10)}
    assert [lot.expires_at for lot in lots] == [expected[months]] * 2
    assert parse_instant(lot_expiry(state, program, at)) == expected[months]


def test_add_months_clamps_to_the_end_of_the_month():
    assert add_months(utc(2026, 1, 31), 1) == utc(2026, 2, 28)
    assert add_months(utc(2027, 12, 31), 2) == utc(2028, 2, 29)  # leap year
    assert add_months(utc(2026, 11, 15), 14) == utc(2028, 1, 15)


def test_expiring_within_groups_by_day_and_skips_spent_points(program):
    ledger = Ledger()
    # lots, oldest first: 100 + 5 (visit) on 10 Jan 09:00, 50 on 10 Jan 15:00 (no second
    # visit bonus that day), 200 + 5 (visit) on 20 Feb; Green: they expire 12 months later
    sale(ledger, program, "m", 1000, utc(2026, 1, 10, 9))
    sale(ledger, program, "m", 500, utc(2026, 1, 10, 15))
    sale(ledger, program, "m", 2000, utc(2026, 2, 20, 9))
    ledger.record(EventDraft(kind=Kind.REDEEM, member_id="m", points=-120, ref="X",
                             data={"reward_id": "latte"}), utc(2026, 3, 1))
    # FIFO: 120 spent takes the 100 and the 5, then 15 of the 50: 35 left of 10 January's
    state = ledger.state("m")
    at = utc(2027, 1, 1)
    assert [(e.points, e.on) for e in expiring_within(state, program, at, 30)] == [
        (35, date(2027, 1, 10))]
    assert [(e.points, e.on) for e in expiring_within(state, program, at, 60)] == [
        (35, date(2027, 1, 10)), (205, date(2027, 2, 20))]
    assert expiring_within(state, program, at, 5) == []
    # on 10 January 2027 at 16:00 only the lot of 15:00 the year before is due, not the
    # spent ones
    assert [d.points for d in due_expiries(state, utc(2027, 1, 10, 16))] == [-35]


def test_a_reward_outside_its_window_says_which_side(program):
    ledger = Ledger()
    sale(ledger, program, "m", 60000, utc(2026, 6, 1))
    gold = ledger.state("m")
    at = utc(2026, 6, 10, 12)
    assert redeem(program, gold, "gold-mug", at, receipt_no="R").points == -100
    with pytest.raises(RedemptionError) as info:
        redeem(program, gold, "gold-mug", utc(2025, 12, 31, 12), receipt_no="R")
    assert info.value.code == "not_yet_valid"
    late = ledger.state("m")
    with pytest.raises(RedemptionError) as info:
        redeem(program, late, "gold-mug", utc(2027, 1, 1, 12), receipt_no="R")
    # the mug is valid 2026-01-01..2026-12-31; the window is checked before the tier
    assert info.value.code == "reward_expired"


def test_stamps_by_sku_as_well_as_by_category():
    program = make_program(extra="""
[[program.stamp_cards]]
id = "beans"
name = "Beans card"
stamps_to_complete = 5
products = ["BEANS-1KG"]
reward = "free-coffee"
""")
    lines = (SaleLine("BEANS-1KG", "retail", 2, 1500), SaleLine("BEANS-250", "retail", 3, 500),
             SaleLine("LATTE", "coffee", 4, 350))
    assert stamps_for_lines(program, lines) == {"beans": 2, "coffee": 4}


@given(spend=st.integers(min_value=0, max_value=10**7))
def test_tier_is_the_highest_threshold_at_or_below_the_spend(spend):
    program = make_program()
    tier = tier_for_spend(program, spend)
    thresholds = [t.threshold for t in program.tiers]
    assert tier.threshold <= spend  # inclusive: reaching a threshold is enough
    higher = [t for t in thresholds if t > tier.threshold]
    assert not higher or spend < min(higher)  # exclusive above: one cent short stays below


@given(days=st.integers(min_value=0, max_value=400), cents=st.integers(1, 10**6))
def test_a_sale_counts_for_exactly_window_days(days, cents):
    program = make_program()
    ledger = Ledger()
    at = utc(2026, 1, 1, 12)
    ledger.record(EventDraft(kind=Kind.EARN, member_id="m", amount=cents, ref="R"), at)
    later = at + timedelta(days=days)
    expected = tier_for_spend(program, cents if days < program.tier_window_days else 0)
    assert tier_at(ledger.state("m"), program, later) == expected
