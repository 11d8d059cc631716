"""This terminal's identity: origin (`S001-T1`), epoch, serials, and its hub credentials.

    >>> ident = init_terminal(db, "S001", "T1")          # `pos init`: epoch 1
    >>> ident.origin, ident.epoch
    ('S001-T1', 1)
    >>> new_epoch(db).epoch                              # `pos init --new-epoch` after a restore
    2

The epoch changes when the database was restored from a backup (or the terminal was
reinstalled with an old copy): the restored ledger's origin_seq rewinds, so its next
events would collide with events the hub already holds. A new epoch starts a new,
separate chain (origin_seq 1, prev_hash GENESIS) that cannot collide with the old one,
and salts card numbers and receipt numbers so they cannot repeat either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from sqlite_utils import Database

from loyalty.ids import unregistered_issuer
from loyalty.member_qr import Certificate, new_private_key
from pos_agent.db import transaction
from pos_agent.exceptions import HubUnreachable, NotInitialised, StoreError, SyncError
from pos_agent.keys import (
    certificate_request,
    check_certification,
    readable_by_others,
    save_certificate,
)

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True)
class Identity:
    origin: str
    store: str
    terminal: str
    epoch: int
    created_at: str
    epoch_started_at: str
    card_serial: int
    receipt_serial: int
    hlc: str
    hub_url: str | None = None
    hub_token: str | None = None
    qr_key: str | None = None
    card_issuer: int | None = None
    """Unique issuer number for this terminal's card numbers (from the hub, or `pos init
    --card-issuer`); None: a hashed one (`loyalty.ids.unregistered_issuer`)."""

    @property
    def issuer(self) -> int:
        return self.card_issuer if self.card_issuer is not None else unregistered_issuer(
            self.origin)

    @classmethod
    def from_row(cls, row: dict) -> Identity:
        return cls(**{k: row[k] for k in cls.__dataclass_fields__})


def load_identity(db: Database) -> Identity:
    """The terminal's identity; NotInitialised if `pos init` never ran on this database."""
    rows = list(db.query("SELECT * FROM identity WHERE id = 1"))
    if not rows:
        raise NotInitialised(
            "this terminal has no identity yet: run `pos init --store S001 --terminal T1`"
        )
    return Identity.from_row(rows[0])


def is_initialised(db: Database) -> bool:
    return db.execute("SELECT COUNT(*) FROM identity").fetchone()[0] == 1


def init_terminal(
    db: Database,
    store: str,
    terminal: str,
    *,
    hub_url: str | None = None,
    hub_token: str | None = None,
    qr_key: str | None = None,
    card_issuer: int | None = None,
    signing_key: bytes | None = None,
    certificate: Certificate | None = None,
    hub_public_key: bytes | None = None,
    now: datetime | None = None,
) -> Identity:
    """Create the identity row (epoch 1). Refuses if the database already has one.

    The terminal's member-card signing key is `signing_key` (made now if None); with
    `certificate` (the hub's, from `request_certificate`) and `hub_public_key` it is
    certified from the start, else the sync agent gets it certified (`pos_agent.keys`).
    `qr_key` is only the old LOY1 key, for the migration period."""
    now_text = (now or datetime.now(UTC)).isoformat()
    origin = f"{store}-{terminal}"
    signing_key = signing_key or new_private_key()
    with transaction(db) as conn:
        existing = conn.execute("SELECT origin, epoch FROM identity").fetchone()
        if existing:
            raise StoreError(
                f"this database is already terminal {existing[0]} (epoch {existing[1]}); "
                "after restoring a backup run `pos init --new-epoch`"
            )
        conn.execute(
            "INSERT INTO identity (id, origin, store, terminal, epoch, created_at, "
            "epoch_started_at, hub_url, hub_token, qr_key, card_issuer, signing_key, "
            "hub_public_key) VALUES (1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?, ?)",
            (origin, store, terminal, now_text, now_text, hub_url, hub_token, qr_key,
             card_issuer, signing_key, hub_public_key),
        )
        if certificate is not None and hub_public_key is not None:
            save_certificate(conn, certificate, hub_public_key, now_text)
    return load_identity(db)


def new_epoch(db: Database, now: datetime | None = None) -> Identity:
    """Start a new epoch (after restoring this database from a backup)."""
    with transaction(db) as conn:
        if not conn.execute("SELECT 1 FROM identity").fetchone():
            raise NotInitialised("nothing to restart: run `pos init --store ... --terminal ...`")
        conn.execute(
            "UPDATE identity SET epoch = epoch + 1, epoch_started_at = ?",
            ((now or datetime.now(UTC)).isoformat(),),
        )
    return load_identity(db)


def read_token_file(path: Path) -> str:
    """The hub token in `path` (its first line). Refuses a file others may read: the token
    lets whoever holds it sync as this terminal and get a signing key certified."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"no token file {path}: write the token from `pos-hub terminal add` "
                         "there (chmod 600)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StoreError(f"cannot read the token file {path}: {exc}") from None
    if readable_by_others(path):
        raise StoreError(f"the token file {path} is readable by others: chmod 600 {path}, "
                         "then ask HQ for a new token if others could have read it")
    return check_token(text.splitlines()[0] if text.strip() else "", str(path))


def check_token(token: str, source: str) -> str:
    token = token.strip()
    if not token or len(token) > 200 or not token.isascii() or any(c.isspace() for c in token):
        raise StoreError(f"{source}: no hub token there (one line, as `pos-hub terminal add` "
                         "printed it)")
    return token


def fetch_whoami(
    hub_url: str,
    token: str,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """`GET {hub}/v1/terminal/whoami`: this credential's origin, card issuer and the hub's
    public key (nothing secret)."""
    url = hub_url.rstrip("/") + "/v1/terminal/whoami"
    body = _hub_call("GET", hub_url, url, token, None, timeout, transport, "whoami")
    if not body.get("origin") or not body.get("hub_public_key"):
        raise SyncError(f"{url} answered without origin and hub_public_key: is that the hub?")
    return body


def request_certificate(
    hub_url: str,
    token: str,
    private_key: bytes,
    origin: str,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> tuple[Certificate, bytes]:
    """`POST {hub}/v1/terminal/certificate`: the hub certifies this terminal's public key;
    (certificate, hub public key), checked (`pos_agent.keys.check_certification`)."""
    url = hub_url.rstrip("/") + "/v1/terminal/certificate"
    body = _hub_call("POST", hub_url, url, token, certificate_request(private_key), timeout,
                     transport, "the certificate request")
    return check_certification(body, private_key, origin)


def _hub_call(method: str, hub_url: str, url: str, token: str, json: dict | None,
              timeout: float, transport: httpx.BaseTransport | None, what: str) -> dict:
    import httpx  # only `pos init --hub` talks to the hub: other commands start without it

    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.request(method, url, json=json,
                                      headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise HubUnreachable(
            f"cannot reach the hub at {hub_url} ({exc.__class__.__name__}): check the URL and "
            "the network, or run `pos init` without --hub to start offline"
        ) from exc
    if response.status_code == 401:
        raise SyncError("the hub refused the token: ask HQ for this terminal's token")
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise SyncError(f"the hub answered {response.status_code} to {what}"
                        + (f": {detail}" if detail else ": check the hub URL"))
    if not isinstance(body, dict):
        raise SyncError(f"{url} did not answer JSON: is that the hub's address?")
    return body
