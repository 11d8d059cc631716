"""Terminal keys: the hub certifies each till's Ed25519 public key, serves the
certificates (and their revocation) in the pull feed, and verifies member QR codes with
public keys only.

    >>> cert, new = issue(conn, ctx.db, ctx.signing_key(), "S001-T1", public)
    >>> revoke_origin(conn, ctx.db, "S001-T1")         # `pos-hub terminal revoke S001-T1`
    >>> verify_member_payload(conn, ctx, payload)       # the card number, or QRError

A certificate is `loyalty.member_qr.Certificate`: the hub's signature over the terminal
id, the public key and the issue time. A terminal may hold several (after `pos init
--new-key` the old one still verifies the cards it signed); revoking the terminal revokes
all of them. Changes are `("tkey", key_id)` rows of the change feed, served by
`hub.store.changes` as `terminal_key` changes.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import Connection, select, update

from hub.db import Database, now_text
from hub.exceptions import Conflict, Invalid
from hub.store import changes
from hub.tables import terminal_keys
from loyalty.errors import QRError
from loyalty.member_qr import (
    REVOKED,
    Certificate,
    LegacyKey,
    b64,
    certify,
    key_id,
    public_key,
    unb64,
    verify_payload,
)


def parse_public_key(text: str) -> bytes:
    """A raw Ed25519 public key from its base64url form (Invalid if it is not one)."""
    try:
        raw = unb64(text)
    except ValueError:
        raw = b""
    if len(raw) != 32 or b64(raw) != text:
        raise Invalid("public_key: an Ed25519 public key is 32 bytes, base64url without "
                      "padding (43 characters)", code="invalid")
    return raw


def issue(conn: Connection, db: Database, hub_private: bytes, origin: str,
          public: bytes) -> tuple[Certificate, bool]:
    """Certify `public` as terminal `origin`'s key; (certificate, newly issued). Asking
    again for the same key answers the same certificate."""
    kid = key_id(public)
    row = conn.execute(select(terminal_keys).where(terminal_keys.c.key_id == kid)
                       .with_for_update()).first()
    if row is not None:
        if row.public_key != b64(public) or row.origin != origin:
            raise Conflict("this key is already certified for another terminal: make a new "
                           "one (`pos init --new-key`)", code="key_in_use")
        if row.revoked_at is not None:
            raise Conflict(f"this key was revoked at {row.revoked_at}: make a new one "
                           "(`pos init --new-key`) once HQ has issued a new token",
                           code="key_revoked")
        return _certificate(row), False
    cert = certify(hub_private, origin, public, now_text())
    conn.execute(terminal_keys.insert().values(
        key_id=kid, origin=origin, public_key=b64(public), issued_at=cert.issued_at,
        signature=b64(cert.signature)))
    # last: touch holds the change counter's lock until commit
    changes.touch(conn, db, changes.TERMINAL_KEY, [kid])
    return cert, True


def revoke_origin(conn: Connection, db: Database, origin: str) -> int:
    """Revoke every live certificate of terminal `origin`; how many. Terminals stop
    accepting the cards those keys signed once they pull the change."""
    kids = [r[0] for r in conn.execute(
        select(terminal_keys.c.key_id).where(terminal_keys.c.origin == origin,
                                             terminal_keys.c.revoked_at.is_(None)))]
    if not kids:
        return 0
    conn.execute(update(terminal_keys).where(terminal_keys.c.key_id.in_(kids))
                 .values(revoked_at=now_text()))
    changes.touch(conn, db, changes.TERMINAL_KEY, kids)
    return len(kids)


def _certificate(row: Any) -> Certificate:
    return Certificate(row.origin, unb64(row.public_key), row.issued_at, unb64(row.signature))


def verify_member_payload(conn: Connection, ctx: Any, payload: str,
                          today: date | None = None) -> str:
    """The card number of a genuine member QR payload, checked at the hub with public keys
    only (the hub's own and the live certificates); QRError otherwise. LOY1 codes only
    with `[hub] legacy_qr_key` and through `[hub] legacy_qr_until`."""
    hub_public = public_key(ctx.signing_key())
    hub_kid = key_id(hub_public)

    def keys(kid: str) -> bytes | None:
        if kid == hub_kid:
            return hub_public
        row = conn.execute(select(terminal_keys.c.public_key, terminal_keys.c.revoked_at)
                           .where(terminal_keys.c.key_id == kid)).first()
        if row is None:
            return None
        if row.revoked_at is not None:
            raise QRError(REVOKED)
        return unb64(row.public_key)

    section = ctx.settings.hub
    legacy = (LegacyKey(section.legacy_qr_key.encode(), section.legacy_qr_until)
              if section.legacy_qr_key and section.legacy_qr_until else None)
    return verify_payload(payload, keys, legacy=legacy, today=today)

