"""The members a typed name fits, for the cashier to choose one with the keyboard: Up and
Down move, Enter takes the highlighted one, Esc goes back to the member field.

    >>> app.push_screen(MemberChoiceScreen("cam", candidates), on_chosen)  # MemberMatch|None
"""

from __future__ import annotations

from pos_agent.app.choice_screen import ChoiceScreen
from pos_agent.members import MemberMatch


class MemberChoiceScreen(ChoiceScreen):
    def __init__(self, typed: str, candidates: list[MemberMatch]) -> None:
        super().__init__(f"{len(candidates)} members match '{typed}': choose one (a name "
                         "alone does not spend points)",
                         [f"{m.name}  {m.card_number or 'no card'}" for m in candidates])
        self.candidates = candidates

    def chosen(self, index: int) -> MemberMatch:
        return self.candidates[index]
