"""Printer settings and real connections: file, TCP, serial (pty and loop://), dummy."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest
from escpos.printer import Dummy
from pydantic import ValidationError

from printers import (
    PrinterConfigError,
    PrinterConnectionError,
    PrinterError,
    PrinterSettings,
    PrinterWriteError,
    open_printer,
    render_for_printer,
    send,
)
from tests.printers.escpos_stream import qr_store_data, tokenize
from tests.printers.receipt_samples import PAYLOAD, sale


@pytest.fixture(scope="module")
def receipt_bytes() -> bytes:
    # The image QR makes the job several kB, more than one socket or tty write.
    return render_for_printer(sale(), PrinterSettings(kind="dummy", qr_native=False))


class Recorder:
    """A TCP 'printer' on 127.0.0.1 that records every byte of one connection."""

    def __init__(self, read_delay: float = 0.0) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.read_delay = read_delay
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.server.settimeout(10)
        conn, _ = self.server.accept()
        with conn:
            time.sleep(self.read_delay)
            while chunk := conn.recv(65536):
                self.received.extend(chunk)

    def result(self) -> bytes:
        self.thread.join(timeout=10)
        self.server.close()
        return bytes(self.received)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- settings -----------------------------------------------------------------------


def first_error(**values) -> tuple[tuple, str]:
    with pytest.raises(ValidationError) as info:
        PrinterSettings(**values)
    err = info.value.errors()[0]
    return err["loc"], err["msg"]


def test_defaults_are_a_file_printer():
    settings = PrinterSettings()
    assert (settings.kind, settings.path, settings.paper_mm) == ("file", "receipts.escpos", 80)
    assert settings.qr_native is None and settings.port == 9100


def test_kind_specific_fields_are_required_and_named():
    assert "host is required" in first_error(kind="network")[1]
    assert "device is required" in first_error(kind="serial")[1]
    assert "vendor_id is required" in first_error(kind="usb", product_id=0x0202)[1]
    assert "product_id is required" in first_error(kind="usb", vendor_id=0x04B8)[1]
    assert "path is required" in first_error(kind="file", path=" ")[1]


def test_field_errors_carry_the_field_name():
    assert first_error(paper_mm=76)[0] == ("paper_mm",)
    assert first_error(port=70000)[0] == ("port",)
    assert first_error(colour="red")[0] == ("colour",)
    loc, msg = first_error(profile="TM-NOPE")
    assert loc == ("profile",) and "unknown printer profile 'TM-NOPE'" in msg
    loc, msg = first_error(kind="usb", vendor_id="04b8", product_id=1)
    assert loc == ("vendor_id",) and "0x04b8" in msg


def test_usb_ids_accept_hex_strings():
    settings = PrinterSettings(kind="usb", vendor_id="0x04B8", product_id="0x0202")
    assert (settings.vendor_id, settings.product_id) == (0x04B8, 0x0202)
    assert PrinterSettings(kind="usb", vendor_id="1208", product_id=514).vendor_id == 1208


def test_field_docstrings_become_descriptions():
    assert "pyserial URL" in PrinterSettings.model_fields["device"].description


# --- file ---------------------------------------------------------------------------


def test_file_printer_appends_and_creates(tmp_path: Path, receipt_bytes: bytes):
    path = tmp_path / "receipts.escpos"
    settings = PrinterSettings(kind="file", path=str(path))
    send(receipt_bytes, settings)
    send(b"second", settings)
    assert path.read_bytes() == receipt_bytes + b"second"


def test_file_printer_errors_say_why(tmp_path: Path):
    missing = tmp_path / "no" / "such" / "receipts.escpos"
    with pytest.raises(PrinterConnectionError, match="not writable: folder .* does not exist"):
        send(b"x", PrinterSettings(path=str(missing)))
    with pytest.raises(PrinterConnectionError, match="not writable: it is a folder") as info:
        send(b"x", PrinterSettings(path=str(tmp_path)))
    assert isinstance(info.value.__cause__, OSError)


# --- network ------------------------------------------------------------------------


def test_network_printer_receives_the_whole_receipt(receipt_bytes: bytes):
    server = Recorder()
    send(receipt_bytes, PrinterSettings(kind="network", host="127.0.0.1", port=server.port))
    received = server.result()
    assert received == receipt_bytes
    assert qr_store_data(tokenize(received)) == []  # image QR: the profile choice was honoured


def test_network_native_qr_arrives_intact():
    server = Recorder()
    settings = PrinterSettings(kind="network", host="127.0.0.1", port=server.port, qr_native=True)
    send(render_for_printer(sale(), settings), settings)
    assert qr_store_data(tokenize(server.result())) == [PAYLOAD.encode()]


def test_refused_connection_is_reported_quickly():
    port = free_port()
    settings = PrinterSettings(kind="network", host="127.0.0.1", port=port, timeout_s=2)
    started = time.monotonic()
    with pytest.raises(PrinterConnectionError) as info:
        send(b"data", settings)
    assert time.monotonic() - started < 2
    assert f"printer at 127.0.0.1:{port} refused the connection" in str(info.value)
    assert isinstance(info.value.__cause__, ConnectionRefusedError)


def test_printer_that_stops_reading_times_out():
    # The peer accepts but does not read: once the socket buffers fill, the write must give
    # up after timeout_s instead of hanging the till.
    server = Recorder(read_delay=1.5)
    settings = PrinterSettings(kind="network", host="127.0.0.1", port=server.port, timeout_s=0.3)
    started = time.monotonic()
    with pytest.raises(PrinterWriteError, match="stopped taking data for 0.3 s"):
        send(b"\x00" * (64 * 1024 * 1024), settings)
    assert time.monotonic() - started < 1.5
    server.result()


# --- serial -------------------------------------------------------------------------


def test_serial_printer_over_a_pty(receipt_bytes: bytes):
    master, slave = os.openpty()
    received = bytearray()

    def read_master() -> None:
        while len(received) < len(receipt_bytes):
            try:
                chunk = os.read(master, 65536)
            except OSError:
                return
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read_master, daemon=True)
    reader.start()
    try:
        send(receipt_bytes, PrinterSettings(kind="serial", device=os.ttyname(slave)))
        reader.join(timeout=10)
    finally:
        os.close(slave)
        os.close(master)
    assert bytes(received) == receipt_bytes


def test_serial_pyserial_url_loopback():
    # loop:// buffers 4 kB at most, so use the native-QR job (about 1.2 kB).
    data = render_for_printer(sale(), PrinterSettings(kind="dummy", qr_native=True))
    assert 1000 < len(data) < 4096
    # pyserial's loop:// simulates the wire time, so use a speed that fits the timeout.
    fast = PrinterSettings(kind="serial", device="loop://", baudrate=115200, timeout_s=1)
    printer = open_printer(fast)
    try:
        printer._raw(data)
        echoed = printer.device.read(len(data))
    finally:
        printer.close()
    assert echoed == data
    assert qr_store_data(tokenize(echoed)) == [PAYLOAD.encode()]
    # At 9600 baud this job needs ~1.3 s of wire time, more than timeout_s: send() must
    # stretch the write timeout rather than fail.
    slow = PrinterSettings(kind="serial", device="loop://", baudrate=9600, timeout_s=1)
    send(data, slow)


def test_missing_serial_port_is_named():
    with pytest.raises(PrinterConnectionError, match="serial port /dev/ttyNOPE9 not found"):
        send(b"x", PrinterSettings(kind="serial", device="/dev/ttyNOPE9"))
    with pytest.raises(PrinterConfigError, match="not a valid port or URL"):
        send(b"x", PrinterSettings(kind="serial", device="bogus://x"))


# --- dummy and usb ------------------------------------------------------------------


def test_dummy_printer(receipt_bytes: bytes):
    settings = PrinterSettings(kind="dummy", profile="TM-T20II")
    printer = open_printer(settings)
    assert isinstance(printer, Dummy)
    assert printer.profile.profile_data["name"] == "TM-T20II"
    # send() writes the bytes exactly as rendered, on the printer it opened
    import printers.connections as connections

    held = Dummy()
    opened = []
    original = connections.open_printer
    connections.open_printer = lambda s: opened.append(s) or held
    try:
        send(receipt_bytes, settings)
    finally:
        connections.open_printer = original
    assert opened == [settings] and held.output == receipt_bytes


def test_usb_printer_that_is_not_there_fails_with_a_reason():
    # pyusb is a dependency; this machine has no USB printer (and maybe no libusb): either
    # way the job must fail with a printer error that says what is missing, not a crash.
    settings = PrinterSettings(kind="usb", vendor_id="0x04b8", product_id="0x0202")
    with pytest.raises(PrinterError) as info:
        send(b"x", settings)
    assert isinstance(info.value, PrinterConfigError | PrinterConnectionError)
    assert "usb" in str(info.value).lower() or "0x04b8" in str(info.value).lower()
