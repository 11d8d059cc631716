"""Bug (issue 17): after a voided redemption the terminal's day report said 5,241 points
issued and the hub's 5,441. Both now count with loyalty.day_points (issued net of reversed
credits, redeemed net of reversed spends), checked through a real `pos-hub serve`."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from loyalty.sale import make_sale
from pos_agent.members import enrol
from pos_agent.operations import record_sale, redeem_reward, refund_receipt, void_receipt
from pos_agent.reports import day_report

from .conftest import HubServer, make_terminal

pytestmark = pytest.mark.slow


def test_terminal_and_hub_day_reports_count_points_the_same(tmp_path, hub: HubServer):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    ann = enrol(t.store, name="Ann Lee", phone="0611223344")          # 50 welcome
    big = record_sale(t.store, ann.member_id, make_sale(total=5000))   # 500 + visit
    record_sale(t.store, ann.member_id, make_sale(total=2000))
    pay = redeem_reward(t.store, ann.member_id, "pay", found_by="qr", points=200)
    void_receipt(t.store, pay.receipt_no)                              # +200 back: a spend
    refund_receipt(t.store, big.receipt_no, 1000)                      # -100: a credit
    assert t.agent(hub.url, token).sync_once().error is None

    today = datetime.now(ZoneInfo(t.store.active_program().timezone)).date()
    here = day_report(t.store, today)["points"]
    at_hub = httpx.get(hub.url + "/v1/sync/day-report", params={"date": today.isoformat()},
                       headers={"Authorization": f"Bearer {token}"}, timeout=30).json()
    assert (at_hub["points_issued"], at_hub["points_redeemed"], at_hub["points_reversed"]) \
        == (here["issued"], here["redeemed"], here["reversed"])
    assert here["redeemed"] == 0 and here["reversed"] == 300
    credits = t.store.conn.execute(
        "SELECT SUM(points) FROM events WHERE kind <> 'reverse' AND points > 0").fetchone()[0]
    assert here["issued"] == credits - 100  # the refund's 100, not the voided 200
