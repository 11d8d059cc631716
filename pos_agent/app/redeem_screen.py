"""Redeem: the member's vouchers, the rewards they can afford and may have (tier, validity,
stock) and paying with points, each with its cost. Choose one, then confirm:

- a reward or voucher: Enter confirms what is shown (cost, balance after);
- pay with points: the cashier types how many points (the dialog shows what they are worth
  and the program's limits), Enter confirms;
- a member found by a typed card number or a phone number must prove it is them
  (PRODUCT.md, program `spend_proof`): the confirm step asks for their PIN (typed hidden)
  or a scan of their QR code, and only that confirms.

The dialog returns a `RedeemChoice`; the checkout screen records it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, OptionList
from textual.widgets.option_list import Option

from loyalty.money import format_amount
from loyalty.program import Reward
from loyalty.validation import is_ascii_digits
from pos_agent.app.widgets.key_bar import KeyBar


@dataclass(frozen=True)
class RedeemChoice:
    reward_id: str | None = None
    voucher: str | None = None
    points: int | None = None
    """Pay with points: how many."""
    confirmed_by: str | None = None
    """The member's proof (members found by a typed number): the QR code they scanned, or
    the PIN they typed."""


@dataclass(frozen=True)
class Offer:
    """One line of the list: a reward, a voucher or paying with points."""

    key: str
    label: str
    reward: Reward | None = None
    voucher: str | None = None


PayLimit = Callable[[Reward], int]
"""The most points a pay-with-points reward can use now (pos_agent.limits.pay_points_limit)."""


def offers(rewards: list[Reward], vouchers: list[tuple[str, str, str]], balance: int,
           points_name: str, pay_limit: PayLimit | None = None) -> list[Offer]:
    """What the member can redeem now, vouchers first (they cost nothing); `pay_limit`
    caps what paying with points offers (offline: the offline limit)."""
    out = [Offer(f"voucher:{code}", f"Voucher {code}: {name} (until {until})", voucher=code)
           for code, name, until in vouchers]
    for r in rewards:
        if r.kind.value == "pay_with_points":
            if balance >= max(r.min_points, 1):
                limit = (pay_limit(r) if pay_limit
                         else min(balance, r.max_points or balance))
                out.append(Offer(f"reward:{r.id}", f"{r.name}  -  {r.min_points or 1} to "
                                 f"{limit:,} {points_name}", reward=r))
        elif 0 < r.cost <= balance:
            out.append(Offer(f"reward:{r.id}", f"{r.name}  -  {r.cost:,} {points_name}",
                             reward=r))
    return out


class RedeemScreen(ModalScreen[RedeemChoice | None]):
    CSS_PATH = "redeem_screen.tcss"
    BINDINGS = [Binding("escape", "back", "Back")]
    PROOF_NOTE = ("Found by a typed number: the member confirms with their PIN or by "
                  "scanning their QR code.")
    QR_ONLY_NOTE = "Found by a typed number: the member confirms by scanning their QR code."

    def __init__(self, member_name: str, balance: int, points_name: str,
                 choices: list[Offer], *, currency: str = "EUR", exponent: int = 2,
                 confirm_by_scan: bool = False, pin_allowed: bool = True,
                 pay_limit: PayLimit | None = None) -> None:
        super().__init__()
        self.pay_limit = pay_limit
        """What paying with points may use now; None: the balance and the reward's max."""
        self.member_name = member_name
        self.balance = balance
        self.points_name = points_name
        self.choices = {o.key: o for o in choices}
        self.currency = currency
        self.exponent = exponent
        self.confirm_by_scan = confirm_by_scan
        """The member was found by a typed number: only their PIN or a scan of their QR
        confirms."""
        self.pin_allowed = pin_allowed
        """The program accepts the PIN as proof (`spend_proof` is not `qr_only`)."""
        self.chosen: Offer | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="redeem"):
            yield Label(f"Redeem for {self.member_name}: {self.balance:,} {self.points_name}",
                        id="title")
            if self.choices:
                yield OptionList(*[Option(o.label, id=o.key) for o in self.choices.values()],
                                 id="rewards")
            else:
                yield Label("No reward this member can afford yet.")
            with Vertical(id="step2"):
                yield Label("", id="confirm")
                yield Input(id="points", placeholder=f"{self.points_name} to use",
                            type="integer")
                yield Input(id="scan", password=self.pin_allowed,
                            placeholder="The member's PIN, or scan their QR code"
                            if self.pin_allowed else "Scan the member's QR code")
                yield Button("Confirm", id="ok", variant="primary")
            yield Label("", id="error")
            yield KeyBar([("↑↓", "Choose"), ("Enter", "Select")], id="keys", classes="inline")

    def on_mount(self) -> None:
        self.query_one("#step2").display = False

    @property
    def paying(self) -> bool:
        reward = self.chosen.reward if self.chosen else None
        return reward is not None and reward.kind.value == "pay_with_points"

    # -- step 1: choose ---------------------------------------------------------------
    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.chosen = self.choices[str(event.option.id)]
        self.query_one("#rewards").display = False
        self.query_one("#step2").display = True
        points = self.query_one("#points", Input)
        scan = self.query_one("#scan", Input)
        points.display = self.paying
        scan.display = self.confirm_by_scan
        scan.value = ""
        reward = self.chosen.reward
        if self.paying:
            assert reward is not None
            points.value = str(self.limit(reward))
            self._pay_text()
            points.focus()
            return_key = "Next" if self.confirm_by_scan else "Confirm"
        else:
            if self.chosen.voucher:
                text = f"Use voucher {self.chosen.voucher}?"
            else:
                assert reward is not None
                text = (f"{reward.name} for {reward.cost:,} {self.points_name}; balance after: "
                        f"{self.balance - reward.cost:,} {self.points_name}.")
            self.query_one("#confirm", Label).update(
                text + (f"\n{self.note}" if self.confirm_by_scan else ""))
            (scan if self.confirm_by_scan else self.query_one("#ok", Button)).focus()
            return_key = "Confirm"
        self._keys([("Enter", return_key)])

    def limit(self, reward: Reward) -> int:
        """The most points `reward` (pay with points) can use: what is pre-filled."""
        if self.pay_limit is not None:
            return self.pay_limit(reward)
        return min(self.balance, reward.max_points or self.balance)

    @property
    def note(self) -> str:
        return self.PROOF_NOTE if self.pin_allowed else self.QR_ONLY_NOTE

    def _pay_text(self) -> None:
        reward = self.chosen.reward if self.chosen else None
        if reward is None:
            return
        text = self.query_one("#points", Input).value.strip()
        worth = (format_amount(int(text) * (reward.point_value or 0), self.exponent)
                 if is_ascii_digits(text) else "-")
        limit = self.limit(reward)
        self.query_one("#confirm", Label).update(
            f"{reward.name}: how many {self.points_name}? ({reward.min_points or 1} to "
            f"{limit:,}) = {worth} {self.currency} off"
            + (f"\n{self.note}" if self.confirm_by_scan else ""))

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "points":
            self._pay_text()

    # -- step 2: confirm --------------------------------------------------------------
    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "points" and self.confirm_by_scan:
            self.query_one("#scan", Input).focus()  # the member's scan confirms
            return
        self._confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self._confirm()

    def scanned(self, code: str) -> None:
        """A code from the serial scanner confirms (members found by a typed number)."""
        if self.chosen is not None and self.confirm_by_scan:
            self.query_one("#scan", Input).value = code
            self._confirm()

    def _confirm(self) -> None:
        if self.chosen is None:
            return
        error = self.query_one("#error", Label)
        points = None
        if self.paying:
            text = self.query_one("#points", Input).value.strip()
            if not is_ascii_digits(text) or int(text) <= 0:  # isdigit() takes "١٢"
                error.update(f"[red]Type how many {self.points_name} to use.[/red]")
                return
            points = int(text)
        code = None
        if self.confirm_by_scan:
            code = self.query_one("#scan", Input).value.strip()
            if not code:
                error.update("[red]The member must type their PIN or scan their QR code to "
                             "confirm.[/red]" if self.pin_allowed else
                             "[red]The member must scan their QR code to confirm.[/red]")
                self.query_one("#scan", Input).focus()
                return
        reward = self.chosen.reward
        self.dismiss(RedeemChoice(reward_id=reward.id if reward else None,
                                  voucher=self.chosen.voucher, points=points,
                                  confirmed_by=code))

    def action_back(self) -> None:
        """Esc: from the confirmation back to the list; from the list, close."""
        if self.chosen is None:
            self.dismiss(None)
            return
        self.chosen = None
        self.query_one("#step2").display = False
        self.query_one("#error", Label).update("")
        rewards = self.query_one("#rewards", OptionList)
        rewards.display = True
        rewards.focus()
        self._keys([("↑↓", "Choose"), ("Enter", "Select")])

    def _keys(self, keys: list[tuple[str, str]]) -> None:
        bar = self.query_one("#keys", KeyBar)
        bar.extra = keys
        bar.show_keys()
