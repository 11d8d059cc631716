"""HTTP client for the hub's sync API (see docs/ARCHITECTURE.md, "Sync wire protocol").

One long-lived `httpx.Client` per agent (keep-alive, one TLS handshake). Every failure is
mapped to the store side's error tree at this boundary:

- connection errors, timeouts, 5xx  -> `HubUnreachable` (retry later)
- 503/429 with Retry-After          -> `HubBusy` (the hub deferred it: retry after that)
- 401                              -> `CredentialRejected` (stop: the token is wrong/revoked)
- other 4xx                        -> `HubRefused` with the hub's JSON body

    >>> with HubClient("http://127.0.0.1:8750", token) as hub:
    ...     hub.push("S001-T1", 1, [event.to_dict()])
"""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from pos_agent.exceptions import CredentialRejected, HubBusy, HubRefused, HubUnreachable

REVOKED = "this terminal's credential was revoked or is wrong: ask HQ for a new token"


class HubClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 20.0,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {token}", "User-Agent": "pos-loyalty-agent/1"},
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            transport=transport,
        )

    def __enter__(self) -> HubClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def _request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        content: bytes | None = None,
        params: dict | None = None,
        timeout: float | None = None,
        headers: dict | None = None,
    ) -> dict:
        kwargs: dict[str, Any] = {"params": params, "headers": headers}
        if json is not None:
            # orjson: a batch of 500 events encodes several times faster than with the
            # stdlib, and the agent's share of an end-of-day sync is mostly this.
            content = orjson.dumps(json)
        if content is not None:
            kwargs["content"] = content
            kwargs["headers"] = {**(headers or {}), "Content-Type": "application/json"}
        if timeout is not None:
            kwargs["timeout"] = httpx.Timeout(timeout)
        try:
            response = self._client.request(method, path, **kwargs)
        except httpx.ConnectError as exc:
            raise HubUnreachable(
                f"cannot reach the hub at {self.base_url}: {exc}", request_sent=False
            ) from exc
        except httpx.ConnectTimeout as exc:
            raise HubUnreachable(
                f"the hub did not accept a connection in time ({self.base_url})",
                request_sent=False,
            ) from exc
        except httpx.TimeoutException as exc:
            raise HubUnreachable(f"the hub did not answer in time ({self.base_url})") from exc
        except httpx.TransportError as exc:
            raise HubUnreachable(
                f"lost the connection to the hub at {self.base_url}: {exc}"
            ) from exc
        wait = response.headers.get("Retry-After", "")
        if response.status_code in (429, 503) and wait.isascii() and wait.isdigit():
            raise HubBusy(f"the hub is busy ({response.status_code}); it asked to come back "
                          f"in {wait} s", retry_after=float(wait))
        if response.status_code == 401:
            raise CredentialRejected(REVOKED)
        if response.status_code >= 500:
            raise HubUnreachable(f"the hub answered {response.status_code}; will retry")
        try:
            body = orjson.loads(response.content)
        except orjson.JSONDecodeError as exc:
            raise HubUnreachable(
                f"the hub answered {response.status_code} with a body that is not JSON"
            ) from exc
        if response.status_code >= 400:
            detail = body.get("detail") if isinstance(body, dict) else None
            raise HubRefused(
                f"the hub refused the request ({response.status_code}): {detail or body}",
                status=response.status_code,
                body=body if isinstance(body, dict) else {"detail": body},
            )
        return body

    def whoami(self) -> dict:
        return self._request("GET", "/v1/terminal/whoami")

    def certificate(self, body: dict) -> dict:
        """`POST /v1/terminal/certificate` with this terminal's public key."""
        return self._request("POST", "/v1/terminal/certificate", json=body)

    def push(self, origin: str, epoch: int, events: list[dict]) -> dict:
        """`POST /v1/sync/push`: a batch of one epoch's events (dicts of `Event.to_dict`)."""
        body = orjson.dumps({"origin": origin, "origin_epoch": epoch, "events": events})
        return self._request("POST", "/v1/sync/push", content=body)

    def authorize(self, origin: str, epoch: int, events: list[dict], timeout: float) -> dict:
        """Push pending events plus a final redemption the hub must cover, atomically."""
        return self._request(
            "POST", "/v1/redemptions/authorize",
            json={"origin": origin, "origin_epoch": epoch, "events": events},
            timeout=timeout,
        )

    def pull(self, cursor: int, limit: int, high_seq: int | None = None) -> dict:
        headers = {"X-Origin-High-Seq": str(high_seq)} if high_seq is not None else None
        return self._request(
            "GET", "/v1/sync/pull", params={"cursor": cursor, "limit": limit}, headers=headers
        )

    def flags(self) -> list[dict]:
        body = self._request("GET", "/v1/sync/flags")
        return body.get("flags", []) if isinstance(body, dict) else []

    def day_report(self, day: str) -> dict:
        return self._request("GET", "/v1/sync/day-report", params={"date": day})
