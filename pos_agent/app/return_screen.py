"""Return items of a sale, line by line, with the keyboard:

1. the receipt: type its number, or scan its barcode (a keyboard-wedge scanner types it
   and Enter; a serial scanner calls `scanned`), or choose one of the terminal's recent
   sales below with Down/Up and Enter;
2. the lines: Up/Down move, + or Right one more unit of the line, - or Left one less (0 up
   to what is left of it), A everything that is left; the refund shows as it changes (the
   lines' nets: `refund_lines` computes the exact amount). Enter goes to the reason, which
   is required; Enter there confirms.

Esc goes back a step (from the reason to the lines, from the lines to the receipt); on the
receipt step it closes the dialog with None. The dialog returns a `ReturnChoice`; the
caller records it with `pos_agent.operations.refund_lines` (and asks a manager's approval
above the refund limit):

    >>> app.push_screen(ReturnScreen(store), on_return)   # ReturnChoice | None
    >>> app.push_screen(ReturnScreen(store, "S001-T1-000042"), on_return)
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, OptionList
from textual.widgets.option_list import Option

from loyalty.errors import LoyaltyError
from loyalty.money import format_money
from loyalty.validation import check_text
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.exceptions import PosError
from pos_agent.returns import (
    RecentReceipt,
    ReturnableReceipt,
    receipt_for_return,
    recent_receipts,
)
from pos_agent.store import Store


@dataclass(frozen=True)
class ReturnChoice:
    receipt_no: str
    returns: tuple[tuple[int, int], ...]
    """(line_no, qty) of each line returned, qty > 0, by line number. Every unit left of
    every line is still a line return: `refund_lines` makes it the receipt's void."""
    reason: str


RECEIPT_KEYS = [("Enter", "Open"), ("↑↓", "Recent receipts"), ("Esc", "Close")]
LINES_KEYS = [("↑↓", "Line"), ("+/→", "One more"), ("-/←", "One less"), ("A", "All"),
              ("Enter", "Reason"), ("Esc", "Other receipt")]
REASON_KEYS = [("Enter", "Refund"), ("Esc", "Back to the lines")]


class RecentList(OptionList):
    """The recent receipts; Up on the first one goes back to the number field."""

    BINDINGS = [Binding("up", "up_or_field", "Up", show=False)]

    def action_up_or_field(self) -> None:
        if not self.highlighted:
            self.screen.query_one("#receipt-no", Input).focus()
        else:
            self.action_cursor_up()


class ReturnLines(DataTable):
    """The sale's lines; the keys change the highlighted line's quantity to return."""

    BINDINGS = [
        Binding("plus,right", "screen.more", "One more", show=False),
        Binding("minus,left", "screen.less", "One less", show=False),
        Binding("a,A", "screen.all", "All", show=False),
    ]


