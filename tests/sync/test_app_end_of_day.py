"""The manager's end-of-day sync in the app: behind the PIN, with a progress bar and a
summary, against a real hub."""

from __future__ import annotations

import asyncio

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.ledger import queued_count
from pos_agent.members import enrol
from pos_agent.operations import record_sale

from .conftest import make_terminal
from .test_sync_faults import hub_events, local_events

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]


async def test_manager_pin_and_end_of_day_sync(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(t.store, name="Ann", phone="+33644444444")
    agent = t.agent(hub.url, token, interval_s=3600)  # no background cycle during the test
    app = PosApp(t.settings, agent=agent, store=t.store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f12", *"0000", "enter")
        await pilot.pause()
        assert not isinstance(app.screen, ManagerScreen)
        assert "Wrong manager PIN" in str(app.screen.query_one("#message").render())
        await pilot.press("f12", *t.settings.terminal.manager_pin, "enter")
        await pilot.pause()
        assert isinstance(app.screen, ManagerScreen)
        for _ in range(50):  # the background agent's first cycle at start-up
            await asyncio.sleep(0.1)
            if agent.status.online:
                break
        for _ in range(3):  # sales made since: the end-of-day run must send them
            record_sale(t.store, member.member_id, make_sale(total=700))
        queued = queued_count(t.store.conn)
        assert queued >= 3
        await pilot.press("s")
        summary = ""
        for _ in range(100):
            await asyncio.sleep(0.1)
            summary = str(app.screen.query_one("#sync-summary").render())
            if "End-of-day sync" in summary:
                break
        assert "0 still queued" in summary, summary
        assert f"sent {queued} events" in summary
        bar = app.screen.query_one("#progress")
        assert bar.progress == bar.total == queued
    assert hub_events(hub, t.origin) == local_events(t)
