"""What the member sees: balance, tier, progress, stamps, next reward, expiring points.

One function builds it from a folded state; the terminal app, the `pos member` command,
receipts and the hub's member page all show this same summary.

    >>> s = member_summary(program, state, now)
    >>> s.balance, s.tier, s.points_to_next_reward
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

from loyalty.expiry import expiring_within
from loyalty.fold import MemberState
from loyalty.program import Program
from loyalty.redemption import eligible_rewards
from loyalty.tiers import tier_progress


@dataclass(frozen=True)
class StampProgress:
    card_id: str
    name: str
    have: int
    need: int


@dataclass(frozen=True)
class MemberSummary:
    member_id: str
    balance: int
    points_name: str
    tier: str
    qualifying_spend: int
    next_tier: str | None
    spend_to_next_tier: int | None
    stamps: list[StampProgress]
    next_reward: str | None
    next_reward_id: str | None
    points_to_next_reward: int | None
    expiring: list[tuple[int, date]]
    vouchers: list[tuple[str, str, str]] = field(default_factory=list)
    """(code, reward name, valid until) of vouchers still to use."""
    owes: int = 0
    held: int = 0
    """Points in the balance held for HQ review (not spendable): "N held for review"."""

    def to_dict(self) -> dict:
        return {
            "member_id": self.member_id,
            "balance": self.balance,
            "points_name": self.points_name,
            "tier": self.tier,
            "qualifying_spend": self.qualifying_spend,
            "next_tier": self.next_tier,
            "spend_to_next_tier": self.spend_to_next_tier,
            "stamps": [vars(s) for s in self.stamps],
            "next_reward": self.next_reward,
            "next_reward_id": self.next_reward_id,
            "points_to_next_reward": self.points_to_next_reward,
            "expiring": [[p, d.isoformat()] for p, d in self.expiring],
            "vouchers": [list(v) for v in self.vouchers],
            "owes": self.owes,
            "held_points": self.held,
        }


def member_summary(program: Program, state: MemberState, at: datetime) -> MemberSummary:
    progress = tier_progress(state, program, at)
    costs = sorted(
        (r.cost, r.id, r.name)
        for r in eligible_rewards(program, state, at)
        if r.cost > max(state.spendable, 0)
    )
    names = {r.id: r.name for r in program.rewards}
    today = at.astimezone(program.zone).date().isoformat()
    return MemberSummary(
        member_id=state.member_id,
        balance=state.balance,
        points_name=program.points_name,
        tier=progress.tier,
        qualifying_spend=progress.spend,
        next_tier=progress.next_tier,
        spend_to_next_tier=progress.spend_to_next,
        stamps=[
            StampProgress(c.id, c.name, state.stamps.get(c.id, 0), c.stamps_to_complete)
            for c in program.stamp_cards
        ],
        next_reward=costs[0][2] if costs else None,
        next_reward_id=costs[0][1] if costs else None,
        points_to_next_reward=costs[0][0] - state.spendable if costs else None,
        expiring=[(e.points, e.on) for e in expiring_within(state, program, at)],
        vouchers=[
            (v.code, names.get(v.reward_id, v.reward_id), v.valid_until)
            for v in state.vouchers.values()
            if v.status == "issued" and v.valid_until >= today
        ],
        owes=state.debt,
        held=state.held,
    )
