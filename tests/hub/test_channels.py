"""Channels as HQ runs them (issue 18): several named online channels, each with its own
tokens and origin, managed with `pos-hub channel add|list|revoke`, over real HTTP on
SQLite and PostgreSQL; the single online token of a hub from before keeps working."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import create_engine, insert, text
from sqlalchemy.pool import NullPool

from hub.app import create_app
from hub.db import alembic_config
from hub.exceptions import Forbidden
from hub.settings import load_settings
from hub.store.credentials import hash_token
from hub.store.ingest import record_drafts, role_of
from hub.tables import credentials, online_orders, origins
from loyalty.events import EventDraft

from .conftest import Hub, run_cli, serve_app, write_config

pytestmark = pytest.mark.slow


def _cli(hub: Hub, tmp_path: Path) -> Path:
    return write_config(tmp_path, hub.ctx.settings.hub.database_url)


def _enrol(c, name: str) -> dict:
    n = uuid.uuid4().int % 10**8
    r = c.post("/v1/online/members", json={"name": name, "phone": f"+3368{n:08d}"})
    assert r.status_code == 201, r.text
    return r.json()


def test_two_channels_record_as_their_own_origins_and_one_is_revoked(hub: Hub,
                                                                      tmp_path: Path):
    config = _cli(hub, tmp_path)
    tag = uuid.uuid4().hex[:6]
    shop, market = f"shop{tag}", f"mkt{tag}"
    added = json.loads(run_cli(config, "channel", "add", shop, "--json").stdout)
    assert added["kind"] == "channel" and added["name"] == shop
    assert added["origin"] == f"online-{shop}" and added["token"].startswith("c_")
    lines = run_cli(config, "channel", "add", market, "--origin", f"online-mp{tag}"
                   ).stdout.strip().splitlines()
    assert f"origin online-mp{tag}" in lines[0] and "shown only this once" in lines[0]
    market_token = lines[-1]
    shop_token = added["token"]
    listed = {r["name"]: r for r in json.loads(run_cli(config, "channel", "list",
                                                       "--json").stdout)}
    assert listed[shop]["origin"] == f"online-{shop}"
    assert listed[market]["origin"] == f"online-mp{tag}"
    assert listed["online"]["origin"] == "online"  # the session's own online channel
    assert all(r["revoked_at"] is None for r in (listed[shop], listed[market]))
    assert f"online-mp{tag}" in run_cli(config, "channel", "list").stdout
    origin_a, origin_b = f"online-{shop}", f"online-mp{tag}"

    with hub.client(shop_token) as a, hub.client(market_token) as b:
        assert a.get("/v1/terminal/whoami").json()["origin"] == origin_a
        assert b.get("/v1/terminal/whoami").json()["store"] == "online"
        member = _enrol(a, "Chan Ann")
        mid = member["member_id"]
        order_a, order_b = f"A-{tag}", f"B-{tag}"
        ra = a.post("/v1/online/orders", json={"member_id": mid, "order_id": order_a,
                                               "total": 2000})
        rb = b.post("/v1/online/orders", json={"card": member["card_number"],
                                               "order_id": order_b, "total": 3000})
        assert (ra.status_code, rb.status_code) == (201, 201), ra.text + rb.text
        assert b.post(f"/v1/online/members/{mid}/pin", json={"pin": "4821"}
                      ).status_code == 200
        spent = b.post("/v1/online/redeem", json={"member_id": mid, "reward_id": "pay",
                                                  "points": 100})
        assert spent.status_code == 200, spent.text
        by_origin: dict[str, set[tuple[str, str]]] = {}
        for row in hub.rows("events", member_id=mid):
            by_origin.setdefault(row["origin"], set()).add((row["kind"], row["ref"]))
        assert set(by_origin) == {origin_a, origin_b}
        assert {k for k, _ in by_origin[origin_a]} >= {"enrol", "earn"}
        assert ("earn", f"WEB-{order_a}") in by_origin[origin_a]
        assert ("earn", f"WEB-{order_b}") in by_origin[origin_b]
        assert {k for k, _ in by_origin[origin_b]} >= {"earn", "pin", "redeem"}
        [enrol] = [r for r in hub.rows("events", member_id=mid) if r["kind"] == "enrol"]
        assert json.loads(enrol["content"])["data"]["channel"] == origin_a
        # each channel's own orders: the other's are not its to refund, and order ids are
        # one namespace for every channel
        assert b.post(f"/v1/online/orders/{order_a}/refund", json={}).json()["error"] == \
            "unknown_order"
        again = b.post("/v1/online/orders", json={"member_id": mid, "order_id": order_a,
                                                  "total": 2000})
        assert again.status_code == 409 and again.json()["error"] == "order_id_reused"
        assert "another channel" in again.json()["detail"]
        assert a.post(f"/v1/online/orders/{order_a}/refund", json={"amount": 1000}
                      ).status_code == 200

        with hub.admin() as admin:
            liability = admin.get("/v1/admin/reports/liability").json()
            health = {r["origin"]: r for r in
                      admin.get("/v1/admin/reports/sync-health").json()["origins"]}
        channels = {r["channel"]: r for r in liability["channels"]}
        assert channels[shop]["origin"] == origin_a and channels[market]["origin"] == origin_b
        assert channels[shop]["points"] == 50 + 205 - 100
        assert channels[market]["points"] == 300 - 100
        assert liability["online"] == sum(r["points"] for r in liability["channels"])
        assert not any(s["store"].startswith("online") for s in liability["stores"])
        assert health[origin_a]["kind"] == health[origin_b]["kind"] == "channel"
        report = run_cli(config, "report", "liability").stdout
        assert origin_a in report and origin_b in report

        revoked = json.loads(run_cli(config, "channel", "revoke", market, "--json").stdout)
        assert revoked == {"kind": "channel", "name": market, "revoked": 1,
                           "signing_keys": 0}
        refused = b.post("/v1/online/orders", json={"member_id": mid,
                                                    "order_id": f"C-{tag}", "total": 100})
        assert refused.status_code == 401 and refused.json()["error"] == "bad_token"
        assert a.post("/v1/online/orders", json={"member_id": mid, "order_id": f"D-{tag}",
                                                 "total": 100}).status_code == 201
    run_cli(config, "channel", "revoke", market, ok=False)
    [row] = [r for r in json.loads(run_cli(config, "channel", "list", "--json").stdout)
             if r["name"] == market]
    assert row["revoked_at"]
    # the same trust checks as the online channel's: a channel may not record an adjust
    assert role_of(origin_a) == role_of(origin_b) == role_of("online") == "channel"
    before = hub.counts()
    with pytest.raises(Forbidden) as refused, hub.ctx.db.write() as conn:
        record_drafts(conn, hub.ctx, origin_a, [EventDraft(kind="adjust", member_id=mid,
                                                           points=100)], datetime.now(UTC))
    assert refused.value.code == "kind_not_allowed"
    assert "a channel may record only" in refused.value.detail
    assert hub.counts() == before


def test_channel_names_and_origins_are_checked(hub: Hub, tmp_path: Path):
    config = _cli(hub, tmp_path)
    tag = uuid.uuid4().hex[:6]
    before = hub.count("credentials")
    for args in (["channel", "add", "Web Shop"],                  # not a name
                 ["channel", "add", f"x{tag}", "--origin", "S001-T1"],  # not online-...
                 ["channel", "add", f"y{tag}", "--origin", "hub"],
                 ["channel", "add", f"z{tag}", "--origin", "online"],   # the online channel's
                 ["terminal", "add", f"online-T{tag[:3]}"]):             # a channel's store
        assert run_cli(config, *args, ok=False).stderr
    run_cli(config, "channel", "add", f"app{tag}")
    # a second token of a channel keeps its origin; another origin is refused
    again = json.loads(run_cli(config, "channel", "add", f"app{tag}", "--json").stdout)
    assert again["origin"] == f"online-app{tag}"
    assert "never changes" in run_cli(config, "channel", "add", f"app{tag}", "--origin",
                                      f"online-other{tag}", ok=False).stderr
    assert hub.count("credentials") == before + 2
    assert hub.count("channels", name=f"app{tag}") == 1


def test_the_single_online_token_of_a_hub_from_before_keeps_working(fresh_url: str,
                                                                    tmp_path: Path):
    # a hub at the schema before channels, its web shop set up with `channel add online`
    command.upgrade(alembic_config(fresh_url), "0012")
    token = "c_" + uuid.uuid4().hex * 2
    engine = create_engine(fresh_url, poolclass=NullPool)
    with engine.begin() as conn:
        conn.execute(insert(credentials).values(token_hash=hash_token(token), kind="channel",
                                                name="online", created_at="2026-12-01"))
        conn.execute(insert(origins).values(origin="online", kind="channel", store="online",
                                            created_at="2026-12-01"))
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")  # the upgrade
    assert json.loads(run_cli(config, "channel", "list", "--json").stdout) == [
        {"id": 1, "kind": "channel", "name": "online", "origin": "online",
         "created_at": "2026-12-01", "revoked_at": None}]
    server, thread, url = serve_app(create_app(load_settings(str(config))))
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"},
                          timeout=30) as c:
            member = _enrol(c, "Old Shop")
            order = {"member_id": member["member_id"], "order_id": "W1", "total": 4250}
            first = c.post("/v1/online/orders", json=order)
            assert first.status_code == 201, first.text
            again = c.post("/v1/online/orders", json=order)
            assert again.json() == {**first.json(), "status": "duplicate"}
            # an order the hub recorded before the upgrade kept no first answer: it is
            # answered as it was then
            with engine.begin() as conn:
                conn.execute(insert(online_orders).values(
                    order_id="OLD-1", member_id=member["member_id"],
                    created_at="2026-12-01"))
            old = c.post("/v1/online/orders", json={**order, "order_id": "OLD-1"})
            assert old.status_code == 200 and old.json()["status"] == "duplicate"
            assert old.json()["balance"] == first.json()["balance"]
        with engine.connect() as conn:
            origins_seen = set(conn.execute(text("SELECT DISTINCT origin FROM events")
                                            ).scalars())
        assert origins_seen == {"online"}
        assert "revoked 1" in run_cli(config, "channel", "revoke", "online").stdout
    finally:
        server.should_exit = True
        thread.join(10)
        engine.dispose()
