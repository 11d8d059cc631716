"""The day report: every figure from the receipts and events of one local day, and of
that day only (the tables are read in one pass each: no index by time)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from loyalty.sale import make_sale
from pos_agent.members import enrol
from pos_agent.operations import (
    check_in,
    record_sale,
    redeem_reward,
    refund_receipt,
    void_receipt,
)
from pos_agent.reports import day_report

# Europe/Paris (the example program's zone) is UTC+1 in March: the local 10 March runs
# from 9 March 23:00 to 10 March 23:00 UTC.
DAY = date(2026, 3, 10)
MORNING = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)


def test_day_report_counts_every_figure_of_its_day_only(store):
    before = datetime(2026, 3, 9, 22, 59, tzinfo=UTC)  # still 9 March in Paris
    early = enrol(store, name="Eve", phone="0600000001", at=before)
    record_sale(store, early.member_id, make_sale(total=4000), at=before)

    ann = enrol(store, name="Ann", phone="0611223344", at=MORNING)  # 50 welcome
    big = record_sale(store, ann.member_id, make_sale(total=3000),
                      at=MORNING + timedelta(minutes=1))  # 300 + 5 visit
    walk_in = record_sale(store, None, make_sale(total=500), at=MORNING + timedelta(minutes=2))
    small = record_sale(store, ann.member_id, make_sale(total=1000),
                        at=MORNING + timedelta(minutes=3))
    assert small.points_earned == 100  # the day's visit bonus was given already
    latte = redeem_reward(store, ann.member_id, "free-latte", found_by="qr",
                          at=MORNING + timedelta(minutes=4))  # 150, approved offline
    void_receipt(store, walk_in.receipt_no, at=MORNING + timedelta(minutes=5))
    refund = refund_receipt(store, big.receipt_no, 1000, at=MORNING + timedelta(minutes=6))
    visit = check_in(store, early.member_id, at=MORNING + timedelta(minutes=7))  # 5 visit
    assert latte.approved_offline and visit.receipt_no is not None
    assert refund.points_reversed == 100

    after = datetime(2026, 3, 10, 23, 0, tzinfo=UTC)  # 11 March in Paris
    record_sale(store, ann.member_id, make_sale(total=7000), at=after)

    report = day_report(store, DAY)
    assert report["sales"] == {"count": 3, "total": 3000 + 500 + 1000, "with_member": 2}
    assert report["voids"] == {"count": 1, "total": -500}
    assert report["refunds"] == {"count": 1, "total": -1000}
    assert report["net_total"] == 4500 - 500 - 1000
    assert report["enrolments"] == 1 and report["checkins"] == 1
    # issued is net of what the refund took back (loyalty.day_points), as at the hub
    assert report["points"] == {"issued": 50 + 305 + 100 + 5 - 100, "redeemed": 150,
                                "reversed": 100}
    assert report["rewards"] == {"free-latte": 1}
    assert report["redemptions_approved_offline"] == 1

    eve_day = day_report(store, DAY - timedelta(days=1))
    assert eve_day["sales"] == {"count": 1, "total": 4000, "with_member": 1}
    assert eve_day["enrolments"] == 1 and eve_day["points"]["redeemed"] == 0
    assert day_report(store, DAY + timedelta(days=1))["sales"]["count"] == 1
    assert day_report(store, DAY + timedelta(days=2))["sales"]["count"] == 0
