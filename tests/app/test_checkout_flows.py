"""The terminal app driven as a cashier would, with Textual's pilot; every flow checked
against the rows it leaves in the terminal database and the print jobs it queued."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.pins import set_member_pin
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.app.pilot_wait import until
from tests.example_config import write_example_config

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.asyncio


def rows(store, sql: str, *params) -> list[tuple]:
    return store.conn.execute(sql, params).fetchall()


class KeyClock:
    """The arrival time of each key, for the app's scanner recogniser: by default a person
    typing (0.15 s between keys); `burst()` plays a keyboard-wedge scanner."""

    def __init__(self, gap: float = 0.15) -> None:
        self.t = 1000.0
        self.gap = gap

    def __call__(self, event) -> float:
        self.t += self.gap
        return self.t


def cashier_app(store, clock: KeyClock | None = None) -> PosApp:
    return PosApp(store.settings, store=store, key_time=clock or KeyClock())


async def type_text(pilot, text: str) -> None:
    await pilot.press(*list(text))


async def pay_exact(pilot) -> None:
    """F10 then Enter on the empty amount: the exact cash left; the sale is recorded."""
    await pilot.press("f10", "enter")
    await pilot.pause()


async def open_redeem(pilot, app, member: str) -> list[str]:
    """Find the member (card, phone or QR), press F2; the labels of the redeem list."""
    await type_text(pilot, member)
    await pilot.press("enter", "f2")
    await pilot.pause()
    options = app.screen.query_one("#rewards")
    return [str(options.get_option_at_index(i).prompt) for i in range(options.option_count)]


async def keys_with_gap(pilot, clock: KeyClock, keys: list[str], gap: float) -> None:
    """`keys` `gap` seconds apart, after a pause."""
    clock.t += 1.0
    clock.gap = gap
    await pilot.press(*keys)


async def test_scan_member_and_ring_up_a_sale(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.qr_payload)
        await pilot.press("enter")
        await pilot.pause()
        panel = str(app.screen.query_one("#member").render())
        assert "Ann Lee" in panel and "50 Stars" in panel
        await type_text(pilot, "12.50")
        await pilot.press("enter")  # an item without a barcode, by its amount
        await pilot.pause()
        preview = str(app.screen.query_one("#preview").render())
        assert "Earns 125 Stars" in preview
        assert "TOTAL 12.50 EUR" in str(app.screen.query_one("#totals").render())
        await pay_exact(pilot)
        message = str(app.screen.query_one("#message").render())
        assert "Sale S001-T1-000002 recorded, +130 Stars" in message
        app.receipts.wait()  # the receipt goes out in the background, then the line says so
        await pilot.pause()
        message = str(app.screen.query_one("#message").render())
        assert message == ("Sale S001-T1-000002 recorded, +130 Stars. Total 12.50, paid cash "
                           "12.50. Balance 180 Stars. Receipt printed.")
        # the basket and the member are cleared for the next customer
        assert app.screen.member is None and not app.screen.basket.lines
        assert "No member yet." in str(app.screen.query_one("#member").render())
    assert rows(store, "SELECT kind, points, amount FROM events WHERE ref = 'S001-T1-000002' "
                       "ORDER BY origin_seq") == [("earn", 125, 1250), ("bonus", 5, 0)]
    assert rows(store, "SELECT status FROM print_jobs WHERE receipt_no = 'S001-T1-000002'") == [
        ("printed",)]


async def test_unknown_member_keeps_what_was_typed(store):
    app = cashier_app(store)
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
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.qr_payload)  # the QR: proof enough
        await pilot.press("enter")
        await type_text(pilot, "latte")
        await pilot.press("enter")
        await type_text(pilot, "croissant")
        await pilot.press("enter", "f2")
        await pilot.pause()
        options = app.screen.query_one("#rewards")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        assert labels[0].startswith("Free latte") and all("Gold" not in x for x in labels)
        await pilot.press("enter")  # the first reward: Free latte, 150
        await pilot.pause()
        assert "Free latte for 150 Stars; balance after: 105 Stars." in str(
            app.screen.query_one("#confirm").render())
        await pilot.press("enter")  # confirm: on the ticket, nothing spent yet
        await pilot.pause()
        assert "Free latte on the ticket: -3.50 (recorded at payment, F10)." in str(
            app.screen.query_one("#message").render())
        assert "TOTAL 1.80 EUR" in str(app.screen.query_one("#totals").render())
        assert balance(store, ann.member_id) == 255
        await pay_exact(pilot)
        message = str(app.screen.query_one("#message").render())
        assert "Sale S001-T1-000003 recorded, +18 Stars, -150 Stars. Total 1.80" in message
        # void the earlier sale
        await pilot.press("f4")
        await type_text(pilot, sale.receipt_no)
        await pilot.press("enter")
        await pilot.pause()
        assert f"Voided {sale.receipt_no}: 205 Stars taken back." in str(
            app.screen.query_one("#message").render())
        # enrol a new member
        await pilot.press("f3")
        await type_text(pilot, "Bob")
        await pilot.press("enter")
        await type_text(pilot, "+33698765432")
        await pilot.press("f10")
        await pilot.pause()
        assert "Welcome Bob" in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT kind FROM receipts ORDER BY created_at, receipt_no")[-3:] == [
        ("sale",), ("void",), ("enrolment",)]
    assert rows(store, "SELECT kind, points, json_extract(data, '$.reward_id') FROM events "
                       "WHERE ref = 'S001-T1-000003' ORDER BY origin_seq") == [
        ("redeem", -150, "free-latte"), ("earn", 18, None)]
    assert balance(store, ann.member_id) == 255 - 150 + 18 - 205
    assert rows(store, "SELECT COUNT(*) FROM members WHERE name = 'Bob'") == [(1,)]
    # the two receipts queued before the app started were sent when it opened, then the
    # three made in it
    printed = rows(store, "SELECT r.kind FROM print_jobs j JOIN receipts r USING (receipt_no) "
                          "WHERE j.status = 'printed' ORDER BY j.printed_at, j.id")
    assert printed == [("enrolment",), ("sale",), ("sale",), ("void",), ("enrolment",)]


async def test_receipts_left_queued_are_printed_at_start(store, tmp_path):
    """Receipts committed but never printed (the app was closed, the power cut between
    commit and print) go out when the app opens, to the printer in the config, in order;
    a job that already failed waits for the manager's retry."""
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    failed = record_sale(store, ann.member_id, make_sale(total=500))
    store.db.execute("UPDATE print_jobs SET status = 'failed', last_error = 'paper out' "
                     "WHERE receipt_no = ?", [failed.receipt_no])
    sale = record_sale(store, ann.member_id, make_sale(total=1000))
    assert rows(store, "SELECT status FROM print_jobs WHERE receipt_no = ?",
                sale.receipt_no) == [("queued",)]  # committed with the sale
    out = tmp_path / "printer.escpos"
    store.settings.printer.kind = "file"
    store.settings.printer.path = str(out)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.receipts.wait()
        await pilot.pause()
        notes = [n.message for n in app._notifications]
        assert notes == ["2 receipt(s) left from before printed."]
    assert rows(store, "SELECT receipt_no, status FROM print_jobs ORDER BY id") == [
        (ann.receipt_no, "printed"), (failed.receipt_no, "failed"),
        (sale.receipt_no, "printed")]
    data = out.read_bytes()
    assert data.count(b"\x1dV") == 2  # two paper cuts: the slip and the sale's receipt
    assert data.index(ann.card_number.encode()) < data.index(sale.receipt_no.encode())


