"""The hub's settings: the `[hub]` and `[program]` tables of the shared TOML file, with
`POS_HUB__<KEY>` environment overrides (e.g. `POS_HUB__DATABASE_URL`).

    >>> settings = load_settings("hub.toml")
    >>> settings.hub.database_url
    'sqlite:///pos-hub.db'

`pos-hub` ignores `[terminal]`, `[printer]` and `[sync]`.
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, field_validator, model_validator

from hub.exceptions import ConfigError
from loyalty.errors import ProgramError
from loyalty.member_qr import PUBLIC_DEMO_KEY
from loyalty.program import Program
from loyalty.settings import ConfigFile, load_config

DEFAULT_CONFIG = "hub.toml"
CONFIG_ENV = "POS_HUB_CONFIG"


class HubSection(BaseModel):
    # A misspelt key would otherwise be silently ignored and its default used.
    model_config = ConfigDict(extra="forbid")

    database_url: str = "sqlite:///pos-hub.db"
    """SQLAlchemy URL; a relative SQLite path is relative to the config file."""
    host: str = "127.0.0.1"
    port: int = Field(default=8750, ge=1, le=65535)
    signing_key_file: str = "pos-hub.key"
    """The hub's Ed25519 private key (PEM, mode 0600), made by `pos-hub init`; relative to
    the config file. It certifies terminal keys and signs the cards the hub issues; every
    hub process serving one database reads the same file. There is no built-in key. The
    member pages' session cookies are signed with a key derived from it (hub.web.sessions):
    a new key signs every member out."""
    legacy_qr_key: str = Field(default="", validation_alias=AliasChoices("legacy_qr_key",
                                                                        "qr_key"))
    """The old shared HMAC key of LOY1 member QR codes (`qr_key` before issue 16), for the
    migration period only; empty: no LOY1 code is accepted."""
    legacy_qr_until: date | None = None
    """Last day (UTC) a LOY1 code is accepted with `legacy_qr_key`; unset: none is."""
    region: str = ""
    """The country (ISO 3166 code such as FR) national phone numbers are read with in the
    admin and online lookups and online enrolments, as a till's `[terminal] region`;
    empty: only numbers written with + or 00 are rewritten to E.164."""
    max_batch: int = Field(default=1000, ge=1, le=100_000)
    """Max events in one push or authorize request."""
    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    """Max request body size."""
    jobs_interval_s: int = Field(default=3600, ge=0)
    """Seconds between runs of expiry, tiers and notifications; 0 disables the scheduler."""
    expiry_grace_days: int = Field(default=7, ge=0, le=365)
    """A lot expires at the hub only this many days after its expiry date."""
    webhook_url: str = ""
    """Where notifications are POSTed; empty keeps them in the outbox."""
    webhook_secret: str = "demo-webhook-secret"
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_timeout_s: float = Field(default=10.0, gt=0)
    webhook_backoff_s: float = Field(default=30.0, ge=0)
    """First retry delay; doubles with every failed attempt."""
    pool_size: int = Field(default=10, ge=1, le=200)
    """Database connections per hub process (PostgreSQL)."""
    max_sync_in_flight: int = Field(default=8, ge=0, le=1000)
    """Terminal pushes and pulls one hub process works on at once; the next is answered
    503 with Retry-After (hub.api.admission) and the till comes back after it, so in a
    storm of stores reconnecting a push answers or is deferred at once instead of waiting
    in line, and the web shop's and member pages' reads keep their share. 0 defers every
    sync request (maintenance)."""
    # -- authentication limits (issue 16 part 5): counted in each hub process's memory
    auth_failures_per_address: int = Field(default=20, ge=1, le=1_000_000)
    """Failed authentications from one client address (IPv6: its /64) within
    auth_failure_window_s before every request from it is answered 429."""
    auth_failures_per_token: int = Field(default=5, ge=1, le=1_000_000)
    """Failed tries of one and the same wrong token before it is answered 429 (so one
    revoked till retrying cannot lock out the other tills behind its store's address)."""
    auth_failure_window_s: int = Field(default=300, ge=1, le=86_400)
    """Seconds a failure counts for; 429 carries Retry-After until the oldest one expires."""

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        from loyalty.contact import check_region
        return check_region(value)

    @model_validator(mode="after")
    def _no_public_legacy_key(self) -> HubSection:
        if self.legacy_qr_until and self.legacy_qr_key in ("", PUBLIC_DEMO_KEY):
            raise ValueError("legacy_qr_until needs legacy_qr_key, the key the old LOY1 cards "
                             "were signed with (the public demo key proves nothing)")
        return self


class HubSettings(ConfigFile):
    hub: HubSection = HubSection()

    @property
    def database_url(self) -> str:
        return normalise_url(self.hub.database_url, self.base_dir)

    @property
    def signing_key_path(self) -> Path:
        path = Path(self.hub.signing_key_file)
        return path if path.is_absolute() else self.base_dir / path

    def config_program(self) -> Program:
        if not self.program:
            raise ConfigError(f"{self.config_path or 'config'}: the [program] table is missing")
        try:
            return super().config_program()
        except ProgramError as exc:
            raise ConfigError(f"{self.config_path}: {exc}") from exc


def normalise_url(url: str, base_dir: Path) -> str:
    """psycopg 3 for plain postgresql:// URLs; relative SQLite files next to the config."""
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        path = url.removeprefix("sqlite:///")
        if path and path != ":memory:" and not path.startswith("file:"):
            return f"sqlite:///{(base_dir / path).resolve()}"
    return url


def config_path_from(arg: str | None) -> str:
    return arg or os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG


def load_settings(path: str | None = None) -> HubSettings:
    """Read settings from `path` (or $POS_HUB_CONFIG, or ./hub.toml)."""
    return load_config(HubSettings, config_path_from(path), ConfigError)


def settings_for(database_url: str, program: dict[str, Any], **hub: Any) -> HubSettings:
    """Settings built in code (tests, benchmarks): no file, no environment."""
    return HubSettings.model_construct(
        hub=HubSection(database_url=database_url, **hub), program=program, config_path=""
    )
