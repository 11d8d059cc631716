"""This terminal's member-card signing key, the hub's certificate of it, and the public
keys it verifies member QR codes with.

    >>> payload = sign_member_card(store, "6012345678901234")    # LOY2:...: enrolment, receipts
    >>> verify_member_payload(store, payload)                    # the card number, or QRError
    >>> ensure_certified(store.db, client)                       # the agent, before each sync

Who holds what (docs/terminal.md, "Member QR codes"):

- the terminal's own Ed25519 private key (`identity.signing_key`, made by `pos init`, or
  on first open of a database older than migration 11). It is in the terminal database,
  which is created 0600 and already holds the hub token: the token could get a new key
  certified anyway, so a separate key file would protect nothing more;
- the hub's public key (`identity.hub_public_key`, from whoami or the certification);
- the certificates it pulled (`terminal_keys`): every till's public key signed by the
  hub, and the revocations. A card verifies when its key id is the hub's, a live
  certificate's, or (before the hub has certified it) this terminal's own.
- LOY1 codes (one HMAC key every till shared) only with `[terminal] legacy_qr_until` and
  the old key (`identity.qr_key` from an earlier `pos init --hub`, else
  `[terminal] legacy_qr_key`).
"""

from __future__ import annotations

import logging
import sqlite3
import stat
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loyalty.errors import QRError
from loyalty.member_qr import (
    PUBLIC_DEMO_KEY,
    REVOKED,
    Certificate,
    LegacyKey,
    b64,
    certificate_is_valid,
    key_id,
    new_private_key,
    public_key,
    sign_card,
    unb64,
    verify_payload,
)
from pos_agent.db import joined
from pos_agent.exceptions import HubRefused, StoreError, SyncError

if TYPE_CHECKING:
    from pos_agent.store import Store
    from pos_agent.sync.client import HubClient

log = logging.getLogger(__name__)


# -- this terminal's key --------------------------------------------------------------------
def ensure_signing_key(conn: sqlite3.Connection) -> None:
    """Give an identity made before migration 11 its key (a no-op otherwise)."""
    if conn.execute("SELECT 1 FROM identity WHERE signing_key IS NULL").fetchone():
        with joined(conn):
            conn.execute("UPDATE identity SET signing_key = ? WHERE signing_key IS NULL",
                         (new_private_key(),))


def signing_key(conn: sqlite3.Connection) -> bytes:
    row = conn.execute("SELECT signing_key FROM identity").fetchone()
    if row is None or row[0] is None:
        raise StoreError("this terminal has no signing key: run `pos init`")
    return bytes(row[0])


def own_key_id(conn: sqlite3.Connection) -> str:
    return key_id(public_key(signing_key(conn)))


def sign_member_card(store: Store, card_number: str) -> str:
    """The member QR payload of `card_number`, signed with this terminal's key."""
    return sign_card(card_number, signing_key(store.conn))


# -- verifying ------------------------------------------------------------------------------
def trusted_key(conn: sqlite3.Connection, kid: str) -> bytes | None:
    """The public key a payload naming `kid` is checked with; None: unknown here.
    QRError when HQ revoked it."""
    row = conn.execute("SELECT public_key, revoked_at FROM terminal_keys WHERE key_id = ?",
                       (kid,)).fetchone()
    if row is not None:
        if row[1] is not None:
            raise QRError(REVOKED)
        return bytes(row[0])
    ident = conn.execute("SELECT signing_key, hub_public_key FROM identity").fetchone()
    if ident is None:
        return None
    if ident[1] is not None and key_id(bytes(ident[1])) == kid:
        return bytes(ident[1])
    if ident[0] is not None:
        # Not yet certified (offline since `pos init`): our own cards still verify here.
        own = public_key(bytes(ident[0]))
        if key_id(own) == kid:
            return own
    return None


def legacy_key(store: Store, conn: sqlite3.Connection | None = None) -> LegacyKey | None:
    """The LOY1 key and its last day, during the migration period only."""
    terminal = store.settings.terminal
    if terminal.legacy_qr_until is None:
        return None
    row = (conn or store.conn).execute("SELECT qr_key FROM identity").fetchone()
    key = (row[0] if row else None) or terminal.legacy_qr_key
    if not key or key == PUBLIC_DEMO_KEY:
        return None
    return LegacyKey(key.encode(), terminal.legacy_qr_until)


def verify_member_payload(store: Store, payload: str) -> str:
    """The card number of a genuine member QR payload; QRError (for the cashier) else."""
    conn = store.conn
    return verify_payload(payload, lambda kid: trusted_key(conn, kid),
                          legacy=legacy_key(store, conn))


# -- certification --------------------------------------------------------------------------
def is_certified(conn: sqlite3.Connection) -> bool:
    row = conn.execute("SELECT signing_key, hub_public_key FROM identity").fetchone()
    if row is None or row[0] is None or row[1] is None:
        return False
    return conn.execute("SELECT 1 FROM terminal_keys WHERE key_id = ? AND revoked_at IS NULL",
                        (key_id(public_key(bytes(row[0]))),)).fetchone() is not None


