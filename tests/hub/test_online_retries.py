"""Retries that tell the truth (issue 18), over real HTTP on SQLite and PostgreSQL: an
online order id or a request_id names one request; sent again with the same body it is
answered with the first answer (points included), with another body it is 409 and
nothing changes."""

from __future__ import annotations

import json
import uuid

import pytest

from .conftest import Hub

pytestmark = pytest.mark.slow


def _enrol(hub: Hub, name: str) -> dict:
    n = uuid.uuid4().int % 10**8
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": name, "phone": f"+3369{n:08d}"})
    assert r.status_code == 201, r.text
    return r.json()


def _balance(hub: Hub, member: str) -> int:
    [row] = hub.rows("members", member_id=member)
    return row["balance"]


def _kept(hub: Hub, order_id: str) -> dict:
    [row] = hub.rows("online_orders", order_id=order_id)
    return row


def test_an_order_id_sent_again_with_another_body_is_409_and_changes_nothing(hub: Hub):
    ann, bob = _enrol(hub, "Ann Retry"), _enrol(hub, "Bob Retry")
    order_id = f"W1-{uuid.uuid4().hex[:8]}"
    order = {"member_id": ann["member_id"], "order_id": order_id, "total": 4250}
    with hub.online() as c:
        first = c.post("/v1/online/orders", json=order)
        assert first.status_code == 201, first.text
        # 42.50 at 10 per euro: 425, plus the first visit of the day: 5
        assert (first.json()["status"], first.json()["points"]) == ("new", 430)
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        kept = _kept(hub, order_id)
        # the same order id with another total, other lines, for another member
        for other in ({**order, "total": 999999},
                      {**order, "lines": [["BEANS", "retail", 1, 4250]]},
                      {**order, "member_id": bob["member_id"]},
                      {"card": bob["card_number"], "order_id": order_id, "total": 4250}):
            r = c.post("/v1/online/orders", json=other)
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "order_id_reused"
            assert r.json()["order_id"] == order_id and order_id in r.json()["detail"]
        assert _balance(hub, ann["member_id"]) == balance
        assert _balance(hub, bob["member_id"]) == bob["balance"]
        assert hub.count("events") == events
        assert _kept(hub, order_id) == kept


def test_an_order_sent_again_is_answered_with_the_first_answer_byte_for_byte(hub: Hub):
    ann = _enrol(hub, "Ann Replay")
    order_id = f"W1-{uuid.uuid4().hex[:8]}"
    order = {"member_id": ann["member_id"], "order_id": order_id, "total": 4250}
    with hub.online() as c:
        first = c.post("/v1/online/orders", json=order)
        assert first.status_code == 201, first.text
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        # the balance moves on after the order: a repeat still answers what the order did
        later = c.post("/v1/online/orders", json={**order, "order_id": f"{order_id}-2",
                                                  "total": 1000})
        assert later.status_code == 201 and later.json()["balance"] > balance
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        for again in (order, {"card": ann["card_number"], "order_id": order_id,
                              "total": 4250}):
            r = c.post("/v1/online/orders", json=again)
            assert r.status_code == 200, r.text
            # the first answer, points and all, but for `status` (scripts read it)
            assert r.content == first.content.replace(b'"status":"new"',
                                                      b'"status":"duplicate"', 1)
            assert r.json() == {**first.json(), "status": "duplicate"}
            assert r.json()["points"] == 430 and r.json()["purchase_points"] == 425
        assert _balance(hub, ann["member_id"]) == balance
        assert hub.count("events") == events
    assert json.loads(_kept(hub, order_id)["answer"]) == first.json()