async def test_serial_scanner_feeds_the_member_input(store):
    import serial

    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    port = serial.serial_for_url("loop://", timeout=0.2)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.attach_scanner(port)
        port.write(ann.qr_payload.encode() + b"\r\n")
        await until(pilot, lambda: "Ann Lee" in str(app.screen.query_one("#member").render()),
                    timeout=2.5)
        assert "Ann Lee" in str(app.screen.query_one("#member").render())
        assert app.screen.member.found_by == "qr"
        await type_text(pilot, "5.00")
        await pilot.press("enter")
        await pay_exact(pilot)
    assert rows(store, "SELECT amount FROM events WHERE kind = 'earn'") == [(500,)]


async def test_wedge_scan_while_typing_the_amount(store):
    """A keyboard-wedge scanner's burst arrives while the cashier is in the amount field:
    the member is looked up, the amount typed so far stays, no sale is recorded by the
    scan's Enter; the cashier then finishes the amount and the sale earns for the member."""
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    clock = KeyClock()
    app = cashier_app(store, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # no member yet: on to the amount
        await keys_with_gap(pilot, clock, list("12.5"), 0.25)
        assert app.focused.id == "sale-input"
        await keys_with_gap(pilot, clock, [*ann.qr_payload, "enter"], 0.008)
        await pilot.pause()
        panel = str(app.screen.query_one("#member").render())
        assert "Ann Lee" in panel and "50 Stars" in panel
        assert app.screen.member.found_by == "qr"
        assert app.screen.query_one("#sale-input").value == "12.5"
        assert app.screen.query_one("#member-input").value == ""
        assert app.focused.id == "sale-input"
        assert rows(store, "SELECT COUNT(*) FROM receipts WHERE kind = 'sale'") == [(0,)]
        await keys_with_gap(pilot, clock, ["0", "enter"], 0.3)
        await pay_exact(pilot)
        assert "recorded, +130 Stars" in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT member_id, kind, amount FROM events WHERE kind = 'earn'") == [
        (ann.member_id, "earn", 1250)]


