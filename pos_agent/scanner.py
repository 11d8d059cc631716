"""Barcode scanners: a keyboard-wedge scanner's keystroke bursts, and a serial scanner
(pyserial), both ending up in the same member lookup.

    >>> wedge = WedgeDetector()                 # fed every key with its arrival time
    >>> wedge.key("6", at=10.000) ... wedge.key("enter", at=10.090)  -> "6012345678901234"

    >>> reader = ScannerReader(serial.serial_for_url("/dev/ttyACM0", 9600), on_scan)
    >>> reader.start()

A keyboard-wedge scanner "types" its code far faster than a person: a burst of at least
`min_chars` characters, every gap under `max_gap` seconds, ending in Enter. A person typing
an amount, even a fast typist, leaves 80-250 ms between keys, so their Enter is not a scan.

Serial scanners send the code followed by CR and/or LF. Each complete line is handed to
`on_scan` (in the reader's thread: the app wraps it with `call_from_thread`). A scanner
unplugged mid-shift stops the reader and reports it through `on_error`, never crashing the
till.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable

import serial


class WedgeDetector:
    """Recognises a keyboard-wedge scan in the stream of keys.

    `key(name, character, at)` is called for every key before it reaches a widget; `at` is
    when the key arrived (seconds, any monotonic clock). It returns the scanned code when
    this key is the Enter that ends a scan, else None. `burst_started` is True when this key
    starts a new run of keys (the previous key was long ago): the app saves what the
    focused field held then, to put it back if the run turns out to be a scan.
    """

    def __init__(self, max_gap: float = 0.04, min_chars: int = 6) -> None:
        self.max_gap = max_gap
        self.min_chars = min_chars
        self.chars: list[str] = []
        self.last_at: float | None = None
        self.burst_started = False

    def key(self, name: str, character: str | None, at: float) -> str | None:
        fast = self.last_at is not None and at - self.last_at < self.max_gap
        self.last_at = at
        self.burst_started = False
        if name == "enter":
            code = "".join(self.chars)
            self.chars = []
            if fast and len(code) >= self.min_chars:
                return code
            return None
        if character is None or not character.isprintable():
            self.chars = []  # arrows, F-keys...: a person at the keyboard
            return None
        if not fast:
            self.chars = []
            self.burst_started = True
        self.chars.append(character)
        return None


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
        with contextlib.suppress(serial.SerialException, OSError):
            self.port.close()

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
