"""Member and staff PINs in the domain: format, argon2id hash, lockout rule, the fold of
`pin` events, and which proof lets a member spend under each `spend_proof`."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from loyalty.errors import ProgramError
from loyalty.events import EventDraft, Kind, data_problem
from loyalty.fold import MemberState, fold
from loyalty.pins import (
    MAX_LOCK,
    PinError,
    check_pin_format,
    hash_pin,
    lock_wait,
    locked_until,
    pin_set_draft,
    spend_needs_pin,
    spend_refusal,
    verify_pin,
)

from .conftest import BASE, Ledger, make_program, utc

T0 = utc(2026, 3, 2, 9, 0)


def test_a_pin_is_stored_as_a_salted_argon2id_hash():
    first, second = hash_pin("4821"), hash_pin("4821")
    assert first.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert first != second  # a salt of its own each time
    assert "4821" not in first
    assert verify_pin(first, "4821") and verify_pin(second, "4821")
    assert not verify_pin(first, "4822")
    assert not verify_pin("not a hash", "4821")


@pytest.mark.parametrize("pin, says", [
    ("123", "4 to 8 digits"), ("123456789", "4 to 8 digits"), ("12a4", "4 to 8 digits"),
    ("١٢٣٤", "4 to 8 digits"), ("7777", "one repeated digit"), ("1234", "consecutive"),
    ("9876", "consecutive"),
])
def test_a_pin_must_be_4_to_8_digits_and_not_trivial(pin, says):
    with pytest.raises(PinError, match=says):
        check_pin_format(pin)


def test_lockout_starts_at_the_fifth_wrong_try_and_doubles_up_to_a_day():
    assert [locked_until(n, T0) for n in range(5)] == [None] * 5
    waits = [locked_until(n, T0) - T0 for n in range(5, 10)]
    assert waits == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16)]
    assert locked_until(16, T0) - T0 == MAX_LOCK == timedelta(days=1)
    assert locked_until(10_000, T0) - T0 == MAX_LOCK
    assert lock_wait(T0 + timedelta(minutes=1), T0) == "1 minute"
    assert lock_wait(T0 + timedelta(days=1), T0) == "24 hours"
    assert lock_wait(T0, T0) is None


def _pin_events(ledger: Ledger, member: str, actions: list[str]) -> None:
    at = T0
    for action in actions:
        at += timedelta(seconds=10)
        draft = (pin_set_draft(member, hash_pin("4821")) if action == "set"
                 else EventDraft(kind=Kind.PIN, member_id=member, data={"action": action}))
        ledger.record(draft, at)


def test_the_fold_keeps_the_hash_and_counts_wrong_tries_in_a_row():
    ledger = Ledger()
    ledger.record(EventDraft(kind=Kind.ENROL, member_id="m1"), T0)
    _pin_events(ledger, "m1", ["set", "failed", "failed"])
    state = ledger.state("m1")
    assert verify_pin(state.pin_hash, "4821")
    assert state.pin_failures == 2 and state.pin_failed_at == T0 + timedelta(seconds=30)
    _pin_events(ledger, "m1", ["ok"])
    assert ledger.state("m1").pin_failures == 0
    _pin_events(ledger, "m1", ["failed"] * 5)
    state = ledger.state("m1")
    assert state.pin_failures == 5 and locked_until(5, state.pin_failed_at) is not None
    _pin_events(ledger, "m1", ["set"])  # a new PIN starts the count again
    assert ledger.state("m1").pin_failures == 0
    assert ledger.state("m1").balance == 0


def test_pin_state_survives_a_snapshot_and_any_arrival_order():
    ledger = Ledger()
    ledger.record(EventDraft(kind=Kind.ENROL, member_id="m1"), T0)
    _pin_events(ledger, "m1", ["set", "failed", "failed", "failed"])
    state = ledger.state("m1")
    again = MemberState.from_dict(state.to_dict())
    assert (again.pin_hash, again.pin_failures, again.pin_failed_at) == \
        (state.pin_hash, 3, state.pin_failed_at)
    assert again.to_dict() == state.to_dict()
    shuffled = list(ledger.events)
    random.Random(7).shuffle(shuffled)
    assert fold(shuffled).to_dict() == state.to_dict()
    # a member without any PIN event: nothing about a PIN in the snapshot, as before
    assert MemberState("m2").to_dict()["pin"] is None
    old = MemberState("m2").to_dict()
    del old["pin"]  # a snapshot written before PINs existed
    assert MemberState.from_dict(old).pin_hash is None


def test_the_hub_refuses_pin_data_the_fold_could_not_read():
    assert data_problem({"action": "set", "hash": 42}) == "data.hash must be text"
    assert data_problem({"action": ["set"]}) == "data.action must be text"
    assert data_problem({"action": "failed"}) is None


@pytest.mark.parametrize("policy, found_by, needs", [
    ("qr_or_pin", "qr", False), ("qr_or_pin", "card", True), ("qr_or_pin", "phone", True),
    ("qr_only", "qr", False), ("qr_only", "card", True), ("qr_only", "phone", True),
    ("any", "qr", False), ("any", "card", False), ("any", "phone", True),
])
def test_which_proof_spends_under_each_policy(policy, found_by, needs):
    assert spend_needs_pin(policy, found_by) is needs
    refusal = spend_refusal(policy, found_by, pin_given=False)
    assert (refusal is not None) is needs
    with_pin = spend_refusal(policy, found_by, pin_given=True)
    # a PIN is a proof everywhere except under qr_only
    assert (with_pin is not None) is (needs and policy == "qr_only")


def test_the_refusals_tell_the_cashier_what_to_do():
    assert spend_refusal("qr_or_pin", "card", pin_given=False) == (
        "typed card numbers can earn but not spend: scan the member's QR or ask for their PIN")
    assert "phone number can earn but not spend" in spend_refusal("qr_or_pin", "phone",
                                                                    pin_given=False)
    assert "accepts only the member's QR code" in spend_refusal("qr_only", "card",
                                                                  pin_given=True)


def test_spend_proof_is_a_program_setting_that_defaults_to_qr_or_pin():
    assert make_program().spend_proof == "qr_or_pin"
    explicit = make_program(base=_with('spend_proof = "qr_or_pin"'))
    assert explicit.version == make_program().version
    assert make_program().canonical_json().count("spend_proof") == 0  # versions kept
    assert make_program(base=_with("spend_proof = \"any\"")).spend_proof == "any"
    assert make_program(base=_with("spend_proof = \"any\"")).version != make_program().version
    with pytest.raises(ProgramError, match="program.spend_proof"):
        make_program(base=_with("spend_proof = \"cash\""))


def _with(line: str) -> str:
    return BASE.replace('earn_rate = 10', f'earn_rate = 10\n{line}')