async def test_fast_typing_is_not_a_scan(store):
    """Short fast runs (an amount) and long slow ones (a card typed by hand) stay typing."""
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    clock = KeyClock()
    app = cashier_app(store, clock)
    async with app.run_test(size=(120, 40)) as pilot:
        await keys_with_gap(pilot, clock, [*ann.card_number, "enter"], 0.12)
        await pilot.pause()
        assert "Member found by card." in str(app.screen.query_one("#message").render())
        await keys_with_gap(pilot, clock, [*"3.50", "enter"], 0.01)  # 4 keys: not a scan
        await pay_exact(pilot)
        assert "recorded" in str(app.screen.query_one("#message").render())
        await keys_with_gap(pilot, clock, [*ann.card_number, "enter"], 0.12)
        await keys_with_gap(pilot, clock, [*"9876.54", "enter"], 0.06)  # 7 keys, over the gap
        await pay_exact(pilot)
        assert "recorded" in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT amount FROM events WHERE kind = 'earn' ORDER BY origin_seq") == [
        (350,), (987654,)]


async def test_serial_scanner_from_config_on_a_pty(tmp_path):
    """The scanner port named in the config (here the slave end of a pseudo-terminal, as a
    USB-serial scanner appears) is opened at start-up; a code written to it finds the
    member while the amount typed so far stays."""
    master, slave = os.openpty()
    try:
        config = tmp_path / "pos.toml"
        write_example_config(config)
        config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"')
                          .replace('scanner_port = ""',
                                   f'scanner_port = "{os.ttyname(slave)}"'))
        store = open_store(load_settings(str(config)))
        init_terminal(store.db, "S001", "T1")
        ann = enrol(store, name="Ann Lee", phone="+33612345678")
        clock = KeyClock()
        app = cashier_app(store, clock)
        async with app.run_test(size=(120, 40)) as pilot:
            assert app.scanner is not None and app.scanner.port.name == os.ttyname(slave)
            await keys_with_gap(pilot, clock, ["enter", *"7.5"], 0.2)
            os.write(master, ann.card_number.encode() + b"\r\n")
            await until(pilot, lambda: app.screen.member is not None, timeout=3.0)
            assert "Ann Lee" in str(app.screen.query_one("#member").render())
            assert app.screen.member.found_by == "card"
            assert app.screen.query_one("#sale-input").value == "7.5"
            await keys_with_gap(pilot, clock, ["0", "enter"], 0.2)
            await pay_exact(pilot)
        assert rows(store, "SELECT member_id, amount FROM events WHERE kind = 'earn'") == [
            (ann.member_id, 750)]
    finally:
        os.close(master)
        os.close(slave)


