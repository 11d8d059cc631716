"""Checkout: one input takes a scanned or typed card number, phone or member QR; then the
member panel, the sale amount (or lines `SKU,CATEGORY,QTY,PRICE; ...`) with a live preview
of the points it earns, Enter records the sale and prints the receipt. A sale without a
member works too."""

from __future__ import annotations

from datetime import UTC, datetime
from datetime import date as date_cls

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Input, Label, Static

from loyalty.earning import earn_for_sale
from loyalty.errors import LoyaltyError
from loyalty.money import parse_amount
from loyalty.redemption import eligible_rewards
from loyalty.sale import Sale, make_sale, parse_line
from pos_agent.app.enrol_screen import EnrolScreen
from pos_agent.app.prompt_screen import PromptScreen
from pos_agent.app.redeem_screen import RedeemScreen
from pos_agent.app.widgets.member_panel import MemberPanel, member_text
from pos_agent.app.widgets.status_bar import StatusBar, status_text
from pos_agent.exceptions import PosError
from pos_agent.members import MemberMatch, enrol, find_member, member_view
from pos_agent.operations import (
    check_in,
    record_sale,
    redeem_reward,
    refund_receipt,
    void_receipt,
)
from pos_agent.printing import jobs_for_receipt, print_pending
from pos_agent.sync.setup import build_authorizer


