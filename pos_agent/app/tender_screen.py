"""Payment: the amount due, the tenders taken so far, what is left; the sale is recorded
by the checkout screen only once the tenders cover it (the dialog returns them).

- Enter with an amount: cash handed over (change is given on the last cash tender);
  Enter on an empty field: the exact cash left (rounded as the program says);
- F2: card, for the amount typed or everything left (the payment terminal is external:
  this records what it took);
- F3 / F4: gift card / store credit, typed as `CODE` (everything left) or `CODE 10.00`;
- F5 takes the last tender back; Esc goes back to the basket, nothing recorded.

A points tender chosen before (F2 Rewards on the checkout, with the member's proof) is
listed first and stays: it is taken back on the checkout screen.

    >>> app.push_screen(TenderScreen(program, ticket, [points_tender]), on_paid)
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from loyalty import tender as tenders_
from loyalty.basket import Ticket
from loyalty.errors import LoyaltyError
from loyalty.money import format_amount, parse_amount
from loyalty.program import Program
from loyalty.tender import Settlement, Tender, TenderKind, settle
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.app.widgets.text import Text

_NAMES = {TenderKind.CASH: "Cash", TenderKind.CARD: "Card", TenderKind.POINTS: "Points",
          TenderKind.GIFT_CARD: "Gift card", TenderKind.STORE_CREDIT: "Store credit"}


class TenderScreen(ModalScreen[tuple[Tender, ...] | None]):
    CSS_PATH = "tender_screen.tcss"
    BINDINGS = [
        Binding("f2", "card", "Card"),
        Binding("f3", "gift_card", "Gift card"),
        Binding("f4", "store_credit", "Store credit"),
        Binding("f5", "undo", "Take back"),
        Binding("escape", "back", "Back to basket"),
    ]

    def __init__(self, program: Program, ticket: Ticket, fixed: list[Tender] | None = None,
                 spendable: int | None = None) -> None:
        super().__init__()
        self.program = program
        self.ticket = ticket
        self.fixed = list(fixed or [])
        """Tenders chosen before this dialog (the points tender): listed, not taken back here."""
        self.taken: list[Tender] = []
        self.spendable = spendable

    def compose(self) -> ComposeResult:
        with Vertical(id="tender"):
            yield Label(f"[b]Pay {self.money(self.ticket.total)} {self.program.currency}[/b]",
                        id="due")
            yield Text("", id="tenders")
            yield Input(placeholder="Cash handed over (Enter on empty: exact cash)",
                        id="amount")
            yield Text("", id="tender-message")
            yield KeyBar([("Enter", "Cash")], id="keys", classes="inline")

    def on_mount(self) -> None:
        self.show()
        self.query_one("#amount", Input).focus()

    def money(self, minor: int) -> str:
        return format_amount(minor, self.program.currency_exponent)

    def settlement(self) -> Settlement:
        return settle(self.program, self.ticket, [*self.fixed, *self.taken],
                      spendable=self.spendable, complete=False)

    def show(self, error: str = "") -> None:
        s = self.settlement()
        lines = [f"{_NAMES[t.kind]}{' ' + t.code if t.code else ''}"
                 + (f" ({t.points:,} {self.program.points_name})" if t.points else "")
                 + f"  {self.money(t.amount)}" for t in s.tenders]
        lines.append(f"[b]Left to pay {self.money(s.remaining)}[/b]" if s.remaining
                     else f"[b]Change {self.money(s.change)}[/b]")
        self.query_one("#tenders", Text).show("\n".join(escape(ln) if "[b]" not in ln else ln
                                                        for ln in lines))
        self.query_one("#tender-message", Text).show(f"[red]{escape(error)}[/red]"
                                                     if error else "")

    def take(self, tender: Tender | None) -> None:
        """Add `tender` if the ticket takes it; once nothing is left to pay, hand the tenders
        back to be recorded."""
        field = self.query_one("#amount", Input)
        if tender is None:
            return
        self.taken.append(tender)
        try:
            s = self.settlement()
        except LoyaltyError as exc:
            self.taken.pop()
            self.show(str(exc))
            return
        field.value = ""
        if s.remaining == 0:
            self.dismiss(tuple([*self.fixed, *self.taken]))
            return
        self.show()

    def typed_amount(self, default_rest: bool, cash: bool = False) -> int | None:
        """The amount typed, or (empty) what is left: for cash rounded to the cash step."""
        text = self.query_one("#amount", Input).value.strip()
        try:
            if text:
                return parse_amount(text, self.program.currency_exponent)
            if not default_rest:
                return None
            left = self.settlement().remaining
            return tenders_.round_cash(self.program, left) if cash else left
        except LoyaltyError as exc:
            self.show(str(exc))
            return None

    def on_input_submitted(self, event: Input.Submitted) -> None:
        amount = self.typed_amount(default_rest=True, cash=True)
        if amount is not None:
            self.take(self.make(tenders_.cash, amount))

    def make(self, kind, *args) -> Tender | None:  # noqa: ANN001 - a loyalty.tender maker
        try:
            return kind(*args)
        except LoyaltyError as exc:
            self.show(str(exc))
            return None

    def action_card(self) -> None:
        amount = self.typed_amount(default_rest=True)
        if amount is not None:
            self.take(self.make(tenders_.card, amount))

    def _coded(self, kind) -> None:  # noqa: ANN001 - gift_card or store_credit
        parts = self.query_one("#amount", Input).value.split()
        if not parts or len(parts) > 2:
            self.show("Type the code, then a space and the amount (or only the code to pay "
                      "everything left), e.g. GC-7K2P 10.00")
            return
        try:
            amount = (parse_amount(parts[1], self.program.currency_exponent) if len(parts) == 2
                      else self.settlement().remaining)
        except LoyaltyError as exc:
            self.show(str(exc))
            return
        self.take(self.make(kind, parts[0], amount))

    def action_gift_card(self) -> None:
        self._coded(tenders_.gift_card)

    def action_store_credit(self) -> None:
        self._coded(tenders_.store_credit)

    def action_undo(self) -> None:
        if self.taken:
            self.taken.pop()
        self.show()

    def action_back(self) -> None:
        self.dismiss(None)