def physical_card(body: str) -> str:
    """A valid card number as pre-printed cards carry: prefix 60, 13 digits, Luhn digit."""
    from loyalty.ids import luhn_check_digit

    digits = "60" + body
    return digits + luhn_check_digit(digits)


async def test_register_a_physical_card(store):
    """F8 on a found member registers the card they hold (a `link` event); the enrol form
    takes a physical card too. Both cards then find their member."""
    import json

    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    held, bobs, typo = (physical_card("9000000000001"), physical_card("9000000000002"),
                        physical_card("9000000000003"))
    typo = typo[:-1] + str((int(typo[-1]) + 1) % 10)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f8")
        assert "Find the member first" in str(app.screen.query_one("#message").render())
        await type_text(pilot, ann.card_number)
        await pilot.press("enter", "f8")
        await type_text(pilot, typo)
        await pilot.press("enter")
        await pilot.pause()
        assert "is not valid: check the digits" in str(app.screen.query_one("#message").render())
        await pilot.press("f8")
        await type_text(pilot, held)
        await pilot.press("enter")
        await pilot.pause()
        assert f"Card {held} registered to Ann Lee" in str(
            app.screen.query_one("#message").render())
        await pilot.press("escape")
        await type_text(pilot, held)
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.member.member_id == ann.member_id
        assert app.screen.member.found_by == "card"
        # enrol with a physical card
        await pilot.press("f3")
        await type_text(pilot, "Bob")
        await pilot.press("enter")
        await type_text(pilot, "+33698765432")
        await pilot.press("enter", "enter", "enter")  # no e-mail, no birthday
        await type_text(pilot, bobs)
        await pilot.press("enter", "enter")  # the card, then no PIN
        await pilot.pause()
        assert f"Welcome Bob: card {bobs}" in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT member_id, source FROM cards WHERE card_number = ?", held) == [
        (ann.member_id, "linked")]
    links = rows(store, "SELECT member_id, data FROM events WHERE kind = 'link'")
    assert [(m, json.loads(d)) for m, d in links] == [(ann.member_id, {"card_number": held})]
    bob = rows(store, "SELECT m.member_id FROM members m JOIN cards c USING (member_id) "
                      "WHERE c.card_number = ? AND m.name = 'Bob'", bobs)
    assert len(bob) == 1
    assert rows(store, "SELECT COUNT(*) FROM cards WHERE card_number = ?", typo) == [(0,)]
    slip = rows(store, "SELECT r.kind FROM print_jobs j JOIN receipts r USING (receipt_no) "
                       "WHERE r.member_id = ? AND j.status = 'printed'", bob[0][0])
    assert slip == [("enrolment",)]


def voucher_member(store):
    """A member holding a Free filter coffee voucher (a completed coffee card) and 855
    Stars (50 welcome + 800 + 5 visit)."""
    from loyalty.sale import SaleLine

    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = record_sale(store, ann.member_id,
                       make_sale([SaleLine("FILTER", "coffee", 10, 200),
                                  SaleLine("BEANS", "retail", 3, 2000)]))
    assert len(sale.vouchers) == 1
    return ann, sale.vouchers[0]["code"]


TREE_SPENT = "Plant a tree (donation): 200 spent"
"""A reward redeemed at once, not on a basket: what the proof tests spend."""


