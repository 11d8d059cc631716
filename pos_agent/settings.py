"""The terminal's settings: `[terminal]`, `[printer]`, `[sync]` and `[program]` of the
shared TOML file, with `POS_<SECTION>__<KEY>` environment overrides.

    >>> settings = load_settings("pos.toml")
    >>> settings.terminal.origin
    'S001-T1'
"""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from loyalty.settings import ConfigFile, load_config
from pos_agent.exceptions import ConfigError
from printers.settings import PrinterSettings

DEFAULT_CONFIG = "pos.toml"


class TerminalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store: str = Field(default="S001", pattern=r"^[A-Za-z0-9]{1,12}$")
    """Store id, e.g. S001."""
    terminal: str = Field(default="T1", pattern=r"^[A-Za-z0-9]{1,8}$")
    """Terminal id within the store, e.g. T1."""
    store_name: str = "My store"
    """Printed at the top of every receipt."""
    store_address: list[str] = []
    """Address lines under the store name on receipts."""
    database: str = "pos-terminal.db"
    """The local ledger (SQLite file); relative to the config file."""
    scanner_port: str = ""
    """Serial barcode scanner port or pyserial URL; empty for keyboard-wedge scanners."""
    scanner_baudrate: int = 9600
    """Serial scanner speed."""
    legacy_qr_key: str = Field(default="", validation_alias=AliasChoices("legacy_qr_key",
                                                                        "qr_key"))
    """The old shared HMAC key of LOY1 member QR codes (`qr_key` before issue 16), for
    the migration period only. A terminal set up with `pos init --hub` before then holds
    it already; empty: only that one, if any."""
    legacy_qr_until: date | None = None
    """Last day (UTC) LOY1 codes are accepted; unset: none is (LOY2 codes only)."""
    receipt_footer: list[str] = []
    """Lines printed at the bottom of receipts."""
    timezone: str | None = None
    """Local time zone for receipts and day reports; default: the program's."""
    region: str = ""
    """The store's country (ISO 3166 code such as FR): phone numbers typed or pulled are
    stored and looked up in E.164 read with it, so 0611223344, 06 11 22 33 44 and
    0033611223344 all find +33611223344. Empty: only numbers written with + or 00 are
    rewritten; a national number is kept as its digits."""
    max_sale: str = Field(default="10000", pattern=r"^[0-9]+([.,][0-9]+)?$")
    """The largest sale one receipt may ring up, in currency units: above it the till
    refuses, as a typed amount that large is a typo."""
    refund_approval_above: str = Field(default="50", pattern=r"^[0-9]+([.,][0-9]+)?$")
    """A refund by line above this amount (currency units) needs a manager's approval
    with their own PIN on a till with staff; a void always does."""

    @model_validator(mode="before")
    @classmethod
    def _no_manager_pin(cls, data: object) -> object:
        # Staff have their own PINs from HQ now (pos_agent.staff): a shared PIN in a file
        # every till reads is exactly what that replaced, so an old file is refused.
        if isinstance(data, dict) and "manager_pin" in data:
            raise ValueError("manager_pin is no longer a setting: managers approve with "
                             "their own staff PIN (`pos-hub staff add NAME --role manager`); "
                             "delete the line")
        return data

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        from loyalty.contact import check_region  # phonenumbers: only when a region is read
        return check_region(value)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value:
            try:
                ZoneInfo(value)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError(f"unknown time zone {value!r}: use an IANA name such as "
                                 "Europe/Paris") from None
        return value or None

    @property
    def origin(self) -> str:
        return f"{self.store}-{self.terminal}"


class SyncSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hub_url: str = "http://127.0.0.1:8750"
    """The hub's base URL."""
    token_file: str = ""
    """A file holding this terminal's hub token (from `pos-hub terminal add`), mode 0600;
    relative to the config file. Only when `pos init` was run without --hub: `pos init
    --hub` keeps the token in the terminal database (0600)."""
    token: str = ""
    """Refused when set: a token in the config file is one copy of pos.toml away from
    leaking. Use `token_file`, or `pos init --hub` (prompt, --token-stdin, --token-file)."""

    @field_validator("token")
    @classmethod
    def _no_token_here(cls, value: str) -> str:
        if value:
            raise ValueError("a hub token does not belong in the config file: put it in a "
                             "file only this user can read (chmod 600) and name it in "
                             "[sync] token_file, or run `pos init --hub URL`")
        return value
    interval_s: float = Field(default=60, gt=0)
    """Seconds between background syncs."""
    max_backoff_s: float = Field(default=600, gt=0)
    """Cap of the exponential retry backoff after failures."""
    batch_size: int = Field(default=500, ge=1, le=5000)
    """Events per push batch."""
    pull_page_size: int = Field(default=100, ge=1, le=2000)
    """Changes (member snapshots, programs, stock) asked for per pull page. Each page is
    applied with its cursor in one SQLite transaction, so a smaller page loses less work
    when the agent is stopped mid-pull, at the cost of more round trips. The agent asks
    for the next page while it applies one, so smaller pages also overlap the hub's work
    with the terminal's: an end-of-day pull of ~400 snapshots took ~0.22 s in pages of
    100, ~0.26 s in pages of 200 and ~0.29 s in one page of 500. A terminal's first pull
    of a large member base is faster with bigger pages. The hub serves at most 2000."""
    authorize_timeout_s: float = Field(default=1.5, gt=0)
    """Seconds to wait for online redemption authorisation before falling back offline."""
    request_timeout_s: float = Field(default=20, gt=0)
    """Seconds for other hub requests."""


class PosSettings(ConfigFile):
    terminal: TerminalSettings = TerminalSettings()
    printer: PrinterSettings = PrinterSettings()
    sync: SyncSettings = SyncSettings()

    def resolve(self, path: str) -> Path:
        """A path from the config, relative to the config file's folder."""
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p

    @property
    def database_path(self) -> Path:
        return self.resolve(self.terminal.database)


def config_path_from(arg: str | None) -> str:
    return arg or os.environ.get("POS_CONFIG") or DEFAULT_CONFIG


def load_settings(path: str | None = None) -> PosSettings:
    """Read settings from the TOML file at `path` (or POS_CONFIG, or ./pos.toml)."""
    settings = load_config(PosSettings, config_path_from(path), ConfigError)
    if settings.printer.kind == "file":
        settings.printer = settings.printer.model_copy(
            update={"path": str(settings.resolve(settings.printer.path))}
        )
    return settings
