"""Member PINs across stores, through a real hub on loopback: wrong tries at two
terminals count together once synced, the PIN set at one store spends at another, and no
JSON of the hub holds the hash."""

from __future__ import annotations

import json
import sqlite3

import httpx
import pytest

from loyalty.pins import PinError
from loyalty.sale import make_sale
from pos_agent.members import enrol, find_member
from pos_agent.operations import record_sale, redeem_reward
from pos_agent.pins import check_member_pin

from .conftest import make_terminal

pytestmark = pytest.mark.slow
PIN = "4821"


def wrong_tries(t, member_id: str, n: int) -> None:
    for _ in range(n):
        with pytest.raises(PinError, match="wrong PIN"):
            check_member_pin(t.store, member_id, "9999")


def test_wrong_pins_at_two_stores_lock_the_pin_once_synced(tmp_path, hub):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    b, b_token = make_terminal(tmp_path, hub, "S002", "T1")
    agent_a, agent_b = a.agent(hub.url, a_token), b.agent(hub.url, b_token)
    member = enrol(a.store, name="Zoé", phone="+33622222222", pin=PIN)
    record_sale(a.store, member.member_id, make_sale(total=3000))
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None

    # the PIN set at S001 spends at S002, offline, found by the typed card number
    found = find_member(b.store, member.card_number)
    assert found.found_by == "card"
    spent = redeem_reward(b.store, found.member_id, "free-latte", found_by=found.found_by,
                          pin=PIN)
    assert spent.points_spent == 150

    wrong_tries(a, member.member_id, 3)  # 3 wrong at S001...
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None
    wrong_tries(b, member.member_id, 1)  # ...and a 4th at S002: one more locks it
    with pytest.raises(PinError, match="now locked for 1 minute"):
        check_member_pin(b.store, member.member_id, "9999")
    with pytest.raises(PinError, match="locked after 5 wrong tries"):
        redeem_reward(b.store, found.member_id, "free-latte", found_by="card", pin=PIN)
    assert agent_b.sync_once().error is None

    # the hub folded every store's tries: 5 in a row, and S001 sees the lock too
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        state = json.loads(conn.execute("SELECT state FROM members WHERE member_id = ?",
                                        (member.member_id,)).fetchone()[0])
    assert state["pin"][1] == 5 and state["pin"][0].startswith("$argon2id$")
    assert agent_a.sync_once().error is None
    with pytest.raises(PinError, match="locked after 5 wrong tries"):
        check_member_pin(a.store, member.member_id, PIN)
    # the QR still spends (the honest path is never locked out)
    by_qr = find_member(a.store, member.qr_payload)
    assert redeem_reward(a.store, member.member_id, "free-latte",
                         found_by=by_qr.found_by).points_spent == 150

    # no JSON the hub answers about the member holds the hash
    stored = state["pin"][0]
    admin = {"Authorization": f"Bearer {hub.admin_token}"}
    online = {"Authorization": f"Bearer {hub.online_token}"}
    answers = [
        hub.admin(f"/v1/admin/members/{member.member_id}"),
        hub.admin("/v1/admin/members", card=member.card_number),
        hub.admin("/v1/admin/flags", status="all"),
        httpx.get(f"{hub.url}/v1/online/members", params={"card": member.card_number},
                  headers=online, timeout=30),
        httpx.get(f"{hub.url}/v1/admin/reports/liability", headers=admin, timeout=30),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert "argon2" not in answer.text and stored not in answer.text


def test_the_web_shop_sets_a_pin_that_the_tills_take(tmp_path, hub):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    agent = a.agent(hub.url, a_token)
    online = {"Authorization": f"Bearer {hub.online_token}"}
    made = httpx.post(f"{hub.url}/v1/online/members", headers=online, timeout=30,
                      json={"name": "Web Wendy", "email": "wendy@example.com"})
    assert made.status_code == 201, made.text
    member_id = made.json()["member_id"]
    url = f"{hub.url}/v1/online/members/{member_id}/pin"
    weak = httpx.post(url, headers=online, json={"pin": "1111"}, timeout=30)
    assert weak.status_code == 422 and weak.json()["error"] == "bad_pin"
    answer = httpx.post(url, headers=online, json={"pin": PIN}, timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json()["pin_set"] is True and "argon2" not in answer.text
    unknown = httpx.post(f"{hub.url}/v1/online/members/{'0' * 8}-0000-7000-8000-{'0' * 12}"
                         "/pin", headers=online, json={"pin": PIN}, timeout=30)
    assert unknown.status_code == 404
    assert agent.sync_once().error is None
    check_member_pin(a.store, member_id, PIN)  # the hash arrived with the snapshot
    with pytest.raises(PinError, match="wrong PIN"):
        check_member_pin(a.store, member_id, "9999")