def balance(store, member_id: str) -> int:
    return rows(store, "SELECT balance FROM member_balances WHERE member_id = ?",
                member_id)[0][0]


async def test_redeem_voucher_and_pay_with_points(store):
    """The redeem list holds the member's voucher and paying with points; the voucher goes
    on the ticket, the cashier types how many points pay, sees what they are worth, and
    both are recorded with the sale at payment, in its transaction."""
    ann, code = voucher_member(store)
    before = balance(store, ann.member_id)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.qr_payload)
        await pilot.press("enter")
        for item in ("filter", "beans"):
            await type_text(pilot, item)
            await pilot.press("enter")
        await pilot.press("f2")
        await pilot.pause()
        options = app.screen.query_one("#rewards")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        assert labels[0].startswith(f"Voucher {code}: Free filter coffee (until ")
        pay = next(i for i, label in enumerate(labels) if label.startswith("Pay with Stars"))
        # no hub: offline, so at most the offline limit (300) per redemption (issue 17)
        limit = min(before, store.active_program().offline_redeem_limit_per_transaction)
        assert labels[pay] == f"Pay with Stars  -  100 to {limit:,} Stars"
        await pilot.press("enter", "enter")  # the voucher, confirmed
        await pilot.pause()
        assert "Free filter coffee on the ticket: -2.20" in str(
            app.screen.query_one("#message").render())
        assert "TOTAL 20.00 EUR" in str(app.screen.query_one("#totals").render())
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*["down"] * (pay - 1), "enter")  # the voucher is off the list
        await pilot.pause()
        points = app.screen.query_one("#points")
        assert points.value == str(limit)
        await pilot.press(*["backspace"] * len(points.value), *"250")
        await pilot.pause()
        assert "= 2.50 EUR off" in str(app.screen.query_one("#confirm").render())
        await pilot.press("enter")
        await pilot.pause()
        assert "250 Stars pay 2.50" in str(app.screen.query_one("#message").render())
        assert "left to pay 17.50" in str(app.screen.query_one("#totals").render())
        assert balance(store, ann.member_id) == before  # nothing spent before payment
        await pilot.press("f10")
        await pilot.pause()
        assert "Points (250 Stars)  2.50" in str(app.screen.query_one("#tenders").render())
        await type_text(pilot, "10.00")
        await pilot.press("f2")  # card 10.00
        await pilot.pause()
        assert "Left to pay 7.50" in str(app.screen.query_one("#tenders").render())
        await type_text(pilot, "10.00")
        await pilot.press("enter")  # cash 10.00: 2.50 change
        await pilot.pause()
        message = str(app.screen.query_one("#message").render())
        assert "-250 Stars. Total 20.00, paid points 2.50, card 10.00, cash 10.00, CHANGE " \
               "2.50" in message
    receipt_no = rows(store, "SELECT receipt_no FROM receipts WHERE kind = 'sale' "
                             "ORDER BY receipt_no DESC LIMIT 1")[0][0]
    assert rows(store, "SELECT kind, points, json_extract(data, '$.voucher_used') FROM events "
                       "WHERE kind = 'redeem' AND ref = ? ORDER BY origin_seq", receipt_no) == [
        ("redeem", 0, code), ("redeem", -250, None)]
    earned = rows(store, "SELECT points FROM events WHERE kind = 'earn' AND ref = ?",
                  receipt_no)[0][0]
    assert earned == 175  # the 17.50 paid in money; the coffee was free, points do not earn
    assert balance(store, ann.member_id) == before - 250 + earned
    assert rows(store, "SELECT COUNT(*) FROM receipts WHERE kind = 'redemption'") == [(0,)]


