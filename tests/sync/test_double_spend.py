"""Two stores offline spend the same points: both events are kept, the balance goes
negative at the hub, HQ sees a flag, and a later earning pays the debt down."""

from __future__ import annotations

import pytest

from loyalty.sale import make_sale
from pos_agent.members import enrol, find_member, member_view
from pos_agent.operations import record_sale, redeem_reward

from .conftest import make_terminal

pytestmark = pytest.mark.slow


def test_offline_double_spend_is_kept_flagged_and_paid_down(tmp_path, hub):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    b, b_token = make_terminal(tmp_path, hub, "S002", "T1")
    member = enrol(a.store, name="Zoé", phone="+33622222222")
    record_sale(a.store, member.member_id, make_sale(total=1500))  # 150 + 5 + 50 = 205
    agent_a, agent_b = a.agent(hub.url, a_token), b.agent(hub.url, b_token)
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None
    found = find_member(b.store, member.qr_payload)  # the member scans their card's QR
    assert member_view(b.store, found.member_id)[1].balance == 205

    # both terminals offline (no authorizer): each approves a 150-Star latte
    ra = redeem_reward(a.store, member.member_id, "free-latte", found_by="qr")
    rb = redeem_reward(b.store, member.member_id, "free-latte", found_by=found.found_by)
    assert ra.approved_offline and rb.approved_offline
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None

    held = hub.member_balance(member.member_id)
    assert held["balance"] == 205 - 300
    flags = hub.admin("/v1/admin/flags").json()
    flags = flags["flags"] if isinstance(flags, dict) else flags
    mine = [f for f in flags if f.get("member_id") == member.member_id]
    assert mine, flags
    assert {ra.event.event_id, rb.event.event_id} & set(mine[0].get("event_ids") or [])

    # a later sale pays the debt down first
    record_sale(a.store, member.member_id, make_sale(total=2000))  # +200
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None
    assert hub.member_balance(member.member_id)["balance"] == -95 + 200
    assert member_view(b.store, member.member_id)[1].balance == 105
