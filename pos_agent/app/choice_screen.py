"""Choose one of a few things with the keyboard: Up and Down move, Enter takes the
highlighted one, Esc goes back. The dialog returns the index chosen (None: Esc).

    >>> app.push_screen(ChoiceScreen("3 products match 'lat'", ["Latte 3.50", ...]), chosen)
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.markup import escape
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from pos_agent.app.widgets.key_bar import KeyBar


class ChoiceScreen(ModalScreen[object]):
    CSS_PATH = "prompt_screen.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, labels: list[str]) -> None:
        super().__init__()
        self.question = question
        self.labels = labels

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(escape(self.question))
            # Labels hold names from other tills, HQ and the web: text, never markup.
            yield OptionList(*[Option(escape(label), id=str(i))
                               for i, label in enumerate(self.labels)], id="candidates")
            yield KeyBar([("Up/Down", "move"), ("Enter", "choose"), ("Esc", "back")],
                         id="keys", classes="inline")

    def on_mount(self) -> None:
        options = self.query_one("#candidates", OptionList)
        options.highlighted = 0
        options.focus()

    def chosen(self, index: int) -> object:
        """What the dialog returns for the option at `index` (here: the index)."""
        return index

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.chosen(event.option_index))

    def action_cancel(self) -> None:
        self.dismiss(None)
