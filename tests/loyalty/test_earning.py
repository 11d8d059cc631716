"""Earning rules, promotions and stacking: every number worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty.earning import (
    earn_for_sale,
    enrolment_drafts,
    purchase_points,
    stamps_for_lines,
)
from loyalty.events import Kind
from loyalty.fold import MemberState
from loyalty.sale import SaleLine, make_sale

from .conftest import BASE, Ledger, make_program, utc

TUESDAY = date(2026, 11, 24)
WEDNESDAY = date(2026, 11, 25)

PROMOS = """
[[program.promotions]]
id = "double-tuesday"
name = "Double Tuesday"
multiplier = "2"
weekdays = ["tue"]

[[program.promotions]]
id = "pastry"
name = "Pastry x1.5"
multiplier = "1.5"
categories = ["pastry"]
starts = 2026-11-16
ends = 2026-11-29

[[program.promotions]]
id = "launch"
name = "Launch x3"
multiplier = "3"
products = ["BLEND"]
exclusive = true

[[program.promotions]]
id = "small-excl"
name = "Tea x1.2 exclusive"
multiplier = "1.2"
categories = ["tea"]
exclusive = true
"""


def line(sku, cat, qty, cents):
    return SaleLine(sku, cat, qty, cents)


def points(program, tier_name, lines, day):
    return purchase_points(program, program.tier_named(tier_name), tuple(lines), day)


@pytest.mark.parametrize(
    ("rounding", "cents", "expected"),
    [
        # 10 Stars per EUR: 12.34 EUR = 123.4 Stars
        ("floor", 1234, 123),
        ("half_up", 1234, 123),
        ("ceil", 1234, 124),
        # 12.35 EUR = 123.5 Stars
        ("floor", 1235, 123),
        ("half_up", 1235, 124),
        ("ceil", 1235, 124),
        # exact: 12.30 EUR = 123 Stars under every mode
        ("ceil", 1230, 123),
    ],
)
def test_base_rate_and_rounding(rounding, cents, expected):
    program = make_program(base=BASE.replace('rounding = "floor"', f'rounding = "{rounding}"'))
    assert points(program, "Green", [line("X", "", 1, cents)], WEDNESDAY) == (expected, ())


def test_tier_multiplier():
    program = make_program()
    # 10.01 EUR -> 100.1 x 1.5 = 150.15 -> 150
    assert points(program, "Silver", [line("X", "", 1, 1001)], WEDNESDAY)[0] == 150
    # Gold: 100.1 x 2 = 200.2 -> 200
    assert points(program, "Gold", [line("X", "", 1, 1001)], WEDNESDAY)[0] == 200


def test_rounding_happens_once_per_sale_not_per_line():
    program = make_program()
    # two lines of 0.15 EUR: 1.5 + 1.5 = 3 Stars (per-line floor would give 2)
    lines = [line("A", "", 1, 15), line("B", "", 1, 15)]
    assert points(program, "Green", lines, WEDNESDAY)[0] == 3


def test_double_points_day_only_on_its_weekday():
    program = make_program(PROMOS)
    assert points(program, "Green", [line("X", "", 1, 500)], TUESDAY) == (100, ("Double Tuesday",))
    assert points(program, "Green", [line("X", "", 1, 500)], WEDNESDAY) == (50, ())


def test_category_multiplier_combines_multiplicatively():
    program = make_program(PROMOS)
    lines = [line("CROI", "pastry", 2, 200), line("LATTE", "coffee", 1, 300)]
    # pastry 4.00 EUR = 40 x 2 x 1.5 = 120; coffee 3.00 = 30 x 2 = 60
    assert points(program, "Green", lines, TUESDAY) == (180, ("Double Tuesday", "Pastry x1.5"))
    # Wednesday: pastry 40 x 1.5 = 60; coffee 30
    assert points(program, "Green", lines, WEDNESDAY) == (90, ("Pastry x1.5",))


def test_add_mode_adds_the_extra_parts():
    program = make_program(PROMOS + '\n[program.stacking]\nmode = "add"\nmax_multiplier = "4"\n')
    lines = [line("CROI", "pastry", 2, 200), line("LATTE", "coffee", 1, 300)]
    # pastry: 40 x (1 + 1 + 0.5) = 100; coffee 30 x 2 = 60
    assert points(program, "Green", lines, TUESDAY)[0] == 160


def test_cap_on_total_multiplier():
    program = make_program(PROMOS + '\n[program.stacking]\nmax_multiplier = "4"\n')
    # Gold 2 x Tuesday 2 x pastry 1.5 = 6, capped at 4: 4.00 EUR = 40 x 4 = 160
    assert points(program, "Gold", [line("CROI", "pastry", 1, 400)], TUESDAY)[0] == 160
    # Default cap is 3: Gold 2 x Tuesday 2 = 4 -> 3: 40 x 3 = 120
    assert points(make_program(PROMOS), "Gold", [line("X", "", 1, 400)], TUESDAY)[0] == 120


def test_exclusive_promotion_wins_when_better_and_never_combines():
    program = make_program(PROMOS + '\n[program.stacking]\nmax_multiplier = "10"\n')
    # BLEND on Tuesday: exclusive 3 beats the combination (2) -> 10.00 EUR = 100 x 3 = 300
    assert points(program, "Green", [line("BLEND", "coffee", 1, 1000)], TUESDAY) == (
        300,
        ("Launch x3",),
    )
    # Tea on Tuesday: exclusive 1.2 loses to Tuesday's 2 -> 100 x 2 = 200
    assert points(program, "Green", [line("TEA", "tea", 1, 1000)], TUESDAY) == (
        200,
        ("Double Tuesday",),
    )
    # Tea on Wednesday: the exclusive 1.2 alone -> 120
    assert points(program, "Green", [line("TEA", "tea", 1, 1000)], WEDNESDAY)[0] == 120
    # Silver tier on the exclusive: 1.5 x 3 = 4.5 -> 100 x 4.5 = 450
    assert points(program, "Silver", [line("BLEND", "", 1, 1000)], WEDNESDAY)[0] == 450


@pytest.mark.parametrize(
    ("day", "applies"),
    [(date(2026, 11, 15), False), (date(2026, 11, 16), True), (date(2026, 11, 29), True),
     (date(2026, 11, 30), False)],
)
def test_promotion_date_window_is_inclusive(day, applies):
    program = make_program(PROMOS)
    got, promos = points(program, "Green", [line("C", "pastry", 1, 1000)], day)
    tuesday_factor = 2 if day.weekday() == 1 else 1
    assert got == 100 * tuesday_factor * (1.5 if applies else 1)
    assert ("Pastry x1.5" in promos) is applies


def test_stamps_count_units_of_stamping_categories():
    program = make_program()
    lines = (line("LATTE", "coffee", 3, 350), line("CROI", "pastry", 2, 180))
    assert stamps_for_lines(program, lines) == {"coffee": 3}


def test_sale_events_with_stamp_completion_and_visit_bonus():
    program = make_program()
    at = utc(2026, 11, 25, 9)
    state = MemberState(member_id="m1", stamps={"coffee": 8})
    sale = make_sale([line("LATTE", "coffee", 3, 350)])
    result = earn_for_sale(program, state, sale, at, receipt_no="R1")
    kinds = [d.kind for d in result.drafts]
    assert kinds == [Kind.EARN, Kind.STAMP, Kind.BONUS]
    earn, stamp, bonus = result.drafts
    assert (earn.points, earn.stamps, earn.amount) == (105, {"coffee": 3}, 1050)
    # 8 + 3 = 11: one card completes, one stamp carries over
    assert stamp.stamps == {"coffee": -10}
    assert stamp.data["vouchers_issued"][0]["reward_id"] == "free-coffee"
    assert (bonus.points, bonus.data["once"]) == (5, "visit:2026-11-25")
    assert result.points == 110


def test_visit_bonus_once_per_day_and_birthday_once_per_year():
    program = make_program()
    ledger = Ledger()
    at = utc(2026, 11, 25, 9)
    sale = make_sale(total=1000)
    birthday = date(1990, 11, 3)
    first = earn_for_sale(program, ledger.state("m"), sale, at, receipt_no="R1", birthday=birthday)
    assert first.bonuses == [("Store visit", 5), ("Birthday", 100)]
    # fold the first sale's events, then sell again the same day
    for d in first.drafts:
        ledger.record(d.__class__(**{**d.__dict__, "member_id": "m"}), at)
    second = earn_for_sale(program, ledger.state("m"), sale, at, receipt_no="R2", birthday=birthday)
    assert second.bonuses == []
    next_day = earn_for_sale(
        program, ledger.state("m"), sale, utc(2026, 11, 26, 9), receipt_no="R3", birthday=birthday
    )
    assert next_day.bonuses == [("Store visit", 5)]
    # 100 Stars from 10.00 EUR + 5 visit + 100 birthday
    assert ledger.state("m").balance == 205


def test_enrolment_welcome_and_referral_for_both_sides():
    program = make_program()
    referrer = MemberState(member_id="old")
    drafts = enrolment_drafts(
        program, "new", utc(2026, 11, 25), receipt_no="E1", channel="S001-T1", referrer=referrer
    )
    summary = [(d.kind, d.member_id, d.points) for d in drafts]
    assert summary == [
        (Kind.ENROL, "new", 0),
        (Kind.BONUS, "new", 50),
        (Kind.BONUS, "new", 50),
        (Kind.BONUS, "old", 100),
    ]


def test_sale_tier_is_the_tier_before_the_sale():
    program = make_program()
    ledger = Ledger()
    at = utc(2026, 11, 25, 9)
    # 299.99 EUR at Green: 2999.9 -> 2999 Stars; spend stays below Silver's 300.00
    r1 = earn_for_sale(program, ledger.state("m"), make_sale(total=29999), at, receipt_no="R1")
    assert r1.tier == "Green" and r1.purchase_points == 2999
    ledger.record([type(d)(**{**d.__dict__, "member_id": "m"}) for d in r1.drafts], at)
    # 0.01 EUR more reaches exactly 300.00: this sale is still earned at Green
    r2 = earn_for_sale(program, ledger.state("m"), make_sale(total=1), at, receipt_no="R2")
    assert r2.tier == "Green"
    ledger.record([type(d)(**{**d.__dict__, "member_id": "m"}) for d in r2.drafts], at)
    # the next sale is Silver: 10.00 EUR = 100 x 1.5 = 150
    r3 = earn_for_sale(program, ledger.state("m"), make_sale(total=1000), at, receipt_no="R3")
    assert (r3.tier, r3.purchase_points) == ("Silver", 150)
