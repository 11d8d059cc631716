"""Redeem: the rewards this member can afford and may have (tier, validity, stock), with
their cost; choose one, Enter confirms. The result says whether the hub authorised it
online or it was approved offline within the limit."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from loyalty.program import Reward
from pos_agent.app.widgets.key_bar import KeyBar


class RedeemScreen(ModalScreen[str | None]):
    CSS_PATH = "redeem_screen.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, member_name: str, balance: int, points_name: str,
                 rewards: list[Reward]) -> None:
        super().__init__()
        self.member_name = member_name
        self.balance = balance
        self.points_name = points_name
        self.rewards = rewards

    def compose(self) -> ComposeResult:
        with Vertical(id="redeem"):
            yield Label(f"Redeem for {self.member_name}: {self.balance:,} {self.points_name}")
            if self.rewards:
                yield OptionList(*[Option(f"{r.name}  -  {r.cost} {self.points_name}", id=r.id)
                                   for r in self.rewards], id="rewards")
            else:
                yield Label("No reward this member can afford yet.")
            yield KeyBar([("↑↓", "Choose"), ("Enter", "Redeem")], id="keys",
                         classes="inline")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
