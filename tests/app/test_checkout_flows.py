"""The terminal app driven as a cashier would, with Textual's pilot; every flow checked
against the rows it leaves in the terminal database and the print jobs it queued."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio


@pytest.fixture
def store(tmp_path: Path):
    config = tmp_path / "pos.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    settings = load_settings(str(config))
    store = open_store(settings)
    init_terminal(store.db, "S001", "T1")
    return store


def rows(store, sql: str, *params) -> list[tuple]:
    return store.conn.execute(sql, params).fetchall()


async def type_text(pilot, text: str) -> None:
    await pilot.press(*list(text))


async def test_scan_member_and_ring_up_a_sale(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    app = PosApp(store.settings, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.qr_payload)
        await pilot.press("enter")
        await pilot.pause()
        panel = str(app.screen.query_one("#member").render())
        assert "Ann Lee" in panel and "50 Stars" in panel
        await type_text(pilot, "12.50")
        await pilot.pause()
        preview = str(app.screen.query_one("#preview").render())
        assert "125 Stars" in preview
        await pilot.press("enter")
        await pilot.pause()
        message = str(app.screen.query_one("#message").render())
        assert "Sale S001-T1-000002 recorded, +130 Stars" in message
    assert rows(store, "SELECT kind, points, amount FROM events WHERE ref = 'S001-T1-000002' "
                       "ORDER BY origin_seq") == [("earn", 125, 1250), ("bonus", 5, 0)]
    assert rows(store, "SELECT status FROM print_jobs WHERE receipt_no = 'S001-T1-000002'") == [
        ("printed",)]


async def test_unknown_member_keeps_what_was_typed(store):
    app = PosApp(store.settings, store=store)
    async with app.run_test(size=(80, 24)) as pilot:
        await type_text(pilot, "6000000000000000")
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#member-input").value == "6000000000000000"
        assert "6000000000000000" in str(app.screen.query_one("#message").render()) or \
            "not" in str(app.screen.query_one("#message").render()).lower()
    assert rows(store, "SELECT COUNT(*) FROM events") == [(0,)]


async def test_redeem_enrol_void_and_checkin(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = record_sale(store, ann.member_id, make_sale(total=2000))  # 200 + 5 + 50 welcome
    app = PosApp(store.settings, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.card_number)
        await pilot.press("enter", "f2")
        await pilot.pause()
        options = app.screen.query_one("#rewards")
        labels = [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]
        assert labels[0].startswith("Free latte") and all("Gold" not in x for x in labels)
        await pilot.press("enter")  # the first reward: Free latte, 150
        await pilot.pause()
        message = str(app.screen.query_one("#message").render())
        assert "Free latte: 150 spent, approved OFFLINE" in message
        # void the earlier sale
        await pilot.press("f4")
        await type_text(pilot, sale.receipt_no)
        await pilot.press("enter")
        await pilot.pause()
        assert f"Voided {sale.receipt_no}" in str(app.screen.query_one("#message").render())
        # enrol a new member
        await pilot.press("f3")
        await type_text(pilot, "Bob")
        await pilot.press("enter")
        await type_text(pilot, "+33698765432")
        await pilot.press("f10")
        await pilot.pause()
        assert "Welcome Bob" in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT kind FROM receipts ORDER BY created_at, receipt_no")[-3:] == [
        ("redemption",), ("void",), ("enrolment",)]
    balance = rows(store, "SELECT balance FROM member_balances WHERE member_id = ?",
                   ann.member_id)
    assert balance == [(255 - 150 - 205,)]
    assert rows(store, "SELECT COUNT(*) FROM members WHERE name = 'Bob'") == [(1,)]
    # the three receipts made in the app were printed; the two made before it are queued
    printed = rows(store, "SELECT r.kind FROM print_jobs j JOIN receipts r USING (receipt_no) "
                          "WHERE j.status = 'printed' ORDER BY j.id")
    assert printed == [("redemption",), ("void",), ("enrolment",)]


async def test_refund_by_receipt_number(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = record_sale(store, ann.member_id, make_sale(total=1000))  # 100 + 5 visit
    app = PosApp(store.settings, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f7")
        await type_text(pilot, f"{sale.receipt_no} 4.00")
        await pilot.press("enter")
        await pilot.pause()
        assert f"Refunded 4.00 of {sale.receipt_no}: 40 points" in str(
            app.screen.query_one("#message").render())
    assert rows(store, "SELECT points, amount FROM events WHERE kind = 'reverse'") == [
        (-40, -400)]


async def test_serial_scanner_feeds_the_member_input(store):
    import serial

    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    port = serial.serial_for_url("loop://", timeout=0.2)
    app = PosApp(store.settings, store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.attach_scanner(port)
        port.write(ann.qr_payload.encode() + b"\r\n")
        for _ in range(50):
            await pilot.pause(0.05)
            if "Ann Lee" in str(app.screen.query_one("#member").render()):
                break
        assert "Ann Lee" in str(app.screen.query_one("#member").render())
        assert app.screen.member.found_by == "qr"
        await type_text(pilot, "5")
        await pilot.press("enter")
        await pilot.pause()
    assert rows(store, "SELECT amount FROM events WHERE kind = 'earn'") == [(500,)]