def certificate_request(private_key: bytes) -> dict[str, str]:
    """The body of `POST /v1/terminal/certificate`."""
    return {"public_key": b64(public_key(private_key))}


def check_certification(answer: dict[str, Any], private_key: bytes, origin: str,
                        hub_public_key: bytes | None = None) -> tuple[Certificate, bytes]:
    """(certificate, hub public key) from the hub's answer, after checking it certifies
    our key as our terminal under the hub key we know (or, on first contact, the one
    it names); SyncError otherwise."""
    try:
        cert = Certificate.from_dict(answer["certificate"])
        hub_key = unb64(answer["hub_public_key"])
    except (KeyError, TypeError, ValueError) as exc:
        raise SyncError(f"the hub's certificate answer cannot be read ({exc!r})") from exc
    if hub_public_key is not None and hub_key != hub_public_key:
        raise SyncError("the hub's signing key is not the one this terminal was set up with: "
                        "ask HQ whether the hub was re-keyed, then run `pos init --new-key`")
    if (cert.public_key != public_key(private_key) or cert.terminal != origin
            or len(hub_key) != 32 or not certificate_is_valid(cert, hub_key)):
        raise SyncError("the hub answered a certificate that is not for this terminal's key")
    return cert, hub_key


def save_certificate(conn: sqlite3.Connection, cert: Certificate, hub_public_key: bytes,
                     now_text: str) -> None:
    with joined(conn):
        conn.execute("UPDATE identity SET hub_public_key = ?", (hub_public_key,))
        _store_certificate(conn, cert, None, None, now_text)


def _store_certificate(conn: sqlite3.Connection, cert: Certificate, revoked_at: str | None,
                       change_seq: int | None, now_text: str) -> None:
    conn.execute(
        "INSERT INTO terminal_keys (key_id, terminal, public_key, issued_at, signature, "
        "revoked_at, change_seq, received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (key_id) DO UPDATE SET revoked_at = coalesce(terminal_keys.revoked_at, "
        "excluded.revoked_at), change_seq = coalesce(excluded.change_seq, "
        "terminal_keys.change_seq), received_at = excluded.received_at "
        "WHERE terminal_keys.public_key = excluded.public_key",
        (cert.key_id, cert.terminal, cert.public_key, cert.issued_at, cert.signature,
         revoked_at, change_seq, now_text))


def ensure_certified(store: Store, client: HubClient) -> bool:
    """Get this terminal's key certified if it is not yet (set up offline, a new key);
    True when it had to. Called by the agent before every sync; a refusal is logged and
    the sync goes on (events must reach the hub whatever happens to the key)."""
    conn = store.conn
    if is_certified(conn):
        return False
    private = signing_key(conn)
    row = conn.execute("SELECT hub_public_key FROM identity").fetchone()
    known = bytes(row[0]) if row and row[0] is not None else None
    try:
        answer = client.certificate(certificate_request(private))
    except HubRefused as exc:
        log.warning("the hub did not certify this terminal's key: %s", exc)
        if known is None:  # still learn the hub's key, so pulled certificates verify
            try:
                hub_key = client.whoami().get("hub_public_key")
            except HubRefused:
                return False
            if hub_key:
                with joined(conn):
                    conn.execute("UPDATE identity SET hub_public_key = ?", (unb64(hub_key),))
        return False
    cert, hub_key = check_certification(answer, private, store.identity.origin, known)
    save_certificate(conn, cert, hub_key, datetime.now(UTC).isoformat())
    return True


def apply_key_change(conn: sqlite3.Connection, change: dict, now_text: str) -> None:
    """A pulled `terminal_key` change: a certificate (kept only if the hub we know signed
    it) or its revocation (always applied: it only takes trust away)."""
    cert = Certificate.from_dict(change)
    revoked_at = change.get("revoked_at")
    row = conn.execute("SELECT hub_public_key FROM identity").fetchone()
    hub_key = bytes(row[0]) if row and row[0] is not None else None
    if revoked_at is not None:
        _store_certificate(conn, cert, str(revoked_at), change.get("change_seq"), now_text)
        return
    if hub_key is None:
        # The agent learns the hub's key before it pulls; this page waits for it.
        raise StoreError("this terminal does not know the hub's key yet, so it cannot check "
                         "the certificates it pulls: run `pos sync --now` again")
    if not certificate_is_valid(cert, hub_key):
        log.warning("ignored a certificate of %s (key %s) the hub's key did not sign",
                    cert.terminal, cert.key_id)
        return
    _store_certificate(conn, cert, None, change.get("change_seq"), now_text)


# -- files ----------------------------------------------------------------------------------
def readable_by_others(path: Path) -> bool:
    """Whether group or others may read or write `path` (False when it does not exist)."""
    try:
        return bool(path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO))
    except OSError:
        return False
