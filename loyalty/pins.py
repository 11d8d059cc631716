"""PINs of members and staff: the format, the slow hash, the lockout rule, and which proof
of possession lets a member spend.

    >>> stored = hash_pin("4821")                 # '$argon2id$v=19$m=19456,t=2,p=1$...'
    >>> verify_pin(stored, "4821"), verify_pin(stored, "4822")
    (True, False)
    >>> locked_until(5, datetime(2026, 3, 2, 9, 0, tzinfo=UTC))    # the 5th wrong try
    datetime.datetime(2026, 3, 2, 9, 1, tzinfo=datetime.timezone.utc)
    >>> spend_refusal("qr_or_pin", "card", pin_given=False)
    "typed card numbers can earn but not spend: scan the member's QR or ask for their PIN"

A PIN is stored only as an argon2id hash with its own random salt (argon2-cffi's
`PasswordHasher`); the hash string carries its parameters, so a later change of them still
verifies the PINs hashed before. The parameters are OWASP's argon2id minimum (19 MiB,
2 passes, 1 lane): one verify took 28-33 ms on the 2-core development VM (2026-12-02), slow
enough that guessing a PIN at the counter or through the hub is bounded by the lockout,
fast enough for a till. A 4-digit PIN cannot resist offline guessing whatever the hash:
10,000 tries cost about five minutes of one core (docs/SECURITY.md).

Lockout: after `MAX_FAILURES` wrong tries in a row the PIN is refused without checking
for `FIRST_LOCK`, doubling with each further wrong try up to `MAX_LOCK`; a right try
resets the count. For members the count is the fold of their `pin` events, so once the
terminals have synced the hub counts every store's wrong tries together.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta  # noqa: F401 - UTC: the docstring's example
from functools import cache
from typing import TYPE_CHECKING

from loyalty.errors import LoyaltyError
from loyalty.events import EventDraft, Kind

if TYPE_CHECKING:
    from argon2 import PasswordHasher

PIN_MIN, PIN_MAX = 4, 8
MAX_FAILURES = 5
FIRST_LOCK = timedelta(minutes=1)
MAX_LOCK = timedelta(days=1)

SPEND_PROOFS = ("qr_or_pin", "qr_only", "any")
"""The program's `spend_proof` choices (loyalty.program.Program.spend_proof)."""



@cache
def _hasher() -> PasswordHasher:
    # Imported on first use: argon2 (cffi) costs ~23 ms to import, and every `pos` command
    # that records imports this module, most never checking a PIN (the start-up floor,
    # docs/terminal.md "Measured figures").
    from argon2 import PasswordHasher, Type

    return PasswordHasher(time_cost=2, memory_cost=19_456, parallelism=1, hash_len=32,
                          salt_len=16, type=Type.ID)


class PinError(LoyaltyError):
    """A PIN refused: badly formed, wrong, locked, or not the proof the program asks for."""


def check_pin_format(pin: str) -> str:
    """The PIN if it is 4 to 8 ASCII digits and not trivially guessable, else PinError.

        >>> check_pin_format("1111")
        Traceback (most recent call last):
        loyalty.pins.PinError: a PIN of one repeated digit is too easy to guess: choose another
    """
    if not (PIN_MIN <= len(pin) <= PIN_MAX and pin.isascii() and pin.isdigit()):
        raise PinError(f"a PIN is {PIN_MIN} to {PIN_MAX} digits (0-9)")
    if len(set(pin)) == 1:
        raise PinError("a PIN of one repeated digit is too easy to guess: choose another")
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    if steps in ({1}, {-1}):
        raise PinError("a PIN of consecutive digits (1234, 4321) is too easy to guess: "
                       "choose another")
    return pin


def hash_pin(pin: str) -> str:
    """The argon2id hash to store (a new random salt each call)."""
    return _hasher().hash(check_pin_format(pin))


def verify_pin(stored: str, pin: str) -> bool:
    """Does `pin` match the stored hash? A malformed hash matches nothing."""
    from argon2.exceptions import InvalidHashError, VerificationError

    try:
        return _hasher().verify(stored, pin)
    except (VerificationError, InvalidHashError):  # VerifyMismatchError is a VerificationError
        return False


def looks_like_pin_hash(text: object) -> bool:
    """What a stored PIN hash looks like (the hub refuses a `pin` event with anything else)."""
    return isinstance(text, str) and text.startswith("$argon2id$") and len(text) < 200


def locked_until(failures: int, last_failed_at: datetime | None) -> datetime | None:
    """Until when the PIN is refused after `failures` wrong tries in a row, the last at
    `last_failed_at`; None while fewer than MAX_FAILURES. 5 wrong: 1 minute, 6: 2, 7: 4...
    up to a day."""
    if failures < MAX_FAILURES or last_failed_at is None:
        return None
    doublings = failures - MAX_FAILURES
    # 2**11 minutes is already past a day; stop before the number grows without bound.
    lock = MAX_LOCK if doublings > 11 else min(FIRST_LOCK * (2 ** doublings), MAX_LOCK)
    return last_failed_at + lock


def lock_wait(until: datetime | None, at: datetime) -> str | None:
    """How long a PIN locked until `until` stays locked at `at`, in words ("3 minutes"),
    or None when it is not locked.

        >>> lock_wait(datetime(2026, 3, 2, 9, 4, tzinfo=UTC), datetime(2026, 3, 2, 9, 0, 30,
        ...           tzinfo=UTC))
        '4 minutes'
    """
    if until is None or at >= until:
        return None
    minutes = max(1, -(-int((until - at).total_seconds()) // 60))
    if minutes < 120:
        return f"{minutes} minute{'s' if minutes > 1 else ''}"
    return f"{round(minutes / 60)} hours"


def spend_needs_pin(policy: str, found_by: str) -> bool:
    """True when a member found this way must give their PIN to spend, under the program's
    `spend_proof`: a scanned signed QR always proves possession; `any` lets a typed card
    number spend too; a phone number, a name or an e-mail never does."""
    if found_by == "qr":
        return False
    return not (policy == "any" and found_by == "card")


def spend_refusal(policy: str, found_by: str, *, pin_given: bool) -> str | None:
    """Why a member found by `found_by` cannot spend without more proof, or None when what
    was given is enough to try (a given PIN is still checked against the hash)."""
    if not spend_needs_pin(policy, found_by):
        return None
    how = ("typed card numbers" if found_by == "card"
           else "a member found by phone number" if found_by == "phone"
           else "a member found by name" if found_by == "name"
           else "a member found by e-mail" if found_by == "email"
           else "a member found this way")
    if policy == "qr_only":
        return (f"{how} can earn but not spend, and this program accepts only the member's "
                "QR code to spend: scan their QR (card, receipt or web page)")
    if pin_given:
        return None
    return f"{how} can earn but not spend: scan the member's QR or ask for their PIN"


def pin_set_draft(member_id: str, pin_hash: str) -> EventDraft:
    """The `pin` event giving a member the PIN hashed as `pin_hash` (enrolment, set-pin).

        >>> pin_set_draft(member_id, hash_pin("4821")).data["action"]
        'set'
    """
    return EventDraft(kind=Kind.PIN, member_id=member_id,
                      data={"action": "set", "hash": pin_hash})


__all__ = [
    "FIRST_LOCK", "MAX_FAILURES", "MAX_LOCK", "PIN_MAX", "PIN_MIN", "SPEND_PROOFS",
    "PinError", "check_pin_format", "hash_pin", "lock_wait", "locked_until",
    "looks_like_pin_hash", "pin_set_draft", "spend_needs_pin", "spend_refusal", "verify_pin",
]
