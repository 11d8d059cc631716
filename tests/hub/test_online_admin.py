"""The online channel and HQ endpoints over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading

import pytest

from loyalty.events import Event
from loyalty.fold import fold

from .conftest import Hub, new_terminal

pytestmark = pytest.mark.slow


def test_online_enrol_lookup_order_refund_redeem(hub: Hub):
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": "Web Ann", "email": "ann@example.org",
                                               "phone": "+33699000111"})
        assert r.status_code == 201, r.text
        enrolled = r.json()
        member, card = enrolled["member_id"], enrolled["card_number"]
        assert enrolled["balance"] == 50 and enrolled["qr_payload"].startswith("LOY1:" + card)
        assert c.post("/v1/online/members", json={"name": "Again", "email": "ann@example.org"}
                      ).status_code == 409
        for params in ({"card": card}, {"email": "ann@example.org"}, {"phone": "+33699000111"},
                       {"member_id": member}):
            found = c.get("/v1/online/members", params=params)
            assert found.status_code == 200 and found.json()["member_id"] == member
        assert c.get("/v1/online/members", params={"card": "6000000000000000"}
                     ).status_code == 404
        order = {"member_id": member, "order_id": "W1001", "total": 4200,
                 "lines": [["BEANS", "retail", 1, 4200]]}
        r = c.post("/v1/online/orders", json=order)
        assert r.status_code == 201, r.text
        earned = r.json()["points"]
        assert earned >= 420
        events = hub.count("events", origin="online")
        again = c.post("/v1/online/orders", json=order)
        assert again.status_code == 200 and again.json()["status"] == "duplicate"
        assert hub.count("events", origin="online") == events
        r = c.post("/v1/online/orders/W1001/refund", json={"amount": 2100})
        assert r.status_code == 200, r.text
        assert r.json()["points"] == -(r.json()["points"] * -1) and r.json()["points"] < 0
        r = c.post("/v1/online/redeem", json={"card": card, "reward_id": "pay", "points": 100})
        assert r.status_code == 200, r.text
        balance = r.json()["balance"]
        r = c.post("/v1/online/redeem", json={"card": card, "reward_id": "gift-10"})
        assert r.status_code == 409 and r.json()["error"] == "insufficient_points"
        unknown = c.post("/v1/online/orders", json={**order, "order_id": "W2",
                                                    "member_id": "0" * 8 + "-0000-7000-8000-"
                                                    + "0" * 12})
        assert unknown.status_code == 404 and unknown.json()["error"] == "unknown_member"
        bad = c.post("/v1/online/orders", json={**order, "order_id": "W3", "total": -5})
        assert bad.status_code == 422
    rows = [Event.from_dict(json.loads(r["content"]))
            for r in hub.rows("events", member_id=member)]
    assert fold(rows).balance == balance
    assert [e.origin_seq for e in sorted((e for e in rows), key=lambda e: e.origin_seq)] == \
        sorted(e.origin_seq for e in rows)
    seqs = sorted(r["origin_seq"] for r in hub.rows("events", origin="online"))
    assert seqs == list(range(1, len(seqs) + 1))  # gap-free, like any origin
    with hub.admin() as c:
        view = c.get(f"/v1/admin/members/{member}").json()
        assert view["balance"] == balance and view["card_numbers"] == [card]
        assert view["summary"]["points_name"] == "Stars"
        assert c.get("/v1/admin/members", params={"card": card}).json()["member_id"] == member
    with hub.client(new_terminal(hub).token) as c:
        assert c.post("/v1/online/redeem", json={"card": card, "reward_id": "pay"}
                      ).status_code == 403


def test_online_redeem_race_exactly_one(hub: Hub):
    with hub.online() as c:
        member = c.post("/v1/online/members", json={"name": "Race", "phone": "+33699000222"}
                        ).json()["member_id"]
        c.post("/v1/online/orders", json={"member_id": member, "order_id": f"R-{member[:8]}",
                                          "total": 1000})
        have = c.get("/v1/online/members", params={"member_id": member}).json()["balance"]
    assert 150 <= have < 300
    codes: list[int] = []
    barrier = threading.Barrier(2)

    def go() -> None:
        with hub.online() as c:
            barrier.wait()
            codes.append(c.post("/v1/online/redeem", json={"member_id": member,
                                                           "reward_id": "free-latte"}
                                ).status_code)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(codes) == [200, 409]
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == have - 150


def test_openapi_and_json_errors(hub: Hub):
    with hub.client(None) as c:
        spec = c.get("/openapi.json").json()
        assert "/v1/sync/push" in spec["paths"] and "/v1/admin/flags" in spec["paths"]
        r = c.get("/no/such/path")
        assert r.status_code == 404 and r.json()["error"] == "not_found"
    with hub.admin() as c:
        r = c.post("/v1/admin/flags/999999/resolve", json={"note": "n"})
        assert r.status_code == 404 and r.json()["error"] == "unknown_flag"
        r = c.post("/v1/admin/flags/1/resolve", json={})
        assert r.status_code == 422 and r.json()["detail"].startswith("note")
