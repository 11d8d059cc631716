"""Every error the printers package raises.

    PrinterError                      base: str(exc) is one line a cashier or manager can act on
     ├── PrinterConfigError           the settings cannot work (unknown profile, missing driver)
     ├── PrinterConnectionError       the printer could not be reached or opened
     │    └── PrinterTimeoutError     it did not answer within `timeout_s`
     ├── PrinterWriteError            it was opened but the receipt could not be written
     └── ReceiptRenderError           the receipt cannot be laid out (bad data, width too small)

Invalid `PrinterSettings` values raise pydantic's `ValidationError` at construction, as
every other settings section of the project does; `PrinterConfigError` is for problems
only found when a printer is opened. Library errors (OSError, pyserial, pyusb,
python-escpos) are mapped at the boundary with `raise ... from exc`, so the original
stays available as `__cause__`.
"""

from __future__ import annotations

__all__ = [
    "PrinterConfigError",
    "PrinterConnectionError",
    "PrinterError",
    "PrinterTimeoutError",
    "PrinterWriteError",
    "ReceiptRenderError",
]


class PrinterError(Exception):
    """Base class of the printers package's errors."""


class PrinterConfigError(PrinterError):
    """The printer settings cannot work (unknown profile, driver not installed)."""


class PrinterConnectionError(PrinterError):
    """The printer could not be reached or opened: refused, not found, not writable."""


class PrinterTimeoutError(PrinterConnectionError):
    """The printer did not answer within the configured timeout."""


class PrinterWriteError(PrinterError):
    """The printer was opened but writing the receipt failed part way."""


class ReceiptRenderError(PrinterError, ValueError):
    """The receipt cannot be laid out: unknown paper width or time zone.

    Also a ValueError, because it is always a bad argument rather than a device fault.
    """
