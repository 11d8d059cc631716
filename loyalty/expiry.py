"""Point expiry: lot expiry dates by tier, what expires soon, and the hub's expire events.

Points earned while in a tier expire `validity_months` later (calendar months, day clamped
to the month's end). Lots are spent first-earned-first (see `loyalty.fold`), so an expiry
only ever takes what is left in its own lot: a spent point never expires.

    >>> due_expiries(state, now)      # the hub job records these as `expire` events
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from loyalty.clock import format_hlc
from loyalty.events import EventDraft, Kind, format_instant
from loyalty.fold import MemberState
from loyalty.ids import deterministic_event_id
from loyalty.program import Program, Tier
from loyalty.tiers import tier_at


def add_months(moment: datetime, months: int) -> datetime:
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    # Every month has 28 days: only a later day needs the month's length (a sale's lot).
    day = moment.day if moment.day <= 28 else min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def lot_expiry(
    state: MemberState, program: Program, at: datetime, tier: Tier | None = None
) -> str:
    """Expiry instant for points credited now, from the member's tier now (pass `tier`
    when the caller already has it: working it out sums the member's spend window)."""
    tier = tier or tier_at(state, program, at)
    return format_instant(add_months(at, tier.validity_months))


@dataclass(frozen=True)
class Expiring:
    points: int
    on: date


def expiring_within(
    state: MemberState, program: Program, at: datetime, days: int | None = None
) -> list[Expiring]:
    """Points that expire by `at + days`, grouped by local date, soonest first."""
    horizon = at + timedelta(days=program.expiry_notice_days if days is None else days)
    per_day: dict[date, int] = {}
    for lot in state.lots:
        if lot.remaining and lot.expires_at <= horizon:
            day = lot.expires_at.astimezone(program.zone).date()
            per_day[day] = per_day.get(day, 0) + lot.remaining
    return [Expiring(points, day) for day, points in sorted(per_day.items())]


def due_expiries(state: MemberState, at: datetime) -> list[EventDraft]:
    """`expire` drafts for every lot whose expiry instant is <= `at`.

    Each gets a deterministic id (member, lot), so a job run twice, or by two hub
    processes, records each expiry once; and it is dated at the lot's expiry instant so it
    sorts after every spend that happened before it.
    """
    drafts = []
    for lot in state.lots:
        if lot.remaining > 0 and lot.expires_at <= at:
            drafts.append(
                EventDraft(
                    kind=Kind.EXPIRE,
                    member_id=state.member_id,
                    points=-lot.remaining,
                    data={"lot": lot.lot_id},
                    occurred_at=format_instant(lot.expires_at),
                    event_id=deterministic_event_id(state.member_id, "expire", lot.lot_id),
                    hlc=format_hlc(int(lot.expires_at.timestamp() * 1000), 0),
                )
            )
    return drafts
