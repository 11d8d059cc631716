"""Jobs: expiry once, tier changes both ways, the outbox and its signed webhook with
retries against a real local HTTP server; snapshots rebuilt from the ledger equal the
cache."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from hub.context import HubContext
from hub.jobs import expire, notify, tiers
from hub.rebuild import rebuild
from hub.webhook import SIGNATURE_HEADER, send_due, verify

from .conftest import Hub, new_terminal, raw_program

pytestmark = pytest.mark.slow


def test_expiry_twice_records_once(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    events += term.sale(member, 1500)
    assert term.push(events).status_code == 200
    later = datetime.now(UTC) + timedelta(days=400)
    expire(hub.ctx, later)
    first = [r for r in hub.rows("events", member_id=member) if r["kind"] == "expire"]
    lots = [e for e in events if e.points > 0]
    assert len(first) == len(lots) and all(r["origin"] == "hub" for r in first)
    expire(hub.ctx, later)
    expire(hub.ctx, later + timedelta(days=1))
    again = [r for r in hub.rows("events", member_id=member) if r["kind"] == "expire"]
    assert sorted(r["event_id"] for r in again) == sorted(r["event_id"] for r in first)
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == 0 and row["next_expiry"] is None
    assert rebuild(hub.ctx, check_only=True)["differed"] == []


def test_tier_up_then_drop_with_notifications(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    events += term.sale(member, 60_000)  # 600.00: Gold
    assert term.push(events).status_code == 200
    now = datetime.now(UTC) + timedelta(minutes=1)
    tiers(hub.ctx, now)
    tiers(hub.ctx, now)
    later = now + timedelta(days=200)  # the sale left the 180-day window
    tiers(hub.ctx, later)
    rows = sorted((r for r in hub.rows("events", member_id=member) if r["kind"] == "tier"),
                  key=lambda r: r["hub_seq"])
    moves = [(json.loads(r["content"])["data"]["from"], json.loads(r["content"])["data"]["tier"])
             for r in rows]
    assert moves == [("Green", "Gold"), ("Gold", "Green")]
    [row] = hub.rows("members", member_id=member)
    assert row["last_tier"] == "Green"
    notes = [json.loads(n["payload"]) for n in hub.rows("notifications", member_id=member)]
    assert [n["direction"] for n in notes if n["kind"] == "tier_change"] == ["up", "down"]
    assert any(n["kind"] == "reward_unlocked" for n in notes)
    notify(hub.ctx, later + timedelta(days=150))
    assert any(json.loads(n["payload"])["kind"] == "points_expiring"
               for n in hub.rows("notifications", member_id=member))


class _Receiver(BaseHTTPRequestHandler):
    fails_per_delivery = 2
    seen: dict[str, int] = {}
    delivered: list[tuple[bytes, str]] = []

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        delivery = self.headers["X-Loyalty-Delivery"]
        n = self.seen[delivery] = self.seen.get(delivery, 0) + 1
        ok = n > self.fails_per_delivery
        if ok:
            self.delivered.append((body, self.headers[SIGNATURE_HEADER]))
        self.send_response(200 if ok else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_webhook_retries_and_signs(hub: Hub):
    from hub.settings import settings_for

    _Receiver.seen, _Receiver.delivered = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings = settings_for(hub.ctx.settings.hub.database_url, raw_program(),
                                webhook_url=f"http://127.0.0.1:{server.server_port}/hook",
                                webhook_secret="s3cret", webhook_backoff_s=60,
                                webhook_max_attempts=5)
        ctx = HubContext(hub.ctx.db, settings)
        term = new_terminal(hub)
        member, events = term.enrol()
        events += term.sale(member, 30_000)
        assert term.push(events).status_code == 200
        now = datetime.now(UTC)
        assert send_due(ctx, now) == 0  # every delivery failed once
        assert send_due(ctx, now) == 0  # not due again before the backoff
        assert send_due(ctx, now + timedelta(seconds=61)) == 0  # second failure
        sent = send_due(ctx, now + timedelta(seconds=61 + 121))
        assert sent >= 1
        mine = [n for n in hub.rows("notifications", member_id=member)]
        assert mine and all(n["status"] == "sent" and n["attempts"] == 3 for n in mine)
        for body, signature in _Receiver.delivered:
            assert verify(body, "s3cret", signature)
            assert not verify(body, "wrong", signature)
        assert member in {json.loads(b)["member_id"] for b, _ in _Receiver.delivered}
    finally:
        server.shutdown()
