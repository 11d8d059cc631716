"""A raw-printing network printer (the port 9100 kind) on 127.0.0.1 for tests: it keeps
the bytes of each connection as one job.

    >>> printer = NetworkPrinter()             # any free port; or NetworkPrinter(port)
    >>> ... print to 127.0.0.1:printer.port ...
    >>> printer.close(); printer.jobs          # [b'...', ...]

`switched_off_port()` gives a port nothing listens on (a printer that is off);
`network_printer_config(text, port)` points a config's [printer] at 127.0.0.1:port.
"""

from __future__ import annotations

import socket
import threading


def switched_off_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def network_printer_config(text: str, port: int, timeout_s: float = 1.0) -> str:
    """The config `text` (config.example.toml's [printer]) printing to 127.0.0.1:port."""
    for old, new in (('kind = "file"', 'kind = "network"\nhost = "127.0.0.1"'),
                     ("port = 9100", f"port = {port}"),
                     ("timeout_s = 5.0", f"timeout_s = {timeout_s}")):
        if old not in text:
            raise AssertionError(f"{old!r} not in the config: the example changed")
        text = text.replace(old, new)
    return text


class NetworkPrinter:
    def __init__(self, port: int = 0) -> None:
        self.server = socket.create_server(("127.0.0.1", port))
        self.port = self.server.getsockname()[1]
        self.jobs: list[bytes] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return  # closed
            data = bytearray()
            with conn:
                while chunk := conn.recv(65536):
                    data.extend(chunk)
            self.jobs.append(bytes(data))

    def close(self) -> None:
        """Stop listening; the jobs received so far are complete (each connection was read
        to its end before it was counted)."""
        self.server.close()
        self._thread.join(timeout=5)
