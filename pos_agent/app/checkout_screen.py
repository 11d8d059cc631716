"""Checkout: a basket paid at tender.

One input takes the member: a scanned or typed card number, phone, member QR, name or
e-mail (a name that fits several lists them to choose from), at any point before payment.
The item input takes products: a scanned barcode, a SKU, a name (several matches: a list),
`3*latte` for three, or an amount (`12.50`) for an item without a barcode. The basket shows
each line and discount, and subtotal, discounts, tax and total are always visible with
what the member would earn. Up/Down pick a line; Ctrl+N its quantity, Ctrl+L removes it,
Ctrl+O overrides its price (with a reason). F2 applies a reward or voucher to the ticket
(or points as a payment), F10 takes payment (tender_screen.py): the sale and all its
loyalty events are recorded in one transaction only then, and the basket and member clear
for the next customer. Ctrl+P parks the basket, Ctrl+R recalls one. F7 returns lines of a
receipt (return_screen.py). A sale without a member works too.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime
from datetime import date as date_cls

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Input, Static

from loyalty import tender as tenders_
from loyalty.basket import Applied, Basket, Ticket, add_item, applied_voucher, price
from loyalty.basket import override_price as set_price
from loyalty.basket import remove_line as drop_line
from loyalty.basket import set_qty as change_qty
from loyalty.earning import earn_for_sale
from loyalty.errors import LoyaltyError
from loyalty.fold import MemberState
from loyalty.member_qr import looks_like_payload
from loyalty.money import format_amount, parse_amount
from loyalty.pins import spend_needs_pin
from loyalty.program import Reward
from loyalty.redemption import BASKET_KINDS, eligible_rewards
from loyalty.sale import OTHER_SKU
from loyalty.summary import MemberSummary, member_summary
from loyalty.tender import Tender, max_points, settle
from pos_agent.app.approval_screen import ApprovalScreen
from pos_agent.app.choice_screen import ChoiceScreen
from pos_agent.app.enrol_screen import EnrolScreen
from pos_agent.app.prompt_screen import PromptScreen
from pos_agent.app.receipts import LEFT_OVER, ReceiptPrinted
from pos_agent.app.redeem_screen import RedeemChoice, RedeemScreen, offers
from pos_agent.app.tender_screen import TenderScreen
from pos_agent.app.widgets.basket_view import BasketTable, totals_text
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.app.widgets.member_panel import MemberPanel, member_text
from pos_agent.app.widgets.status_bar import StatusBar
from pos_agent.app.widgets.text import Text
from pos_agent.catalogue import ProductNotFound, product_by_code, search_products
from pos_agent.exceptions import ApprovalRequired, PosError, SeveralMembers
from pos_agent.limits import pay_points_limit
from pos_agent.members import (
    MemberMatch,
    enrol,
    find_member,
    link_card,
    looks_like_card,
    member_view,
)
from pos_agent.operations import (
    check_in,
    checkout,
    redeem_reward,
    redeem_voucher,
    refund_lines,
    stock_left,
    void_receipt,
)
from pos_agent.parked import park, parked_baskets, recall
from pos_agent.pins import prove_possession
from pos_agent.staff import StaffMember, has_staff
from pos_agent.sync.setup import build_authorizer

_QTY = re.compile(r"(\d{1,4})\s*[*xX]\s*(\S.*)")
_AMOUNT = re.compile(r"\d+[.,]\d+")
_RECEIPT = re.compile(r"[A-Za-z0-9]+-[A-Za-z0-9]+-\d{6,}")


class CheckoutScreen(Screen):
    CSS_PATH = "checkout_screen.tcss"
    # A 24-line terminal drops the margins and keeps the member panel short, so the
    # basket's last lines and its totals stay on screen.
    VERTICAL_BREAKPOINTS = [(0, "-short"), (32, "-tall")]
    BINDINGS = [
        Binding("f2", "redeem", "Rewards"),
        Binding("f10", "pay", "Pay"),
        Binding("f3", "enrol", "Enrol"),
        Binding("f4", "void", "Void"),
        Binding("f5", "checkin", "Check-in"),
        Binding("f6", "reprint", "Reprint"),
        Binding("f7", "refund", "Return"),
        Binding("f8", "link_card", "Add card"),
        Binding("f9", "sync", "Sync"),
        Binding("f11", "lock", "Lock"),
        Binding("f12", "manager", "Manager"),
        # (Ctrl+E and Ctrl+X are the item input's End and Cut)
        Binding("ctrl+n", "quantity", "Qty"),
        Binding("ctrl+l", "remove_line", "Remove"),
        Binding("ctrl+o", "override", "Price"),
        Binding("ctrl+p", "park", "Park"),
        Binding("ctrl+r", "recall", "Recall"),
        Binding("up", "line(-1)", show=False),
        Binding("down", "line(1)", show=False),
        Binding("escape", "clear", "Next"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.member: MemberMatch | None = None
        self.view: tuple[MemberState, MemberSummary] | None = None
        """The member's state and summary as last shown: the earn preview uses it instead
        of reading the member again at every key."""
        self.basket = Basket()
        self.applied: list[Applied] = []
        """Rewards and vouchers on the ticket: bought or used at tender, not before."""
        self.points: Tender | None = None
        """Pay with points, chosen with F2 (the member confirmed): the first tender."""
        self.proof: tuple[str, str | None] | None = None
        """How the member proved it is them for what the ticket spends: (found_by, PIN)."""
        self.ticket: Ticket | None = None
        self._drop_armed = False
        self._printing: tuple[str, str] | None = None
        """(receipt or job, message) whose print outcome the message line waits for."""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="checkout"):
            yield Input(placeholder="Member: scan their QR or type card / phone / name / "
                        "e-mail, Enter", id="member-input")
            yield MemberPanel("No member yet.", id="member")
            yield Input(placeholder="Item: scan or type a barcode, SKU or name (3*latte for "
                        "3), or an amount 12.50; Enter adds it", id="sale-input")
            yield BasketTable(id="basket")
            yield Static(totals_text(self.app.store.active_program(), None), id="totals")
            yield Static("", id="preview")
            yield Text("", id="message")
        yield KeyBar(id="keys")

    @property
    def store(self):  # noqa: ANN201 - the app's Store
        return self.app.store

    def say(self, text: str, error: bool = False) -> None:
        text = escape(text)  # error texts may hold [brackets]
        self.query_one("#message", Text).show(f"[red]{text}[/red]" if error else text)
        self.call_after_refresh(self.app.refresh_status)  # after the frame is on screen

    def clear_message(self) -> None:
        """Take the last message off: each action and each customer starts with none, so
        an old "Sale ... recorded" or error is never read as being about what comes next
        (issue 17). A receipt still printing then reports only a failure, as a toast."""
        self._printing = None
        self.query_one("#message", Text).show("")

    def say_and_print(self, text: str, receipt_no: str | None = None,
                      job_ids: list[int] | None = None) -> None:
        """Say what was done; its receipt is sent in the background and the message then
        says whether it printed (see `on_receipt_printed`)."""
        self.say(f"{text} Printing the receipt...")
        # Sent once this frame is on screen: rendering the receipt in the printing thread
        # competes with the app for the interpreter while it runs.
        if receipt_no is not None:
            self._printing = (receipt_no, text)
            self.call_after_refresh(self.app.receipts.print_receipt, receipt_no, self)
        else:
            self._printing = (f"job {(job_ids or ['-'])[0]}", text)
            self.call_after_refresh(self.app.receipts.print_jobs, job_ids or [], self)

    def on_receipt_printed(self, message: ReceiptPrinted) -> None:
        outcome = ("Receipt printed." if message.ok
                   else f"Receipt NOT printed ({message.error}); F6 reprints.")
        if self._printing is not None and self._printing[0] == message.key:
            self.say(f"{self._printing[1]} {outcome}")
            self._printing = None
        elif message.key == LEFT_OVER:
            printed = sum(o.ok for o in message.outcomes)
            failed = len(message.outcomes) - printed
            if failed:
                self.notify(f"{failed} receipt(s) left from before NOT printed "
                            f"({message.error}); {printed} printed. The manager screen (F12) "
                            "retries.", severity="error", timeout=15)
            elif printed:
                self.notify(f"{printed} receipt(s) left from before printed.", timeout=10)
        elif not message.ok:  # the cashier has moved on: still tell them
            self.notify(f"{message.key}: {outcome}", severity="error", timeout=10)

    # -- inputs and scans --------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "member-input":
            self.lookup(event.value)
        elif event.input.id == "sale-input":
            self.add_entry(event.value)

    def scanned(self, code: str, before: tuple[Input, str, int] | None) -> None:
        """A scanned code (keyboard wedge or serial scanner): a receipt's own barcode opens
        its return, a member QR or card number finds the member, anything else (a
        product's EAN/UPC or SKU) goes to the basket. `before` is the field a wedge burst
        was typed into and what it held then: it gets its text back once it has taken the
        burst's keys (they were queued before this call); the member field keeps a code
        that found nobody, so the cashier sees what was read."""
        text = code.strip()
        if _RECEIPT.fullmatch(text):
            found = True
            self.open_return(text.upper())
        elif looks_like_payload(text) or looks_like_card(text):
            found = self.lookup(text, scanned=True)
        else:  # a product's EAN/UPC, or a SKU printed as a barcode
            found = self.add_entry(text, scanned=True)
        if before is None:
            return
        field, value, cursor = before
        if field.id == "member-input":
            if not found:
                return
            value, cursor = "", 0

        def restore() -> None:
            field.value = value
            field.cursor_position = cursor

        field.call_later(restore)

    # -- member ------------------------------------------------------------------------
    def lookup(self, text: str, scanned: bool = False) -> bool:
        self.clear_message()
        if not text.strip():
            self.query_one("#sale-input", Input).focus()
            if self.member is None:
                self.query_one("#member", MemberPanel).show("Sale without a member (F3 "
                                                            "enrols).")
            return False
        try:
            match = find_member(self.store, text)
        except SeveralMembers as exc:
            # A name fits several: the cashier picks one (the typed text stays meanwhile).
            from pos_agent.app.member_choice_screen import MemberChoiceScreen

            self.say(str(exc))
            self.app.push_screen(MemberChoiceScreen(text.strip(), exc.candidates),
                                 self.member_chosen)
            return False
        except (PosError, LoyaltyError) as exc:
            self.say(f"Scanned {text[:40]}: {exc}" if scanned else str(exc), error=True)
            return False  # the typed text stays in the input
        self.attach(match, scanned)
        return True

    def member_chosen(self, match: MemberMatch | None) -> None:
        """The candidate the cashier chose from a name's list (None: Esc, keep typing)."""
        if match is None:
            self.say("No member chosen: type more of the name, the phone or the card.")
            self.query_one("#member-input", Input).focus()
            return
        self.clear_message()
        self.attach(match, False)

    def attach(self, match: MemberMatch, scanned: bool) -> None:
        """`match` is the customer now. Rewards, vouchers and points were the previous
        member's: another member takes them off the ticket."""
        if self.member is not None and self.member.member_id != match.member_id:
            self.applied, self.points, self.proof = [], None, None
        self.member = match
        self.show_member()
        if not scanned:
            self.query_one("#member-input", Input).value = ""
        self.query_one("#sale-input", Input).focus()
        self.refresh_basket()
        self.say(f"Member found by {match.found_by}" + (" (scanned)." if scanned else "."))

    def show_member(self, state: MemberState | None = None) -> None:
        """Show the member as the database has them now, or as `state` (what an operation
        just committed returned: the same, without folding the history again)."""
        if self.member is None:
            return
        if state is None:
            self.view = member_view(self.store, self.member.member_id)
        else:
            self.view = (state, member_summary(self.store.active_program(), state,
                                               datetime.now(UTC)))
        self.query_one("#member", MemberPanel).show(
            member_text(self.member.name, self.member.card_number, self.view[1]))

    # -- basket --------------------------------------------------------------------------
    def add_entry(self, text: str, scanned: bool = False) -> bool:
        """Add what the item input holds: `[N*]barcode|SKU|name`, or an amount."""
        self.clear_message()
        text = text.strip()
        if not text:
            if self.basket.lines:
                self.say("F10 takes payment; scan or type the next item.")
            return False
        if self.view is not None and text.upper() in self.view[0].vouchers:
            # the member's voucher by its code (printed, or from their web page): on the
            # ticket as if chosen with F2; a typed code alone proves nothing, so the
            # member's proof is what found them (F2 asks for the PIN or QR otherwise)
            self.field_done()
            return self.voucher_typed(text.upper())
        qty, query = 1, text
        if (m := _QTY.fullmatch(text)) is not None:
            qty, query = int(m[1]), m[2].strip()
        if _AMOUNT.fullmatch(query):
            program = self.store.active_program()
            try:
                amount = parse_amount(query.replace(",", "."), program.currency_exponent)
            except LoyaltyError as exc:
                self.say(str(exc), error=True)
                return False
            return self.add_product(OTHER_SKU, "Item", "", amount, 0, qty)
        try:
            product = product_by_code(self.store, query)
        except ProductNotFound as exc:
            if exc.product is not None or (query.isascii() and query.isdigit()):
                hint = ("" if scanned or len(query) > 6 else
                        f" (an amount is typed with its decimals: {query}.00)")
                self.say((f"Scanned {query[:40]}: {exc}" if scanned else str(exc)) + hint,
                         error=True)
                return False
            found = search_products(self.store, query, limit=30)
            if not found:
                self.say(f"No product matches '{query[:40]}': try another word, the SKU or "
                         "the barcode.", error=True)
                return False
            if len(found) > 1:
                exponent = self.store.active_program().currency_exponent
                self.app.push_screen(
                    ChoiceScreen(f"{len(found)} products match '{query[:40]}': choose one",
                                 [f"{p.name}  {format_amount(p.price, exponent)}  ({p.sku})"
                                  for p in found]),
                    lambda i: None if i is None else self.add_product(
                        found[i].sku, found[i].name, found[i].category, found[i].price,
                        found[i].tax_rate, qty))
                return True
            product = found[0]
        return self.add_product(product.sku, product.name, product.category, product.price,
                                product.tax_rate, qty)

    def field_done(self) -> None:
        self.query_one("#sale-input", Input).value = ""

    def voucher_typed(self, code: str) -> bool:
        assert self.member is not None and self.view is not None
        if code in {a.voucher for a in self.applied}:
            self.say(f"Voucher {code} is already on the ticket.", error=True)
            return False
        if not self.basket.lines:
            self.say("Add the items first: the voucher applies to the basket.", error=True)
            return False
        before = len(self.applied)
        self.to_ticket(RedeemChoice(voucher=code), (self.member.found_by, None))
        return len(self.applied) > before

    def add_product(self, sku: str, name: str, category: str, unit_price: int,
                    tax_rate: int, qty: int = 1) -> bool:
        try:
            basket = add_item(self.basket, sku=sku, name=name, category=category,
                              unit_price=unit_price, tax_rate=tax_rate, qty=qty)
        except LoyaltyError as exc:
            self.say(str(exc), error=True)
            return False
        line = next(ln for ln in basket.lines if ln.sku == sku and ln.override_price is None
                    and ln.unit_price == unit_price)
        self.set_basket(basket, select=line.line_no)
        self.field_done()
        self.query_one("#sale-input", Input).focus()  # a scan from the member field too
        exponent = self.store.active_program().currency_exponent
        self.say(f"{qty} x {name} {format_amount(unit_price, exponent)}.")
        return True

    def set_basket(self, basket: Basket, select: int | None = None) -> None:
        self.basket = basket
        self._drop_armed = False
        self.refresh_basket(select)

    def refresh_basket(self, select: int | None = None) -> None:
        """Price the basket with its rewards and show it, the totals and what it earns. A
        reward that no longer applies (its line was removed) comes off the ticket, and
        points worth more than the new total come off the payment, with a message."""
        program = self.store.active_program()
        notes: list[str] = []
        ticket = None
        if self.basket.lines:
            while True:
                try:
                    ticket = price(program, self.basket, self.applied)
                    break
                except LoyaltyError as exc:
                    if not self.applied:  # not a reward's doing: show the lines unpriced
                        notes.append(str(exc))
                        break
                    self.applied.pop()
                    notes.append(f"taken off the ticket: {exc}")
        self.ticket = ticket
        settlement = None
        if self.points is not None and ticket is not None:
            try:
                settlement = settle(program, ticket, [self.points], complete=False)
            except LoyaltyError as exc:
                self.points = None
                notes.append(f"{program.points_name} payment taken off: {exc}")
        self.query_one("#basket", BasketTable).show(ticket, program.currency_exponent, select)
        self.query_one("#totals", Static).update(totals_text(
            program, ticket, self.points.points if self.points else 0, settlement))
        self.query_one("#preview", Static).update(self.earns_text(ticket))
        if notes:
            self.say("; ".join(notes), error=True)

    def earns_text(self, ticket: Ticket | None) -> str:
        """What the member would earn on the ticket as it is (nothing without a member)."""
        if ticket is None or self.view is None or not ticket.total:
            return ""
        program = self.store.active_program()
        try:
            result = earn_for_sale(program, self.view[0], ticket, datetime.now(UTC),
                                   receipt_no="preview",
                                   points_paid=self.points.amount if self.points else 0)
        except LoyaltyError as exc:
            return f"[dim]{escape(str(exc))}[/dim]"
        promos = f" ({', '.join(result.promotions)})" if result.promotions else ""
        bonuses = "".join(f" +{p} {why}" for why, p in result.bonuses)
        stamps = "".join(f", +{n} stamp{'s' if n != 1 else ''} {card}"
                         for card, n in result.stamps.items() if n)
        return (f"Earns [b]{result.purchase_points} {program.points_name}[/b]"
                f"{escape(promos)}{escape(bonuses)}{escape(stamps)}")

    def action_line(self, step: int) -> None:
        table = self.query_one("#basket", BasketTable)
        if table.row_count:
            table.move_cursor(row=max(0, min(table.row_count - 1, table.cursor_row + step)))

    def selected_line(self) -> int | None:
        line_no = self.query_one("#basket", BasketTable).selected_line_no
        if line_no is None:
            self.say("The basket is empty: scan or type an item first.", error=True)
        return line_no

    def action_quantity(self) -> None:
        self.clear_message()
        line_no = self.selected_line()
        if line_no is None:
            return
        line = self.basket.line(line_no)
        self.app.push_screen(PromptScreen(f"Quantity of line {line_no} ({line.name}), 0 "
                                          "removes it:", str(line.qty)),
                             lambda answer: self.quantity_done(line_no, answer))

    def quantity_done(self, line_no: int, answer: str | None) -> None:
        if not answer:
            return
        if not (answer.isascii() and answer.isdigit()):
            self.say(f"'{answer[:20]}' is not a quantity: type a whole number.", error=True)
            return
        try:
            self.set_basket(change_qty(self.basket, line_no, int(answer)), select=line_no)
        except LoyaltyError as exc:
            self.say(str(exc), error=True)

    def action_remove_line(self) -> None:
        self.clear_message()
        line_no = self.selected_line()
        if line_no is None:
            return
        name = self.basket.line(line_no).name
        self.set_basket(drop_line(self.basket, line_no))
        self.say(f"Line {line_no} ({name}) removed.")

    def action_override(self) -> None:
        self.clear_message()
        line_no = self.selected_line()
        if line_no is None:
            return
        line = self.basket.line(line_no)
        self.app.push_screen(
            PromptScreen(f"New unit price of line {line_no} ({line.name}), a space, and why:",
                         "3.00 damaged packaging"),
            lambda answer: self.override_done(line_no, answer))

    def override_done(self, line_no: int, answer: str | None) -> None:
        if not answer:
            return
        amount, _, reason = answer.partition(" ")
        try:
            unit = parse_amount(amount.replace(",", "."),
                                self.store.active_program().currency_exponent)
            self.set_basket(set_price(self.basket, line_no, unit, reason), select=line_no)
        except LoyaltyError as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"Line {line_no} at {amount}: {reason.strip()}.")

    # -- payment -------------------------------------------------------------------------
    def action_pay(self) -> None:
        self.clear_message()
        if self.ticket is None:
            self.say("The basket is empty: scan or type an item first.", error=True)
            return
        spendable = self.view[0].spendable if self.view is not None else None
        fixed = (self.points,) if self.points else ()
        if settle(self.store.active_program(), self.ticket, fixed,
                  complete=False).remaining == 0:
            self.paid(fixed)  # rewards or points cover it all: nothing to take
            return
        self.app.push_screen(TenderScreen(self.store.active_program(), self.ticket,
                                          [self.points] if self.points else [], spendable),
                             self.paid)

    def paid(self, tenders: tuple[Tender, ...] | None) -> None:
        """The tenders cover the ticket: record the sale and all it spends and earns, in one
        transaction (pos_agent.operations.checkout), then clear for the next customer."""
        if tenders is None:
            self.say("Payment cancelled: nothing recorded, the basket is as it was.")
            return
        found_by, pin = self.proof or ((self.member.found_by, None) if self.member
                                       else ("", None))
        try:
            result = checkout(self.store, self.member.member_id if self.member else None,
                              self.basket, self.applied, list(tenders), found_by=found_by,
                              pin=pin, authorizer=build_authorizer(
                                  self.store.settings, self.store, self.app.agent))
        except (PosError, LoyaltyError) as exc:
            self.say(f"Not recorded: {exc}", error=True)
            return
        program = self.store.active_program()
        e = program.currency_exponent
        pn = program.points_name
        if self.member is not None:
            text = f"Sale {result.receipt_no} recorded, +{result.points_earned} {pn}"
            if result.points_spent:
                text += f", -{result.points_spent} {pn}"
        else:
            text = (f"Sale {result.receipt_no} recorded without a member (F3 enrols the "
                    "customer for next time)")
        paid = ", ".join(f"{t.kind.value.replace('_', ' ')} {format_amount(t.amount, e)}"
                         for t in result.settlement.tenders)
        text += f". Total {format_amount(result.ticket.total, e)}, paid {paid}"
        if result.settlement.change:
            text += f", CHANGE {format_amount(result.settlement.change, e)}"
        if self.member is not None:
            text += f". Balance {result.balance:,} {pn}"
        text += "."
        self.reset()
        self.say_and_print(text, result.receipt_no)
        if self.app.agent is not None:
            self.app.agent.trigger_now()

    def reset(self) -> None:
        """Nothing of the last customer stays: basket, rewards, points, member."""
        self.member, self.view = None, None
        self.applied, self.points, self.proof = [], None, None
        self.query_one("#member", MemberPanel).show("No member yet.")
        for input_id in ("#member-input", "#sale-input"):
            self.query_one(input_id, Input).value = ""
        self.set_basket(Basket())
        self.query_one("#preview", Static).update("")
        self.query_one("#member-input", Input).focus()

    # -- park and recall -------------------------------------------------------------------
    def action_park(self) -> None:
        self.clear_message()
        if not self.basket.lines or self.ticket is None:
            self.say("The basket is empty: nothing to park.", error=True)
            return
        program = self.store.active_program()
        units = sum(ln.qty for ln in self.basket.lines)
        label = (f"{units} item{'s' if units != 1 else ''}, "
                 f"{format_amount(self.ticket.total, program.currency_exponent)}"
                 + (f" - {self.member.name}" if self.member else ""))
        try:
            park(self.store, self.basket, self.applied,
                 member_id=self.member.member_id if self.member else None,
                 found_by=self.proof[0] if self.proof else (
                     self.member.found_by if self.member else None), label=label)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self.reset()
        self.say(f"Basket parked ({label}): Ctrl+R recalls it.")

    def action_recall(self) -> None:
        self.clear_message()
        waiting = parked_baskets(self.store)
        if not waiting:
            self.say("No parked basket on this till.")
            return
        if self.basket.lines:
            self.say("Pay or park this basket first (Ctrl+P), then recall.", error=True)
            return
        self.app.push_screen(
            ChoiceScreen(f"{len(waiting)} parked basket(s): choose one",
                         [f"{p.parked_at[11:16]}  {p.label}" for p in waiting]),
            lambda i: None if i is None else self.recalled(waiting[i].parked_id))

    def recalled(self, parked_id: int) -> None:
        try:
            parked = recall(self.store, parked_id)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self.reset()
        if parked.member_id is not None:
            row = self.store.conn.execute(
                "SELECT m.name, (SELECT card_number FROM cards c WHERE c.member_id = "
                "m.member_id ORDER BY added_at LIMIT 1) FROM members m WHERE member_id = ?",
                (parked.member_id,)).fetchone()
            if row is not None:
                self.member = MemberMatch(parked.member_id, row[1], row[0],
                                          parked.found_by or "card")
                self.show_member()
        self.applied = list(parked.applied)
        if self.applied and self.member is not None:
            self.proof = (self.member.found_by, None)
        self.set_basket(parked.basket)
        self.query_one("#sale-input", Input).focus()
        self.say(f"Recalled: {parked.label}.")

    # -- other actions ---------------------------------------------------------------------
    def action_clear(self) -> None:
        """Esc: the next customer. A basket with items needs Esc twice (or Ctrl+P parks
        it), so one stray key does not drop a full basket."""
        if self.basket.lines and not self._drop_armed:
            self._drop_armed = True
            self.say("Esc again drops this basket (nothing is recorded); Ctrl+P parks it, "
                     "F10 takes payment.", error=True)
            return
        self.clear_message()  # the next customer: nothing of the last one stays on screen
        self.reset()

    def action_redeem(self) -> None:
        self.clear_message()
        if self.member is None:
            self.say("Find the member first (scan their QR or card).", error=True)
            return
        self.show_member()  # the balance as it is now, also on the panel
        assert self.view is not None
        state, summary = self.view
        program = self.store.active_program()
        rewards = [r for r in eligible_rewards(program, state, datetime.now(UTC))
                   if (left := stock_left(self.store.conn, program, r.id)) is None or left > 0]
        spendable = summary.balance - summary.held
        # Offline (no hub, or the last sync failed), or a ticket that already spends points
        # (several spends keep to the offline rules: operations.checkout): the offline
        # limit caps the pre-fill.
        offline = (self.app.agent is None or self.app.agent.status.online is False
                   or any(not a.voucher for a in self.applied) or self.points is not None)
        due = self.ticket.total if self.ticket is not None else None
        on_ticket = {a.voucher for a in self.applied}

        def pay_limit(reward: Reward) -> int:
            most = pay_points_limit(program, reward, spendable, offline=offline)
            # points pay the ticket and give no change: at most what is due
            return most if due is None else min(most, max_points(program, due, spendable))

        self.app.push_screen(
            # what can be spent: points held for HQ review are in the balance but not here
            RedeemScreen(self.member.name, spendable, program.points_name,
                         offers(rewards, [v for v in summary.vouchers if v[0] not in on_ticket],
                                spendable,
                                program.points_name, pay_limit),
                         currency=program.currency, exponent=program.currency_exponent,
                         confirm_by_scan=spend_needs_pin(program.spend_proof,
                                                         self.member.found_by),
                         pin_allowed=program.spend_proof != "qr_only", pay_limit=pay_limit),
            self.redeem_chosen)

    def confirmed(self, choice: RedeemChoice) -> tuple[str, str | None] | None:
        """The member's proof for `choice`: (found_by, PIN), or None (said why)."""
        assert self.member is not None
        if choice.confirmed_by is None:
            return self.member.found_by, None
        if not looks_like_payload(choice.confirmed_by):
            return self.member.found_by, choice.confirmed_by  # a PIN: the operation checks it
        try:
            proof = find_member(self.store, choice.confirmed_by)
        except (PosError, LoyaltyError) as exc:
            self.say(f"Not confirmed: {exc}", error=True)
            return None
        if proof.member_id != self.member.member_id or proof.found_by != "qr":
            self.say("Not confirmed: that QR code is not this member's. Nothing was "
                     "redeemed.", error=True)
            return None
        return proof.found_by, None

    def redeem_chosen(self, choice: RedeemChoice | None) -> None:
        """A reward for the basket or a voucher goes on the ticket, points become the first
        tender: both are recorded at payment. Anything else (a gift card, store credit,
        a donation bought with points) is redeemed at once."""
        if choice is None or self.member is None or self.view is None:
            return
        proof = self.confirmed(choice)
        if proof is None:
            return
        program = self.store.active_program()
        reward_id = choice.reward_id
        if choice.voucher is not None:
            voucher = self.view[0].vouchers.get(choice.voucher)
            reward_id = voucher.reward_id if voucher is not None else None
        reward = program.reward(reward_id) if reward_id else None
        for_basket = reward is not None and reward.kind in BASKET_KINDS
        if choice.points is not None or for_basket:
            if not self.basket.lines:
                self.say("Add the items first: this applies to the basket.", error=True)
                return
            self.to_ticket(choice, proof)
            return
        self.redeem_now(choice, proof)

    def to_ticket(self, choice: RedeemChoice, proof: tuple[str, str | None]) -> None:
        """Put the reward, voucher or points on the ticket. The member's proof is checked
        now (a wrong PIN is refused here, with the tries it costs), and again when the
        sale is recorded."""
        program = self.store.active_program()
        assert self.view is not None and self.member is not None
        e = program.currency_exponent
        try:
            prove_possession(self.store, self.member.member_id, *proof)
            if choice.points is not None:
                points = tenders_.points(program, choice.points)
                assert self.ticket is not None
                settle(program, self.ticket, [points], spendable=self.view[0].spendable,
                       complete=False)
                self.points = points
                what = (f"{choice.points:,} {program.points_name} pay "
                        f"{format_amount(points.amount, e)}")
            else:
                item = (applied_voucher(self.view[0], choice.voucher) if choice.voucher
                        else Applied(choice.reward_id or ""))
                ticket = price(program, self.basket, [*self.applied, item])
                self.applied.append(item)
                off = ticket.discount_total - (self.ticket.discount_total if self.ticket
                                               else 0)
                what = f"{ticket.discounts[-1].label} on the ticket: -{format_amount(off, e)}"
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.proof = proof
        self.refresh_basket()
        self.say(f"{what} (recorded at payment, F10).")

    def redeem_now(self, choice: RedeemChoice, proof: tuple[str, str | None]) -> None:
        assert self.member is not None
        found_by, pin = proof
        authorizer = build_authorizer(self.store.settings, self.store, self.app.agent)
        try:
            if choice.voucher is not None:
                result = redeem_voucher(self.store, self.member.member_id, choice.voucher,
                                        found_by=found_by, pin=pin)
            else:
                result = redeem_reward(self.store, self.member.member_id,
                                       choice.reward_id or "", found_by=found_by, pin=pin,
                                       points=choice.points, authorizer=authorizer)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.show_member()
        if choice.voucher is not None:
            self.say_and_print(f"Voucher {choice.voucher} used: {result.reward_name}.",
                               result.receipt_no)
            return
        how = ("approved OFFLINE within the limit" if result.approved_offline
               else "authorised online by the hub")
        self.say_and_print(f"{result.reward_name}: {result.points_spent} spent, {how}.",
                           result.receipt_no)

    def action_enrol(self) -> None:
        self.clear_message()
        self.app.push_screen(EnrolScreen(), self.enrol_done)

    def enrol_done(self, values: dict | None) -> None:
        if not values:
            return
        try:
            birthday = (date_cls.fromisoformat(values["birthday"]) if values["birthday"]
                        else None)
            made = enrol(self.store, name=values["name"], phone=values["phone"],
                         email=values["email"] or None, birthday=birthday,
                         card_number=values.get("card") or None,
                         consent_email=values["consent_email"],
                         pin=values.get("pin") or None)
        except ValueError:
            self.say("Birthday must be written YYYY-MM-DD.", error=True)
            return
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.member = find_member(self.store, made.card_number)
        self.show_member()
        self.refresh_basket()  # what the new member earns on the basket
        self.say_and_print(f"Welcome {values['name']}: card {made.card_number}.",
                           made.receipt_no)

    def action_link_card(self) -> None:
        """Register a physical card the member already has (e.g. a pre-printed card from
        the counter, or a card of an old programme) to the member on screen."""
        self.clear_message()
        if self.member is None:
            self.say("Find the member first, then F8 registers their physical card.",
                     error=True)
            return
        self.app.push_screen(
            PromptScreen(f"Scan or type the physical card to register to {self.member.name}:",
                         "16-digit card number"), self.link_done)

    def link_done(self, card_number: str | None) -> None:
        if not card_number or self.member is None:
            return
        try:
            card = link_card(self.store, self.member.member_id, card_number)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.say(f"Card {card} registered to {self.member.name}: it finds them from now on.")

    def action_void(self) -> None:
        self.clear_message()
        self.app.push_screen(PromptScreen("Receipt number to void:", "S001-T1-000042"),
                             self.void_done)

    def void_done(self, receipt_no: str | None) -> None:
        if not receipt_no:
            return
        self.with_approval(f"void {receipt_no}",
                           lambda manager: self.void_approved(receipt_no, manager))

    def void_approved(self, receipt_no: str, manager: StaffMember | None) -> None:
        try:
            result = void_receipt(self.store, receipt_no, approved_by=manager)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.show_member()
        pn = self.store.active_program().points_name
        self.say_and_print(f"Voided {receipt_no}: {result.points_reversed} {pn} taken back.",
                           result.receipt_no)

    def action_refund(self) -> None:
        self.clear_message()
        self.open_return(None)

    def open_return(self, receipt_no: str | None) -> None:
        """The return dialog: pick the receipt (recent list, number, or its barcode
        scanned), the lines and quantities, and the reason."""
        from pos_agent.app.return_screen import ReturnScreen

        self.app.push_screen(ReturnScreen(self.store, receipt_no), self.return_chosen)

    def return_chosen(self, choice: object | None) -> None:
        if choice is None:
            return
        me = self.app.staff
        self.do_return(choice, me if me is not None and me.is_manager else None)

    def do_return(self, choice, manager: StaffMember | None) -> None:  # noqa: ANN001
        """Return the chosen lines (pos_agent.operations.refund_lines); above the till's
        approval amount a manager approves with their own PIN, then it is tried again."""
        try:
            result = refund_lines(self.store, choice.receipt_no, list(choice.returns),
                                  reason=choice.reason, approved_by=manager)
        except ApprovalRequired as exc:
            if manager is not None:
                self.say(str(exc), error=True)
                return
            self.with_approval(f"the return on {choice.receipt_no}",
                               lambda approver: self.do_return(choice, approver))
            return
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        program = self.store.active_program()
        e = program.currency_exponent
        back = ", ".join(f"{t['kind'].replace('_', ' ')} "
                         + (f"{t.get('points', 0):,} {program.points_name}"
                            if t["kind"] == "points" else format_amount(t["amount"], e))
                         for t in result.refunds) or "nothing in money"
        units = sum(int(ln["qty"]) for ln in result.lines)
        text = (f"Returned {units} item{'s' if units != 1 else ''} of {choice.receipt_no}: "
                f"give back {back}")
        if result.member_id is not None:
            text += f"; {result.points_reversed} {program.points_name} taken back"
        if self.member is not None and self.member.member_id == result.member_id:
            self.show_member()
            self.refresh_basket()
        self.say_and_print(text + ".", result.receipt_no)

    def action_checkin(self) -> None:
        self.clear_message()
        if self.member is None:
            self.say("Find the member first.", error=True)
            return
        result = check_in(self.store, self.member.member_id)
        self.show_member()
        if result.receipt_no is None:
            self.say("Already checked in today: no bonus.")
        else:
            self.say("Checked in: " + ", ".join(f"+{p} {why}" for why, p in result.bonuses))

    def action_reprint(self) -> None:
        self.clear_message()
        self.app.push_screen(PromptScreen("Receipt number to reprint:"), self.reprint_done)

    def reprint_done(self, receipt_no: str | None) -> None:
        from pos_agent.printing import reprint

        if not receipt_no:
            return
        try:
            job_id = reprint(self.store, receipt_no)
        except PosError as exc:
            self.say(str(exc), error=True)
            return
        self.say_and_print(f"Reprint of {receipt_no}:", job_ids=[job_id])

    def with_approval(self, what: str,
                      then: Callable[[StaffMember | None], None]) -> None:
        """Run `then(manager)` once a manager approved `what` with their own PIN; on a
        till without staff at once, with None (pos_agent.staff). Esc: nothing is done."""
        if not has_staff(self.store.conn):
            then(None)
            return
        me = self.app.staff
        prefill = me.staff_id if me is not None and me.is_manager else ""

        def approved(manager: StaffMember | None) -> None:
            if manager is None:
                self.say(f"Not approved ({what}): nothing was done.")
                return
            then(manager)

        self.app.push_screen(ApprovalScreen(what, prefill), approved)

    def action_manager(self) -> None:
        self.clear_message()
        from pos_agent.app.manager_screen import ManagerScreen

        self.with_approval("the manager screen",
                           lambda _manager: self.app.push_screen(ManagerScreen()))

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "lock":  # nothing to lock on a till without staff: no key either
            return has_staff(self.store.conn)
        return True

    def action_lock(self) -> None:
        self.action_clear()
        self.say("Locked.")
        self.app.lock()

    def action_sync(self) -> None:
        self.clear_message()
        if self.app.agent is None:
            self.say("No hub configured for this terminal.", error=True)
            return
        self.app.run_sync()
