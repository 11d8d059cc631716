"""A serial barcode scanner (pyserial) feeding the same input as the keyboard.

    >>> reader = ScannerReader(serial.serial_for_url("/dev/ttyACM0", 9600), on_scan)
    >>> reader.start()

Scanners send the code followed by CR and/or LF. Each complete line is handed to
`on_scan` (in the reader's thread: the app wraps it with `call_from_thread`). A scanner
unplugged mid-shift stops the reader and reports it through `on_error`, never crashing the
till.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import serial


def open_scanner(port: str, baudrate: int = 9600) -> serial.SerialBase:
    """A port name (/dev/ttyACM0, COM3) or a pyserial URL (loop://, socket://host:port)."""
    return serial.serial_for_url(port, baudrate=baudrate, timeout=0.2)


class ScannerReader:
    def __init__(self, port: serial.SerialBase, on_scan: Callable[[str], None],
                 on_error: Callable[[str], None] | None = None) -> None:
        self.port = port
        self.on_scan = on_scan
        self.on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="scanner", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)

    def _run(self) -> None:
        buffer = b""
        while not self._stop.is_set():
            try:
                chunk = self.port.read(self.port.in_waiting or 1)
            except (serial.SerialException, OSError) as exc:
                if self.on_error:
                    self.on_error(f"barcode scanner stopped: {exc}")
                return
            if not chunk:
                continue
            buffer += chunk
            while True:
                cut = min((i for i in (buffer.find(b"\r"), buffer.find(b"\n")) if i >= 0),
                          default=-1)
                if cut < 0:
                    break
                line, buffer = buffer[:cut], buffer[cut + 1:]
                text = line.decode("ascii", errors="replace").strip()
                if text:
                    self.on_scan(text)
