"""Every error the store side raises.

    PosError                       base: str(exc) is one line a cashier or manager can act on
     ├── ConfigError               the config file is missing or invalid (names the key)
     ├── StoreError                the local ledger refused an operation
     │    ├── MemberNotFound       no member for that card, phone or QR
     │    ├── ReceiptNotFound      no receipt with that number on this terminal
     │    └── NotInitialised       `pos init` has not been run for this database
     └── SyncError                 talking to the hub failed
          ├── HubUnreachable       network down, timeout, hub 5xx: retry later
          ├── CredentialRejected   401: the token was revoked or is wrong; do not retry
          └── HubRefused           4xx: the hub refused the data (gap, conflict); see detail

Domain errors (`loyalty.errors.LoyaltyError`: insufficient points, bad amount...) pass
through unchanged; the CLI and the app show both kinds the same way. Library errors
(sqlite3, httpx) are mapped at the boundary with `raise ... from exc`.
"""

from __future__ import annotations


class PosError(Exception):
    """Base class of the store side's errors."""


class ConfigError(PosError):
    """The configuration file is missing or invalid."""


class StoreError(PosError):
    """The local ledger refused an operation."""


class MemberNotFound(StoreError):
    """No member matches the card number, phone or QR given."""


class ReceiptNotFound(StoreError):
    """No receipt with that number on this terminal."""


class NotInitialised(StoreError):
    """The terminal database has no identity yet."""


class SyncError(PosError):
    """Talking to the hub failed."""


class HubUnreachable(SyncError):
    """The hub could not be reached or answered 5xx: try again later.

    `request_sent` is False only when the connection was never made, so the hub cannot
    have acted on the request; otherwise it may have (a timeout, a cut after sending).
    """

    def __init__(self, message: str, *, request_sent: bool = True) -> None:
        self.request_sent = request_sent
        super().__init__(message)


class CredentialRejected(SyncError):
    """The hub answered 401: this terminal's credential was revoked or is wrong."""


class HubRefused(SyncError):
    """The hub refused the request (4xx other than 401)."""

    def __init__(self, message: str, status: int = 400, body: dict | None = None) -> None:
        self.status = status
        self.body = body or {}
        super().__init__(message)