async def test_member_found_by_phone_confirms_by_scan(store):
    """Knowing a phone number is not enough to spend: the member must scan their own QR
    code or type their PIN. Someone else's QR code, or a wrong PIN, is refused and nothing
    is spent."""
    ann, _ = voucher_member(store)
    set_member_pin(store, ann.member_id, "4821")
    bob = enrol(store, name="Bob", phone="+33698765432")
    before = balance(store, ann.member_id)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        labels = await open_redeem(pilot, app, "+33612345678")
        tree = next(i for i, label in enumerate(labels) if "Plant a tree" in label)
        await pilot.press(*["down"] * tree, "enter")
        await pilot.pause()
        assert "the member confirms with their PIN or by scanning their QR code" in str(
            app.screen.query_one("#confirm").render())
        await pilot.press("enter")  # no scan: not confirmed
        await pilot.pause()
        assert "must type their PIN or scan their QR code" in str(
            app.screen.query_one("#error").render())
        await type_text(pilot, bob.qr_payload)  # someone else's QR code
        await pilot.press("enter")
        await pilot.pause()
        assert "Not confirmed: that QR code is not this member's" in str(
            app.screen.query_one("#message").render())
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*["down"] * tree, "enter")
        await type_text(pilot, "9999")  # a wrong PIN
        await pilot.press("enter")
        await pilot.pause()
        assert "wrong PIN: 4 more wrong tries lock it" in str(
            app.screen.query_one("#message").render())
        assert balance(store, ann.member_id) == before
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*["down"] * tree, "enter")
        await type_text(pilot, "4821")  # her PIN
        await pilot.press("enter")
        await pilot.pause()
        assert TREE_SPENT in str(app.screen.query_one("#message").render())
        assert balance(store, ann.member_id) == before - 200
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press(*["down"] * tree, "enter")
        await type_text(pilot, ann.qr_payload)  # her own QR code
        await pilot.press("enter")
        await pilot.pause()
        assert TREE_SPENT in str(app.screen.query_one("#message").render())
    assert balance(store, ann.member_id) == before - 400
    assert rows(store, "SELECT COUNT(*) FROM events WHERE kind = 'redeem'") == [(2,)]
    assert rows(store, "SELECT json_extract(data, '$.action') FROM events WHERE kind = 'pin' "
                       "ORDER BY origin_seq") == [("set",), ("failed",), ("ok",)]


async def test_sale_without_a_member_offers_enrolment(store):
    app = cashier_app(store)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("enter")  # no member
        assert "Sale without a member (F3 enrols)." in str(app.screen.query_one("#member")
                                                           .render())
        await type_text(pilot, "5.00")
        await pilot.press("enter")
        await pay_exact(pilot)
        assert ("Sale S001-T1-000001 recorded without a member (F3 enrols the customer for "
                "next time).") in str(app.screen.query_one("#message").render())
    assert rows(store, "SELECT receipt_no, member_id, total FROM receipts") == [
        ("S001-T1-000001", None, 500)]
    assert rows(store, "SELECT COUNT(*) FROM events") == [(0,)]


async def test_a_serial_scan_confirms_a_phone_found_members_redemption(store):
    """The member found by phone scans their card QR on the serial scanner while the
    redeem dialog waits for it: that scan confirms, and the redemption is recorded."""
    import serial

    ann, _ = voucher_member(store)
    before = balance(store, ann.member_id)
    port = serial.serial_for_url("loop://", timeout=0.2)
    app = cashier_app(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.attach_scanner(port)
        labels = await open_redeem(pilot, app, "+33612345678")
        tree = next(i for i, label in enumerate(labels) if "Plant a tree" in label)
        await pilot.press(*["down"] * tree, "enter")
        await pilot.pause()
        port.write(ann.qr_payload.encode() + b"\r\n")
        await until(pilot, lambda: "Plant a tree (donation): 200 spent" in str(
            app.screen.query_one("#message").render()), timeout=3.0)
        assert TREE_SPENT in str(app.screen.query_one("#message").render())
    assert balance(store, ann.member_id) == before - 200
