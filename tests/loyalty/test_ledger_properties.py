"""Property tests of the fold: order independence, exact voids, integers only, FIFO expiry."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from loyalty.earning import earn_for_sale, enrolment_drafts
from loyalty.errors import LoyaltyError
from loyalty.events import EventDraft, Kind, canonical_json, format_instant, parse_instant
from loyalty.expiry import due_expiries
from loyalty.fold import MemberState, apply, fold, fold_onto
from loyalty.redemption import redeem
from loyalty.reversal import reverse_receipt
from loyalty.sale import SaleLine, make_sale

from .conftest import Ledger, make_program, utc

PROGRAM = make_program(
    """
[[program.promotions]]
id = "tue"
name = "Double Tuesday"
multiplier = "2"
weekdays = ["tue"]
"""
)
START = utc(2026, 1, 5, 9)

sale_lines = st.lists(
    st.tuples(
        st.sampled_from(["LATTE", "CROI", "TEA"]),
        st.sampled_from(["coffee", "pastry", "tea"]),
        st.integers(1, 4),
        st.integers(1, 2500),
    ),
    min_size=1,
    max_size=3,
)
operation = st.one_of(
    st.tuples(st.just("sale"), sale_lines),
    st.tuples(st.just("redeem"), st.sampled_from(["latte", "pay", "gift"])),
    st.tuples(st.just("void"), st.integers(0, 50)),
    st.tuples(st.just("refund"), st.integers(0, 50), st.integers(1, 100)),
    st.tuples(st.just("wait"), st.integers(1, 60 * 24 * 40)),
    st.tuples(st.just("expire")),
)


def run(ops, member="m1") -> Ledger:
    """Apply operations through the domain functions, as a terminal would."""
    ledger = Ledger()
    at = START
    ledger.record(enrolment_drafts(PROGRAM, member, at, receipt_no="E", channel="t"), at)
    receipts: list[str] = []
    for n, op in enumerate(ops):
        state = ledger.state(member)
        at += timedelta(minutes=1)
        try:
            if op[0] == "sale":
                sale = make_sale([SaleLine(*x) for x in op[1]])
                drafts = earn_for_sale(PROGRAM, state, sale, at, receipt_no=f"R{n}").drafts
                receipts.append(f"R{n}")
            elif op[0] == "redeem":
                points = 100 if op[1] == "pay" else None
                drafts = [redeem(PROGRAM, state, op[1], at, receipt_no=f"R{n}", points=points)]
                receipts.append(f"R{n}")
            elif op[0] in ("void", "refund") and receipts:
                ref = receipts[op[1] % len(receipts)]
                rec = state.receipts.get(ref)
                amount = None
                if op[0] == "refund" and rec is not None and rec.amount:
                    amount = max(1, (rec.amount - rec.reversed_amount) * op[2] // 100)
                drafts = [reverse_receipt(state, ref, refund_amount=amount)]
            elif op[0] == "wait":
                at += timedelta(minutes=op[1])
                continue
            elif op[0] == "expire":
                drafts = due_expiries(state, at)
            else:
                continue
        except LoyaltyError:
            continue
        ledger.record(drafts, at)
    return ledger


def check_invariants(state) -> None:
    assert isinstance(state.balance, int)
    assert state.balance == sum(lot.remaining for lot in state.lots) - state.debt
    for lot in state.lots:
        assert 0 <= lot.remaining <= lot.original
    assert state.debt >= 0


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(operation, max_size=25), st.randoms(use_true_random=False))
def test_any_arrival_order_folds_to_the_same_state(ops, rnd):
    ledger = run(ops)
    in_order = fold(ledger.events)
    shuffled = list(ledger.events)
    rnd.shuffle(shuffled)
    assert fold(shuffled).comparable() == in_order.comparable()
    # duplicates (a batch delivered twice) change nothing
    assert fold(shuffled + shuffled[: len(shuffled) // 2]).comparable() == in_order.comparable()
    check_invariants(in_order)
    assert in_order.balance == sum(e.points for e in ledger.events)


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=20), sale_lines)
def test_sale_then_void_returns_the_exact_prior_state(ops, lines):
    ledger = run(ops)
    before = ledger.state("m1")
    at = START + timedelta(days=400)
    result = earn_for_sale(PROGRAM, before, make_sale([SaleLine(*x) for x in lines]), at,
                           receipt_no="SALE")
    ledger.record(result.drafts, at)
    ledger.record(reverse_receipt(ledger.state("m1"), "SALE"), at + timedelta(seconds=1))
    assert ledger.state("m1").comparable() == before.comparable()


def test_voiding_a_sale_whose_points_paid_a_debt_owes_them_again():
    """Found by the property above: a member owes 50 (the sale a pay-with-points
    redemption spent was voided); a sale's 5-point visit bonus pays 5 of it; its void must
    owe those 5 again, not take them from an unrelated lot."""
    ops = [("sale", [("LATTE", "coffee", 2, 225)]), ("redeem", "pay"), ("void", 0),
           ("void", 1)]
    ledger = run(ops)
    before = ledger.state("m1")
    assert before.debt == 50
    at = START + timedelta(days=400)
    result = earn_for_sale(PROGRAM, before, make_sale([SaleLine("LATTE", "coffee", 1, 1)]),
                           at, receipt_no="SALE")
    ledger.record(result.drafts, at)
    assert ledger.state("m1").debt == 45
    ledger.record(reverse_receipt(ledger.state("m1"), "SALE"), at + timedelta(seconds=1))
    after = ledger.state("m1")
    assert (after.debt, after.balance) == (50, before.balance)
    assert after.comparable() == before.comparable()


@settings(max_examples=40, deadline=None)
@given(sale_lines, st.lists(st.integers(1, 100), min_size=1, max_size=5))
def test_partial_refunds_adding_up_to_the_sale_take_back_exactly_what_it_earned(lines, cuts):
    ledger = Ledger()
    at = START
    sale = make_sale([SaleLine(*x) for x in lines])
    result = earn_for_sale(PROGRAM, ledger.state("m1"), sale, at, receipt_no="S")
    ledger.record(result.drafts, at)
    earned = ledger.state("m1").balance
    purchase = result.purchase_points
    refunded = 0
    for cut in cuts:
        amount = max(1, (sale.total - refunded) * cut // 100)
        at += timedelta(minutes=1)
        ledger.record(reverse_receipt(ledger.state("m1"), "S", refund_amount=amount), at)
        refunded += amount
        if refunded == sale.total:
            break
        # exactly floor(P x R / T) purchase points taken back so far, bonuses kept
        assert ledger.state("m1").balance == earned - purchase * refunded // sale.total
    if refunded < sale.total:
        ledger.record(reverse_receipt(ledger.state("m1"), "S", refund_amount=sale.total - refunded),
                      at + timedelta(minutes=1))
    final = ledger.state("m1")
    assert final.balance == 0 and not any(final.stamps.values())
    assert final.comparable() == MemberState(member_id="m1").comparable()


def test_partial_refund_is_proportional_and_floors():
    ledger = Ledger()
    at = START  # a Monday: no promotion
    sale = make_sale(total=1000)  # 100 Stars + 5 visit
    ledger.record(earn_for_sale(PROGRAM, ledger.state("m"), sale, at, receipt_no="S").drafts, at)
    assert ledger.state("m").balance == 105
    # refund 3.33 of 10.00: floor(100 x 333 / 1000) = 33
    ledger.record(reverse_receipt(ledger.state("m"), "S", refund_amount=333), at)
    assert ledger.state("m").balance == 72
    # refund 3.33 more: floor(100 x 666 / 1000) = 66 in all -> 33 more
    ledger.record(reverse_receipt(ledger.state("m"), "S", refund_amount=333), at)
    assert ledger.state("m").balance == 39
    # the last 3.34 is the rest of the sale: everything left, the visit bonus too
    ledger.record(reverse_receipt(ledger.state("m"), "S", refund_amount=334), at)
    assert ledger.state("m").balance == 0


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=30))
def test_points_are_integers_everywhere(ops):
    ledger = run(ops)
    for event in ledger.events:
        assert type(event.points) is int and type(event.amount) is int
        assert all(type(v) is int for v in event.stamps.values())
    state = ledger.state("m1")
    assert type(state.balance) is int
    assert all(type(lot.remaining) is int for lot in state.lots)


@settings(max_examples=80, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.tuples(st.just("earn"), st.integers(1, 500)),
            st.tuples(st.just("spend"), st.integers(1, 500)),
            st.tuples(st.just("wait"), st.integers(1, 200)),
            st.tuples(st.just("expire")),
        ),
        max_size=40,
    )
)
def test_fifo_expiry_never_expires_a_spent_point_nor_spends_one_twice(ops):
    ledger = Ledger()
    at = START
    earned = spent = 0
    for n, op in enumerate(ops):
        state = ledger.state("m")
        at += timedelta(days=1)
        if op[0] == "earn":
            expires = (at + timedelta(days=90)).isoformat()
            ledger.record(EventDraft(kind=Kind.BONUS, member_id="m", points=op[1],
                                     data={"expires_at": expires}), at)
            earned += op[1]
        elif op[0] == "spend" and state.balance >= op[1]:
            ledger.record(EventDraft(kind=Kind.REDEEM, member_id="m", points=-op[1],
                                     ref=f"R{n}"), at)
            spent += op[1]
        elif op[0] == "wait":
            at += timedelta(days=op[1])
        elif op[0] == "expire":
            ledger.record(due_expiries(state, at), at)
    state = ledger.state("m")
    expired = -sum(e.points for e in ledger.events if e.kind == Kind.EXPIRE)
    check_invariants(state)
    assert state.debt == 0
    # every point is in exactly one place: still held, spent once, or expired once
    assert earned == state.balance + spent + expired
    # an expiry only takes what was left in its own lot, after the spends before it
    for event in ledger.events:
        if event.kind == Kind.EXPIRE:
            taken = state.consumptions[event.event_id]
            assert taken == [[event.data["lot"], -event.points]]
    # spends took the oldest lots first: no later lot is touched while an earlier one is full
    for event in ledger.events:
        if event.kind == Kind.REDEEM:
            lots = [lot_id for lot_id, _ in state.consumptions[event.event_id]]
            order = [lot.lot_id for lot in state.lots]
            assert lots == sorted(lots, key=order.index)
    # running the job twice records nothing new: the same ids
    again = due_expiries(state, at)
    ids = {e.event_id for e in ledger.events}
    assert all(d.event_id not in ids for d in again)


def test_expiry_job_ids_are_deterministic():
    ledger = Ledger()
    at = START
    ledger.record(EventDraft(kind=Kind.BONUS, member_id="m", points=10,
                             data={"expires_at": (at + timedelta(days=1)).isoformat()}), at)
    later = at + timedelta(days=2)
    first = due_expiries(ledger.state("m"), later)
    second = due_expiries(ledger.state("m"), later)
    assert [d.event_id for d in first] == [d.event_id for d in second]
    assert first[0].points == -10
    ledger.record(first, later)
    assert ledger.state("m").balance == 0
    assert due_expiries(ledger.state("m"), later) == []


def test_double_spend_goes_negative_and_later_earnings_pay_it_down():
    a, b = Ledger(origin="S001-T1"), Ledger(origin="S002-T1")
    at = START
    a.record(EventDraft(kind=Kind.BONUS, member_id="m", points=200), at)
    # both stores saw 200 and each spent 150 offline
    a.record(EventDraft(kind=Kind.REDEEM, member_id="m", points=-150, ref="A1"), at)
    b.record(EventDraft(kind=Kind.REDEEM, member_id="m", points=-150, ref="B1"), at)
    state = fold(a.events + b.events)
    assert (state.balance, state.debt) == (-100, 100)
    a.record(EventDraft(kind=Kind.BONUS, member_id="m", points=130), at + timedelta(days=1))
    state = fold(a.events + b.events)
    assert (state.balance, state.debt, sum(x.remaining for x in state.lots)) == (30, 0, 30)


def test_shuffled_order_with_random_module():
    ledger = run([("sale", [("LATTE", "coffee", 3, 500)]), ("redeem", "latte"), ("void", 0)])
    events = list(ledger.events)
    random.Random(7).shuffle(events)
    assert fold(events).comparable() == fold(ledger.events).comparable()


JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@given(JSON_VALUES)
def test_canonical_json_is_the_stdlib_canonical_form(value):
    """Hashes and program versions are taken of these bytes on the terminal and the hub:
    the fast encoder must write exactly what the stdlib does (escapes, non-ASCII, key
    order), and fall back to it where it cannot (ints beyond 64 bits)."""
    expected = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert canonical_json(value) == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=25))
def test_a_snapshot_reads_back_as_the_same_state_and_folds_on_alike(ops):
    """A snapshot (compact receipt records) read back is the state it was written from:
    the same JSON, and a sale and a void folded on top of either give the same state."""
    ledger = run(ops)
    state = ledger.state("m1")
    written = json.loads(json.dumps(state.to_dict()))
    back = MemberState.from_dict(written)
    assert back.to_dict() == state.to_dict()
    for ref, record in state.receipts.items():
        raw = written["receipts"][ref]
        assert "ref" not in raw and raw["occurred_at"]
        # only what differs from a fresh record is written
        assert "voided" not in raw or record.voided
        assert "rewards" not in raw or record.rewards
        assert back.receipts[ref] == record
    at = START + timedelta(days=400)
    sale = make_sale([SaleLine("LATTE", "coffee", 2, 450)])
    events = ledger.record(earn_for_sale(PROGRAM, state, sale, at, receipt_no="N").drafts, at)
    events += ledger.record(
        [reverse_receipt(ledger.state("m1"), "N")], at + timedelta(minutes=1))
    assert fold(events, back).to_dict() == ledger.state("m1").to_dict()


def test_a_snapshot_written_with_whole_receipt_records_still_reads():
    ledger = run([("sale", [("LATTE", "coffee", 2, 450)]), ("refund", 0, 50)])
    state = ledger.state("m1")
    whole = json.loads(json.dumps(state.to_dict()))
    for ref, record in state.receipts.items():  # the format before 2026-11-24
        whole["receipts"][ref] = {**{k: v for k, v in vars(record).items()
                                     if not k.startswith("_")},
                                  "occurred_at": record.occurred_at.isoformat()}
    assert MemberState.from_dict(whole).to_dict() == state.to_dict()


def test_copy_is_independent_of_the_original():
    ledger = run([("sale", [("LATTE", "coffee", 2, 450)])])
    state = ledger.state("m1")
    before = state.to_dict()
    other = state.copy()
    other.receipts["R0"].event_ids.append("x")
    other.lots[0].remaining = 0
    assert state.to_dict() == before


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=25))
def test_a_snapshot_written_after_every_event_equals_a_fresh_fold(ops):
    """Writing a snapshot changes nothing: written out after every single event (a bonus
    on the same receipt, a refund, a void), the state still writes what a fold that never
    wrote anything writes."""
    ledger = run(ops)
    events = sorted((e for e in ledger.events if e.member_id == "m1"), key=lambda e: e.sort_key)
    if not events:
        return
    state = MemberState(member_id="m1")
    for event in events:
        apply(state, event)
        state.to_dict()
    assert json.dumps(state.to_dict()) == json.dumps(fold(events).to_dict())


@given(st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2200, 1, 1),
                    timezones=st.timezones()),
       st.booleans())
def test_instants_are_written_in_utc_with_microseconds_and_read_back_exactly(moment, whole):
    # Always with a microsecond part, whole seconds included: the text has one length and
    # sorts as the instants do.
    if whole:
        moment = moment.replace(microsecond=0)
    text = format_instant(moment)
    assert text == moment.astimezone(UTC).isoformat(timespec="microseconds")
    assert len(text) == 32 and text.endswith("+00:00")
    # (Compared in UTC: a local time in a DST fold is unequal to every other zone's.)
    assert parse_instant(text) == moment.astimezone(UTC)


def _member_events(ledger: Ledger, member: str = "m1") -> list:
    return sorted((e for e in ledger.events if e.member_id == member), key=lambda e: e.sort_key)


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, max_size=25), st.integers(0, 100))
def test_fold_onto_with_later_events_in_order_is_the_fold_of_everything(ops, cut):
    """A state with the member's later events applied on top is the fold of all events,
    without a refold: the state itself is carried on."""
    events = _member_events(run(ops))
    cut = cut % (len(events) + 1)
    state = fold(events[:cut], MemberState(member_id="m1"))

    def everything() -> list:
        raise AssertionError("events in order need no refold")

    result = fold_onto(state, events[cut:], everything)
    assert result is state
    assert result.to_dict() == fold(events).to_dict()
    # events the state holds already are left out
    assert fold_onto(state, events, everything).to_dict() == fold(events).to_dict()


@settings(max_examples=60, deadline=None)
@given(st.lists(operation, min_size=1, max_size=25), st.randoms(use_true_random=False))
def test_fold_onto_with_any_split_of_the_events_is_the_fold_of_everything(ops, rnd):
    """Whatever part of the events the state holds, the rest folded onto it (in place, or
    by a refold when one sorts before the state) is the fold of all events."""
    events = _member_events(run(ops))
    held = [e for e in events if rnd.random() < 0.5]
    later = [e for e in events if e not in held]
    rnd.shuffle(later)
    state = fold(held, MemberState(member_id="m1"))
    assert fold_onto(state, later, lambda: events).to_dict() == fold(events).to_dict()


def test_fold_onto_refolds_when_a_later_event_sorts_before_the_state():
    """An offline till catching up: its earlier spend (more than the member had then)
    arrives after the other till's later credit is folded. Applied on top, the spend would
    take the later credit's lot; in fold order it made a debt that the credit paid, which
    a void of that credit must owe again. fold_onto refolds everything instead."""
    a, b = Ledger(origin="S001-T1"), Ledger(origin="S002-T1")
    a.record(EventDraft(kind=Kind.BONUS, member_id="m", points=100), START)
    b.record(EventDraft(kind=Kind.REDEEM, member_id="m", points=-150, ref="B1"),
             START + timedelta(hours=1))
    a.record(EventDraft(kind=Kind.BONUS, member_id="m", points=50), START + timedelta(hours=2))
    state = fold(a.events)
    called = []

    def everything() -> list:
        called.append(True)
        return a.events + b.events

    result = fold_onto(state, b.events, everything)
    assert called and b.events[0].hlc < state.last_hlc
    assert result.to_dict() == fold(a.events + b.events).to_dict()
    # the spend owed 50, and the later credit paid that debt instead of making a lot
    assert [lot.remaining for lot in result.lots] == [0]
    assert result.debt_paid == {a.events[1].event_id: 50}
    # applying it on top would not be the same state
    on_top = fold(a.events)
    apply(on_top, b.events[0])
    assert on_top.to_dict() != result.to_dict()
