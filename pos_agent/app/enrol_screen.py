"""Enrol a new member: name, phone, optional email and birthday, e-mail consent,
optionally the physical card handed over (scan it: its number becomes the member's card;
empty: a card number is made here) and optionally the PIN the member types (hidden; it
lets them spend when their QR code is not at hand). The member card slip with the QR code
is printed."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label

from pos_agent.app.widgets.key_bar import KeyBar


class EnrolScreen(ModalScreen[dict | None]):
    CSS_PATH = "enrol_screen.tcss"
    BINDINGS = [Binding("f10", "submit", "Enrol"), Binding("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="enrol"):
            yield Label("New member (Enter on the last field, or F10, enrols)")
            yield Input(placeholder="Name", id="name")
            yield Input(placeholder="Phone, e.g. +33612345678", id="phone")
            yield Input(placeholder="E-mail (optional)", id="email")
            yield Input(placeholder="Birthday YYYY-MM-DD (optional)", id="birthday")
            yield Input(placeholder="Physical card: scan it (optional, else a new number)",
                        id="card")
            yield Input(placeholder="PIN the member types, 4-8 digits (optional)",
                        password=True, id="pin")
            yield Checkbox("Agrees to e-mails", id="consent")
            yield Label("", id="error")
            yield KeyBar([("Enter", "Next field")], id="keys", classes="inline")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "pin":
            self.action_submit()
        else:
            self.focus_next()

    def action_submit(self) -> None:
        values = {k: self.query_one(f"#{k}", Input).value.strip()
                  for k in ("name", "phone", "email", "birthday", "card", "pin")}
        if not values["name"] or not values["phone"]:
            self.query_one("#error", Label).update("[red]Name and phone are needed.[/red]")
            return
        values["consent_email"] = self.query_one("#consent", Checkbox).value
        self.dismiss(values)

    def action_cancel(self) -> None:
        self.dismiss(None)
