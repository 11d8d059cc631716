"""Points issued, redeemed and reversed over a day, counted one way by the terminal's day
report (pos_agent.reports) and the hub's (GET /v1/sync/day-report), so the two agree once
the day is synced (issue 17: a voided redemption made the hub say 200 more issued).

The rule, by the sign of each event's points:

- issued = credits (positive points of any event but a reversal) minus the credits
  reversals took back (a reversal's negative points: a void or refund of a sale);
- redeemed = spends (negative points of any event but a reversal) minus the spends
  reversals gave back (a reversal's positive points: a voided redemption);
- reversed = all the points reversals moved, either way.

    >>> count_day_points([("earn", 300), ("bonus", 5), ("redeem", -200), ("reverse", 200)])
    DayPoints(issued=305, redeemed=0, reversed=200)
    >>> count_day_points([("earn", 300), ("reverse", -100)])
    DayPoints(issued=200, redeemed=0, reversed=100)

A reversal is one event per receipt with its net points, so a receipt that both earned and
spent is counted by its net sign, the same at both ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class DayPoints:
    issued: int
    redeemed: int
    reversed: int


def count_day_points(rows: Iterable[tuple[str, int]]) -> DayPoints:
    """Count (kind, points) rows, one per event or summed per kind and sign (a sum of
    rows of one kind and one sign counts the same as the rows)."""
    credits = spends = credits_reversed = spends_reversed = 0
    for kind, points in rows:
        if kind == "reverse":
            if points < 0:
                credits_reversed -= points
            else:
                spends_reversed += points
        elif points > 0:
            credits += points
        else:
            spends -= points
    return DayPoints(issued=credits - credits_reversed, redeemed=spends - spends_reversed,
                     reversed=credits_reversed + spends_reversed)


__all__ = ["DayPoints", "count_day_points"]