class CheckoutScreen(Screen):
    CSS_PATH = "checkout_screen.tcss"
    BINDINGS = [
        Binding("f2", "redeem", "Redeem"),
        Binding("f3", "enrol", "Enrol"),
        Binding("f4", "void", "Void"),
        Binding("f5", "checkin", "Check-in"),
        Binding("f7", "refund", "Refund"),
        Binding("f6", "reprint", "Reprint"),
        Binding("f9", "sync", "Sync now"),
        Binding("f12", "manager", "Manager"),
        Binding("escape", "clear", "Next customer"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.member: MemberMatch | None = None

    def compose(self) -> ComposeResult:
        yield StatusBar(status_text(self.store, self.app.agent), id="status")
        with Vertical(id="checkout"):
            yield Input(placeholder="Scan the member QR or type card / phone, Enter "
                        "(Enter on empty: sale without a member)", id="member-input")
            yield MemberPanel("No member yet.", id="member")
            yield Input(placeholder="Amount 12.50, or lines SKU,CATEGORY,QTY,PRICE; ...",
                        id="sale-input")
            yield Static("", id="preview")
            yield Label("", id="message")
        yield Footer()

    @property
    def store(self):  # noqa: ANN201 - the app's Store
        return self.app.store

    def say(self, text: str, error: bool = False) -> None:
        self.query_one("#message", Label).update(f"[red]{text}[/red]" if error else text)
        self.app.refresh_status()

    # -- member ------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "member-input":
            self.lookup(event.value)
        elif event.input.id == "sale-input":
            self.confirm_sale(event.value)

    def lookup(self, text: str) -> None:
        if not text.strip():
            self.member = None
            self.query_one("#member", MemberPanel).update("Sale without a member (F3 enrols).")
            self.query_one("#sale-input", Input).focus()
            return
        try:
            self.member = find_member(self.store, text)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return  # the typed text stays in the input
        self.show_member()
        self.query_one("#member-input", Input).value = ""
        self.query_one("#sale-input", Input).focus()
        self.say(f"Member found by {self.member.found_by}.")

    def show_member(self) -> None:
        if self.member is None:
            return
        _, summary = member_view(self.store, self.member.member_id)
        self.query_one("#member", MemberPanel).update(
            member_text(self.member.name, self.member.card_number, summary))

    # -- sale ----------------------------------------------------------------------------
    def parse_sale(self, text: str) -> Sale:
        program = self.store.active_program()
        text = text.strip()
        if "," in text:
            return make_sale([parse_line(part, program.currency_exponent)
                              for part in text.split(";") if part.strip()])
        return make_sale(total=parse_amount(text, program.currency_exponent))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "sale-input":
            return
        preview = self.query_one("#preview", Static)
        if not event.value.strip() or self.member is None:
            preview.update("")
            return
        try:
            sale = self.parse_sale(event.value)
            state, _ = member_view(self.store, self.member.member_id)
            result = earn_for_sale(self.store.active_program(), state, sale,
                                   datetime.now(UTC), receipt_no="preview")
        except LoyaltyError as exc:
            preview.update(f"[dim]{exc}[/dim]")
            return
        pn = self.store.active_program().points_name
        promos = f" ({', '.join(result.promotions)})" if result.promotions else ""
        bonuses = "".join(f" +{p} {why}" for why, p in result.bonuses)
        preview.update(f"Earns [b]{result.purchase_points} {pn}[/b]{promos}{bonuses}")

    def confirm_sale(self, text: str) -> None:
        try:
            sale = self.parse_sale(text)
            result = record_sale(self.store, self.member.member_id if self.member else None,
                                 sale)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        printed = self.print_receipt(result.receipt_no)
        pn = self.store.active_program().points_name
        earned = f", +{result.points_earned} {pn}" if self.member else ""
        self.query_one("#sale-input", Input).value = ""
        self.show_member()
        self.say(f"Sale {result.receipt_no} recorded{earned}. {printed}")
        if self.app.agent is not None:
            self.app.agent.trigger_now()

    def print_receipt(self, receipt_no: str) -> str:
        outcomes = print_pending(self.store, jobs_for_receipt(self.store, receipt_no))
        failed = [o for o in outcomes if not o.ok]
        if failed:
            return f"Receipt NOT printed ({failed[0].error}); F6 reprints."
        return "Receipt printed."

    # -- other actions ---------------------------------------------------------------------
    def action_clear(self) -> None:
        self.member = None
        self.query_one("#member", MemberPanel).update("No member yet.")
        for input_id in ("#member-input", "#sale-input"):
            self.query_one(input_id, Input).value = ""
        self.query_one("#preview", Static).update("")
        self.query_one("#member-input", Input).focus()

    def action_redeem(self) -> None:
        if self.member is None:
            self.say("Find the member first (scan their QR or card).", error=True)
            return
        state, summary = member_view(self.store, self.member.member_id)
        program = self.store.active_program()
        rewards = [r for r in eligible_rewards(program, state, datetime.now(UTC))
                   if 0 < r.cost <= state.balance]
        self.app.push_screen(
            RedeemScreen(self.member.name, summary.balance, program.points_name, rewards),
            self.redeem_chosen)

    def redeem_chosen(self, reward_id: str | None) -> None:
        if not reward_id or self.member is None:
            return
        authorizer = build_authorizer(self.store.settings, self.store, self.app.agent)
        try:
            result = redeem_reward(self.store, self.member.member_id, reward_id,
                                   found_by=self.member.found_by, authorizer=authorizer)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        how = ("approved OFFLINE within the limit" if result.approved_offline
               else "authorised online by the hub")
        printed = self.print_receipt(result.receipt_no)
        self.show_member()
        self.say(f"{result.reward_name}: {result.points_spent} spent, {how}. {printed}")

    def action_enrol(self) -> None:
        self.app.push_screen(EnrolScreen(), self.enrol_done)

    def enrol_done(self, values: dict | None) -> None:
        if not values:
            return
        try:
            birthday = (date_cls.fromisoformat(values["birthday"]) if values["birthday"]
                        else None)
            made = enrol(self.store, name=values["name"], phone=values["phone"],
                         email=values["email"] or None, birthday=birthday,
                         consent_email=values["consent_email"])
        except ValueError:
            self.say("Birthday must be written YYYY-MM-DD.", error=True)
            return
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        printed = self.print_receipt(made.receipt_no)
        self.member = find_member(self.store, made.card_number)
        self.show_member()
        self.say(f"Welcome {values['name']}: card {made.card_number}. {printed}")

    def action_void(self) -> None:
        self.app.push_screen(PromptScreen("Receipt number to void:", "S001-T1-000042"),
                             self.void_done)

    def void_done(self, receipt_no: str | None) -> None:
        if not receipt_no:
            return
        try:
            result = void_receipt(self.store, receipt_no)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        printed = self.print_receipt(result.receipt_no)
        self.show_member()
        self.say(f"Voided {receipt_no}: {result.points_reversed} points taken back. {printed}")

    def action_refund(self) -> None:
        self.app.push_screen(
            PromptScreen("Receipt number and amount to refund:", "S001-T1-000042 5.00"),
            self.refund_done)

    def refund_done(self, answer: str | None) -> None:
        if not answer:
            return
        parts = answer.split()
        if len(parts) != 2:
            self.say("Type the receipt number, a space, and the amount, e.g. "
                     "S001-T1-000042 5.00", error=True)
            return
        try:
            amount = parse_amount(parts[1], self.store.active_program().currency_exponent)
            result = refund_receipt(self.store, parts[0], amount)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        printed = self.print_receipt(result.receipt_no)
        self.show_member()
        self.say(f"Refunded {parts[1]} of {parts[0]}: {result.points_reversed} points taken "
                 f"back. {printed}")

    def action_checkin(self) -> None:
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
        outcome = print_pending(self.store, [job_id])
        ok = outcome and outcome[0].ok
        self.say(f"Reprint of {receipt_no}: " + ("printed." if ok else "NOT printed."), not ok)

    def action_manager(self) -> None:
        self.app.push_screen(PromptScreen("Manager PIN:", password=True), self.manager_pin)

    def manager_pin(self, pin: str | None) -> None:
        from pos_agent.app.manager_screen import ManagerScreen

        if pin is None:
            return
        if pin != self.store.settings.terminal.manager_pin:
            self.say("Wrong manager PIN.", error=True)
            return
        self.app.push_screen(ManagerScreen())

    def action_sync(self) -> None:
        if self.app.agent is None:
            self.say("No hub configured for this terminal.", error=True)
            return
        self.app.run_sync()
