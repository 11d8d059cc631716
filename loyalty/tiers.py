"""Tiers from qualifying spend over a rolling window, and progress to the next tier.

The window ending at instant `at` is `(at - tier_window_days, at]`: a sale exactly
`tier_window_days` old no longer counts, a sale at `at` does. A member is in the highest
tier whose threshold is <= their qualifying spend (thresholds are inclusive). A paid
membership gives its tier until it lapses, if that tier is higher.

    >>> tier_at(state, program, now).name
    'Silver'
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.fold import MemberState
from loyalty.program import Program, Tier


def qualifying_spend(state: MemberState, program: Program, at: datetime) -> int:
    start = at - timedelta(days=program.tier_window_days)
    return sum(amount for when, amount in state.spend.values() if start < when <= at)


def tier_for_spend(program: Program, spend: int) -> Tier:
    chosen = program.tiers[0]
    for tier in program.tiers:
        if spend >= tier.threshold:
            chosen = tier
    return chosen


def tier_at(
    state: MemberState, program: Program, at: datetime, *, spend: int | None = None
) -> Tier:
    """The member's tier at `at`. `spend` is `qualifying_spend(state, program, at)` when
    the caller has it already, so that the tier and the spend it reports agree."""
    if spend is None:
        spend = qualifying_spend(state, program, at)
    tier = tier_for_spend(program, spend)
    if state.paid_tier and at < state.paid_tier[1]:
        paid = program.tier_named(state.paid_tier[0])
        if paid and paid.threshold > tier.threshold:
            return paid
    return tier


@dataclass(frozen=True)
class TierProgress:
    tier: str
    spend: int
    next_tier: str | None
    spend_to_next: int | None


def tier_progress(state: MemberState, program: Program, at: datetime) -> TierProgress:
    spend = qualifying_spend(state, program, at)
    tier = tier_at(state, program, at)
    higher = [t for t in program.tiers if t.threshold > tier.threshold]
    if not higher:
        return TierProgress(tier.name, spend, None, None)
    return TierProgress(tier.name, spend, higher[0].name, higher[0].threshold - spend)
