"""Member QR payloads (LOY2, Ed25519) and terminal certificates: the pure functions."""

from __future__ import annotations

from datetime import date

import pytest

from loyalty.errors import QRError
from loyalty.member_qr import (
    PAYLOAD_LENGTH,
    Certificate,
    LegacyKey,
    certificate_is_valid,
    certify,
    key_id,
    looks_like_payload,
    new_private_key,
    public_key,
    sign_card,
    sign_legacy_card,
    verify_payload,
)

CARD = "6012345678901234"
OTHER_CARD = "6012345678901242"
QR_ALPHANUMERIC = set("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:")


def ring(*private_keys: bytes):
    keys = {key_id(public_key(k)): public_key(k) for k in private_keys}
    return keys.get


def test_a_signed_card_verifies_with_the_signers_public_key_only():
    till = new_private_key()
    payload = sign_card(CARD, till)
    assert payload.startswith(f"LOY2:{CARD}:{key_id(public_key(till))}:")
    assert len(payload) == PAYLOAD_LENGTH == 134 and set(payload) <= QR_ALPHANUMERIC
    assert verify_payload(payload, ring(till)) == CARD
    # a scanner with caps lock on, or one that lowercases: still the same code
    assert verify_payload(payload.lower(), ring(till)) == CARD
    assert verify_payload(f"  {payload}\r\n", ring(till)) == CARD
    assert looks_like_payload(payload) and looks_like_payload(payload.lower())


def test_a_payload_signed_with_another_key_is_refused():
    till, thief = new_private_key(), new_private_key()
    # the thief's own key is unknown to the verifier
    with pytest.raises(QRError, match="does not know"):
        verify_payload(sign_card(CARD, thief), ring(till))
    # ... and naming the till's key id with the thief's signature is a forgery
    forged = sign_card(CARD, thief).split(":")
    forged[2] = key_id(public_key(till))
    with pytest.raises(QRError, match="forged or altered"):
        verify_payload(":".join(forged), ring(till, thief))


@pytest.mark.parametrize("change", ["card", "key_id", "signature", "spare_bits", "length"])
def test_an_altered_payload_is_refused(change: str):
    till, other = new_private_key(), new_private_key()
    prefix, card, kid, signature = sign_card(CARD, till).split(":")
    if change == "card":
        card = OTHER_CARD
    elif change == "key_id":
        kid = key_id(public_key(other))
    elif change == "signature":
        signature = ("B" if signature[0] != "B" else "C") + signature[1:]
    elif change == "spare_bits":
        # 103 base32 characters carry 515 bits for 512: the last one has 3 spare bits, so
        # several spellings decode to the same bytes; only the canonical one is accepted.
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        last = alphabet.index(signature[-1])
        signature = signature[:-1] + alphabet[last ^ 0b001]
    else:
        signature = signature[:-1]
    with pytest.raises(QRError, match="forged or altered"):
        verify_payload(":".join((prefix, card, kid, signature)), ring(till, other))


def test_garbage_and_bad_card_numbers_are_refused_before_any_key_lookup():
    def no_lookup(kid: str) -> bytes | None:
        raise AssertionError("looked up a key for garbage")

    for text in ("LOY2:garbage", "LOY2:6012345678901234:ABCDEFGH", "LOY3:1:2:3"):
        with pytest.raises(QRError, match="not a member code"):
            verify_payload(text, no_lookup)
    with pytest.raises(QRError, match="card number in this QR code is not valid"):
        verify_payload("LOY2:6012345678901235:ABCDEFGH:" + "A" * 103, no_lookup)


def test_a_lookup_may_refuse_a_revoked_key_with_its_own_sentence():
    till = new_private_key()

    def revoked(kid: str) -> bytes | None:
        raise QRError("revoked by HQ")

    with pytest.raises(QRError, match="revoked by HQ"):
        verify_payload(sign_card(CARD, till), revoked)


def test_loy1_is_accepted_only_with_the_old_key_and_through_the_last_day():
    old_key = b"the-old-shared-hmac-key"
    payload = sign_legacy_card(CARD, old_key)
    legacy = LegacyKey(old_key, date(2027, 3, 31))
    assert verify_payload(payload, ring(), legacy=legacy, today=date(2027, 3, 31)) == CARD
    with pytest.raises(QRError, match="no longer accepted"):
        verify_payload(payload, ring(), legacy=legacy, today=date(2027, 4, 1))
    with pytest.raises(QRError, match="no longer accepted"):
        verify_payload(payload, ring(), today=date(2027, 1, 1))  # no migration configured
    with pytest.raises(QRError, match="forged or altered"):
        verify_payload(sign_legacy_card(CARD, b"another-key"), ring(), legacy=legacy,
                       today=date(2027, 1, 1))
    # LOY1 signatures are case-sensitive base64: not upper-cased
    with pytest.raises(QRError, match="forged or altered"):
        verify_payload(payload.upper(), ring(), legacy=legacy, today=date(2027, 1, 1))


def test_certificates_bind_terminal_key_and_time_under_the_hubs_key():
    hub, till = new_private_key(), new_private_key()
    cert = certify(hub, "S001-T1", public_key(till), "2026-12-02T10:00:00.000000+00:00")
    assert cert.key_id == key_id(public_key(till))
    assert certificate_is_valid(cert, public_key(hub))
    assert Certificate.from_dict(cert.to_dict()) == cert
    assert not certificate_is_valid(cert, public_key(new_private_key()))  # another hub
    for tampered in (
        Certificate("S002-T1", cert.public_key, cert.issued_at, cert.signature),
        Certificate(cert.terminal, public_key(new_private_key()), cert.issued_at,
                    cert.signature),
        Certificate(cert.terminal, cert.public_key, "2020-01-01T00:00:00.000000+00:00",
                    cert.signature),
    ):
        assert not certificate_is_valid(tampered, public_key(hub))
    with pytest.raises(ValueError, match="key id"):
        Certificate.from_dict({**cert.to_dict(), "key_id": "AAAAAAAA"})
    with pytest.raises(QRError):
        certify(hub, "S001:T1", public_key(till), cert.issued_at)
