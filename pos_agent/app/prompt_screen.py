"""A one-line question in a modal (receipt number to void, refund amount...)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from pos_agent.app.widgets.key_bar import KeyBar


class PromptScreen(ModalScreen[str | None]):
    CSS_PATH = "prompt_screen.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, placeholder: str = "", password: bool = False) -> None:
        super().__init__()
        self.question = question
        self.placeholder = placeholder
        self.password = password

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(self.question)
            yield Input(placeholder=self.placeholder, password=self.password, id="answer")
            yield KeyBar([("Enter", "OK")], id="keys", classes="inline")

    def scanned(self, code: str) -> None:
        """A code from the serial scanner answers the question (a card, a receipt number)."""
        self.query_one("#answer", Input).value = code
        self.dismiss(code.strip())

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip())

    def action_cancel(self) -> None:
        self.dismiss(None)
