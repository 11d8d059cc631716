"""A real till sees the hub's holds through its normal pull: held points show in the
member's summary ("N held for review") and cannot be spent offline, until HQ releases
them (`pos-hub flags resolve ID --release`) and the till pulls again."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from loyalty.clock import HybridClock
from loyalty.errors import RedemptionError
from loyalty.events import GENESIS, EventDraft, format_instant, seal
from loyalty.program import load_program_text
from loyalty.sale import make_sale
from pos_agent.members import enrol, member_view
from pos_agent.operations import record_sale, redeem_reward
from tests.example_config import example_config_text

from .conftest import hub_cli, make_terminal

pytestmark = pytest.mark.slow
PROGRAM = load_program_text(example_config_text())


def test_a_till_cannot_spend_held_points_until_hq_releases_them(tmp_path, hub):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(a.store, name="Zoé", phone="+33622222222")
    record_sale(a.store, member.member_id, make_sale(total=1500))  # 150 + 5 + 50 = 205
    agent = a.agent(hub.url, a_token)
    assert agent.sync_once().error is None

    # a stolen till of another store mints 999,999 on a 0.01 sale for this member
    thief = "S009-T1"
    token = hub.add_terminal(thief)
    now = datetime.now(UTC)
    forged = seal(EventDraft(kind="earn", member_id=member.member_id, points=999_999,
                             amount=1, currency="EUR", ref=f"{thief}-000001",
                             data={"lines": [["OTHER", "", 1, 1]], "tier": "Green"}),
                  origin=thief, origin_seq=1, origin_epoch=1, prev_hash=GENESIS,
                  occurred_at=format_instant(now),
                  hlc=HybridClock().now(int(now.timestamp() * 1000)),
                  program_version=PROGRAM.version)
    r = httpx.post(f"{hub.url}/v1/sync/push", timeout=30,
                   headers={"Authorization": f"Bearer {token}"},
                   json={"origin": thief, "origin_epoch": 1, "events": [forged.to_dict()]})
    assert r.status_code == 200, r.text

    assert agent.sync_once().error is None  # the till pulls the member's snapshot
    state, summary = member_view(a.store, member.member_id)
    assert (summary.balance, summary.held) == (205 + 999_999, 999_999)
    assert summary.to_dict()["held_points"] == 999_999  # what `pos member --json` prints
    assert state.spendable == 205
    with pytest.raises(RedemptionError) as refused:  # 250: the balance covers it, not 205
        redeem_reward(a.store, member.member_id, "ten-off", found_by="qr")
    assert refused.value.code == "insufficient_points"

    flags = hub.admin("/v1/admin/flags", kind="points_held").json()["flags"]
    [flag] = [f for f in flags if f["member_id"] == member.member_id]
    hub_cli(hub.config, "flags", "resolve", str(flag["id"]), "--release", "--note", "ok")
    assert agent.sync_once().error is None
    assert member_view(a.store, member.member_id)[1].held == 0
    spent = redeem_reward(a.store, member.member_id, "ten-off", found_by="qr")
    assert spent.approved_offline and spent.points_spent == 250
