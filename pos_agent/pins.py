"""Member PINs at the terminal: proof of possession before spending, setting a PIN.

    >>> prove_possession(store, member_id, "card", pin="4821")   # a right PIN: "pin"
    'pin'
    >>> prove_possession(store, member_id, "card", pin=None)
    Traceback (most recent call last):
    loyalty.pins.PinError: typed card numbers can earn but not spend: scan the member's QR ...
    >>> set_member_pin(store, member_id, "4821")                 # a `pin` event, synced

What may spend is the program's `spend_proof` (loyalty.pins.spend_refusal). Every try of
a PIN that reaches the hash is recorded as a `pin` event in its own transaction, committed
before the answer, so a wrong try counts even though the spend it was for is refused: the
member's fold counts wrong tries in a row (here with what the hub last sent, at the hub
across every store once synced) and `loyalty.pins.locked_until` locks the PIN. A right try
after wrong ones records `ok`, which starts the count again; a right try with nothing to
reset records nothing. The hash is checked outside the write lock (~30 ms), so a PIN try
never holds up the sync agent or another till process.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loyalty.events import EventDraft, Kind
from loyalty.pins import (
    MAX_FAILURES,
    PIN_MAX,
    PIN_MIN,
    PinError,
    hash_pin,
    lock_wait,
    locked_until,
    pin_set_draft,
    spend_needs_pin,
    spend_refusal,
    verify_pin,
)
from pos_agent.exceptions import MemberNotFound
from pos_agent.ledger import record
from pos_agent.members import member_state

if TYPE_CHECKING:
    from loyalty.fold import MemberState
    from pos_agent.store import Store


def pin_status(state: MemberState, at: datetime) -> dict[str, object]:
    """What may be shown about a member's PIN (never the hash): whether one is set, the
    wrong tries in a row, and until when it is locked (None: not locked).

        >>> pin_status(state, now)
        {'pin_set': True, 'pin_failures': 0, 'pin_locked_until': None}
    """
    until = locked_until(state.pin_failures, state.pin_failed_at)
    return {"pin_set": state.pin_hash is not None, "pin_failures": state.pin_failures,
            "pin_locked_until": until.isoformat() if until and until > at else None}


def check_member_pin(store: Store, member_id: str, pin: str, *,
                     at: datetime | None = None) -> None:
    """Check the member's PIN; PinError if it is wrong, locked or not set. The try is
    recorded (see the module docstring) before a wrong PIN is refused."""
    at = at or datetime.now(UTC)
    pin = pin.strip()
    if not (PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()):
        # cannot be anyone's PIN: not a guess worth counting
        raise PinError(f"a PIN is {PIN_MIN} to {PIN_MAX} digits: ask the member to type it "
                       "again")
    state = member_state(store, member_id)
    _refuse_locked(state, at)
    if state.pin_hash is None:
        raise PinError("this member has no PIN yet: scan their QR code (card, receipt or web "
                       "page) to spend, then they can choose a PIN")
    right = verify_pin(state.pin_hash, pin)
    if right and not state.pin_failures:
        return
    with record(store, at) as rec:
        state = rec.state(member_id)
        if right:
            if state.pin_failures:
                rec.append(EventDraft(kind=Kind.PIN, member_id=member_id,
                                      data={"action": "ok"}))
            return
        rec.append(EventDraft(kind=Kind.PIN, member_id=member_id, data={"action": "failed"}))
        failures = state.pin_failures
    wait = lock_wait(locked_until(failures, at), at)
    if wait:
        raise PinError(f"wrong PIN: it is now locked for {wait}; scan the member's QR code "
                       "instead")
    left = MAX_FAILURES - failures
    raise PinError(f"wrong PIN: {left} more wrong tr{'ies' if left > 1 else 'y'} lock it; "
                   "ask the member to type it again or scan their QR code")


def _refuse_locked(state: MemberState, at: datetime) -> None:
    wait = lock_wait(locked_until(state.pin_failures, state.pin_failed_at), at)
    if wait:
        raise PinError(f"this member's PIN is locked after {state.pin_failures} wrong tries: "
                       f"try again in {wait}, or scan their QR code")


def prove_possession(store: Store, member_id: str, found_by: str, pin: str | None = None,
                     *, at: datetime | None = None) -> str:
    """Check that the member at the counter may spend: a scanned signed QR, the PIN, or
    (program `spend_proof = "any"`) a typed card number. Returns the proof used ("qr",
    "pin", "card"); PinError with what to do otherwise."""
    policy = store.active_program().spend_proof
    refusal = spend_refusal(policy, found_by, pin_given=pin is not None)
    if refusal:
        raise PinError(refusal)
    if not spend_needs_pin(policy, found_by):
        return found_by
    assert pin is not None
    check_member_pin(store, member_id, pin, at=at)
    return "pin"


def set_member_pin(store: Store, member_id: str, pin: str, *,
                   at: datetime | None = None) -> None:
    """Give the member a new PIN (a `pin` event holding its argon2id hash: the wrong tries
    start again). The caller has checked that the member is there: their QR scanned or
    their current PIN (`prove_possession`)."""
    new_hash = hash_pin(pin)  # before the write lock: it is the slow part
    with record(store, at) as rec:
        if not rec.conn.execute("SELECT 1 FROM members WHERE member_id = ?",
                                (member_id,)).fetchone():
            raise MemberNotFound(f"no member {member_id} on this terminal")
        rec.append(pin_set_draft(member_id, new_hash))


__all__ = ["check_member_pin", "pin_status", "prove_possession", "set_member_pin"]
