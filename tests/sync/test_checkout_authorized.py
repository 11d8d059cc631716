"""A checkout that spends points asks the hub first, like a redemption: two stores with
the same member, online. The first store's basket reward is authorised (recorded with its
sale, not offline-approved); the second store, whose copy of the member still shows the
points, is refused by the hub and records nothing: no sale, no spend, no earn."""

from __future__ import annotations

import pytest

from loyalty.basket import Applied, Basket, add_item
from loyalty.errors import RedemptionError
from loyalty.sale import make_sale
from loyalty.tender import cash
from loyalty.tender import points as points_tender
from pos_agent.members import enrol, member_view
from pos_agent.operations import checkout, record_sale
from pos_agent.sync.authorize import hub_authorizer

from .conftest import make_terminal

pytestmark = pytest.mark.slow


def latte_and_beans() -> Basket:
    basket = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                      tax_rate=1000)
    return add_item(basket, sku="BEANS", name="Beans", category="retail", unit_price=2000,
                    tax_rate=550)


def test_a_checkouts_spend_is_authorised_online_and_a_second_store_is_refused(tmp_path, hub):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    b, b_token = make_terminal(tmp_path, hub, "S002", "T1")
    member = enrol(a.store, name="Zoé", phone="+33622222222")
    record_sale(a.store, member.member_id, make_sale(total=2000))  # 200 + 5 + 50 = 255
    agent_a, agent_b = a.agent(hub.url, a_token), b.agent(hub.url, b_token)
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None
    assert member_view(b.store, member.member_id)[1].balance == 255
    ask_a = hub_authorizer(agent_a.client, origin=a.store.identity.origin, timeout=5)
    ask_b = hub_authorizer(agent_b.client, origin=b.store.identity.origin, timeout=5)

    # store A: 10% off (250 Stars) on the basket, authorised by the hub at tender
    sale = checkout(a.store, member.member_id, latte_and_beans(), [Applied("ten-off")],
                    [cash(3000)], found_by="qr", authorizer=ask_a)
    assert sale.points_spent == 250 and sale.ticket.total == 2115
    row = a.store.conn.execute("SELECT approved_offline FROM receipts WHERE receipt_no = ?",
                               (sale.receipt_no,)).fetchone()
    assert row == (0,)  # authorised, not approved offline
    assert hub.member_balance(member.member_id)["balance"] == 5  # the spend is at the hub

    # store B has not pulled: it still shows 255; paying 200 with points is refused by the hub
    receipts_before = b.store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone()
    events_before = b.store.conn.execute("SELECT COUNT(*) FROM events").fetchone()
    with pytest.raises(RedemptionError) as refused:
        checkout(b.store, member.member_id, latte_and_beans(), [],
                 [points_tender(b.store.active_program(), 200), cash(3000)], found_by="qr",
                 authorizer=ask_b)
    assert refused.value.code == "insufficient_points"
    assert b.store.conn.execute("SELECT COUNT(*) FROM receipts").fetchone() == receipts_before
    assert b.store.conn.execute("SELECT COUNT(*) FROM events").fetchone() == events_before
    # A syncs its earn; both agree with the hub
    assert agent_a.sync_once().error is None
    assert agent_b.sync_once().error is None
    at_hub = hub.member_balance(member.member_id)["balance"]
    assert at_hub == 5 + sale.points_earned
    assert member_view(b.store, member.member_id)[1].balance == at_hub
