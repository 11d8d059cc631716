"""The status bar follows real state: the hub going unreachable (offline since when, for
how long, how many events wait) and the printer refusing a receipt."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from pos_agent.app.app import PosApp
from pos_agent.identity import init_terminal
from pos_agent.ledger import queued_count
from pos_agent.members import enrol
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.setup import build_agent
from tests.app.pilot_wait import until
from tests.example_config import write_example_config
from tests.printers.network_printer import network_printer_config, switched_off_port

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio


def status(app) -> str:
    return str(app.screen.query_one("#status").render())


async def test_status_bar_offline_and_printer_error(tmp_path: Path):
    hub_port, printer_port = switched_off_port(), switched_off_port()
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(network_printer_config(config.read_text(), printer_port))
    settings = load_settings(str(config))
    store = open_store(settings)
    init_terminal(store.db, "S001", "T1", hub_url=f"http://127.0.0.1:{hub_port}",
                  hub_token="token")
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    agent = build_agent(settings, store)
    assert agent is not None
    now = {"at": datetime.now(UTC)}
    app = PosApp(settings, agent=agent, store=store, clock=lambda: now["at"],
                 key_time=lambda event, keys=itertools.count(): next(keys) * 0.15)
    app.STATUS_EVERY_S = 0.1
    async with app.run_test(size=(120, 40)) as pilot:
        # the enrolment's card slip, made outside the app, is sent as it opens: refused
        app.receipts.wait()
        await until(pilot, lambda: "PRINTER ERROR" in status(app))
        assert status(app) == (
            f"S001-T1 | connecting to the hub, 2 queued\nPRINTER ERROR: printer at "
            f"127.0.0.1:{printer_port} refused the connection: is it switched on … | "
            "Bean & Crumb - Rue Oberkampf")
        assert [n.message for n in app._notifications][-1].startswith(
            "1 receipt(s) left from before NOT printed (printer at 127.0.0.1:")
        await pilot.press("f9")  # "sync now": the hub cannot be reached
        await until(pilot, lambda: agent.status.online is False)
        since = agent.status.offline_since
        assert since is not None
        now["at"] = since + timedelta(hours=1, minutes=5)
        await until(pilot, lambda: "(1h05m)" in status(app))  # the bar refreshes on its own
        local = since.astimezone(ZoneInfo("Europe/Paris")).strftime("%H:%M")
        queued = queued_count(store.conn)
        assert queued == 2  # the enrolment and its welcome bonus
        assert f"S001-T1 | OFFLINE since {local} (1h05m), 2 queued" in status(app)
        assert app.screen.query_one("#status").has_class("-alert")
        # a sale: recorded, its receipt refused by the printer
        await pilot.press(*ann.card_number, "enter", *"4.20", "enter", "f10", "enter")
        await until(pilot, lambda: "Receipt NOT printed" in str(
            app.screen.query_one("#message").render()))
        await until(pilot, lambda: "4 queued" in status(app))
        bar = status(app)
        assert f"PRINTER ERROR: printer at 127.0.0.1:{printer_port} refused the connection" \
            in bar
        assert f"(1h05m), {queued_count(store.conn)} queued" in bar
        assert queued_count(store.conn) == 4  # + the sale's earn and visit bonus
    assert store.conn.execute(
        "SELECT r.kind, j.status FROM print_jobs j JOIN receipts r USING (receipt_no) "
        "ORDER BY j.id").fetchall() == [("enrolment", "failed"), ("sale", "failed")]
