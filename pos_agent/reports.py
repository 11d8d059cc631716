"""The day report of this terminal: sales, points issued and redeemed, enrolments,
rewards, voids and refunds, for one local day.

    >>> report = day_report(store, date(2026, 3, 10))
    >>> report["sales"]["count"], report["points"]["issued"]

Days are local days in the terminal's time zone (`terminal.timezone`, else the program's).
The local database holds only this terminal's receipts, so this is the per-terminal report
a manager runs at closing; HQ consolidates across terminals.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from loyalty.day_points import count_day_points
from loyalty.events import format_instant
from pos_agent.store import Store


def day_bounds(zone: ZoneInfo, day: date) -> tuple[str, str]:
    """[start, end) of a local day as UTC instants in the ledger's text format."""
    start = datetime.combine(day, datetime.min.time(), zone)
    end = datetime.combine(day + timedelta(days=1), datetime.min.time(), zone)
    return format_instant(start), format_instant(end)


def day_report(store: Store, day: date) -> dict:
    program = store.active_program()
    zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
    start, end = day_bounds(zone, day)
    conn = store.conn
    # One pass over each table, summed here rather than by one query a figure. Neither
    # table is indexed by time: the report is a manager's, once a day, and a pass over
    # the tables is fast enough for that.
    empty = {"count": 0, "total": 0}
    by_kind: dict[str, dict[str, int]] = {}
    member_sales = 0
    for kind, total, member_id in conn.execute(
        "SELECT kind, total, member_id FROM receipts WHERE created_at >= ? AND created_at < ?",
        (start, end),
    ):
        figures = by_kind.setdefault(kind, {"count": 0, "total": 0})
        figures["count"] += 1
        figures["total"] += total
        member_sales += kind == "sale" and member_id is not None
    enrolments = offline = 0
    moves: list[tuple[str, int]] = []
    rewards: dict[str | None, int] = {}
    for kind, points, approved_offline, reward in conn.execute(
        "SELECT kind, points, approved_offline, CASE WHEN kind = 'redeem' THEN "
        "COALESCE(json_extract(data, '$.reward_id'), json_extract(data, '$.voucher_reward_id')) "
        "END FROM events WHERE occurred_at >= ? AND occurred_at < ?", (start, end),
    ):
        offline += approved_offline
        moves.append((kind, points))
        if kind == "redeem":
            rewards[reward] = rewards.get(reward, 0) + 1
        elif kind == "enrol":
            enrolments += 1
    # The hub's day report counts with the same function (loyalty.day_points: issued net
    # of reversed credits, redeemed net of reversed spends), so the two agree.
    points = count_day_points(moves)
    sales = by_kind.get("sale", empty)
    voids = by_kind.get("void", empty)
    refunds = by_kind.get("refund", empty)
    return {
        "date": day.isoformat(),
        "terminal": store.identity.origin,
        "currency": program.currency,
        "currency_exponent": program.currency_exponent,
        "points_name": program.points_name,
        "sales": {**sales, "with_member": member_sales},
        "voids": voids,
        "refunds": refunds,
        "net_total": sales["total"] + voids["total"] + refunds["total"],
        "enrolments": enrolments,
        "checkins": by_kind.get("checkin", empty)["count"],
        "points": {"issued": points.issued, "redeemed": points.redeemed,
                   "reversed": points.reversed},
        "rewards": dict(sorted(rewards.items(), key=lambda item: (item[0] is not None,
                                                                   item[0] or ""))),
        "redemptions_approved_offline": offline,
    }
