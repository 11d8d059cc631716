"""The member QR payload: card number plus an HMAC signature, so a made-up code is refused.

    >>> key = b"secret-from-the-hub"
    >>> payload = sign_card("6012345678901234", key)
    >>> verify_payload(payload, key)
    '6012345678901234'

Format: `LOY1:<card number>:<signature>` where the signature is the first 12 bytes of
HMAC-SHA256(key, "LOY1:" + card), base64url without padding (16 characters). 96 bits is
far beyond guessing at a counter, and the whole payload is 38 characters, which fits a
version 3 QR code at error-correction level M, small enough for a 58 mm receipt.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from loyalty.errors import QRError
from loyalty.ids import is_valid_card_number

PREFIX = "LOY1"


def _signature(card: str, key: bytes) -> str:
    mac = hmac.new(key, f"{PREFIX}:{card}".encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign_card(card_number: str, key: bytes) -> str:
    return f"{PREFIX}:{card_number}:{_signature(card_number, key)}"


def looks_like_payload(text: str) -> bool:
    return text.strip().upper().startswith(PREFIX + ":")


def verify_payload(payload: str, key: bytes) -> str:
    """Return the card number of a genuine payload; raise QRError otherwise."""
    parts = payload.strip().split(":")
    if len(parts) != 3 or parts[0].upper() != PREFIX:
        raise QRError("this QR code is not a member code of this programme")
    _, card, signature = parts
    if not is_valid_card_number(card):
        raise QRError("the card number in this QR code is not valid")
    if not hmac.compare_digest(signature, _signature(card, key)):
        raise QRError("this member QR code is forged or altered: ask for the card or ID")
    return card
