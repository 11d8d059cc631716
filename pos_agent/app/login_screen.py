"""Log in: the cashier or manager types their staff number and their own PIN. Shown at
start on a till that has staff (HQ sets them up: `pos-hub staff add`) and after Lock; it
cannot be closed without a right PIN. `ApprovalScreen` (approval_screen.py) asks the same
of a manager for a void, a refund or the manager screen."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from loyalty.errors import LoyaltyError
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.exceptions import PosError
from pos_agent.staff import StaffMember, check_staff_pin


class LoginScreen(ModalScreen[StaffMember | None]):
    CSS_PATH = "login_screen.tcss"
    BINDINGS: list = []  # no way around it: only a right PIN closes it
    role: str | None = None
    """The role the PIN must belong to (ApprovalScreen: "manager")."""

    def __init__(self, title: str = "Log in: your staff number and PIN",
                 staff_id: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.staff_id = staff_id

    def compose(self) -> ComposeResult:
        with Vertical(id="login"):
            yield Label(self.title_text, id="title")
            yield Input(value=self.staff_id, placeholder="Staff number", id="staff",
                        restrict=r"[0-9]*")
            yield Input(placeholder="PIN", password=True, id="pin", restrict=r"[0-9]*")
            yield Label("", id="error")
            yield KeyBar(self.keys(), id="keys", classes="inline")

    def keys(self) -> list[tuple[str, str]]:
        return [("Enter", "Next / Log in")]

    def on_mount(self) -> None:
        self.query_one("#pin" if self.staff_id else "#staff", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "staff":
            self.query_one("#pin", Input).focus()
            return
        staff_id = self.query_one("#staff", Input).value.strip()
        pin_input = self.query_one("#pin", Input)
        pin, pin_input.value = pin_input.value, ""
        if not staff_id:
            self.query_one("#staff", Input).focus()
            self.show_error("Type your staff number first.")
            return
        try:
            member = check_staff_pin(self.app.store, staff_id, pin, role=self.role)
        except (PosError, LoyaltyError) as exc:
            self.show_error(f"{exc}.")
            return
        self.dismiss(member)

    def show_error(self, text: str) -> None:
        self.query_one("#error", Label).update(f"[red]{escape(text)}[/red]")
