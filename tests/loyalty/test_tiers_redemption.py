"""Tier thresholds and windows exactly as documented, and every redemption check."""

from __future__ import annotations

from datetime import timedelta

import pytest

from loyalty.earning import earn_for_sale
from loyalty.errors import RedemptionError
from loyalty.events import EventDraft, Kind
from loyalty.redemption import OfflineContext, eligible_rewards, redeem, use_voucher
from loyalty.reversal import reverse_receipt
from loyalty.sale import SaleLine, make_sale
from loyalty.summary import member_summary
from loyalty.tiers import qualifying_spend, tier_at

from .conftest import BASE, Ledger, make_program, utc

AT = utc(2026, 6, 10, 12)


def spent(ledger: Ledger, cents: int, at, member="m"):
    ref = f"R{len(ledger.events)}"
    ledger.record(EventDraft(kind=Kind.EARN, member_id=member, amount=cents, ref=ref), at)


@pytest.mark.parametrize(
    ("cents", "tier"),
    [(0, "Green"), (29999, "Green"), (30000, "Silver"), (49999, "Silver"), (50000, "Gold")],
)
def test_thresholds_are_inclusive(program, cents, tier):
    ledger = Ledger()
    if cents:
        spent(ledger, cents, AT)
    assert tier_at(ledger.state("m"), program, AT).name == tier


def test_window_excludes_a_sale_exactly_window_days_old(program):
    ledger = Ledger()
    sale_at = AT
    spent(ledger, 30000, sale_at)
    state = ledger.state("m")
    edge = sale_at + timedelta(days=program.tier_window_days)
    assert tier_at(state, program, edge - timedelta(microseconds=1)).name == "Silver"
    assert tier_at(state, program, edge).name == "Green"
    # a sale at the instant itself counts
    assert qualifying_spend(state, program, sale_at) == 30000


def test_refund_lowers_qualifying_spend_at_the_original_sale(program):
    ledger = Ledger()
    result = earn_for_sale(program, ledger.state("m"), make_sale(total=30000), AT, receipt_no="S")
    ledger.record(result.drafts, AT)
    assert tier_at(ledger.state("m"), program, AT).name == "Silver"
    ledger.record(reverse_receipt(ledger.state("m"), "S", refund_amount=1), AT)
    assert tier_at(ledger.state("m"), program, AT).name == "Green"
    assert qualifying_spend(ledger.state("m"), program, AT) == 29999


def rich(program, points=1000, cents=0):
    ledger = Ledger()
    ledger.record(EventDraft(kind=Kind.BONUS, member_id="m", points=points), AT)
    if cents:
        spent(ledger, cents, AT)
    return ledger.state("m")


@pytest.mark.parametrize(
    ("reward", "kwargs", "code"),
    [
        ("nope", {}, "unknown_reward"),
        ("gold-mug", {}, "tier_not_allowed"),
        ("pay", {}, "bad_points"),
        ("pay", {"points": 50}, "bad_points"),
        ("pay", {"points": 1001}, "bad_points"),
        ("latte", {"stock_left": 0}, "out_of_stock"),
    ],
)
def test_redemption_refusals(program, reward, kwargs, code):
    with pytest.raises(RedemptionError) as info:
        redeem(program, rich(program), reward, AT, receipt_no="R", **kwargs)
    assert info.value.code == code


def test_insufficient_points_says_how_many(program):
    with pytest.raises(RedemptionError) as info:
        redeem(program, rich(program, points=149), "latte", AT, receipt_no="R")
    assert info.value.code == "insufficient_points"
    assert "needs 150 Stars; the member has 149" in str(info.value)


def test_validity_window(program):
    gold = rich(program, cents=50000)
    assert redeem(program, gold, "gold-mug", AT, receipt_no="R").points == -100
    with pytest.raises(RedemptionError) as info:
        redeem(program, gold, "gold-mug", utc(2027, 1, 1, 0), receipt_no="R")
    assert info.value.code in ("reward_expired", "tier_not_allowed")
    assert "gold-mug" not in [r.id for r in eligible_rewards(program, gold, utc(2027, 1, 1))]


def test_pay_with_points_values_the_points(program):
    draft = redeem(program, rich(program), "pay", AT, receipt_no="R", points=250)
    assert (draft.points, draft.data["value"]) == (-250, 250)


def test_gift_card_issues_a_voucher(program):
    draft = redeem(program, rich(program), "gift", AT, receipt_no="R")
    assert draft.points == -900
    assert draft.data["vouchers_issued"][0]["reward_id"] == "gift"


