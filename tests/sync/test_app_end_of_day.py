"""The manager's end-of-day sync in the app: behind the manager's own PIN (staff set up
at the hub and pulled), with a progress bar and a summary, against a real hub."""

from __future__ import annotations

import asyncio
import json
import subprocess

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.app.approval_screen import ApprovalScreen
from pos_agent.app.login_screen import LoginScreen
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.ledger import queued_count
from pos_agent.members import enrol
from pos_agent.operations import record_sale

from .conftest import BIN, make_terminal
from .test_sync_faults import hub_events, local_events

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]


def add_staff(hub, name: str, role: str, pin: str) -> str:
    done = subprocess.run([str(BIN / "pos-hub"), "staff", "add", name, "--role", role,
                           "--store", "S001", "--pin-stdin", "--json", "--config",
                           str(hub.config)], input=f"{pin}\n", capture_output=True, text=True,
                          cwd=hub.folder, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return str(json.loads(done.stdout)["staff_id"])


async def test_manager_pin_and_end_of_day_sync(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(t.store, name="Ann", phone="+33644444444")  # no staff yet: an open till
    boss = add_staff(hub, "Max Manager", "manager", "5930")
    cashier = add_staff(hub, "Cathy Cashier", "cashier", "4821")
    agent = t.agent(hub.url, token, interval_s=3600)  # no background cycle during the test
    assert agent.sync_once().error is None  # the staff arrive with the pull
    app = PosApp(t.settings, agent=agent, store=t.store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await pilot.press(*cashier, "enter", *"4821", "enter")
        await pilot.pause()
        assert app.staff is not None and app.staff.name == "Cathy Cashier"
        # the manager screen needs a manager's own PIN: not the cashier's, not a wrong one
        await pilot.press("f12", *cashier, "enter", *"4821", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert "is a cashier: a manager must enter their own PIN" in str(
            app.screen.query_one("#error").render())
        await pilot.press("escape", "f12", *boss, "enter", *"0000", "enter")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert "wrong PIN for Max Manager" in str(app.screen.query_one("#error").render())
        await pilot.press(*"5930", "enter")
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
    # what the cashier's till recorded names her: the three sales' events
    data = [json.loads(d) for (d,) in t.store.conn.execute(
        "SELECT data FROM events WHERE kind = 'earn' ORDER BY event_key")]
    assert [d.get("staff_id") for d in data] == [cashier] * 3
