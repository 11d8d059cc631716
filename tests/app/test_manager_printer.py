"""The manager's printer screen, driven with the pilot against a real network printer on
127.0.0.1: receipts refused while the printer is off show as failed with the reason; once
it is on, "retry printing" delivers them and the test page prints."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.example_config import write_example_config
from tests.printers.network_printer import (
    NetworkPrinter,
    network_printer_config,
    switched_off_port,
)

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_printer_status_retry_and_test_page(tmp_path: Path):
    port = switched_off_port()
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(network_printer_config(config.read_text(), port))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = record_sale(store, ann.member_id, make_sale(total=1250))
    app = PosApp(store.settings, store=store,
                 key_time=lambda event, keys=itertools.count(): next(keys) * 0.15)
    printer = None
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            app.receipts.wait()  # the two receipts left queued: refused, printer is off
            await pilot.press("f12", *"1234", "enter")
            await pilot.pause()
            assert isinstance(app.screen, ManagerScreen)
            queue = text_of(app, "#queue")
            assert "Printer network: 2 job(s) not printed" in queue
            assert f"{sale.receipt_no}: failed printer at 127.0.0.1:{port} refused" in queue

            printer = NetworkPrinter(port)  # switched on
            await pilot.press("p")
            app.receipts.wait()
            await pilot.pause()
            assert [n.message for n in app._notifications][-1] == (
                "Retry: 2 of 2 receipt(s) printed.")
            assert "Printer network: 0 job(s) not printed" in text_of(app, "#queue")

            await pilot.press("t")
            app.receipts.wait()
            await pilot.pause()
            assert [n.message for n in app._notifications][-1] == "Test page printed."
            await pilot.press("p")  # nothing left: says so
            app.receipts.wait()
            await pilot.pause()
            assert [n.message for n in app._notifications][-1] == (
                "Retry: nothing was waiting to print.")
    finally:
        if printer is not None:
            printer.close()
    assert printer is not None and len(printer.jobs) == 3
    slip, receipt, test_page = printer.jobs
    assert ann.card_number.encode() in slip
    assert sale.receipt_no.encode() in receipt and b"12.50" in receipt
    assert b"Bean & Crumb" in test_page and b"\x1dV" in test_page  # header, paper cut
    assert store.conn.execute(
        "SELECT kind, status, attempts FROM print_jobs ORDER BY id").fetchall() == [
        ("enrolment", "printed", 2), ("sale", "printed", 2), ("test", "printed", 1)]