class ReturnScreen(ModalScreen[ReturnChoice | None]):
    CSS_PATH = "return_screen.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", show=False),  # in the KeyBar per step (Close...)
        Binding("down", "recent", "Recent receipts", show=False),
    ]
    RECENT = 20

    def __init__(self, store: Store, receipt_no: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.receipt_no = receipt_no
        """Open this receipt straight away (step 1 is skipped)."""
        program = store.active_program()
        self.exponent = program.currency_exponent
        self.currency = program.currency
        self.zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
        self.recent: list[RecentReceipt] = []
        self.receipt: ReturnableReceipt | None = None
        """The receipt of step 2 (None: on step 1)."""
        self.qty: dict[int, int] = {}
        """Units to return per line number."""
        self._rows: list[int] = []
        self._typed_on_list = False
        """A character typed on the recent list went to the number field (a wedge scan):
        the Enter ending it opens the number, even if it reaches the list first."""

    # -- layout -------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        with Vertical(id="return"):
            yield Label("Return items", id="title")
            with Vertical(id="step1"):
                yield Label("Receipt number: type it or scan the receipt's barcode")
                # not selected on focus: a character typed on the list moves here first
                yield Input(id="receipt-no", placeholder="e.g. S001-T1-000042",
                            select_on_focus=False)
                yield Label("or choose a recent sale:", id="recent-title")
                yield RecentList(id="recent")
            with Vertical(id="step2"):
                yield Label("", id="receipt")
                yield ReturnLines(id="lines", cursor_type="row", zebra_stripes=True)
                yield Label("", id="total")
                yield Input(id="reason", placeholder="Reason for the return (required)")
            yield Label("", id="error")
            yield KeyBar(list(RECEIPT_KEYS), id="keys", classes="inline")

    def on_mount(self) -> None:
        table = self.query_one("#lines", ReturnLines)
        for key, label in (("line", "Line"), ("item", "Item"), ("sold", "Sold"),
                           ("returned", "Returned"), ("return", "Return"),
                           ("refund", "Refund")):
            table.add_column(label, key=key)
        self.fit()
        self._load_recent()
        self._step1()
        if self.receipt_no:
            self.query_one("#receipt-no", Input).value = self.receipt_no
            self.open_receipt(self.receipt_no)

    def on_resize(self, event: events.Resize) -> None:
        self.fit()

    def fit(self) -> None:
        """The lists' heights from the terminal's: the rest of the dialog takes ~16 rows
        (max-height in vh is not honoured inside an auto-height box)."""
        rows = self.app.size.height
        self.query_one("#recent", RecentList).styles.max_height = min(max(rows - 15, 4), 14)
        self.query_one("#lines", ReturnLines).styles.max_height = min(max(rows - 18, 4), 14)

    def _load_recent(self) -> None:
        self.recent = recent_receipts(self.store, self.RECENT)
        options = self.query_one("#recent", RecentList)
        options.clear_options()
        options.add_options([Option(escape(self._recent_label(r)), id=r.receipt_no)
                             for r in self.recent])
        options.display = bool(self.recent)
        self.query_one("#recent-title", Label).update(
            "or choose a recent sale:" if self.recent else "No sale on this terminal yet.")

    def _recent_label(self, r: RecentReceipt) -> str:
        when = datetime.fromisoformat(r.created_at).astimezone(self.zone)
        status = ("voided" if r.voided else
                  f"refunded {self._money(r.refunded)}" if r.refunded else "")
        if not r.returnable and not r.voided:
            status = f"{status}, nothing to return" if status else "nothing to return"
        return "  ".join(part for part in (
            r.receipt_no, when.strftime("%Y-%m-%d %H:%M"), f"{self._money(r.total):>12}",
            r.member_name or ("member" if r.member_id else "no member"), status) if part)

    def _money(self, minor: int) -> str:
        return format_money(minor, self.exponent, self.currency)

    # -- step 1: the receipt -----------------------------------------------------------
    def _step1(self) -> None:
        self.receipt = None
        self.query_one("#step1").display = True
        self.query_one("#step2").display = False
        field = self.query_one("#receipt-no", Input)
        field.focus()
        self._keys(RECEIPT_KEYS)

    def _refused(self, why: str) -> None:
        """Back on step 1 with `why`; the number stays, selected: the next scan or typing
        replaces it."""
        self._step1()
        self._error(why)
        self.query_one("#receipt-no", Input).select_all()

    def action_recent(self) -> None:
        """Down from the number field: into the recent receipts."""
        options = self.query_one("#recent", RecentList)
        if self.receipt is None and self.recent and self.focused is self.query_one(
                "#receipt-no", Input):
            self._typed_on_list = False
            options.highlighted = 0
            options.focus()

    def on_key(self, event: events.Key) -> None:
        """A character typed (or a wedge scanner's burst) while the recent list has the
        focus goes to the number field: a scan is never lost."""
        field = self.query_one("#receipt-no", Input)
        if (self.receipt is None and self.focused is self.query_one("#recent", RecentList)
                and event.is_printable and event.character):
            event.stop()
            event.prevent_default()
            self._typed_on_list = True
            field.focus()
            field.insert_text_at_cursor(event.character)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        field = self.query_one("#receipt-no", Input)
        if self._typed_on_list and field.value.strip():
            # a scan's Enter that came before the focus reached the field: the scan wins
            self._typed_on_list = False
            self.open_receipt(field.value)
            return
        self.open_receipt(str(event.option.id))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "receipt-no":
            if not event.value.strip():
                self._error("Type or scan the receipt number, or choose a recent sale "
                            "(Down).")
                return
            self.open_receipt(event.value)
        elif event.input.id == "reason":
            self._confirm()

    def scanned(self, code: str) -> None:
        """A code from the serial scanner: the receipt's barcode holds its number; that
        receipt opens (whatever step the dialog is on)."""
        self.query_one("#receipt-no", Input).value = code.strip()
        self.open_receipt(code)

    def open_receipt(self, receipt_no: str) -> None:
        """Step 2 for `receipt_no` (as typed, scanned or chosen), or, if it cannot be
        returned, step 1 with the reason why."""
        self._typed_on_list = False
        try:
            receipt = receipt_for_return(self.store, receipt_no)
        except PosError as exc:
            self._refused(str(exc))
            return
        if not receipt.returnable:
            self._refused(f"Every line of receipt {receipt.receipt_no} was already returned: "
                          "it cannot be returned again.")
            return
        self.receipt = receipt
        self.qty = {ln.line_no: 0 for ln in receipt.lines}
        self._rows = [ln.line_no for ln in receipt.lines]
        self._error("")
        self.query_one("#receipt-no", Input).value = receipt.receipt_no
        self.query_one("#reason", Input).value = ""
        when = datetime.fromisoformat(receipt.created_at).astimezone(self.zone)
        member = receipt.member_name or ("a member" if receipt.member_id else "no member")
        refunded = (f", {self._money(receipt.refunded)} already refunded"
                    if receipt.refunded else "")
        self.query_one("#receipt", Label).update(escape(
            f"Receipt {receipt.receipt_no}, {when:%Y-%m-%d %H:%M}, {member}: "
            f"{self._money(receipt.total)}{refunded}"))
        table = self.query_one("#lines", ReturnLines)
        table.clear()
        for ln in receipt.lines:
            table.add_row(str(ln.line_no), Text(ln.name), str(ln.sold), str(ln.returned),
                          *self._qty_cells(ln.line_no), key=str(ln.line_no))
        first = next((i for i, ln in enumerate(receipt.lines) if ln.left), 0)
        table.move_cursor(row=first)
        self.query_one("#step1").display = False
        self.query_one("#step2").display = True
        self._show_total()
        table.focus()
        self._keys(LINES_KEYS)

    # -- step 2: the lines ---------------------------------------------------------------
    def _qty_cells(self, line_no: int) -> tuple[str | Text, str]:
        assert self.receipt is not None
        ln = self.receipt.line(line_no)
        if not ln.left:
            return Text("returned", style="dim"), ""
        k = self.qty.get(line_no, 0)
        return f"{k} of {ln.left}", self._money(ln.refund(k)) if k else ""

    @property
    def returns(self) -> tuple[tuple[int, int], ...]:
        """What is chosen so far: (line_no, qty) with qty > 0, by line number."""
        return tuple((no, k) for no, k in sorted(self.qty.items()) if k > 0)

    @property
    def preview(self) -> int:
        """The chosen lines' nets (minor units): what the refund shows."""
        return self.receipt.refund_preview(self.returns) if self.receipt else 0

    def _show_total(self) -> None:
        units = sum(k for _, k in self.returns)
        if units:
            text = (f"Refund: {self._money(self.preview)} for {units} "
                    f"item{'s' if units != 1 else ''} (preview)")
        else:
            text = "Choose what is returned: + on a line, A for everything left."
        self.query_one("#total", Label).update(text)

    def _set(self, line_no: int, qty: int) -> None:
        self.qty[line_no] = qty
        table = self.query_one("#lines", ReturnLines)
        returning, refund = self._qty_cells(line_no)
        table.update_cell(str(line_no), "return", returning, update_width=True)
        table.update_cell(str(line_no), "refund", refund, update_width=True)
        self._show_total()

    def _current(self) -> int | None:
        table = self.query_one("#lines", ReturnLines)
        if self.receipt is None or not self._rows:
            return None
        return self._rows[min(max(table.cursor_row, 0), len(self._rows) - 1)]

    def action_more(self) -> None:
        """+ / Right: one more unit of the highlighted line (up to what is left)."""
        line_no = self._current()
        if line_no is None or self.receipt is None:
            return
        ln = self.receipt.line(line_no)
        k = self.qty.get(line_no, 0)
        if k >= ln.left:
            self._error(f"Line {line_no}: {ln.sold} sold, {ln.returned} already returned; "
                        f"at most {ln.left} can be returned." if ln.left else
                        f"Line {line_no} was already returned in full.")
            return
        self._error("")
        self._set(line_no, k + 1)

    def action_less(self) -> None:
        """- / Left: one unit less of the highlighted line (not below 0)."""
        line_no = self._current()
        if line_no is None or not self.qty.get(line_no):
            return
        self._error("")
        self._set(line_no, self.qty[line_no] - 1)

    def action_all(self) -> None:
        """A: every unit left of every line."""
        if self.receipt is None:
            return
        self._error("")
        for ln in self.receipt.lines:
            if ln.left and self.qty.get(ln.line_no) != ln.left:
                self._set(ln.line_no, ln.left)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        """Enter on the lines: on to the reason, once something is chosen."""
        event.stop()
        if self._chosen_or_say():
            self.query_one("#reason", Input).focus()

    def _chosen_or_say(self) -> bool:
        if not self.returns:
            self._error("Nothing chosen to return: press + on a line, or A for everything "
                        "left.")
            self.query_one("#lines", ReturnLines).focus()
            return False
        self._error("")
        return True

    def on_descendant_focus(self, event: events.DescendantFocus) -> None:
        if self.receipt is None:
            return
        self._keys(REASON_KEYS if event.widget.id == "reason" else LINES_KEYS)

    # -- the reason, then the choice -----------------------------------------------------
    def _confirm(self) -> None:
        if self.receipt is None or not self._chosen_or_say():
            return
        reason_field = self.query_one("#reason", Input)
        reason = reason_field.value.strip()
        if not reason:
            self._error("Type the reason for the return (required), then Enter.")
            reason_field.focus()
            return
        try:
            check_text(reason, "the reason")  # as the return's event will
            self.receipt.check(self.returns)  # the operation's rule, before it runs
        except LoyaltyError as exc:
            self._error(str(exc))
            return
        self.dismiss(ReturnChoice(self.receipt.receipt_no, self.returns, reason))

    def action_back(self) -> None:
        """Esc: from the reason back to the lines, from the lines to the receipt; on the
        receipt, close."""
        if self.receipt is None:
            self.dismiss(None)
        elif self.focused is self.query_one("#reason", Input):
            self.query_one("#lines", ReturnLines).focus()
            self._error("")
        else:
            self._step1()
            self._error("")
            self._load_recent()
            self.query_one("#receipt-no", Input).value = ""

    # -- helpers -------------------------------------------------------------------------
    def _error(self, text: str) -> None:
        text = text[:1].upper() + text[1:]  # the store's sentences start in lower case
        self.query_one("#error", Label).update(f"[red]{escape(text)}[/red]" if text else "")

    def _keys(self, keys: list[tuple[str, str]]) -> None:
        bar = self.query_one("#keys", KeyBar)
        bar.extra = list(keys)
        if bar.is_mounted:
            bar.show_keys()


__all__ = ["ReturnChoice", "ReturnScreen"]