def test_a_basket_reward_bought_away_from_a_basket_issues_a_voucher_for_the_till(program):
    # at a till (or in a web order) a free latte is applied where it is bought: no voucher
    assert "vouchers_issued" not in redeem(program, rich(program), "latte", AT,
                                           receipt_no="R").data
    # bought on the member's page, it is a voucher a till applies and marks used
    ledger = Ledger()
    ledger.record(EventDraft(kind=Kind.BONUS, member_id="m", points=1000), AT)
    draft = redeem(program, ledger.state("m"), "latte", AT, receipt_no="WEB-R1",
                   as_voucher=True)
    assert draft.points == -150
    (issued,) = draft.data["vouchers_issued"]
    assert issued["reward_id"] == "latte" and issued["valid_until"] > AT.date().isoformat()
    ledger.record(draft, AT)
    state = ledger.state("m")
    assert state.vouchers[issued["code"]].status == "issued"
    assert state.balance == 850
    used = use_voucher(program, state, issued["code"], AT, receipt_no="S1")
    ledger.record(used, AT)
    assert ledger.state("m").vouchers[issued["code"]].status == "used"
    # the checks still run first: too few points, no voucher
    with pytest.raises(RedemptionError) as info:
        redeem(program, rich(program, points=100), "latte", AT, receipt_no="R",
               as_voucher=True)
    assert info.value.code == "insufficient_points"
    # a gift card issues its voucher either way; pay-with-points never does
    assert redeem(program, rich(program), "gift", AT, receipt_no="R",
                  as_voucher=True).data["vouchers_issued"]
    assert "vouchers_issued" not in redeem(program, rich(program), "pay", AT, receipt_no="R",
                                           points=200, as_voucher=True).data


@pytest.mark.parametrize(
    ("ctx", "cost_reward", "code"),
    [
        (OfflineContext(snapshot_age=timedelta(hours=1), spent_today=400), "latte",
         "offline_daily_limit"),
        (OfflineContext(snapshot_age=timedelta(hours=100)), "latte", "offline_snapshot_stale"),
        (OfflineContext(snapshot_age=None), "latte", "offline_snapshot_stale"),
        (OfflineContext(snapshot_age=timedelta(hours=1), store_budget_left=100), "latte",
         "offline_store_budget"),
        (OfflineContext(snapshot_age=timedelta(hours=1)), "gift", "offline_transaction_limit"),
    ],
)
def test_offline_limits(program, ctx, cost_reward, code):
    with pytest.raises(RedemptionError) as info:
        redeem(program, rich(program), cost_reward, AT, receipt_no="R", offline=ctx)
    assert info.value.code == code


def test_offline_within_limits_is_allowed(program):
    ctx = OfflineContext(snapshot_age=None, local_member=True, spent_today=350)
    assert redeem(program, rich(program), "latte", AT, receipt_no="R", offline=ctx).points == -150


def test_offline_disabled():
    program = make_program(
        base=BASE.replace(
            "tier_window_days = 180",
            "tier_window_days = 180\noffline_redeem_limit_per_transaction = 0",
        )
    )
    with pytest.raises(RedemptionError) as info:
        redeem(program, rich(program), "latte", AT, receipt_no="R",
               offline=OfflineContext(snapshot_age=timedelta(0)))
    assert info.value.code == "offline_disabled"


def test_stamp_voucher_use_once(program):
    ledger = Ledger()
    state = ledger.state("m")
    state.stamps["coffee"] = 9
    result = earn_for_sale(program, state, make_sale([SaleLine("C", "coffee", 1, 300)]), AT,
                           receipt_no="S")
    ledger.record([EventDraft(kind=Kind.BONUS, member_id="m", stamps={"coffee": 9})], AT)
    ledger.record(result.drafts, AT)
    state = ledger.state("m")
    code = result.vouchers[0]["code"]
    assert state.stamps["coffee"] == 0
    assert member_summary(program, state, AT).vouchers[0][:2] == (code, "Free coffee")
    ledger.record(use_voucher(program, state, code, AT, receipt_no="U"), AT)
    with pytest.raises(RedemptionError) as info:
        use_voucher(program, ledger.state("m"), code, AT, receipt_no="U2")
    assert info.value.code == "voucher_used"


def test_summary_progress(program):
    state = rich(program, points=120, cents=25000)
    s = member_summary(program, state, AT)
    assert (s.tier, s.next_tier, s.spend_to_next_tier) == ("Green", "Silver", 5000)
    assert (s.next_reward, s.points_to_next_reward) == ("Free latte", 30)
