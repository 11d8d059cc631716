"""Every error the store side raises.

    PosError                       base: str(exc) is one line a cashier or manager can act on
     ├── ConfigError               the config file is missing or invalid (names the key)
     ├── StoreError                the local ledger refused an operation
     │    ├── MemberNotFound       no member for that card, phone, QR, name or e-mail
 │    │    └── SeveralMembers  a name matches several: `.candidates` to choose from
     │    ├── ReceiptNotFound      no receipt with that number on this terminal
     │    ├── ApprovalRequired     a void or refund needs a manager's own PIN first
     │    ├── NotInitialised       `pos init` has not been run for this database
     │    └── CorruptRow           a row of the database does not decode (`pos check`)
     └── SyncError                 talking to the hub failed
          ├── HubUnreachable       network down, timeout, hub 5xx: retry later
          │    └── HubBusy         the hub deferred the request (503/429 + Retry-After)
          ├── CredentialRejected   401: the token was revoked or is wrong; do not retry
          └── HubRefused           4xx: the hub refused the data (gap, conflict); see detail

Domain errors (`loyalty.errors.LoyaltyError`: insufficient points, bad amount...) pass
through unchanged; the CLI and the app show both kinds the same way. Library errors
(sqlite3, httpx) are mapped at the boundary with `raise ... from exc`; what the machine
does wrong (a full disk, a read-only or damaged database) is put in one sentence by
`failure_sentence` where the CLI prints it.
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


class SeveralMembers(MemberNotFound):
    """A name (or a shared phone) matches more than one member: `candidates` holds them
    (`pos_agent.members.MemberMatch`) for the cashier to choose."""

    def __init__(self, message: str, candidates: list) -> None:
        super().__init__(message)
        self.candidates = candidates


class ReceiptNotFound(StoreError):
    """No receipt with that number on this terminal."""


class ApprovalRequired(StoreError):
    """A void, or a refund above `[terminal] refund_approval_above`, on a till with staff:
    a manager approves with their own staff number and PIN, then it is tried again."""


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


class HubBusy(HubUnreachable):
    """The hub is saturated and deferred the request (503 or 429 with Retry-After): it
    did not act on it; `retry_after` is the seconds it asked the till to wait."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(message, request_sent=False)


class CredentialRejected(SyncError):
    """The hub answered 401: this terminal's credential was revoked or is wrong."""


class HubRefused(SyncError):
    """The hub refused the request (4xx other than 401)."""

    def __init__(self, message: str, status: int = 400, body: dict | None = None) -> None:
        self.status = status
        self.body = body or {}
        super().__init__(message)


class CorruptRow(StoreError):
    """A row of the terminal database does not decode (its JSON, or a field the code
    needs): it was edited by hand or damaged. `pos check` lists every such row."""


def failure_sentence(exc: BaseException) -> str | None:
    """One sentence for a failure of the machine rather than of the input: the disk is
    full, the database is read-only or damaged, a row does not decode. None for anything
    else (a bug: it keeps its traceback)."""
    import errno
    import sqlite3

    if isinstance(exc, sqlite3.Error):
        text = str(exc)
        name = getattr(exc, "sqlite_errorname", "") or ""
        if name == "SQLITE_FULL" or "disk is full" in text:
            return ("the disk holding the terminal database is full, so the last change was "
                    "not saved: free some space, then run the command again")
        if name.startswith("SQLITE_READONLY") or "readonly" in text:
            return ("the terminal database is read-only (check the permissions of the file "
                    "and its folder, and that the disk is mounted read-write): nothing was "
                    "saved")
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
            return ("the terminal database file is damaged: nothing was saved; restore it "
                    "from the backup and run `pos init --new-epoch`")
        if name.startswith("SQLITE_BUSY") or "locked" in text:
            return ("the terminal database is busy (another `pos` or the app holds it): try "
                    "again in a moment")
        if name.startswith(("SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_PERM")):
            return f"the terminal database cannot be read or written ({text}): nothing was saved"
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}: free some space, then run the command again"
        if exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
            return f"{exc.strerror.lower()}{where}: check the file's permissions and the disk"
        return f"{exc.strerror or exc}{where}"
    if type(exc).__name__ == "JSONDecodeError":  # json's and orjson's alike
        return ("a row of the terminal database is not valid JSON (edited by hand or "
                "damaged): run `pos check` to list it")
    return None
