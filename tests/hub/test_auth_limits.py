"""Failed authentications are limited per client address and per wrong token (429 with
Retry-After, then the window expires) and logged without the token; and every endpoint
that needs a token checks it before it reads a byte of the body (issue 16, parts 5-6).

Each test runs its own server on the hub's database with a limiter on a clock of its
own, and calls it from 127.0.0.2 / 127.0.0.3 (loopback addresses of their own), so
nothing here waits for a real window to pass."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from hub.api.guard import AuthLimiter, client_address
from hub.app import create_app
from hub.settings import settings_for

from .conftest import Hub, new_terminal, raw_program, serve_app

pytestmark = pytest.mark.slow
WHOAMI = "/v1/terminal/whoami"


@dataclass
class Clock:
    now: float = 1_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Limited:
    url: str
    clock: Clock

    def client(self, address: str, token: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30,
                            transport=httpx.HTTPTransport(local_address=address))

    def get(self, address: str, token: str | None, path: str = WHOAMI,
            **kw: Any) -> httpx.Response:
        with self.client(address, token) as c:
            return c.get(path, **kw)


@contextmanager
def limited(hub: Hub, **limits: Any) -> Iterator[Limited]:
    """A server on the hub's database whose failure limits run on a clock of the test's."""
    clock = Clock()
    settings = settings_for(hub.ctx.settings.hub.database_url, raw_program(),
                            signing_key_file=hub.ctx.settings.hub.signing_key_file, **limits)
    app = create_app(settings, limiter=AuthLimiter.from_settings(settings.hub, clock))
    server, thread, url = serve_app(app)
    try:
        yield Limited(url, clock)
    finally:
        server.should_exit = True
        thread.join(10)


def _assert_429(r: httpx.Response, wait: int) -> None:
    assert r.status_code == 429, r.text
    assert r.headers["Retry-After"] == str(wait)
    assert r.json() == {"error": "too_many_failures", "retry_after": wait,
                        "detail": "too many failed authentications from this address or with "
                                  f"this token: try again in {wait} s"}


def test_the_sixth_wrong_token_from_an_address_is_429_until_the_window_expires(
        hub: Hub, caplog: pytest.LogCaptureFixture):
    good = new_terminal(hub).token
    caplog.set_level(logging.WARNING, logger="hub.auth")
    with limited(hub, auth_failures_per_address=5, auth_failures_per_token=100,
                 auth_failure_window_s=300) as srv:
        wrong = [f"t_wrong-{i}-{'x' * 30}" for i in range(12)]
        for token in wrong[:5]:
            r = srv.get("127.0.0.2", token)
            assert r.status_code == 401 and r.json()["error"] == "bad_token", r.text
            srv.clock.now += 10  # the five failures are 10 s apart: at 1000 ... 1040
        for token in wrong[5:10]:  # the 6th to the 10th: refused without being checked
            _assert_429(srv.get("127.0.0.2", token), 250)
        # the good token does not open a blocked address, nor does a forged forward header
        _assert_429(srv.get("127.0.0.2", good), 250)
        _assert_429(srv.get("127.0.0.2", good, headers={"X-Forwarded-For": "10.9.9.9"}), 250)
        # ...and works from another address, where a wrong one is a plain 401
        r = srv.get("127.0.0.3", good)
        assert r.status_code == 200 and r.json()["origin"], r.text
        assert srv.get("127.0.0.3", wrong[10]).status_code == 401
        # the window slides: at 1299 the first failure (at 1000) still counts, at 1300 not
        srv.clock.now = 1_299.0
        _assert_429(srv.get("127.0.0.2", good), 1)
        srv.clock.now = 1_300.0
        assert srv.get("127.0.0.2", good).status_code == 200
        r = srv.get("127.0.0.2", wrong[11])  # one more failure: five within the window
        assert r.status_code == 401
        _assert_429(srv.get("127.0.0.2", good), 10)  # until the one at 1010 is 300 s old
        srv.clock.now = 2_000.0
        assert srv.get("127.0.0.2", good).status_code == 200
    failures = [r for r in caplog.records if r.name == "hub.auth"]
    assert len(failures) == 7  # 5 + 127.0.0.3's + the one after the window; 429s are not
    first = failures[0]
    assert first.levelno == logging.WARNING
    assert (first.auth_address, first.auth_path, first.auth_reason) == (
        "127.0.0.2", WHOAMI, "bad_token")
    assert len(first.auth_token_sha256) == 12
    assert first.getMessage() == (f"authentication failed: address=127.0.0.2 path='{WHOAMI}' "
                                  f"reason=bad_token token_sha256={first.auth_token_sha256}")
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert not any(token in logged for token in wrong) and good not in logged


def test_one_wrong_token_retried_is_429_without_locking_its_address(hub: Hub):
    # a revoked till retrying: its token is blocked, the other tills behind the store's
    # one address are not
    term = new_terminal(hub)
    with hub.ctx.db.write() as conn:
        from hub.store.credentials import revoke
        revoke(conn, "terminal", term.origin)
    other = new_terminal(hub).token
    with limited(hub, auth_failures_per_address=8, auth_failures_per_token=5,
                 auth_failure_window_s=60) as srv:
        for _ in range(5):
            r = srv.get("127.0.0.2", term.token)
            assert r.status_code == 401 and "revoked" in r.json()["detail"]
        for _ in range(20):  # refused at the door: these do not count against the address
            _assert_429(srv.get("127.0.0.2", term.token), 60)
        assert srv.get("127.0.0.2", other).status_code == 200
        assert srv.get("127.0.0.2", "t_another-wrong-one").status_code == 401
        srv.clock.now += 60
        assert srv.get("127.0.0.2", term.token).status_code == 401  # tried afresh


def test_a_missing_token_is_401_and_logged_but_not_counted(hub: Hub,
                                                           caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="hub.auth")
    with limited(hub, auth_failures_per_address=2) as srv:
        for _ in range(4):
            r = srv.get("127.0.0.2", None)
            assert r.status_code == 401 and r.json()["error"] == "unauthorized"
            assert r.headers["WWW-Authenticate"] == "Bearer"
        with srv.client("127.0.0.2") as c:
            r = c.get(WHOAMI, headers={"Authorization": "Basic dXNlcjpwYXNz"})
        assert r.status_code == 401
        assert srv.get("127.0.0.2", hub.online_token).status_code == 200
    reasons = [r.auth_reason for r in caplog.records if r.name == "hub.auth"]
    assert reasons == ["no_token"] * 4 + ["not_bearer"]


def test_the_openapi_document_needs_no_token(hub: Hub):
    with limited(hub, auth_failures_per_address=1) as srv:
        assert srv.get("127.0.0.2", "t_wrong").status_code == 401
        assert srv.get("127.0.0.2", "t_wrong").status_code == 429
        assert srv.get("127.0.0.2", None, "/openapi.json").status_code == 200


def test_client_addresses_count_ipv6_by_its_64():
    assert client_address({"client": ("127.0.0.2", 5)}) == "127.0.0.2"
    assert client_address({"client": ("2001:db8:1:2:aaaa::1", 5)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("2001:db8:1:2:ffff::9", 5)}) == "2001:db8:1:2::/64"
    assert client_address({"client": ("::ffff:192.0.2.7", 5)}) == "192.0.2.7"
    assert client_address({"client": None}) == "unknown"


def test_the_limiter_forgets_the_oldest_when_full(monkeypatch: pytest.MonkeyPatch):
    import hub.api.guard as guard

    monkeypatch.setattr(guard, "MAX_KEYS", 100)
    clock = Clock()
    limiter = AuthLimiter(per_address=1, per_token=1, window_s=60, clock=clock)
    for i in range(1_000):
        limiter.failed(f"10.0.{i // 250}.{i % 250}", None)
    assert len(limiter._failures) <= 100
    assert limiter.retry_after("10.0.3.249", None) == 60  # the newest is still counted


# -- authentication before the body -----------------------------------------------------------
def _raw_request(url: str, method: str, path: str, token: str | None,
                 declared: int = 15_000_000) -> tuple[int, dict]:
    """Send the headers of a request declaring a `declared`-byte body and only its first
    kilobyte, then read the answer: an answer at all proves the body was not waited for."""
    host, port = url.removeprefix("http://").split(":")
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    head = (f"{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
            f"{auth}Content-Length: {declared}\r\nConnection: close\r\n\r\n")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(head.encode() + b"{" + b" " * 1023)
        data = b""
        while b"\r\n\r\n" not in data or len(data.split(b"\r\n\r\n", 1)[1]) < _length(data):
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    status = int(data.split(b" ", 2)[1])
    return status, json.loads(data.split(b"\r\n\r\n", 1)[1])


def _length(data: bytes) -> int:
    for line in data.split(b"\r\n\r\n", 1)[0].split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            return int(line.split(b":", 1)[1])
    return 0


def _operations(hub: Hub) -> list[tuple[str, str, list[str]]]:
    spec = httpx.get(hub.url + "/openapi.json").json()
    out = []
    for path, item in spec["paths"].items():
        for method, op in item.items():
            if op.get("security"):
                concrete = path.replace("{member_id}", "0190a1b2-0000-7000-8000-000000000000")
                for name in ("order_id", "flag_id"):
                    concrete = concrete.replace("{" + name + "}", "1")
                out.append((method.upper(), concrete, op.get("tags", [])))
    return out


def test_every_authenticated_endpoint_answers_before_reading_the_body(hub: Hub):
    operations = _operations(hub)
    assert len(operations) >= 18
    wrong_kind = {"sync": hub.admin_token, "online": hub.admin_token,
                  "admin": hub.online_token}
    for method, path, tags in operations:
        status, body = _raw_request(hub.url, method, path, None)
        assert (status, body["error"]) == (401, "unauthorized"), (method, path, body)
        status, body = _raw_request(hub.url, method, path, "t_not-a-token")
        assert (status, body["error"]) == (401, "bad_token"), (method, path, body)
        token = next((wrong_kind[t] for t in tags if t in wrong_kind), None)
        if token is not None and path != WHOAMI and path != "/v1/sync/pull":
            status, body = _raw_request(hub.url, method, path, token)
            assert status == 403, (method, path, body)


def test_a_bad_token_with_a_malformed_body_is_401_not_422(hub: Hub):
    for path in ("/v1/sync/push", "/v1/online/orders", "/v1/admin/flags/1/resolve"):
        r = httpx.post(hub.url + path, content=b'{"not json', timeout=30,
                       headers={"Authorization": "Bearer t_nope",
                                "Content-Type": "application/json"})
        assert r.status_code == 401 and r.json()["error"] == "bad_token", (path, r.text)
    with hub.client(hub.online_token) as c:
        r = c.post("/v1/admin/flags/1/resolve", content=b"\xff\xfe", headers={
            "Content-Type": "application/json"})
    assert r.status_code == 403 and r.json()["error"] == "wrong_credential"
