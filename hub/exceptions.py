"""Every error the hub raises on purpose.

    HubError
     ├── ConfigError              the config file or an environment override is wrong
     ├── StorageError             the database cannot be opened or migrated
     └── ApiError                 a request refused; `.status`, `.code`, `.detail`, `.extra`
          ├── Unauthorized        401 missing, wrong or revoked token
          ├── Forbidden           403 wrong credential kind or wrong origin
          ├── NotFound            404 no such member, order, flag...
          ├── Conflict            409 gap, chain broken, conflict, insufficient points...
          ├── PayloadTooLarge     413 a batch above hub.max_batch
          └── Invalid             422 a payload that is well-formed JSON but wrong

The HTTP layer turns every `ApiError` into `{"error": code, "detail": sentence, **extra}`
with its status; the CLI prints `str(exc)` (one sentence a manager can act on).
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base class of every hub error."""


class ConfigError(HubError):
    """The configuration is invalid; the message names the key."""


class StorageError(HubError):
    """The database cannot be opened, migrated or used."""


class ApiError(HubError):
    status = 400
    code = "bad_request"

    def __init__(self, detail: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "detail": self.detail, **self.extra}


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    status = 413
    code = "batch_too_large"


class Invalid(ApiError):
    status = 422
    code = "invalid"


def failure_sentence(exc: BaseException) -> str | None:
    """One sentence for a failure of the machine rather than of the command: the disk or
    the database is full, the database is read-only or refuses this user, a stored row
    does not decode. None for anything else (a bug: it keeps its traceback)."""
    import errno

    from sqlalchemy.exc import DBAPIError

    if isinstance(exc, DBAPIError):
        orig = exc.orig
        text = str(orig).strip().splitlines()[0] if str(orig).strip() else type(orig).__name__
        state = getattr(orig, "sqlstate", None) or ""
        name = getattr(orig, "sqlite_errorname", "") or ""
        if name == "SQLITE_FULL" or "disk is full" in text or state.startswith("53"):
            return ("the disk holding the hub's database is full, so nothing was saved: "
                    f"free some space, then run the command again ({text})")
        if (name.startswith("SQLITE_READONLY") or "readonly" in text or state == "25006"):
            return ("the hub's database is read-only (the file's or its folder's permissions, "
                    f"a read-only disk or a standby server): nothing was saved ({text})")
        if state == "42501" or name.startswith(("SQLITE_PERM", "SQLITE_AUTH")):
            return f"the hub's database refuses this user ({text}): nothing was saved"
        if name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB")) or "malformed" in text:
            return ("the hub's database file is damaged: restore it from the backup "
                    f"({text})")
        if name.startswith(("SQLITE_CANTOPEN", "SQLITE_IOERR")) or state.startswith("08"):
            return f"the hub's database cannot be reached or read ({text})"
        return None
    if isinstance(exc, OSError) and exc.errno is not None:
        where = f" ({exc.filename})" if exc.filename else ""
        if exc.errno == errno.ENOSPC:
            return f"the disk is full{where}: free some space, then run the command again"
        return f"{exc.strerror or exc}{where}"
    if type(exc).__name__ == "JSONDecodeError" or isinstance(exc, UnicodeDecodeError):
        return ("a row of the hub's database does not decode (invalid JSON: edited by hand or "
                "damaged); `pos-hub rebuild --check` compares every member with the ledger")
    return None
