"""The `[printer]` section of the terminal's config, readable without loading a printer
driver (every `pos` command reads the settings; few of them print).

    >>> PrinterSettings(kind="network", host="10.0.0.5").port
    9100
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from loyalty.validation import is_ascii_digits

PrinterKind = Literal["file", "network", "serial", "usb", "dummy"]


class PrinterSettings(BaseModel):
    """The `[printer]` section of the terminal's config."""

    # Descriptions are given with Field(description=...), not read from attribute
    # docstrings (`use_attribute_docstrings`): on Python < 3.13 pydantic finds those by
    # resolving the source file of every module loaded so far, some 25 ms at import, and
    # every `pos` command reads the settings.
    model_config = ConfigDict(extra="forbid")

    kind: PrinterKind = Field(default="file", description=(
        "How the printer is reached: file, network (TCP, port 9100), serial, usb or dummy."))
    path: str = Field(default="receipts.escpos", description=(
        "kind=file: file the ESC/POS bytes are appended to (or a device such as "
        "/dev/usb/lp0)."))
    host: str | None = Field(default=None, description=(
        "kind=network: the printer's IP address or host name."))
    port: int = Field(default=9100, ge=1, le=65535, description=(
        "kind=network: TCP port; 9100 is the raw printing port of nearly every printer."))
    device: str | None = Field(default=None, description=(
        "kind=serial: port such as /dev/ttyUSB0 or COM3, or a pyserial URL such as "
        "loop://."))
    baudrate: int = Field(default=19200, gt=0, description=(
        "kind=serial: speed; must match the printer's DIP switches (often 9600 or 19200)."))
    vendor_id: int | None = Field(default=None, ge=0, le=0xFFFF, description=(
        "kind=usb: USB vendor id, e.g. 0x04b8 (Epson); see `lsusb`."))
    product_id: int | None = Field(default=None, ge=0, le=0xFFFF, description=(
        "kind=usb: USB product id, e.g. 0x0202."))
    paper_mm: Literal[58, 80] = Field(default=80, description=(
        "Paper roll width in mm: 58 (32 characters a line) or 80 (48)."))
    profile: str = Field(default="default", description=(
        "python-escpos capabilities profile (code pages, QR support), e.g. TM-T20II."))
    qr_native: bool | None = Field(default=None, description=(
        "Print the QR with the printer's own command (true) or as an image (false);\n"
        "empty: decide from the profile."))
    timeout_s: float = Field(default=5.0, gt=0, le=120, description=(
        "Seconds to wait when connecting to or writing to the printer."))

    @field_validator("paper_mm", mode="before")
    @classmethod
    def _paper_from_text(cls, value: Any) -> Any:
        # POS_PRINTER__PAPER_MM=58 arrives as the string "58"
        return (int(value) if isinstance(value, str) and is_ascii_digits(value.strip())
                else value)

    @field_validator("vendor_id", "product_id", mode="before")
    @classmethod
    def _usb_id(cls, value: Any) -> Any:
        # Config files and environment variables give strings; USB ids are written in hex.
        if isinstance(value, str):
            text = value.strip().lower()
            if text.startswith("0x"):
                try:
                    return int(text, 16)
                except ValueError:
                    raise ValueError(f"{value!r} is not a hexadecimal USB id") from None
            if is_ascii_digits(text):
                return int(text)
            raise ValueError(f"{value!r} is not a USB id: write it in hex like 0x04b8")
        return value

    @field_validator("profile")
    @classmethod
    def _known_profile(cls, value: str) -> str:
        if value == "default":  # every python-escpos has it
            return value
        # escpos's capabilities database takes a quarter second to load (a third of
        # `pos member` before, against the start-up floor of issue #15): only a config
        # naming another profile pays for it, not every `pos` command that reads settings
        from escpos.capabilities import CAPABILITIES

        if value not in CAPABILITIES["profiles"]:
            raise ValueError(
                f"unknown printer profile {value!r}: use a python-escpos profile name "
                "such as default, simple, TM-T20II or TM-T88V"
            )
        return value

    @model_validator(mode="after")
    def _kind_needs(self) -> PrinterSettings:
        if self.kind == "network" and not self.host:
            raise ValueError("host is required when kind is 'network' (the printer's address)")
        if self.kind == "serial" and not self.device:
            raise ValueError("device is required when kind is 'serial' (e.g. /dev/ttyUSB0)")
        if self.kind == "usb" and (self.vendor_id is None or self.product_id is None):
            missing = "vendor_id" if self.vendor_id is None else "product_id"
            raise ValueError(f"{missing} is required when kind is 'usb' (see lsusb)")
        if self.kind == "file" and not self.path.strip():
            raise ValueError("path is required when kind is 'file'")
        return self


def describe_target(settings: PrinterSettings) -> str:
    """Where the printer is, as a cashier reads it: 'printer at 10.0.0.5:9100'."""
    match settings.kind:
        case "file":
            return f"file {settings.path}"
        case "network":
            return f"printer at {settings.host}:{settings.port}"
        case "serial":
            return f"serial port {settings.device}"
        case "usb":
            return f"USB printer {settings.vendor_id or 0:04x}:{settings.product_id or 0:04x}"
        case _:
            return "dummy printer"
