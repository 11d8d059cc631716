"""A manager's approval: their own staff number and PIN, for a void, a refund or the
manager screen (on a till with staff; a till without staff asks nothing). Esc cancels:
nothing is done. The approving manager is named in the void's or refund's event
(`data.approved_by`)."""

from __future__ import annotations

from textual.binding import Binding

from pos_agent.app.login_screen import LoginScreen


class ApprovalScreen(LoginScreen):
    CSS_PATH = "approval_screen.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    role = "manager"

    def __init__(self, what: str, staff_id: str = "") -> None:
        super().__init__(f"Manager approval for {what}: manager's staff number and PIN",
                         staff_id)

    def keys(self) -> list[tuple[str, str]]:
        return [("Enter", "Next / Approve")]

    def action_cancel(self) -> None:
        self.dismiss(None)
