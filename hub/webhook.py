"""Delivering the notification outbox to a webhook (the shop's mailer or SMS gateway).

    POST {hub.webhook_url}
    Content-Type: application/json
    X-Loyalty-Signature: sha256=<hex HMAC-SHA256 of the exact body, key hub.webhook_secret>
    X-Loyalty-Delivery: <notification id>

A 2xx answer marks the row sent. Anything else (or no answer) schedules a retry after
`webhook_backoff_s * 2^(attempts-1)`; after `webhook_max_attempts` the row is `failed`
and stays in the outbox for HQ to see. The receiver should treat X-Loyalty-Delivery as an
idempotency key: a row whose answer was lost is sent again.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta

import httpx

from hub.context import HubContext
from hub.db import now_text
from hub.store import notifications

SIGNATURE_HEADER = "X-Loyalty-Signature"


def sign(body: bytes, secret: str) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(body: bytes, secret: str, header: str) -> bool:
    return hmac.compare_digest(sign(body, secret), header or "")


def send_due(ctx: HubContext, now: datetime | None = None,
             client: httpx.Client | None = None) -> int:
    """Send every due outbox row once; returns how many were delivered."""
    hub = ctx.settings.hub
    if not hub.webhook_url:
        return 0
    now = now or datetime.now(UTC)
    sent = 0
    tried: set[int] = set()  # one attempt per row per run, even with a zero backoff
    own = client is None
    client = client or httpx.Client(timeout=hub.webhook_timeout_s)
    try:
        while True:
            with ctx.db.read() as conn:
                batch = [r for r in notifications.due(conn, now_text(now), limit=100 + len(tried))
                         if r["id"] not in tried]
            if not batch:
                break
            for row in batch:
                tried.add(row["id"])
                body = row["payload"].encode()
                error = None
                try:
                    answer = client.post(hub.webhook_url, content=body, headers={
                        "Content-Type": "application/json",
                        SIGNATURE_HEADER: sign(body, hub.webhook_secret),
                        "X-Loyalty-Delivery": str(row["id"]),
                    })
                    if not 200 <= answer.status_code < 300:
                        error = f"HTTP {answer.status_code}"
                except httpx.HTTPError as exc:
                    error = f"{type(exc).__name__}: {exc}"
                attempts = row["attempts"] + 1
                with ctx.db.write() as conn:
                    if error is None:
                        sent += 1
                        notifications.mark(conn, row["id"], status="sent", attempts=attempts,
                                           sent_at=now_text(), last_error=None)
                    else:
                        delay = hub.webhook_backoff_s * 2 ** (attempts - 1)
                        notifications.mark(
                            conn, row["id"], attempts=attempts, last_error=error[:500],
                            status="failed" if attempts >= hub.webhook_max_attempts
                            else "pending",
                            next_attempt_at=now_text(now + timedelta(seconds=delay)))
    finally:
        if own:
            client.close()
    return sent
