"""A member's consent changed at the hub (their page, `hub.web.member_data.set_consent`)
reaches the till with the next pull: the till's copy of the member says what they chose."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from hub.context import HubContext
from hub.settings import load_settings as load_hub_settings
from hub.web.member_data import set_consent
from pos_agent.members import enrol

from .conftest import make_terminal

pytestmark = pytest.mark.slow


def test_consent_set_online_reaches_the_till(tmp_path, hub):
    till, token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(till.store, name="Zoé", phone="+33622222222", consent_email=True)
    agent = till.agent(hub.url, token)
    assert agent.sync_once().error is None
    ctx = HubContext.from_settings(load_hub_settings(str(hub.config)))
    try:
        with ctx.db.write() as conn:
            set_consent(conn, ctx.db, member.member_id, email=False, sms=True, source="web",
                        now=datetime.now(UTC))
    finally:
        ctx.close()
    assert agent.sync_once().error is None
    row = till.store.conn.execute("SELECT consent_email, consent_sms FROM members WHERE "
                                  "member_id = ?", (member.member_id,)).fetchone()
    assert tuple(row) == (0, 1)
