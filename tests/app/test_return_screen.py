"""The return dialog driven as a cashier would (Textual's pilot): the receipt typed, scanned
or chosen from the recent sales, the lines' quantities with the keys, the reason; the
choice it returns then recorded with `refund_lines`, and checked in the database."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App, ComposeResult
from textual.widgets import Label

from loyalty.basket import Basket, add_item
from loyalty.tender import cash
from pos_agent.app.return_screen import ReturnChoice, ReturnScreen
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import checkout, refund_lines, void_receipt
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.example_config import write_example_config

pytestmark = pytest.mark.asyncio


@pytest.fixture
def store(tmp_path: Path):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    yield store
    store.close()


def basket() -> Basket:
    """2 lattes at 3.50 (line 1) and a croissant at 1.80 (line 2): 8.80."""
    b = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                 tax_rate=550, qty=2)
    return add_item(b, sku="CROISSANT", name="Croissant", category="pastry", unit_price=180,
                    tax_rate=550)


class ReturnApp(App):
    """Only the dialog, over an empty screen; `results` gets what it was dismissed with."""

    def __init__(self, store, receipt_no: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.receipt_no = receipt_no
        self.results: list[ReturnChoice | None] = []

    def compose(self) -> ComposeResult:
        yield Label("till")

    def on_mount(self) -> None:
        self.push_screen(ReturnScreen(self.store, self.receipt_no), self.results.append)


def text(app: App, selector: str) -> str:
    return str(app.screen.query_one(selector, Label).render())


def step(app: App) -> int:
    screen = app.screen
    assert isinstance(screen, ReturnScreen)
    one, two = screen.query_one("#step1").display, screen.query_one("#step2").display
    assert one != two
    return 1 if one else 2


def cells(app: App, column: str) -> list[str]:
    table = app.screen.query_one("#lines")
    return [str(v) for v in table.get_column(column)]


async def type_text(pilot, typed: str) -> None:
    await pilot.press(*list(typed))


async def test_second_recent_receipt_one_unit_of_line_2_then_refunded(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    older = checkout(store, ann.member_id, basket(), [], [cash(2000)])
    newer = checkout(store, None, basket(), [], [cash(1000)])
    balance = older.balance
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        recent = app.screen.query_one("#recent")
        labels = [str(recent.get_option_at_index(i).prompt) for i in range(recent.option_count)]
        assert labels[0].startswith(newer.receipt_no) and "no member" in labels[0]
        assert labels[1].startswith(older.receipt_no) and "Ann Lee" in labels[1]
        assert "8.80 EUR" in labels[1]
        assert "Recent receipts" in str(app.screen.query_one("#keys").render())
        await pilot.press("down", "down", "enter")  # into the list, the second, open it
        await pilot.pause()
        assert step(app) == 2
        assert f"Receipt {older.receipt_no}" in text(app, "#receipt")
        assert "Ann Lee" in text(app, "#receipt")
        assert cells(app, "item") == ["Latte", "Croissant"]
        assert cells(app, "sold") == ["2", "1"]
        assert cells(app, "returned") == ["0", "0"]
        keys = str(app.screen.query_one("#keys").render())
        assert all(k in keys for k in ("+/→", "-/←", "One more", "All", "Reason"))
        await pilot.press("down", "plus")
        await pilot.pause()
        assert cells(app, "return") == ["0 of 2", "1 of 1"]
        assert "Refund: 1.80 EUR for 1 item" in text(app, "#total")
        await pilot.press("plus")  # nothing more left of line 2
        await pilot.pause()
        assert "at most 1 can be returned" in text(app, "#error")
        assert cells(app, "return") == ["0 of 2", "1 of 1"]
        await pilot.press("enter")  # on to the reason
        await pilot.pause()
        assert app.screen.focused is app.screen.query_one("#reason")
        assert "Refund" in str(app.screen.query_one("#keys").render())
        await pilot.press("enter")  # no reason yet
        await pilot.pause()
        assert "Type the reason for the return (required)" in text(app, "#error")
        assert app.results == []
        await type_text(pilot, "stale")
        await pilot.press("enter")
        await pilot.pause()
    choice = ReturnChoice(older.receipt_no, ((2, 1),), "stale")
    assert app.results == [choice]

    result = refund_lines(store, choice.receipt_no, choice.returns, reason=choice.reason)
    assert (result.original, result.amount, result.points_reversed) == (
        older.receipt_no, 180, 18)
    assert result.refunds == ({"kind": "cash", "amount": 180},)
    assert result.balance == balance - 18
    assert store.conn.execute(
        "SELECT total, points_reversed, reverses FROM receipts WHERE receipt_no = ?",
        (result.receipt_no,)).fetchone() == (-180, 18, older.receipt_no)
    assert store.conn.execute(
        "SELECT points, amount FROM events WHERE kind = 'reverse' AND ref = ?",
        (older.receipt_no,)).fetchall() == [(-18, -180)]
    assert store.conn.execute("SELECT refunded FROM receipts WHERE receipt_no = ?",
                              (older.receipt_no,)).fetchone() == (180,)


async def test_unknown_receipt_number_stays_with_a_message(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("enter")  # nothing typed
        await pilot.pause()
        assert "Type or scan the receipt number" in text(app, "#error")
        await type_text(pilot, "S001-T1-999999")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, ReturnScreen) and step(app) == 1
        assert "No receipt S001-T1-999999 on this terminal" in text(app, "#error")
        assert app.screen.query_one("#receipt-no").value == "S001-T1-999999"
        await pilot.press("ctrl+u")
        await type_text(pilot, f" {sale.receipt_no.lower()} ")  # lower case, spaces
        await pilot.press("enter")
        await pilot.pause()
        assert step(app) == 2 and text(app, "#error") == ""
        assert app.screen.receipt.receipt_no == sale.receipt_no
    assert app.results == []


async def test_receipt_all_returned_cannot_be_returned(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    refund_lines(store, sale.receipt_no, [(1, 2), (2, 1)], reason="wrong order")
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        recent = app.screen.query_one("#recent")
        assert str(recent.get_option_at_index(0).prompt).endswith(
            "no member  refunded 8.80 EUR, nothing to return")
        await type_text(pilot, sale.receipt_no)
        await pilot.press("enter")
        await pilot.pause()
        assert step(app) == 1
        assert (f"Every line of receipt {sale.receipt_no} was already returned: it cannot "
                "be returned again.") in text(app, "#error")
        await pilot.press("down", "enter")  # the same from the list
        await pilot.pause()
        assert step(app) == 1 and "already returned" in text(app, "#error")
    assert app.results == []


async def test_voided_receipt_from_the_list_is_refused(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    void = void_receipt(store, sale.receipt_no)
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        assert "voided" in str(app.screen.query_one("#recent").get_option_at_index(0).prompt)
        await pilot.press("down", "enter")
        await pilot.pause()
        assert step(app) == 1
        assert f"was voided by {void.receipt_no}" in text(app, "#error")


async def test_esc_goes_back_a_step_then_closes(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, sale.receipt_no)
        await pilot.press("enter", "plus")
        await pilot.pause()
        assert step(app) == 2 and app.screen.returns == ((1, 1),)
        await pilot.press("enter", "escape")  # from the reason: back to the lines
        await pilot.pause()
        assert step(app) == 2 and app.screen.focused is app.screen.query_one("#lines")
        await pilot.press("escape")  # from the lines: back to the receipt
        await pilot.pause()
        assert step(app) == 1
        assert app.screen.focused is app.screen.query_one("#receipt-no")
        assert app.screen.receipt is None
        assert "Close" in str(app.screen.query_one("#keys").render())
        assert app.results == []
        await pilot.press("escape")  # closes
        await pilot.pause()
        assert not isinstance(app.screen, ReturnScreen)
    assert app.results == [None]


async def test_keys_all_less_and_nothing_chosen(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    app = ReturnApp(store, sale.receipt_no)  # given: step 1 skipped
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert step(app) == 2
        await pilot.press("enter")  # nothing chosen yet
        await pilot.pause()
        assert "Nothing chosen to return" in text(app, "#error")
        assert app.screen.focused is app.screen.query_one("#lines")
        await pilot.press("a")
        await pilot.pause()
        assert cells(app, "return") == ["2 of 2", "1 of 1"]
        assert "Refund: 8.80 EUR for 3 items (preview)" in text(app, "#total")
        await pilot.press("left", "minus")  # line 1: 2 -> 0
        await pilot.press("minus")  # not below 0
        await pilot.pause()
        assert app.screen.returns == ((2, 1),)
        await pilot.press("right")
        await pilot.pause()
        assert app.screen.returns == ((1, 1), (2, 1))
        assert "Refund: 5.30 EUR" in text(app, "#total")
        await pilot.press("a", "enter")
        app.screen.query_one("#reason").value = "pasted\x1b[2J"
        await pilot.press("enter")
        await pilot.pause()
        assert "The reason holds a control character" in text(app, "#error")
        assert app.results == []
        await pilot.press("ctrl+u")
        await type_text(pilot, "wrong order")
        await pilot.press("enter")
        await pilot.pause()
    # every unit: still a line return (the operation makes it the void)
    assert app.results == [ReturnChoice(sale.receipt_no, ((1, 2), (2, 1)), "wrong order")]
    result = refund_lines(store, sale.receipt_no, app.results[0].returns,
                          reason="wrong order")
    assert (result.amount, result.points_reversed) == (880, 0)


async def test_scanned_receipt_opens_even_from_the_list(store):
    first = checkout(store, None, basket(), [], [cash(2000)])
    second = checkout(store, None, basket(), [], [cash(2000)])
    app = ReturnApp(store)
    async with app.run_test(size=(120, 40)) as pilot:
        app.screen.scanned(f"{first.receipt_no}\r")  # a serial scanner's code
        await pilot.pause()
        assert step(app) == 2 and app.screen.receipt.receipt_no == first.receipt_no
        await pilot.press("escape", "down")  # back, into the list
        await pilot.pause()
        assert app.screen.focused is app.screen.query_one("#recent")
        await type_text(pilot, second.receipt_no)  # a wedge scan while the list has focus
        await pilot.press("enter")
        await pilot.pause()
        assert step(app) == 2 and app.screen.receipt.receipt_no == second.receipt_no
        await pilot.press("escape", "down")
        await pilot.pause()
        assert app.screen.query_one("#recent").highlighted == 0  # the newest: `second`
        await type_text(pilot, first.receipt_no)
        app.screen.query_one("#recent").focus()  # the burst's Enter beats the focus change
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert step(app) == 2 and app.screen.receipt.receipt_no == first.receipt_no