def test_a_request_id_is_one_request_whether_the_member_is_named_by_id_or_card(hub: Hub):
    ann, bob = _enrol(hub, "Ann Spend"), _enrol(hub, "Bob Spend")
    with hub.online() as c:
        orders = {}
        for member in (ann, bob):
            orders[member["member_id"]] = order_id = f"RQ-{uuid.uuid4().hex[:8]}"
            r = c.post("/v1/online/orders", json={"member_id": member["member_id"],
                                                  "order_id": order_id, "total": 5000})
            assert r.status_code == 201, r.text
        spend = {"reward_id": "pay", "points": 100, "request_id": f"pay-{uuid.uuid4()}"}
        first = c.post("/v1/online/redeem", json={**spend, "member_id": ann["member_id"]})
        assert first.status_code == 200, first.text
        assert (first.json()["status"], first.json()["points"]) == ("new", -100)
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        again = c.post("/v1/online/redeem", json={**spend, "card": ann["card_number"]})
        assert again.status_code == 200, again.text
        assert again.json() == {**first.json(), "status": "duplicate"}
        assert again.content == first.content.replace(b'"status":"new"',
                                                      b'"status":"duplicate"', 1)
        # the same id for another member: another request
        bob_balance = _balance(hub, bob["member_id"])
        for other in ({**spend, "member_id": bob["member_id"]},
                      {**spend, "card": bob["card_number"]}):
            r = c.post("/v1/online/redeem", json=other)
            assert r.status_code == 409, r.text
            assert r.json()["error"] == "request_id_reused"
            assert r.json()["request_id"] == spend["request_id"]
        # and for a refund of Ann's order: another operation
        r = c.post(f"/v1/online/orders/{orders[ann['member_id']]}/refund",
                   json={"request_id": spend["request_id"]})
        assert r.status_code == 409 and r.json()["error"] == "request_id_reused", r.text
        assert _balance(hub, ann["member_id"]) == balance
        assert _balance(hub, bob["member_id"]) == bob_balance
        assert hub.count("events") == events


def test_a_refund_request_id_sent_again_repeats_the_first_refund(hub: Hub):
    ann = _enrol(hub, "Ann Refund")
    order_id = f"RF-{uuid.uuid4().hex[:8]}"
    with hub.online() as c:
        r = c.post("/v1/online/orders", json={"member_id": ann["member_id"],
                                              "order_id": order_id, "total": 5000})
        assert r.status_code == 201, r.text
        refund = {"amount": 1000, "request_id": f"refund-{uuid.uuid4()}"}
        first = c.post(f"/v1/online/orders/{order_id}/refund", json=refund)
        assert first.status_code == 200 and first.json()["points"] == -100, first.text
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        again = c.post(f"/v1/online/orders/{order_id}/refund", json=refund)
        assert again.content == first.content.replace(b'"status":"new"',
                                                      b'"status":"duplicate"', 1)
        other = c.post(f"/v1/online/orders/{order_id}/refund",
                       json={**refund, "amount": 999})
        assert other.status_code == 409 and other.json()["error"] == "request_id_reused"
        assert _balance(hub, ann["member_id"]) == balance
        assert hub.count("events") == events


def test_a_redemption_for_an_order_sent_again_repeats_the_first(hub: Hub):
    ann = _enrol(hub, "Ann Order Spend")
    order_id = f"RO-{uuid.uuid4().hex[:8]}"
    with hub.online() as c:
        r = c.post("/v1/online/orders", json={"member_id": ann["member_id"],
                                              "order_id": order_id, "total": 5000})
        assert r.status_code == 201, r.text
        spend = {"member_id": ann["member_id"], "reward_id": "pay", "points": 100,
                 "order_id": order_id}
        first = c.post("/v1/online/redeem", json=spend)
        assert first.status_code == 200 and first.json()["status"] == "new", first.text
        balance, events = _balance(hub, ann["member_id"]), hub.count("events")
        again = c.post("/v1/online/redeem", json={**spend, "member_id": None,
                                                  "card": ann["card_number"]})
        assert again.status_code == 200, again.text
        assert again.content == first.content.replace(b'"status":"new"',
                                                      b'"status":"duplicate"', 1)
        other = c.post("/v1/online/redeem", json={**spend, "points": 200})
        assert other.status_code == 409 and other.json()["error"] == "already_redeemed"
        assert _balance(hub, ann["member_id"]) == balance
        assert hub.count("events") == events
