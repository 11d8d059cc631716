"""The checkout as a basket, driven through the app as a cashier would: products by barcode
and by name, quantity, remove, price override, a reward on the ticket, a split tender with
change, park and recall, and a return by line from the recent receipts or the receipt's own
barcode. Each checked against what the terminal database holds afterwards."""

from __future__ import annotations

import json

import pytest

from pos_agent.app.checkout_screen import CheckoutScreen
from pos_agent.app.return_screen import ReturnScreen
from pos_agent.app.tender_screen import TenderScreen
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from tests.app.catalogue_seed import seed_catalogue
from tests.app.test_checkout_flows import (
    KeyClock,
    balance,
    cashier_app,
    keys_with_gap,
    rows,
    type_text,
)

pytestmark = pytest.mark.asyncio


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


def details(store, receipt_no: str) -> dict:
    return json.loads(rows(store, "SELECT details FROM receipts WHERE receipt_no = ?",
                           receipt_no)[0][0])


async def add(pilot, *entries: str) -> None:
    for entry in entries:
        await type_text(pilot, entry)
        await pilot.press("enter")
    await pilot.pause()


async def test_basket_edit_reward_split_tender_and_change(store):
    from loyalty.sale import SaleLine, make_sale

    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    record_sale(store, ann.member_id, make_sale([SaleLine("BEANS", "retail", 1, 2000)]))
    codes = seed_catalogue(store)
    before = balance(store, ann.member_id)  # 50 welcome + 200 + 5 visit
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await add(pilot, ann.qr_payload)
        await add(pilot, codes["LATTE"], codes["CROISSANT"])  # typed barcodes
        screen = app.screen
        assert [(ln.sku, ln.qty) for ln in screen.basket.lines] == [("LATTE", 1),
                                                                     ("CROISSANT", 1)]
        await add(pilot, "blend")  # a name fitting two products: the cashier chooses
        assert "2 products match 'blend'" in text_of(app, "#prompt Label")
        await pilot.press("enter")  # the first: by name, "House blend beans 1 kg"
        await pilot.pause()
        assert [ln.sku for ln in screen.basket.lines] == ["LATTE", "CROISSANT", "BEANS"]
        await pilot.press("ctrl+l")  # the highlighted line (the last added): removed
        await pilot.pause()
        assert "Line 3 (House blend beans 1 kg) removed." in text_of(app, "#message")
        await pilot.press("up", "ctrl+n")  # line 1, the latte: quantity 3
        await pilot.press("3", "enter")
        await pilot.pause()
        assert screen.basket.line(1).qty == 3
        await pilot.press("ctrl+o")  # a price override needs a reason
        await type_text(pilot, "3.00")
        await pilot.press("enter")
        await pilot.pause()
        assert "has another price" in text_of(app, "#message")
        await pilot.press("ctrl+o")
        await type_text(pilot, "3.00 cup chipped")
        await pilot.press("enter")
        await pilot.pause()
        assert "TOTAL 10.80 EUR" in text_of(app, "#totals")  # 3 x 3.00 + 1.80
        assert "Earns 108 Stars" in text_of(app, "#preview")
        # 10% off the basket: a discount line on the ticket, what it earns drops with it
        await pilot.press("f2")
        await pilot.pause()
        options = app.screen.query_one("#rewards")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        ten = next(i for i, label in enumerate(labels) if label.startswith("10% off"))
        await pilot.press(*["down"] * ten, "enter", "enter")
        await pilot.pause()
        assert "10% off your basket on the ticket: -1.08" in text_of(app, "#message")
        totals = text_of(app, "#totals")
        assert "Discounts -1.08" in totals and "TOTAL 9.72 EUR" in totals
        assert "Earns 97 Stars" in text_of(app, "#preview")
        assert balance(store, ann.member_id) == before  # nothing is spent before tender
        # a split tender: 5.00 by card, 10.00 in cash, 5.28 change
        await pilot.press("f10")
        await pilot.pause()
        assert isinstance(app.screen, TenderScreen)
        await type_text(pilot, "20.00")
        await pilot.press("f2")  # a card gives no change: refused, nothing taken
        await pilot.pause()
        assert "a card payment gives no change" in text_of(app, "#tender-message")
        await pilot.press("ctrl+u")
        await type_text(pilot, "5.00")
        await pilot.press("f2")
        await pilot.pause()
        assert "Left to pay 4.72" in text_of(app, "#tenders")
        await type_text(pilot, "10.00")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckoutScreen)
        message = text_of(app, "#message")
        assert "recorded, +97 Stars, -250 Stars. Total 9.72, paid card 5.00, cash 10.00, " \
               "CHANGE 5.28" in message
        assert app.screen.member is None and not app.screen.basket.lines
    receipt_no = rows(store, "SELECT receipt_no FROM receipts WHERE kind = 'sale' "
                             "ORDER BY receipt_no DESC LIMIT 1")[0][0]
    d = details(store, receipt_no)
    assert [(ln["sku"], ln["qty"], ln["unit_price"], ln.get("override_reason"))
            for ln in d["lines"]] == [("LATTE", 3, 300, "cup chipped"),
                                      ("CROISSANT", 1, 180, None)]
    assert d["discounts"] == [{"label": "10% off your basket", "amount": 108,
                               "reward_id": "ten-off"}]
    assert d["tenders"] == [{"kind": "card", "amount": 500}, {"kind": "cash", "amount": 1000}]
    assert d["change"] == 528
    events = rows(store, "SELECT kind, points FROM events WHERE ref = ? ORDER BY origin_seq",
                  receipt_no)
    assert events == [("redeem", -250), ("earn", 97)]  # the day's visit bonus came before
    assert balance(store, ann.member_id) == before - 250 + 97


