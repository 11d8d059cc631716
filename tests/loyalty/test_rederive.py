"""Re-derivation (loyalty.rederive) and held points in the fold: what a till asserts
beyond the rules is found, to the point; what an honest till records never is; a hold
folds the same in any order and stops holding what a void or refund took back."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loyalty.earning import earn_for_sale, enrolment_drafts, visit_bonuses
from loyalty.errors import RedemptionError
from loyalty.events import Event, EventDraft, Kind
from loyalty.fold import MemberState, apply, fold
from loyalty.redemption import redeem
from loyalty.rederive import ROLE_KINDS, excess, hold_event_id, may_send, release_event_id
from loyalty.reversal import reverse_receipt
from loyalty.sale import SaleLine, make_sale
from loyalty.summary import member_summary

from .conftest import Ledger, make_program, utc

START = utc(2026, 3, 2, 9)
BIRTHDAY = date(1990, 3, 14)  # March: the birthday bonus is due in March


@pytest.fixture
def program():
    return make_program()


def judged(program, events: list[Event], birthday: date | None = None) -> list:
    """excess() of every event, each on the fold of the ones before it."""
    state = MemberState(member_id=events[0].member_id)
    out = []
    for event in sorted(events, key=lambda e: e.sort_key):
        out.append(excess(program, state, event, birthday=birthday))
        apply(state, event)
    return out


def enrolled(program, ledger: Ledger, at=START) -> str:
    member = "m1"
    ledger.record(enrolment_drafts(program, member, at, receipt_no="S001-T1-000001",
                                   channel="store"), at)
    return member


def test_kinds_each_origin_may_send():
    assert may_send("terminal", "earn") and may_send("terminal", "pin")
    for kind in ("adjust", "merge", "expire", "tier", "hold", "release", "membership"):
        assert not may_send("terminal", kind) and not may_send("channel", kind)
        assert may_send("hub", kind)
    assert not may_send("channel", "link") and may_send("terminal", "link")
    assert not may_send("stranger", "earn")
    assert ROLE_KINDS["hub"] == frozenset(Kind)


def test_an_earn_beyond_the_rules_is_found_to_the_point(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    sale = make_sale(total=1)  # 0.01 EUR: 0 points at 10 a euro
    [earn, *_] = earn_for_sale(program, state, sale, START, receipt_no="S001-T1-000042").drafts
    [forged] = ledger.record(replace(earn, points=999_999), START)
    found = excess(program, state, forged)
    assert found.points == 999_999
    assert found.reason == (f"receipt S001-T1-000042 earned 999,999; program "
                            f"{program.version} gives 0")


def test_lines_that_do_not_add_up_count_as_the_amount(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    big = [["BEANS", "retail", 100, 100_000]]  # lines of 100,000 EUR on a 10 EUR sale
    [e] = ledger.record(EventDraft(kind="earn", member_id=member, points=100_000_00,
                                   amount=1000, ref="R1", data={"lines": big, "tier": "Green"}),
                        START)
    assert excess(program, state, e).points == 100_000_00 - 100


def test_a_tier_the_member_does_not_have_earns_at_theirs(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    sale = make_sale(total=10_000)
    [earn, *_] = earn_for_sale(program, state, sale, START, receipt_no="R1").drafts
    assert earn.data["tier"] == "Green" and earn.points == 1000
    gold = replace(earn, points=2000, data={**earn.data, "tier": "Gold"})
    [e] = ledger.record(gold, START)
    found = excess(program, state, e)
    assert found.points == 1000 and "at tier Green (the event says Gold)" in found.reason


def test_stamps_beyond_the_lines_are_reported_not_held(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    sale = make_sale([SaleLine("LATTE", "coffee", 1, 350)])
    [earn, *_] = earn_for_sale(program, state, sale, START, receipt_no="R1").drafts
    [e] = ledger.record(replace(earn, stamps={"coffee": 9}), START)
    found = excess(program, state, e)
    assert found.points == 0 and found.stamps == {"coffee": 8}
    assert "stamps coffee 9 (gives 1)" in found.reason


def test_bonuses_the_rules_do_not_grant(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)

    def bonus(points: int, once: str | None, reason: str = "x", at=START) -> Event:
        data = {"reason": reason} | ({"once": once} if once else {})
        return ledger.record(EventDraft(kind="bonus", member_id=member, points=points,
                                        ref="R9", data=data), at)[0]

    second = excess(program, state, bonus(50, "welcome", "Welcome"))
    assert second.points == 50 and "a second Welcome bonus (welcome)" in second.reason
    assert excess(program, state, bonus(50, "welcome:2")).points == 50  # not a key of ours
    assert excess(program, state, bonus(500, None, "goodwill")).points == 500
    assert excess(program, state, bonus(10, "loyalty:1")).points == 10
    # the day's visit: once, for the day it happened, at the program's points
    assert excess(program, state, bonus(5, "visit:2026-03-02")) is None
    assert excess(program, state, bonus(5, "visit:2026-03-01")).points == 5
    assert excess(program, state, bonus(50, "visit:2026-03-02")).points == 45
    state.once_keys.add("visit:2026-03-02")
    assert excess(program, state, bonus(5, "visit:2026-03-02")).points == 5
    assert excess(program, state, bonus(5, "visit:2026-03-03", at=START + timedelta(days=1)),
                  once_taken={"visit:2026-03-03"}).points == 5
    # birthday: in the birthday month, once a year
    march = bonus(100, "birthday:2026", "Birthday")
    assert excess(program, state, march, birthday=BIRTHDAY) is None
    july = excess(program, state, march, birthday=date(1990, 7, 1))
    assert july.points == 100 and "the member's birthday is in July" in july.reason
    assert excess(program, state, march).points == 100  # no birthday known
    assert excess(program, state, bonus(100, "birthday:2025"), birthday=BIRTHDAY).points == 100


def test_a_redeem_below_the_cost_is_the_shortfall(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    cheap = EventDraft(kind="redeem", member_id=member, points=-1, ref="R2",
                       data={"reward_id": "latte"})
    [e] = ledger.record(cheap, START)
    found = excess(program, state, e)
    assert found.points == 149 and "redeemed latte for 1" in found.reason
    # pay with points: a discount worth more money than its points
    pay = EventDraft(kind="redeem", member_id=member, points=-100, ref="R3",
                     data={"reward_id": "pay", "value": 5000})
    [p] = ledger.record(pay, START)
    assert excess(program, state, p).points == 4900
    honest = redeem(program, MemberState(member_id=member, balance=500), "latte", START,
                    receipt_no="R4")
    [h] = ledger.record(honest, START)
    assert excess(program, state, h) is None


def test_a_free_reward_comes_only_with_its_stamp_cards_voucher(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    with pytest.raises(RedemptionError) as refused:
        redeem(program, ledger.state(member), "free-coffee", START, receipt_no="R2")
    assert refused.value.code == "voucher_only"
    # a till that takes it anyway: nothing to hold, but HQ is told
    taken = EventDraft(kind="redeem", member_id=member, points=0, ref="R2",
                       data={"reward_id": "free-coffee"})
    state = ledger.state(member)
    [e] = ledger.record(taken, START)
    found = excess(program, state, e)
    assert found.points == 0
    assert found.reason == ("receipt R2 took free-coffee directly; it is given only by a "
                            "completed stamp card's voucher")


def test_a_voucher_is_used_once_and_only_by_its_member(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    sale = make_sale([SaleLine("LATTE", "coffee", 10, 350)])  # completes the coffee card
    ledger.record(earn_for_sale(program, ledger.state(member), sale, START,
                                receipt_no="R1").drafts, START)
    [code] = list(ledger.state(member).vouchers)
    use = EventDraft(kind="redeem", member_id=member, ref="R2",
                     data={"voucher_used": code, "voucher_reward_id": "free-coffee"})
    before = ledger.state(member)
    [first] = ledger.record(use, START + timedelta(hours=1))
    assert excess(program, before, first) is None
    after = ledger.state(member)
    [again] = ledger.record(replace(use, ref="R3"), START + timedelta(hours=2))
    assert excess(program, after, again).reason == (
        f"receipt R3 used voucher {code}, already used")
    made_up = replace(use, ref="R4", data={"voucher_used": "VNOTISSUED1"})
    [forged] = ledger.record(made_up, START + timedelta(hours=3))
    assert excess(program, ledger.state(member), forged).reason == (
        "receipt R4 used voucher VNOTISSUED1, which this member was never issued")


def test_a_reverse_that_gives_back_more_than_its_receipt_took(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    state = ledger.state(member)
    [spend] = ledger.record(redeem(program, state, "latte", START, receipt_no="R5")
                            if state.balance >= 150 else
                            EventDraft(kind="redeem", member_id=member, points=-50, ref="R5",
                                       data={"reward_id": "pay", "value": 50}), START)
    state = ledger.state(member)
    void = reverse_receipt(state, "R5")
    [v] = ledger.record(replace(void, points=5000), START)
    found = excess(program, state, v)
    assert found.points == 5000 + spend.points
    # a refund that keeps the points (takes back less than the receipt allows)
    [sale] = ledger.record(earn_for_sale(program, state, make_sale(total=2000), START,
                                         receipt_no="R6").drafts[:1], START)
    state = ledger.state(member)
    refund = reverse_receipt(state, "R6", refund_amount=1000)
    assert refund.points == -100
    [r] = ledger.record(replace(refund, points=-1), START)
    assert excess(program, state, r).points == 99
    # a reverse of a receipt the member never had gives nothing back
    [ghost] = ledger.record(EventDraft(kind="reverse", member_id=member, points=300,
                                       ref="NOPE", data={"full": True}), START)
    assert excess(program, state, ghost).points == 300


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["sale", "visit", "refund", "void", "redeem"]),
                          st.integers(1, 6000), st.integers(0, 40)), max_size=25),
       st.randoms(use_true_random=False))
def test_an_honest_till_never_asserts_an_excess(ops, rnd: random.Random):
    """Whatever an honest till records (the domain functions on its own state), the
    hub's re-derivation on the same state finds nothing."""
    program = make_program()
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    at = START
    receipts: list[str] = []
    n = 1
    for op, amount, hours in ops:
        at += timedelta(hours=hours)
        state = ledger.state(member)
        n += 1
        ref = f"S001-T1-{n:06d}"
        drafts: list[EventDraft] = []
        if op == "sale":
            lines = [SaleLine("LATTE", "coffee", 1 + amount % 3, 350)] if amount % 2 else []
            drafts = earn_for_sale(program, state, make_sale(lines, 1050 + amount), at,
                                   receipt_no=ref, birthday=BIRTHDAY).drafts
            receipts.append(ref)
        elif op == "visit":
            drafts = visit_bonuses(program, state, at, receipt_no=ref, birthday=BIRTHDAY)
        elif op in ("refund", "void") and receipts:
            target = rnd.choice(receipts)
            rec = state.receipts.get(target)
            if rec is None or rec.voided:
                continue
            left = rec.amount - rec.reversed_amount
            if op == "refund" and left > 1:
                drafts = [reverse_receipt(state, target, refund_amount=1 + amount % (left - 1))]
            else:
                drafts = [reverse_receipt(state, target)]
        elif op == "redeem":
            try:
                drafts = [redeem(program, state, "latte", at, receipt_no=ref)]
            except RedemptionError:
                continue
            receipts.append(ref)
        ledger.record(drafts, at)
    assert judged(program, ledger.events, BIRTHDAY) == [None] * len(ledger.events)


