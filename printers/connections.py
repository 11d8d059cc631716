"""Printer connections: settings, opening a python-escpos printer, sending rendered bytes.

    >>> settings = PrinterSettings(kind="network", host="192.168.1.50")
    >>> data = render_for_printer(receipt, settings)     # store it in the print queue
    >>> send(data, settings)                              # and again for a reprint

`send` opens the connection, writes, closes, and turns every library error into a
`PrinterError` whose message says what to check ("printer at 192.168.1.50:9100 refused
the connection"). The file printer appends, so `receipts.escpos` keeps every receipt.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import socket

import serial
from escpos.escpos import Escpos
from escpos.exceptions import DeviceNotFoundError
from escpos.printer import File, Network, Serial, Usb

from printers.exceptions import (
    PrinterConfigError,
    PrinterConnectionError,
    PrinterError,
    PrinterTimeoutError,
    PrinterWriteError,
)
from printers.receipt import Receipt
from printers.render_escpos import make_dummy, render_escpos_bytes
from printers.settings import PrinterKind, PrinterSettings, describe_target

__all__ = [
    "PrinterKind",
    "PrinterSettings",
    "describe_target",
    "open_printer",
    "render_for_printer",
    "send",
]

logger = logging.getLogger(__name__)

class _AppendingFile(File):
    """python-escpos's File truncates on open; a receipt log must keep the earlier receipts."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = open(self.devfile, "ab")  # noqa: SIM115 - closed by close()
        except OSError as exc:
            self.device = None
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not open {self.devfile}: {exc}") from exc
            logger.error("file printer %s cannot be opened: %s", self.devfile, exc)


