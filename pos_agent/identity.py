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
from typing import TYPE_CHECKING

from sqlite_utils import Database

from loyalty.ids import unregistered_issuer
from pos_agent.db import transaction
from pos_agent.exceptions import HubUnreachable, NotInitialised, StoreError, SyncError

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
    now: datetime | None = None,
) -> Identity:
    """Create the identity row (epoch 1). Refuses if the database already has one."""
    now_text = (now or datetime.now(UTC)).isoformat()
    origin = f"{store}-{terminal}"
    with transaction(db) as conn:
        existing = conn.execute("SELECT origin, epoch FROM identity").fetchone()
        if existing:
            raise StoreError(
                f"this database is already terminal {existing[0]} (epoch {existing[1]}); "
                "after restoring a backup run `pos init --new-epoch`"
            )
        conn.execute(
            "INSERT INTO identity (id, origin, store, terminal, epoch, created_at, "
            "epoch_started_at, hub_url, hub_token, qr_key, card_issuer) "
            "VALUES (1, ?, ?, ?, 1, ?, ?, ?, ?, ?, ?)",
            (origin, store, terminal, now_text, now_text, hub_url, hub_token, qr_key,
             card_issuer),
        )
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


def fetch_whoami(
    hub_url: str,
    token: str,
    *,
    timeout: float = 10.0,
    transport: httpx.BaseTransport | None = None,
) -> dict:
    """`GET {hub}/v1/terminal/whoami`: this credential's origin and the QR signing key."""
    import httpx  # only `pos init --hub` talks to the hub: other commands start without it

    url = hub_url.rstrip("/") + "/v1/terminal/whoami"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.get(url, headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise HubUnreachable(
            f"cannot reach the hub at {hub_url} ({exc.__class__.__name__}): check the URL and "
            "the network, or run `pos init` without --hub to start offline"
        ) from exc
    if response.status_code == 401:
        raise SyncError("the hub refused the token: ask HQ for this terminal's token")
    if response.status_code != 200:
        raise SyncError(f"the hub answered {response.status_code} to whoami: check the hub URL")
    try:
        body = response.json()
    except ValueError as exc:
        raise SyncError(f"{url} did not answer JSON: is that the hub's address?") from exc
    if not isinstance(body, dict) or not body.get("origin") or not body.get("qr_key"):
        raise SyncError(f"{url} answered without origin and qr_key: is that the hub?")
    return body
