"""The member QR payload: the card number signed with Ed25519, so a made-up code is refused
and one till's key cannot speak for another's.

    >>> till = new_private_key()                         # made at `pos init`, never leaves it
    >>> payload = sign_card("6012345678901234", till)
    >>> payload[:22], len(payload)                       # then the key id and signature
    ('LOY2:6012345678901234:', 134)
    >>> keys = {key_id(public_key(till)): public_key(till)}   # what a verifier holds
    >>> verify_payload(payload, keys.get)
    '6012345678901234'

Format: `LOY2:<card number>:<key id>:<signature>`, 134 characters, all of them in the QR
alphanumeric set (digits, A-Z, `:`), so the code is version 6 at error correction M
(41x41 modules; docs/terminal.md, "Member QR codes"):

- key id: the first 5 bytes of SHA-256 of the signer's raw 32-byte public key, base32
  without padding (8 characters). It only picks the key; the signature decides.
- signature: Ed25519 over `LOY2:<card number>:<key id>` (64 bytes), base32 without
  padding (103 characters). Base32 rather than base64 because it is one case: a
  keyboard-wedge scanner with caps lock on still types a payload that verifies.

Who signs: each terminal with its own key, which the hub certifies (`certify`: the hub's
signature over terminal id, public key and issue time), and the hub with its own key for
cards it issues (the online channel). A verifier holds public keys only: the hub's, and
the certificates it pulled, minus the revoked ones. `keys` is any callable from key id to
a raw public key (None: unknown); it may raise `QRError` itself to say why a key is
refused (revoked).

`LOY1:<card>:<HMAC>` (the old payload, signed with one key every till shared) is accepted
only with `legacy=LegacyKey(key, until)` and only through `until` (a UTC date): the
migration period for cards already printed (docs/terminal.md, "Old LOY1 cards").
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

from loyalty.errors import QRError
from loyalty.ids import is_valid_card_number

# cryptography is imported in the functions that sign or verify: `pos member CARD` and
# most commands never do, and must start in <= 3x a bare python (issue 15).

PREFIX = "LOY2"
LEGACY_PREFIX = "LOY1"
# The LOY1 key every copy of config.example.toml carried before: public, so it proves
# nothing and is never taken as a legacy key.
PUBLIC_DEMO_KEY = "demo-qr-signing-key-change-me"
CERT_PREFIX = "LOYCERT1"
KEY_ID_LENGTH = 8
SIGNATURE_LENGTH = 103
PAYLOAD_LENGTH = len(PREFIX) + 1 + 16 + 1 + KEY_ID_LENGTH + 1 + SIGNATURE_LENGTH  # 134

FORGED = "this member QR code is forged or altered: ask for the card or ID"
REVOKED = ("this member QR code was signed by a till HQ has revoked: ask for the card or "
           "ID; the receipt prints a new code")
KeyLookup = Callable[[str], bytes | None]


def _b32(raw: bytes) -> str:
    return base64.b32encode(raw).decode().rstrip("=")


def _unb32(text: str) -> bytes:
    return base64.b32decode(text + "=" * (-len(text) % 8))


def b64(raw: bytes) -> str:
    """Keys and certificate signatures on the wire: base64url without padding."""
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- keys -----------------------------------------------------------------------------------
def new_private_key() -> bytes:
    """A fresh Ed25519 private key: its raw 32 bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.generate().private_bytes_raw()


def public_key(private_key: bytes) -> bytes:
    """The raw 32-byte public key of a raw private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    return Ed25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes_raw()


def key_id(public: bytes) -> str:
    """The 8-character id payloads and certificates name a public key by."""
    if len(public) != 32:
        raise QRError("an Ed25519 public key is 32 bytes")
    return _b32(hashlib.sha256(public).digest()[:5])


def _verify(public: bytes, signature: bytes, message: bytes) -> bool:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, message)
    except (InvalidSignature, ValueError):
        return False
    return True


# -- member cards ---------------------------------------------------------------------------
def _card_message(card: str, kid: str) -> bytes:
    return f"{PREFIX}:{card}:{kid}".encode()


def sign_card(card_number: str, private_key: bytes) -> str:
    """The QR payload of a card, signed with `private_key` (a terminal's or the hub's)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    kid = key_id(public_key(private_key))
    signature = Ed25519PrivateKey.from_private_bytes(private_key).sign(
        _card_message(card_number, kid))
    return f"{PREFIX}:{card_number}:{kid}:{_b32(signature)}"


def looks_like_payload(text: str) -> bool:
    """A member QR payload of either format (so a garbled one is refused, not looked up
    as a phone number)."""
    head = text.strip().upper()
    return head.startswith((PREFIX + ":", LEGACY_PREFIX + ":"))


