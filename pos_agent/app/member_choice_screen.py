"""The members a typed name fits, for the cashier to choose one with the keyboard: Up and
Down move, Enter takes the highlighted one, Esc goes back to the member field.

    >>> app.push_screen(MemberChoiceScreen("cam", candidates), on_chosen)  # MemberMatch|None
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
from pos_agent.members import MemberMatch


class MemberChoiceScreen(ModalScreen[MemberMatch | None]):
    CSS_PATH = "prompt_screen.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, typed: str, candidates: list[MemberMatch]) -> None:
        super().__init__()
        self.typed = typed
        self.candidates = candidates

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt"):
            yield Label(escape(f"{len(self.candidates)} members match '{self.typed}': "
                               "choose one (a name alone does not spend points)"))
            # Names come from other tills and the web: shown as text, never as markup.
            yield OptionList(*[Option(escape(f"{m.name}  {m.card_number or 'no card'}"),
                                      id=str(i)) for i, m in enumerate(self.candidates)],
                             id="candidates")
            yield KeyBar([("Up/Down", "move"), ("Enter", "choose"), ("Esc", "back")],
                         id="keys", classes="inline")

    def on_mount(self) -> None:
        options = self.query_one("#candidates", OptionList)
        options.highlighted = 0
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.candidates[event.option_index])

    def action_cancel(self) -> None:
        self.dismiss(None)
