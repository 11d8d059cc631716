"""Staff in the terminal app (issue 16 part 4), driven with the pilot: the login screen at
start and after Lock, a void that needs a manager's own PIN and names them, and the open
till of a terminal that has no staff yet."""

from __future__ import annotations

import json

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.app.approval_screen import ApprovalScreen
from pos_agent.app.checkout_screen import CheckoutScreen
from pos_agent.app.login_screen import LoginScreen
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.hubdata import apply_pull_page
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.example_config import write_example_config
from tests.pos_agent.test_staff import BOSS, CATHY, PINS, pull_staff

from .test_checkout_flows import KeyClock, rows

pytestmark = pytest.mark.asyncio


@pytest.fixture
def store(tmp_path):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    return store


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def app_for(store) -> PosApp:
    return PosApp(store.settings, store=store, key_time=KeyClock())


async def log_in(pilot, staff_id: str, pin: str) -> None:
    await pilot.press(*staff_id, "enter", *pin, "enter")
    await pilot.pause()


async def test_the_cashier_logs_in_with_their_pin_and_locks_the_till(store):
    pull_staff(store)
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await pilot.press("escape")  # no way around the login
        assert isinstance(app.screen, LoginScreen)
        await log_in(pilot, CATHY, "9999")
        assert isinstance(app.screen, LoginScreen)
        assert "wrong PIN for Cathy Cashier (staff 2): 4 more wrong tries lock it" in \
            text_of(app, "#error")
        await pilot.press(*PINS[CATHY], "enter")  # the number stays, the PIN is typed again
        await pilot.pause()
        assert isinstance(app.screen, CheckoutScreen) and store.staff_id == CATHY
        assert "Cathy Cashier (cashier)" in text_of(app, "#status")
        assert "Logged in: Cathy Cashier (cashier)." in text_of(app, "#message")
        assert ("F11", "Lock") in app.screen.query_one("#keys").keys
        await pilot.press("enter", *"5.00", "enter", "f10", "enter")  # without a member
        await pilot.pause()
        await pilot.press("f11")
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen) and store.staff_id is None
        await log_in(pilot, BOSS, PINS[BOSS])
        assert store.staff_id == BOSS and "Max Manager (manager)" in text_of(app, "#status")
    details = json.loads(rows(store, "SELECT details FROM receipts")[0][0])
    assert details["staff_id"] == CATHY


async def test_a_void_needs_a_managers_own_pin_and_names_them(store):
    pull_staff(store)
    store.staff_id = CATHY
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = record_sale(store, ann.member_id, make_sale(total=2000))
    store.staff_id = None
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await log_in(pilot, CATHY, PINS[CATHY])
        await pilot.press("f4", *sale.receipt_no, "enter")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert f"Manager approval for void {sale.receipt_no}" in text_of(app, "#title")
        await pilot.press("escape")  # cancelled: nothing voided
        await pilot.pause()
        assert f"Not approved (void {sale.receipt_no}): nothing was done." in \
            text_of(app, "#message")
        await pilot.press("f4", *sale.receipt_no, "enter")
        await log_in(pilot, CATHY, PINS[CATHY])  # the cashier's own PIN does not approve
        assert isinstance(app.screen, ApprovalScreen)
        assert "is a cashier: a manager must enter their own PIN" in text_of(app, "#error")
        app.screen.query_one("#staff").value = ""
        app.screen.query_one("#staff").focus()
        await log_in(pilot, BOSS, PINS[BOSS])
        assert isinstance(app.screen, CheckoutScreen)
        assert f"Voided {sale.receipt_no}: 205 Stars taken back." in text_of(app, "#message")
    [(data,)] = rows(store, "SELECT data FROM events WHERE kind = 'reverse'")
    assert json.loads(data)["approved_by"] == BOSS and json.loads(data)["staff_id"] == CATHY
    assert rows(store, "SELECT voided_by IS NOT NULL FROM receipts WHERE receipt_no = ?",
                sale.receipt_no) == [(1,)]


async def test_a_till_without_staff_runs_open_until_staff_arrive(store):
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert isinstance(app.screen, CheckoutScreen)
        assert not [k for k in app.screen.query_one("#keys").keys if k[1] == "Lock"]
        await pilot.press("f12")  # no approval asked on an open till
        await pilot.pause()
        assert isinstance(app.screen, ManagerScreen)
        await pilot.press("escape")
        # the first pull that brings staff brings the login with it
        pull_staff(store)
        app.refresh_status()
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        await log_in(pilot, BOSS, PINS[BOSS])
        assert isinstance(app.screen, CheckoutScreen)
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert app.screen.query_one("#staff").value == BOSS  # the manager logged in
        await pilot.press(*PINS[BOSS], "enter")
        await pilot.pause()
        assert isinstance(app.screen, ManagerScreen)
        # disabled at HQ while logged in: the till asks for a login again
        apply_pull_page(store, [{"type": "staff", "change_seq": 9, "staff_id": BOSS,
                                 "active": False}], 9)
        app.refresh_status()
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen) and store.staff_id is None


async def test_a_return_above_the_approval_amount_asks_a_manager(store):
    """Returning 20.00 of beans on a till whose `refund_approval_above` is 10.00: the
    cashier's return waits for a manager's own PIN, and the return names them."""
    from loyalty.basket import Basket, add_item
    from loyalty.tender import cash
    from pos_agent.app.return_screen import ReturnScreen
    from pos_agent.operations import checkout

    pull_staff(store)
    store.settings.terminal.refund_approval_above = "10.00"
    store.staff_id = CATHY
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    basket = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                      tax_rate=1000)
    basket = add_item(basket, sku="BEANS", name="Beans", category="retail", unit_price=2000,
                      tax_rate=550)
    sale = checkout(store, ann.member_id, basket, [], [cash(2350)])
    store.staff_id = None
    app = app_for(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await log_in(pilot, CATHY, PINS[CATHY])
        await pilot.press("f7", *sale.receipt_no, "enter")
        await pilot.pause()
        assert isinstance(app.screen, ReturnScreen)
        await pilot.press("down", "plus", "enter", *"broken bag", "enter")  # line 2: beans
        await pilot.pause()
        assert isinstance(app.screen, ApprovalScreen)
        assert f"the return on {sale.receipt_no}" in text_of(app, "#title")
        assert rows(store, "SELECT COUNT(*) FROM events WHERE kind = 'reverse'") == [(0,)]
        await log_in(pilot, BOSS, PINS[BOSS])
        assert isinstance(app.screen, CheckoutScreen)
        assert f"Returned 1 item of {sale.receipt_no}: give back cash 20.00" in \
            text_of(app, "#message")
    [(data,)] = rows(store, "SELECT data FROM events WHERE kind = 'reverse'")
    assert json.loads(data)["approved_by"] == BOSS and json.loads(data)["staff_id"] == CATHY
    [(details,)] = rows(store, "SELECT details FROM receipts WHERE kind = 'refund'")
    assert json.loads(details)["approved_by"] == BOSS
