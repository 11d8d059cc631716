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
    by_kind = {
        kind: {"count": count, "total": total}
        for kind, count, total in conn.execute(
            "SELECT kind, COUNT(*), COALESCE(SUM(total), 0) FROM receipts "
            "WHERE created_at >= ? AND created_at < ? GROUP BY kind", (start, end))
    }
    empty = {"count": 0, "total": 0}
    member_sales = conn.execute(
        "SELECT COUNT(*) FROM receipts WHERE kind = 'sale' AND member_id IS NOT NULL "
        "AND created_at >= ? AND created_at < ?", (start, end)).fetchone()[0]
    points = conn.execute(
        "SELECT COALESCE(SUM(CASE WHEN kind IN ('earn', 'bonus') THEN points END), 0), "
        "COALESCE(-SUM(CASE WHEN kind = 'redeem' THEN points END), 0), "
        "COALESCE(-SUM(CASE WHEN kind = 'reverse' THEN points END), 0), "
        "COALESCE(SUM(CASE WHEN kind = 'enrol' THEN 1 END), 0), "
        "COALESCE(SUM(approved_offline), 0) "
        "FROM events WHERE occurred_at >= ? AND occurred_at < ?", (start, end)).fetchone()
    rewards = {
        reward: count for reward, count in conn.execute(
            "SELECT COALESCE(json_extract(data, '$.reward_id'), "
            "json_extract(data, '$.voucher_reward_id')), COUNT(*) FROM events "
            "WHERE kind = 'redeem' AND occurred_at >= ? AND occurred_at < ? GROUP BY 1 "
            "ORDER BY 1", (start, end))
    }
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
        "enrolments": points[3],
        "checkins": by_kind.get("checkin", empty)["count"],
        "points": {"issued": points[0], "redeemed": points[1], "reversed": points[2]},
        "rewards": rewards,
        "redemptions_approved_offline": points[4],
    }