class _UrlSerial(Serial):
    """python-escpos's Serial only takes device paths; this also takes pyserial URLs
    (loop://, socket://host:port, rfc2217://...) and bounds writes by the timeout."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = serial.serial_for_url(
                self.devfile,
                baudrate=self.baudrate,
                bytesize=self.bytesize,
                parity=self.parity,
                stopbits=self.stopbits,
                timeout=self.timeout,
                write_timeout=self.timeout,
                xonxoff=self.xonxoff,
                dsrdtr=self.dsrdtr,
            )
        except (ValueError, serial.SerialException) as exc:
            self.device = None
            if raise_not_found:
                raise DeviceNotFoundError(
                    f"Unable to open serial port {self.devfile}: {exc}"
                ) from exc
            logger.error("serial port %s cannot be opened: %s", self.devfile, exc)


class _Network(Network):
    """python-escpos's Network leaks its socket when connect fails, and only speaks IPv4;
    socket.create_connection closes on failure, resolves IPv6 too, and keeps `timeout`
    for the writes that follow."""

    def open(self, raise_not_found: bool = True) -> None:
        if self._device:
            self.close()
        try:
            self.device = socket.create_connection((self.host, self.port), timeout=self.timeout)
        except OSError as exc:
            self.device = None
            if raise_not_found:
                raise DeviceNotFoundError(f"Could not connect to {self.host}: {exc}") from exc
            logger.error("network printer %s:%s unreachable: %s", self.host, self.port, exc)


def _build(settings: PrinterSettings) -> Escpos:
    profile = settings.profile
    try:
        match settings.kind:
            case "file":
                return _AppendingFile(devfile=settings.path, profile=profile)
            case "network":
                return _Network(
                    host=settings.host or "",
                    port=settings.port,
                    timeout=settings.timeout_s,
                    profile=profile,
                )
            case "serial":
                return _UrlSerial(
                    devfile=settings.device or "",
                    baudrate=settings.baudrate,
                    timeout=settings.timeout_s,
                    profile=profile,
                )
            case "usb":
                # Check first: a Usb object built without pyusb raises again from __del__.
                if not Usb.is_usable():
                    raise _missing_driver(settings)
                return Usb(
                    idVendor=settings.vendor_id,
                    idProduct=settings.product_id,
                    timeout=int(settings.timeout_s * 1000),  # pyusb counts milliseconds
                    profile=profile,
                )
            case _:
                return make_dummy(profile)
    except KeyError as exc:
        raise PrinterConfigError(f"unknown printer profile {profile!r}") from exc
    except RuntimeError as exc:  # python-escpos's "dependency not installed"
        raise _missing_driver(settings) from exc


_DRIVERS = {"usb": "pyusb (pip install pyusb) and libusb", "serial": "pyserial"}


def _missing_driver(settings: PrinterSettings) -> PrinterConfigError:
    needs = _DRIVERS.get(settings.kind, "a driver library")
    return PrinterConfigError(f"{settings.kind} printers need {needs}, not installed here")


def _reason(exc: BaseException | None) -> str:
    if exc is None:
        return "unknown error"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def _open_error(
    settings: PrinterSettings, exc: BaseException, root: BaseException | None
) -> PrinterError:
    """The PrinterError for a failed open, with a message saying what to check."""
    where = describe_target(settings)
    code = getattr(root, "errno", None)
    if settings.kind == "network":
        if isinstance(root, ConnectionRefusedError):
            return PrinterConnectionError(
                f"{where} refused the connection: is it switched on and is port "
                f"{settings.port} right?"
            )
        if isinstance(root, TimeoutError):
            return PrinterTimeoutError(
                f"{where} did not answer within {settings.timeout_s:g} s: "
                "check the cable and the printer's IP address"
            )
        if isinstance(root, socket.gaierror):
            return PrinterConnectionError(
                f"printer host {settings.host!r} not found: check the name or use its IP address"
            )
        if code in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return PrinterConnectionError(f"no network route to {where}: check the network")
        return PrinterConnectionError(f"cannot connect to {where}: {_reason(root)}")
    if settings.kind == "serial":
        if code == errno.ENOENT:
            return PrinterConnectionError(f"{where} not found: is the printer plugged in?")
        if code == errno.EACCES:
            return PrinterConnectionError(
                f"no permission to open {where}: add the user to the dialout group"
            )
        if code == errno.EBUSY:
            return PrinterConnectionError(f"{where} is busy: another program has it open")
        if isinstance(root, ValueError):
            return PrinterConfigError(f"{where} is not a valid port or URL: {root}")
        return PrinterConnectionError(f"cannot open {where}: {_reason(root)}")
    if settings.kind == "file":
        if isinstance(root, FileNotFoundError):
            folder = os.path.dirname(os.path.abspath(settings.path))
            return PrinterConnectionError(f"{where} not writable: folder {folder} does not exist")
        if isinstance(root, IsADirectoryError):
            return PrinterConnectionError(f"{where} not writable: it is a folder")
        if isinstance(root, PermissionError):
            return PrinterConnectionError(f"{where} not writable: permission denied")
        return PrinterConnectionError(f"{where} not writable: {_reason(root)}")
    if settings.kind == "usb":
        if root is None or isinstance(root, AssertionError):
            return PrinterConnectionError(f"{where} not found: is it plugged in and switched on?")
        if code == errno.EACCES:
            return PrinterConnectionError(
                f"no permission to use {where}: add a udev rule for it or run as its group"
            )
        return PrinterConnectionError(f"cannot open {where}: {_reason(root)}")
    return PrinterConnectionError(f"cannot open {where}: {_reason(root or exc)}")


def open_printer(settings: PrinterSettings) -> Escpos:
    """Build the python-escpos printer for `settings` and open its connection.

    The caller closes it (`printer.close()`). Raises PrinterConnectionError (refused,
    not found, not writable, timeout) or PrinterConfigError (e.g. USB support missing).
    """
    printer = _build(settings)
    if settings.kind == "dummy":
        return printer
    try:
        printer.open()
    except DeviceNotFoundError as exc:
        # python-escpos raises a bare DeviceNotFoundError inside its except block; the
        # OS error that says *why* is its context.
        root = exc.__cause__ or exc.__context__
        raise _open_error(settings, exc, root) from (root or exc)
    except RuntimeError as exc:  # python-escpos's "dependency not installed"
        raise _missing_driver(settings) from exc
    except OSError as exc:
        raise _open_error(settings, exc, exc) from exc
    except Exception as exc:
        # pyusb raises NoBackendError (a ValueError) when libusb itself is missing.
        if type(exc).__name__ == "NoBackendError":
            raise PrinterConfigError("USB printing needs libusb installed on this machine") from exc
        raise
    # Some python-escpos versions log and carry on instead of raising; never "print"
    # into a connection that is not there.
    if not printer._device:
        raise PrinterConnectionError(f"{describe_target(settings)} could not be opened")
    return printer


def send(data: bytes, settings: PrinterSettings) -> None:
    """Open the printer, write the already rendered ESC/POS `data`, close it.

    Raises a PrinterError subclass with a human reason; the library error is `__cause__`.
    """
    printer = open_printer(settings)
    where = describe_target(settings)
    if settings.kind == "serial":
        # pyserial's write timeout covers the whole write, and a receipt with an image QR
        # takes seconds at 9600 baud (10 bits a byte): allow twice the wire time on top.
        printer.device.write_timeout = settings.timeout_s + 20 * len(data) / settings.baudrate
    try:
        printer._raw(data)
    except OSError as exc:
        with contextlib.suppress(Exception):
            printer.close()
        if isinstance(exc, TimeoutError | serial.SerialTimeoutException):
            reason = f"it stopped taking data for {settings.timeout_s:g} s (paper out? cover open?)"
        else:
            reason = _reason(exc)
        raise PrinterWriteError(f"writing to {where} failed: {reason}") from exc
    try:
        printer.close()
    except OSError as exc:
        raise PrinterWriteError(f"finishing the print on {where} failed: {_reason(exc)}") from exc
    logger.debug("sent %d bytes to %s", len(data), where)


def render_for_printer(receipt: Receipt, settings: PrinterSettings, tz: str = "UTC") -> bytes:
    """The ESC/POS bytes of `receipt` for the printer these settings describe."""
    return render_escpos_bytes(
        receipt,
        paper_mm=settings.paper_mm,
        profile=settings.profile,
        qr_native=settings.qr_native,
        tz=tz,
    )