def hub_event(ledger: Ledger, kind: str, member: str, data: dict, at, *, event_id: str,
              ref: str = "", points: int = 0) -> Event:
    origin, ledger.origin = ledger.origin, "hub"
    try:
        [e] = ledger.record(EventDraft(kind=kind, member_id=member, points=points, ref=ref,
                                       data=data, event_id=event_id), at)
    finally:
        ledger.origin = origin
    return e


def test_a_hold_keeps_points_from_being_spent_until_released(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    [earn] = ledger.record(EventDraft(kind="earn", member_id=member, points=999_999,
                                      amount=1, ref="R1",
                                      data={"lines": [["OTHER", "", 1, 1]], "tier": "Green"}),
                           START)
    hold_id = hold_event_id(earn)
    hold = hub_event(ledger, "hold", member, {"held_event": earn.event_id,
                                              "held_kind": "earn", "points": 999_999},
                     START + timedelta(minutes=1), event_id=hold_id, ref="R1")
    state = ledger.state(member)
    assert state.balance == 1_000_049 and state.held == 999_999 and state.spendable == 50
    assert member_summary(program, state, START).to_dict()["held_points"] == 999_999
    with pytest.raises(RedemptionError) as refused:
        redeem(program, state, "latte", START, receipt_no="R2")
    assert refused.value.code == "insufficient_points" and "999999 more held" in str(
        refused.value)
    release = hub_event(ledger, "release", member, {"held_event": earn.event_id,
                                                    "hold": hold_id},
                        START + timedelta(minutes=2),
                        event_id=release_event_id(member, hold_id), ref="FLAG-1")
    state = ledger.state(member)
    assert state.held == 0 and state.spendable == state.balance
    # a snapshot (to_dict) keeps the holds; one written before holds existed reads too
    again = MemberState.from_dict(state.to_dict())
    assert again.holds == state.holds
    old = state.to_dict()
    del old["holds"]
    assert MemberState.from_dict(old).holds == {}
    # any order of the same events folds to the same state
    events = ledger.events
    for _ in range(20):
        shuffled = random.sample(events, len(events))
        assert fold(shuffled).comparable() == state.comparable()
    # the release alone, folded before its hold: still released
    before = fold([e for e in events if e is not hold])
    apply(before, hold)
    assert before.held == 0
    assert release.kind == "release"


def test_a_void_or_refund_takes_the_held_part_first(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    [earn] = ledger.record(EventDraft(kind="earn", member_id=member, points=1_000, amount=1000,
                                      ref="R1", data={"lines": [["OTHER", "", 1, 1000]],
                                                      "tier": "Green"}), START)
    hub_event(ledger, "hold", member, {"held_event": earn.event_id, "held_kind": "earn",
                                       "points": 900}, START, event_id=hold_event_id(earn),
              ref="R1")
    state = ledger.state(member)
    assert (state.held, state.spendable) == (900, 150)
    ledger.record(reverse_receipt(state, "R1", refund_amount=500), START)  # takes back 500
    state = ledger.state(member)
    assert (state.balance, state.held, state.spendable) == (550, 400, 150)
    ledger.record(reverse_receipt(state, "R1"), START)  # the rest: the receipt is void
    state = ledger.state(member)
    assert (state.balance, state.held, state.spendable) == (50, 0, 50)


def test_held_is_never_more_than_the_balance(program):
    ledger = Ledger(program_version=program.version)
    member = enrolled(program, ledger)
    [bonus] = ledger.record(EventDraft(kind="bonus", member_id=member, points=200, ref="R1",
                                       data={"reason": "x"}), START)
    hub_event(ledger, "hold", member, {"held_event": bonus.event_id, "held_kind": "bonus",
                                       "points": 200}, START, event_id=hold_event_id(bonus),
              ref="R1")
    ledger.record(EventDraft(kind="redeem", member_id=member, points=-200, ref="R2",
                             data={"reward_id": "pay"}), START)  # offline, before the hold
    state = ledger.state(member)
    assert (state.balance, state.held, state.spendable) == (50, 50, 0)
