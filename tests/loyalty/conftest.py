"""Shared helpers for domain tests: a program built from TOML text and a tiny ledger."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

import pytest

from loyalty.clock import HybridClock
from loyalty.events import GENESIS, Event, EventDraft, seal
from loyalty.fold import MemberState, fold
from loyalty.program import Program, load_program, load_program_text

BASE = """
[program]
name = "Test Rewards"
points_name = "Stars"
currency = "EUR"
timezone = "UTC"
earn_rate = 10
rounding = "floor"
tier_window_days = 180

[[program.tiers]]
name = "Green"
threshold = 0
multiplier = "1"
validity_months = 12

[[program.tiers]]
name = "Silver"
threshold = 300
multiplier = "1.5"
validity_months = 18

[[program.tiers]]
name = "Gold"
threshold = 500
multiplier = "2"
validity_months = 24

[[program.stamp_cards]]
id = "coffee"
name = "Coffee card"
stamps_to_complete = 10
categories = ["coffee"]
reward = "free-coffee"

[[program.rewards]]
id = "free-coffee"
name = "Free coffee"
kind = "free_product"
cost = 0

[[program.rewards]]
id = "latte"
name = "Free latte"
kind = "free_product"
cost = 150

[[program.rewards]]
id = "gold-mug"
name = "Gold mug"
kind = "free_product"
cost = 100
tiers = ["Gold"]
stock = 5
valid_from = 2026-01-01
valid_until = 2026-12-31

[[program.rewards]]
id = "pay"
name = "Pay with Stars"
kind = "pay_with_points"
cost = 0
point_value = 1
min_points = 100
max_points = 1000

[[program.rewards]]
id = "gift"
name = "Gift card"
kind = "gift_card"
cost = 900
value = "10.00"

[program.bonuses]
welcome = 50
birthday = 100
visit = 5
referral_referrer = 100
referral_referee = 50
"""


def make_program(extra: str = "", base: str = BASE) -> Program:
    return load_program_text(base + extra)


@pytest.fixture
def program() -> Program:
    return make_program()


@pytest.fixture
def example_program() -> Program:
    return load_program("config.example.toml")


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


@dataclass
class Ledger:
    """Seals drafts the way a terminal does: gap-free seq, chained, HLC-stamped."""

    origin: str = "S001-T1"
    events: list[Event] = field(default_factory=list)
    clock: HybridClock = field(default_factory=HybridClock)
    prev: str = GENESIS
    program_version: str = "test"

    def record(self, drafts: list[EventDraft] | EventDraft, at: datetime) -> list[Event]:
        if isinstance(drafts, EventDraft):
            drafts = [drafts]
        out = []
        for draft in drafts:
            event = seal(
                draft,
                origin=self.origin,
                origin_seq=len(self.events) + 1,
                origin_epoch=1,
                prev_hash=self.prev,
                occurred_at=at.isoformat(),
                hlc=self.clock.now(int(at.timestamp() * 1000)),
                program_version=self.program_version,
            )
            self.prev = event.content_hash()
            self.events.append(event)
            out.append(event)
        return out

    def state(self, member_id: str) -> MemberState:
        mine = [e for e in self.events if e.member_id == member_id]
        return fold(mine) if mine else MemberState(member_id=member_id)
