"""Inside the terminal app the agent syncs in the background: a sale made at the counter
reaches the hub without anyone asking, and the status bar says the terminal is online."""

from __future__ import annotations

import asyncio

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.members import enrol
from pos_agent.operations import record_sale

from .conftest import make_terminal
from .test_sync_faults import hub_events, local_events

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]


async def test_app_syncs_in_the_background(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(t.store, name="Ann", phone="+33633333333")
    record_sale(t.store, member.member_id, make_sale(total=1000))
    agent = t.agent(hub.url, token, interval_s=0.5)
    app = PosApp(t.settings, agent=agent, store=t.store)
    async with app.run_test(size=(120, 30)) as pilot:
        for _ in range(100):
            await asyncio.sleep(0.1)
            if agent.status.online and agent.status.queued == 0:
                break
        app.refresh_status()
        await pilot.pause()
        bar = str(app.screen.query_one("#status").render())
        assert "online, 0 queued" in bar
    assert hub_events(hub, t.origin) == local_events(t)
