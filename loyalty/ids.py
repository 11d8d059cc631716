"""Identifiers made offline: event ids, member ids, card numbers, voucher codes.

    >>> is_valid_card_number(make_card_number("S001-T1", 42))
    True

Event ids are UUIDv7 (time-ordered, made where the event happens). Events made by hub
jobs get UUIDv5 ids from (member, kind, period), so running a job twice makes nothing twice.
"""

from __future__ import annotations

import hashlib
import uuid

import uuid6

# Namespace for deterministic hub-made event ids; fixed forever.
HUB_NAMESPACE = uuid.UUID("6f1c2d7e-3b1a-4c5e-9a0b-7d2e8f4a1c3b")
CARD_PREFIX = "60"  # issuer prefix of the programme's own cards


def new_event_id() -> str:
    return str(uuid6.uuid7())


def new_member_id() -> str:
    return str(uuid6.uuid7())


def deterministic_event_id(member_id: str, kind: str, period: str) -> str:
    """Same member, kind and period -> same id (idempotent hub jobs)."""
    return str(uuid.uuid5(HUB_NAMESPACE, f"{member_id}|{kind}|{period}"))


def luhn_check_digit(digits: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return str((10 - total % 10) % 10)


def is_valid_card_number(number: str) -> bool:
    """16 digits, our prefix, and a correct Luhn check digit (catches a mistyped digit)."""
    return (
        len(number) == 16
        and number.isdigit()
        and number.startswith(CARD_PREFIX)
        and luhn_check_digit(number[:-1]) == number[-1]
    )


def origin_number(origin: str) -> int:
    """A stable 7-digit number for an origin such as "S001-T1"."""
    return int.from_bytes(hashlib.sha256(origin.encode()).digest()[:8], "big") % 10**7


def make_card_number(origin: str, serial: int, epoch: int = 1) -> str:
    """A card number unique across terminals without asking the hub.

    Layout: prefix (2) + origin number (7) + epoch-salted serial (6) + Luhn digit (1). The
    origin number comes from the terminal's unique id; serials are gap-free per terminal.
    Callers must still check the number is unused: a hash can collide, however rarely.
    """
    if not 0 < serial < 10**6:
        raise ValueError("card serial out of range")
    body = f"{CARD_PREFIX}{origin_number(f'{origin}#{epoch}'):07d}{serial:06d}"
    return body + luhn_check_digit(body)


def voucher_code(member_id: str, source: str, index: int = 0) -> str:
    """Deterministic, unguessable-enough voucher code for a reward issued by `source`."""
    digest = hashlib.sha256(f"{member_id}|{source}|{index}".encode()).hexdigest().upper()
    return f"V{digest[:11]}"
