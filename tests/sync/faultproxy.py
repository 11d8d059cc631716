"""A fault-injecting HTTP proxy on 127.0.0.1, between the sync agent and a real hub.

    >>> with FaultProxy("http://127.0.0.1:8750") as proxy:
    ...     proxy.mode = "drop_response"     # the hub commits, the answer is lost
    ...     agent_url = proxy.url

Modes: `pass`; `down` (the connection is closed at once: hub unreachable); `drop_response`
(forwarded, the hub's answer thrown away and the connection cut); `slow` (answers after
`delay` seconds); `error500` (answers 500 without forwarding); `duplicate` (every request
is delivered to the hub twice, the second answer returned). `faults_left` limits how many
requests get the fault before the proxy passes again (None: until the mode changes).
Only paths containing `path_filter` get the fault.
"""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx


class FaultProxy:
    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.mode = "pass"
        self.delay = 3.0
        self.faults_left: int | None = None
        self.path_filter = ""
        self.requests: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        self._client = httpx.Client(timeout=60)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                mode = proxy._take_fault(self.path)
                proxy.requests.append((self.command, self.path, mode))
                if mode == "down":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "error500":
                    self._send(500, b'{"error":"internal","detail":"injected"}')
                    return
                headers = {
                    k: v for k, v in self.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                url = proxy.upstream + self.path
                response = proxy._client.request(self.command, url, content=body, headers=headers)
                if mode == "duplicate":
                    response = proxy._client.request(
                        self.command, url, content=body, headers=headers
                    )
                if mode == "drop_response":
                    self.close_connection = True
                    self.connection.close()
                    return
                if mode == "slow":
                    time.sleep(proxy.delay)
                self._send(response.status_code, response.content)

            def _send(self, status: int, content: bytes) -> None:
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(content)))
                    self.end_headers()
                    self.wfile.write(content)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PUT = do_DELETE = _handle

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def _take_fault(self, path: str) -> str:
        with self._lock:
            if self.mode == "pass" or self.path_filter not in path:
                return "pass"
            if self.faults_left is not None:
                if self.faults_left <= 0:
                    return "pass"
                self.faults_left -= 1
            return self.mode

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._client.close()