async def test_park_and_recall_a_basket_with_its_member(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    seed_catalogue(store)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert "The basket is empty: nothing to park." in text_of(app, "#message")
        await add(pilot, ann.card_number, "2*latte")
        await pilot.press("ctrl+p")
        await pilot.pause()
        assert "Basket parked (2 items, 7.00 - Ann Lee): Ctrl+R recalls it." in text_of(
            app, "#message")
        assert app.screen.member is None and not app.screen.basket.lines
        assert rows(store, "SELECT label, member_id FROM parked_baskets") == [
            ("2 items, 7.00 - Ann Lee", ann.member_id)]
        await add(pilot, "", "croissant")  # the next customer, no member
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "Pay or park this basket first" in text_of(app, "#message")
        await pilot.press("f10", "enter")  # the croissant, exact cash
        await pilot.pause()
        assert "recorded without a member" in text_of(app, "#message")
        await pilot.press("ctrl+r")
        await pilot.pause()
        assert "1 parked basket(s)" in text_of(app, "#prompt Label")
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert screen.member.member_id == ann.member_id
        assert [(ln.sku, ln.qty) for ln in screen.basket.lines] == [("LATTE", 2)]
        assert "TOTAL 7.00 EUR" in text_of(app, "#totals")
        assert rows(store, "SELECT COUNT(*) FROM parked_baskets") == [(0,)]
        await pilot.press("f10", "enter")
        await pilot.pause()
        assert "recorded, +75 Stars" in text_of(app, "#message")  # 70 + the visit
    assert rows(store, "SELECT member_id, total FROM receipts WHERE kind = 'sale' "
                       "ORDER BY receipt_no") == [(None, 180), (ann.member_id, 700)]


async def test_esc_twice_drops_a_basket_once_warns(store):
    seed_catalogue(store)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await add(pilot, "", "latte")
        await pilot.press("escape")
        await pilot.pause()
        assert "Esc again drops this basket" in text_of(app, "#message")
        assert app.screen.basket.lines
        await pilot.press("escape")
        await pilot.pause()
        assert not app.screen.basket.lines
        assert "Basket empty" in text_of(app, "#totals")
    assert rows(store, "SELECT COUNT(*) FROM receipts") == [(0,)]


async def test_return_a_line_from_the_recent_receipts_and_by_its_barcode(store):
    """The croissant of a latte + croissant sale comes back: exactly its pastry stamp and
    its points are taken back, the coffee card keeps its stamps; then the receipt's own
    barcode, scanned on the checkout, opens the same receipt for the lattes."""
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    seed_catalogue(store)
    clock = KeyClock()
    app = cashier_app(store, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await add(pilot, ann.qr_payload, "2*latte", "croissant")
        await pilot.press("f10", "enter")
        await pilot.pause()
        sale = rows(store, "SELECT receipt_no FROM receipts WHERE kind = 'sale'")[0][0]
        stamps = rows(store, "SELECT stamps FROM events WHERE ref = ? AND kind = 'earn'",
                      sale)
        assert json.loads(stamps[0][0]) == {"coffee": 2, "pastry": 1}
        after_sale = balance(store, ann.member_id)
        await pilot.press("f7")
        await pilot.pause()
        assert isinstance(app.screen, ReturnScreen)
        await pilot.press("down", "enter")  # the newest receipt: this sale
        await pilot.pause()
        await pilot.press("down", "plus", "enter")  # line 2 (the croissant), one unit
        await type_text(pilot, "stale")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, CheckoutScreen)
        assert (f"Returned 1 item of {sale}: give back cash 1.80; 18 Stars taken back."
                in text_of(app, "#message"))
        reverse = rows(store, "SELECT points, stamps FROM events WHERE kind = 'reverse'")
        assert [(p, json.loads(s)) for p, s in reverse] == [(-18, {"pastry": -1})]
        assert balance(store, ann.member_id) == after_sale - 18
        # the receipt's Code128 barcode (its number), read by a keyboard-wedge scanner
        await keys_with_gap(pilot, clock, [*sale, "enter"], 0.008)
        await pilot.pause()
        assert isinstance(app.screen, ReturnScreen)
        await pilot.press("plus", "plus", "enter")  # line 1 (the lattes): both
        await type_text(pilot, "wrong order")
        await pilot.press("enter")
        await pilot.pause()
        assert f"Returned 2 items of {sale}" in text_of(app, "#message")
    reverse = rows(store, "SELECT points, stamps FROM events WHERE kind = 'reverse' "
                          "ORDER BY origin_seq")
    assert [json.loads(s) for _, s in reverse] == [{"pastry": -1}, {"coffee": -2}]
    # every line back: the member is where they were before the sale (welcome points)
    assert balance(store, ann.member_id) == 50
    refunds = rows(store, "SELECT total FROM receipts WHERE kind = 'refund' ORDER BY "
                          "receipt_no")
    assert refunds == [(-180,), (-700,)]


async def test_a_wedge_scan_of_a_product_and_a_typed_voucher_code(store):
    """A product's EAN read by a keyboard-wedge scanner lands in the basket whatever field
    has the focus; the member's voucher typed by its code goes on the ticket (the member was
    found by their QR: proof enough)."""
    from tests.app.test_checkout_flows import voucher_member

    ann, code = voucher_member(store)
    codes = seed_catalogue(store)
    clock = KeyClock()
    app = cashier_app(store, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await keys_with_gap(pilot, clock, [*ann.qr_payload, "enter"], 0.008)  # scanned QR
        await pilot.pause()
        assert app.screen.member.found_by == "qr"
        app.screen.query_one("#member-input").focus()
        await keys_with_gap(pilot, clock, [*codes["FILTER"], "enter"], 0.008)
        await pilot.pause()
        assert [(ln.sku, ln.qty) for ln in app.screen.basket.lines] == [("FILTER", 1)]
        assert app.screen.query_one("#member-input").value == ""
        await keys_with_gap(pilot, clock, [*code.lower(), "enter"], 0.2)  # typed by hand
        await pilot.pause()
        assert "Free filter coffee on the ticket: -2.20" in text_of(app, "#message")
        assert "TOTAL 0.00 EUR" in text_of(app, "#totals")
        await pilot.press("f10")  # nothing to pay: recorded at once
        await pilot.pause()
        assert "recorded" in text_of(app, "#message")
    receipt_no = rows(store, "SELECT receipt_no FROM receipts WHERE kind = 'sale' "
                             "ORDER BY receipt_no DESC LIMIT 1")[0][0]
    assert rows(store, "SELECT json_extract(data, '$.voucher_used') FROM events WHERE "
                       "ref = ? AND kind = 'redeem'", receipt_no) == [(code,)]
    assert details(store, receipt_no)["tenders"] == []
