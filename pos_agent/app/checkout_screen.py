"""Checkout: one input takes a scanned or typed card number, phone, member QR, name or
e-mail (a name that fits several lists them to choose from); then the
member panel, the sale amount (or lines `SKU,CATEGORY,QTY,PRICE; ...`) with a live preview
of the points it earns, Enter records the sale and prints the receipt. A sale without a
member works too."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from datetime import date as date_cls

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import Screen
from textual.widgets import Input, Static

from loyalty.earning import earn_for_sale
from loyalty.errors import LoyaltyError
from loyalty.fold import MemberState
from loyalty.member_qr import looks_like_payload
from loyalty.money import parse_amount
from loyalty.pins import spend_needs_pin
from loyalty.program import Reward
from loyalty.redemption import eligible_rewards
from loyalty.sale import Sale, make_sale, parse_line
from loyalty.summary import MemberSummary, member_summary
from pos_agent.app.approval_screen import ApprovalScreen
from pos_agent.app.enrol_screen import EnrolScreen
from pos_agent.app.prompt_screen import PromptScreen
from pos_agent.app.receipts import LEFT_OVER, ReceiptPrinted
from pos_agent.app.redeem_screen import RedeemChoice, RedeemScreen, offers
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.app.widgets.member_panel import MemberPanel, member_text
from pos_agent.app.widgets.status_bar import StatusBar
from pos_agent.app.widgets.text import Text
from pos_agent.exceptions import PosError, SeveralMembers
from pos_agent.limits import check_sale_total, pay_points_limit
from pos_agent.members import MemberMatch, enrol, find_member, link_card, member_view
from pos_agent.operations import (
    check_in,
    record_sale,
    redeem_reward,
    redeem_voucher,
    refund_receipt,
    stock_left,
    void_receipt,
)
from pos_agent.staff import StaffMember, has_staff
from pos_agent.sync.setup import build_authorizer


class CheckoutScreen(Screen):
    CSS_PATH = "checkout_screen.tcss"
    BINDINGS = [
        Binding("f2", "redeem", "Redeem"),
        Binding("f3", "enrol", "Enrol"),
        Binding("f4", "void", "Void"),
        Binding("f5", "checkin", "Check-in"),
        Binding("f6", "reprint", "Reprint"),
        Binding("f7", "refund", "Refund"),
        Binding("f8", "link_card", "Add card"),
        Binding("f9", "sync", "Sync"),
        Binding("f11", "lock", "Lock"),
        Binding("f12", "manager", "Manager"),
        Binding("escape", "clear", "Next"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.member: MemberMatch | None = None
        self.view: tuple[MemberState, MemberSummary] | None = None
        """The member's state and summary as last shown: the live preview uses it instead
        of reading the member again at every key."""
        self._printing: tuple[str, str] | None = None
        """(receipt or job, message) whose print outcome the message line waits for."""

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with Vertical(id="checkout"):
            yield Input(placeholder="Scan the member QR or type card / phone / name / e-mail, "
                        "Enter (Enter on empty: sale without a member)", id="member-input")
            yield MemberPanel("No member yet.", id="member")
            yield Input(placeholder="Amount 12.50, or lines SKU,CATEGORY,QTY,PRICE; ...",
                        id="sale-input")
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

    # -- member ------------------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "member-input":
            self.lookup(event.value)
        elif event.input.id == "sale-input":
            self.confirm_sale(event.value)

    def scanned(self, code: str, before: tuple[Input, str, int] | None) -> None:
        """A scanned code (keyboard wedge or serial scanner) goes to the member lookup.
        `before` is the field a wedge burst was typed into and what it held then: the
        amount field gets its text back once it has taken the burst's keys (they were
        queued before this call); the member field is cleared when the member is found and
        keeps the code when not, so the cashier sees what was read."""
        found = self.lookup(code, scanned=True)
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

    def lookup(self, text: str, scanned: bool = False) -> bool:
        self.clear_message()
        if not text.strip():
            self.member = None
            self.view = None
            self.query_one("#member", MemberPanel).show("Sale without a member (F3 enrols).")
            self.query_one("#sale-input", Input).focus()
            return False
        try:
            self.member = find_member(self.store, text)
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
        self.member_found(scanned)
        return True

    def member_chosen(self, match: MemberMatch | None) -> None:
        """The candidate the cashier chose from a name's list (None: Esc, keep typing)."""
        if match is None:
            self.say("No member chosen: type more of the name, the phone or the card.")
            self.query_one("#member-input", Input).focus()
            return
        self.clear_message()
        self.member = match
        self.member_found(False)

    def member_found(self, scanned: bool) -> None:
        assert self.member is not None
        self.show_member()
        if not scanned:
            self.query_one("#member-input", Input).value = ""
        sale_input = self.query_one("#sale-input", Input)
        sale_input.focus()
        self.update_preview(sale_input.value)
        self.say(f"Member found by {self.member.found_by}"
                 + (" (scanned)." if scanned else "."))

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

    # -- sale ----------------------------------------------------------------------------
    def parse_sale(self, text: str) -> Sale:
        program = self.store.active_program()
        text = text.strip()
        if "," in text:
            sale = make_sale([parse_line(part, program.currency_exponent)
                              for part in text.split(";") if part.strip()])
        else:
            sale = make_sale(total=parse_amount(text, program.currency_exponent))
        return check_sale_total(self.store.settings, program, sale)

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "sale-input":
            self.update_preview(event.value)

    def update_preview(self, text: str) -> None:
        preview = self.query_one("#preview", Static)
        if not text.strip() or self.member is None or self.view is None:
            preview.update("")
            return
        try:
            sale = self.parse_sale(text)
            result = earn_for_sale(self.store.active_program(), self.view[0], sale,
                                   datetime.now(UTC), receipt_no="preview")
        except (PosError, LoyaltyError) as exc:
            preview.update(f"[dim]{exc}[/dim]")
            return
        pn = self.store.active_program().points_name
        promos = f" ({', '.join(result.promotions)})" if result.promotions else ""
        bonuses = "".join(f" +{p} {why}" for why, p in result.bonuses)
        preview.update(f"Earns [b]{result.purchase_points} {pn}[/b]{promos}{bonuses}")

    def confirm_sale(self, text: str) -> None:
        self.clear_message()
        try:
            sale = self.parse_sale(text)
            result = record_sale(self.store, self.member.member_id if self.member else None,
                                 sale)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        pn = self.store.active_program().points_name
        earned = (f", +{result.points_earned} {pn}" if self.member
                  else " without a member (F3 enrols the customer for next time)")
        self.query_one("#sale-input", Input).value = ""
        self.show_member(result.state)
        self.say_and_print(f"Sale {result.receipt_no} recorded{earned}.", result.receipt_no)
        if self.app.agent is not None:
            self.app.agent.trigger_now()

    # -- other actions ---------------------------------------------------------------------
    def action_clear(self) -> None:
        self.clear_message()  # the next customer: nothing of the last one stays on screen
        self.member = None
        self.view = None
        self.query_one("#member", MemberPanel).show("No member yet.")
        for input_id in ("#member-input", "#sale-input"):
            self.query_one(input_id, Input).value = ""
        self.query_one("#preview", Static).update("")
        self.query_one("#member-input", Input).focus()

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
        # Offline (no hub, or the last sync failed): the offline limit caps the pre-fill.
        offline = self.app.agent is None or self.app.agent.status.online is False

        def pay_limit(reward: Reward) -> int:
            return pay_points_limit(program, reward, spendable, offline=offline)

        self.app.push_screen(
            # what can be spent: points held for HQ review are in the balance but not here
            RedeemScreen(self.member.name, summary.balance - summary.held, program.points_name,
                         offers(rewards, summary.vouchers, summary.balance - summary.held,
                                program.points_name, pay_limit),
                         currency=program.currency, exponent=program.currency_exponent,
                         confirm_by_scan=spend_needs_pin(program.spend_proof,
                                                         self.member.found_by),
                         pin_allowed=program.spend_proof != "qr_only", pay_limit=pay_limit),
            self.redeem_chosen)

    def redeem_chosen(self, choice: RedeemChoice | None) -> None:
        if choice is None or self.member is None:
            return
        found_by, pin = self.member.found_by, None
        if choice.confirmed_by is not None and not looks_like_payload(choice.confirmed_by):
            pin = choice.confirmed_by  # typed by the member; checked by the operation
        elif choice.confirmed_by is not None:
            try:
                proof = find_member(self.store, choice.confirmed_by)
            except (PosError, LoyaltyError) as exc:
                self.say(f"Not confirmed: {exc}", error=True)
                return
            if proof.member_id != self.member.member_id or proof.found_by != "qr":
                self.say("Not confirmed: that QR code is not this member's. Nothing "
                         "was redeemed.", error=True)
                return
            found_by = proof.found_by
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
        if choice.voucher is not None:
            self.show_member()
            self.say_and_print(f"Voucher {choice.voucher} used: {result.reward_name}.",
                               result.receipt_no)
            return
        how = ("approved OFFLINE within the limit" if result.approved_offline
               else "authorised online by the hub")
        self.show_member()
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
        self.with_approval(f"refund of {parts[1]} on {parts[0]}",
                           lambda manager: self.refund_approved(parts, manager))

    def refund_approved(self, parts: list[str], manager: StaffMember | None) -> None:
        try:
            amount = parse_amount(parts[1], self.store.active_program().currency_exponent)
            result = refund_receipt(self.store, parts[0], amount, approved_by=manager)
        except (PosError, LoyaltyError) as exc:
            self.say(str(exc), error=True)
            return
        self.show_member()
        pn = self.store.active_program().points_name
        self.say_and_print(f"Refunded {parts[1]} of {parts[0]}: {result.points_reversed} "
                           f"{pn} taken back.", result.receipt_no)

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
