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
