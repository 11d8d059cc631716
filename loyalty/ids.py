"""Identifiers made offline: event ids, member ids, card numbers, voucher codes.

    >>> make_card_number(issuer=17, serial=42)
    '6000001710000428'
    >>> is_valid_card_number(_)
    True

Event ids are UUIDv7 (time-ordered, made where the event happens). Events made by hub
jobs get UUIDv5 ids from (member, kind, period), so running a job twice makes nothing twice.
"""

from __future__ import annotations

import hashlib
import os
import time
import uuid

# Namespace for deterministic hub-made event ids; fixed forever.
HUB_NAMESPACE = uuid.UUID("6f1c2d7e-3b1a-4c5e-9a0b-7d2e8f4a1c3b")
CARD_PREFIX = "60"  # issuer prefix of the programme's own cards

_last_ms = 0
_RAND_B = (1 << 62) - 1


def uuid7() -> str:
    """A UUIDv7 (RFC 9562) as text: 48-bit Unix milliseconds, then 74 random bits.

    The same values `uuid6.uuid7()` made before, with its rule that ids made in one
    process never go back in time: a millisecond already used moves on by one, so ids of
    one process sort in the order they were made. The random bits are fresh from
    `os.urandom` for every id, so two processes (a forked child too) never share them."""
    global _last_ms
    ms = time.time_ns() // 1_000_000
    if ms <= _last_ms:
        ms = _last_ms + 1
    _last_ms = ms
    rand = int.from_bytes(os.urandom(10), "big")  # 80 bits, 74 used
    value = ((ms & 0xFFFF_FFFF_FFFF) << 80 | 0x7 << 76 | (rand >> 68) << 64
             | 0b10 << 62 | rand & _RAND_B)
    return str(uuid.UUID(int=value))


def new_event_id() -> str:
    return uuid7()


def new_member_id() -> str:
    return uuid7()


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
        and number.isascii() and number.isdigit()  # isdigit alone takes "٦٠١٢..."
        and number.startswith(CARD_PREFIX)
        and luhn_check_digit(number[:-1]) == number[-1]
    )


ISSUER_DIGITS = 6
ONLINE_ISSUER = 0
"""The hub's own channel (online enrolments)."""
HUB_ISSUERS = range(1, 900_000)
"""Numbers the hub hands out, one per terminal credential (`GET /v1/terminal/whoami`)."""
UNREGISTERED_ISSUERS = range(900_000, 10**ISSUER_DIGITS)
"""Hashed numbers for terminals set up without the hub and without `--card-issuer`."""
SERIALS_PER_EPOCH = 10**6 - 1


def unregistered_issuer(origin: str) -> int:
    """A stable issuer number for a terminal that was never given one. Two such terminals
    can, rarely, draw the same number (the hub flags the card conflict): registering
    terminals with the hub, or `pos init --card-issuer N`, rules that out."""
    digest = int.from_bytes(hashlib.sha256(origin.encode()).digest()[:8], "big")
    return UNREGISTERED_ISSUERS.start + digest % len(UNREGISTERED_ISSUERS)


def make_card_number(issuer: int, serial: int, epoch: int = 1) -> str:
    """A card number no other terminal can make, without asking the hub.

    Layout: prefix (2) + issuer (6) + epoch digit (1) + serial (6) + Luhn digit (1).
    Issuer numbers are unique per terminal (the hub hands them out), serials are
    gap-free per terminal and epoch, and a terminal restored from a backup (new epoch,
    serials start again) changes the epoch digit; it repeats only after ten restores,
    which the hub would flag as a card conflict.
    """
    if not 0 <= issuer < 10**ISSUER_DIGITS:
        raise ValueError(f"card issuer {issuer} out of range")
    if not 0 < serial <= SERIALS_PER_EPOCH:
        raise ValueError("card serial out of range: start a new epoch (pos init --new-epoch)")
    body = f"{CARD_PREFIX}{issuer:0{ISSUER_DIGITS}d}{epoch % 10}{serial:06d}"
    return body + luhn_check_digit(body)


def voucher_code(member_id: str, source: str, index: int = 0) -> str:
    """Deterministic, unguessable-enough voucher code for a reward issued by `source`."""
    digest = hashlib.sha256(f"{member_id}|{source}|{index}".encode()).hexdigest().upper()
    return f"V{digest[:11]}"