@dataclass(frozen=True)
class LegacyKey:
    """The shared HMAC key of LOY1 cards and the last day (UTC) they are accepted."""

    key: bytes
    until: date


def verify_payload(payload: str, keys: KeyLookup, *, legacy: LegacyKey | None = None,
                   today: date | None = None) -> str:
    """The card number of a genuine payload; QRError (one sentence for the cashier) else.

    `keys(key_id)` gives the trusted public key of a LOY2 payload's signer, or None."""
    text = payload.strip()
    if text.upper().startswith(LEGACY_PREFIX + ":"):
        return _verify_legacy(text, legacy, today or datetime.now(UTC).date())
    parts = text.upper().split(":")
    if len(parts) != 4 or parts[0] != PREFIX:
        raise QRError("this QR code is not a member code of this programme")
    _, card, kid, signature = parts
    if not is_valid_card_number(card):
        raise QRError("the card number in this QR code is not valid")
    if len(kid) != KEY_ID_LENGTH or len(signature) != SIGNATURE_LENGTH:
        raise QRError(FORGED)
    try:
        raw_signature = _unb32(signature)
    except ValueError:
        raise QRError(FORGED) from None
    if _b32(raw_signature) != signature:  # spare bits set: one signature, one spelling
        raise QRError(FORGED)
    public = keys(kid)
    if public is None:
        raise QRError("this member QR code was signed by a till this terminal does not "
                      "know yet: sync, or type the card number")
    if not _verify(public, raw_signature, _card_message(card, kid)):
        raise QRError(FORGED)
    return card


# -- the LOY1 migration ---------------------------------------------------------------------
def _legacy_signature(card: str, key: bytes) -> str:
    mac = hmac.new(key, f"{LEGACY_PREFIX}:{card}".encode(), hashlib.sha256).digest()[:12]
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def sign_legacy_card(card_number: str, key: bytes) -> str:
    """A LOY1 payload (HMAC with the shared key): only to test the migration period."""
    return f"{LEGACY_PREFIX}:{card_number}:{_legacy_signature(card_number, key)}"


def _verify_legacy(text: str, legacy: LegacyKey | None, today: date) -> str:
    parts = text.split(":")
    if len(parts) != 3:
        raise QRError("this QR code is not a member code of this programme")
    _, card, signature = parts
    if not is_valid_card_number(card):
        raise QRError("the card number in this QR code is not valid")
    if legacy is None or today > legacy.until:
        raise QRError("this is an old member QR code (LOY1), no longer accepted: type the "
                      "card number; the receipt prints a new code")
    if not hmac.compare_digest(signature, _legacy_signature(card, legacy.key)):
        raise QRError(FORGED)
    return card


# -- terminal certificates ------------------------------------------------------------------
@dataclass(frozen=True)
class Certificate:
    """The hub's word that `public_key` is terminal `terminal`'s since `issued_at`."""

    terminal: str
    public_key: bytes
    issued_at: str
    signature: bytes

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def to_dict(self) -> dict[str, str]:
        return {"terminal": self.terminal, "key_id": self.key_id,
                "public_key": b64(self.public_key), "issued_at": self.issued_at,
                "signature": b64(self.signature)}

    @classmethod
    def from_dict(cls, data: dict) -> Certificate:
        """The certificate of a pull change or a certification answer (ValueError,
        KeyError or TypeError when it is not one)."""
        cert = cls(str(data["terminal"]), unb64(data["public_key"]), str(data["issued_at"]),
                   unb64(data["signature"]))
        if len(cert.public_key) != 32 or len(cert.signature) != 64:
            raise ValueError("a certificate holds a 32-byte key and a 64-byte signature")
        if data.get("key_id") not in (None, cert.key_id):
            raise ValueError("the certificate's key id does not match its key")
        return cert


def _certificate_message(terminal: str, public: bytes, issued_at: str) -> bytes:
    # Terminal ids and base64url hold no ':', so the fields cannot be shifted.
    return f"{CERT_PREFIX}:{terminal}:{b64(public)}:{issued_at}".encode()


def certify(hub_private_key: bytes, terminal: str, public: bytes, issued_at: str) -> Certificate:
    """The hub signs a terminal's public key (`POST /v1/terminal/certificate`)."""
    if ":" in terminal or len(public) != 32:
        raise QRError("a terminal id has no ':' and an Ed25519 public key is 32 bytes")
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    signature = Ed25519PrivateKey.from_private_bytes(hub_private_key).sign(
        _certificate_message(terminal, public, issued_at))
    return Certificate(terminal, public, issued_at, signature)


def certificate_is_valid(cert: Certificate, hub_public_key: bytes) -> bool:
    """Whether the hub whose public key this is signed `cert`."""
    return _verify(hub_public_key, cert.signature,
                   _certificate_message(cert.terminal, cert.public_key, cert.issued_at))
