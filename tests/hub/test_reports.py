"""HQ reports and the terminal's day report over real HTTP, on SQLite and PostgreSQL, with
numbers worked out by hand from what was pushed (steady program: 10 points per euro,
welcome 50, first visit of a day 5)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loyalty.events import with_changes
from loyalty.reversal import reverse_receipt

from .conftest import PROGRAM, Hub, new_terminal, run_cli, write_config

pytestmark = pytest.mark.slow


def _rewards_of(hub: Hub, store: str) -> list[dict]:
    with hub.admin() as c:
        r = c.get("/v1/admin/reports/rewards")
    assert r.status_code == 200, r.text
    return [row for row in r.json()["rewards"] if row["store"] == store]


def test_rewards_gift_card_bought_then_used_and_stamp_card_completed_twice(hub: Hub):
    term = new_terminal(hub)
    store = term.origin.split("-")[0]
    at = datetime.now(UTC)
    member, events = term.enrol(at)
    events += term.sale(member, 9000, at)                  # 900 + visit 5: 955 with welcome
    gift = term.redeem(member, "gift-10", at)               # 900 points -> a gift card voucher
    [gift_voucher] = gift.data["vouchers_issued"]
    events.append(gift)
    coffees = term.sale(member, None, at, lines=[("LATTE", "coffee", 20, 300)])
    [stamp] = [e for e in coffees if e.kind == "stamp"]
    assert stamp.data["completed"] == 2 and len(stamp.data["vouchers_issued"]) == 2
    events += coffees
    r = term.push(events)
    assert r.status_code == 200, r.text
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == 50 + 900 + 5 - 900 + 600

    # bought, not used yet: issued, not redeemed; two completions: two vouchers issued
    assert _rewards_of(hub, store) == [
        {"reward_id": "free-coffee", "tier": "", "store": store, "issued": 2, "redeemed": 0},
        {"reward_id": "gift-10", "tier": "Green", "store": store, "issued": 1, "redeemed": 0},
    ]
    [gift_row] = hub.rows("events", event_id=gift.event_id)
    assert (gift_row["reward_action"], gift_row["reward_units"]) == ("issue", None)
    [stamp_row] = hub.rows("events", event_id=stamp.event_id)
    assert (stamp_row["reward_action"], stamp_row["reward_units"]) == ("stamp", 2)

    used = [term.use_voucher(member, gift_voucher["code"], at),
            term.use_voucher(member, stamp.data["vouchers_issued"][0]["code"], at)]
    assert term.push(used).status_code == 200
    # the gift card counts redeemed once, when used (its use carries no tier)
    assert _rewards_of(hub, store) == [
        {"reward_id": "free-coffee", "tier": "", "store": store, "issued": 2, "redeemed": 1},
        {"reward_id": "gift-10", "tier": "", "store": store, "issued": 0, "redeemed": 1},
        {"reward_id": "gift-10", "tier": "Green", "store": store, "issued": 1, "redeemed": 0},
    ]
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == 655  # vouchers move no points


def test_day_report_counts_what_was_pushed(hub: Hub):
    term = new_terminal(hub)
    now = datetime.now(UTC)
    today = now.astimezone(PROGRAM.zone).date()
    yesterday_at = now - timedelta(days=1)
    yesterday = yesterday_at.astimezone(PROGRAM.zone).date()
    member, events = term.enrol(now - timedelta(days=2))
    events += term.sale(member, 1000, yesterday_at)          # 100 + visit 5
    sale = term.sale(member, 4200, now)                       # 420 + visit 5
    events += sale
    events.append(term.redeem(member, "free-latte", now))    # -150
    refund = reverse_receipt(term.states[member], sale[0].ref, refund_amount=2100)
    assert refund.points == -210                              # half the sale's 420
    events.append(term.seal(refund, now))
    assert term.push(events).status_code == 200
    with hub.client(term.token) as c:
        day = c.get("/v1/sync/day-report", params={"date": today.isoformat()})
        before = c.get("/v1/sync/day-report", params={"date": yesterday.isoformat()})
        empty = c.get("/v1/sync/day-report", params={"date": "2020-01-01"})
        bad = c.get("/v1/sync/day-report", params={"date": "yesterday"})
    assert day.status_code == 200, day.text
    assert day.json() == {"origin": term.origin, "date": today.isoformat(), "sales": 1,
                          "events": 4, "points_issued": 425 - 210, "points_redeemed": 150,
                          "points_reversed": 210, "enrolments": 0, "reversals": 1}
    assert before.json() == {"origin": term.origin, "date": yesterday.isoformat(),
                             "sales": 1, "events": 2, "points_issued": 105,
                             "points_redeemed": 0, "points_reversed": 0, "enrolments": 0,
                             "reversals": 0}
    assert empty.json()["events"] == 0 and empty.json()["points_issued"] == 0
    assert bad.status_code == 422 and bad.json()["error"] == "invalid"
    # another terminal's day report holds none of these
    with hub.client(new_terminal(hub).token) as c:
        other = c.get("/v1/sync/day-report", params={"date": today.isoformat()}).json()
    assert other["events"] == 0


def test_admin_flags_filters(hub: Hub):
    a, b = new_terminal(hub), new_terminal(hub)
    store_a, store_b = a.origin.split("-")[0], b.origin.split("-")[0]
    _, events_b = b.enrol()
    with hub.client(a.token) as c:  # a sends b's events: wrong_origin, store of a
        assert c.post("/v1/sync/push", json=b.body(events_b)).status_code == 403
    assert b.push(events_b).status_code == 200
    _, events = b.enrol()
    assert b.push(events[:1]).status_code == 200
    broken = with_changes(events[1], prev_hash="e" * 64)
    assert b.push([broken]).status_code == 409                   # chain_broken, store of b
    with hub.admin() as c:
        def ids(**params: str) -> list[tuple[int, str, str]]:
            r = c.get("/v1/admin/flags", params=params)
            assert r.status_code == 200, r.text
            return [(f["id"], f["kind"], f["store"]) for f in r.json()["flags"]]

        [(wrong_id, _, _)] = ids(store=store_a)
        assert ids(store=store_a, kind="wrong_origin") == [(wrong_id, "wrong_origin", store_a)]
        assert ids(store=store_a, kind="chain_broken") == []
        [(chain_id, _, _)] = ids(store=store_b)
        assert ids(store=store_b, kind="chain_broken") == [(chain_id, "chain_broken", store_b)]
        assert {wrong_id, chain_id} <= {i for i, _, _ in ids()}
        assert all(k == "chain_broken" for _, k, _ in ids(kind="chain_broken"))
        r = c.post(f"/v1/admin/flags/{wrong_id}/resolve", json={"note": "reinstalled"})
        assert r.status_code == 200
        assert ids(store=store_a) == []
        assert ids(store=store_a, status="resolved") == [(wrong_id, "wrong_origin", store_a)]
        assert ids(store=store_a, status="all") == [(wrong_id, "wrong_origin", store_a)]
        bad = c.get("/v1/admin/flags", params={"status": "closed"})
        assert bad.status_code == 422 and bad.json()["detail"].startswith("status")


def test_sync_health_push_pull_behind_and_refusals(hub: Hub, tmp_path: Path):
    term = new_terminal(hub)
    started = datetime.now(UTC).isoformat()

    def health() -> dict:
        with hub.admin() as c:
            rows = c.get("/v1/admin/reports/sync-health").json()["origins"]
        return next(o for o in rows if o["origin"] == term.origin)

    fresh = health()
    assert fresh["last_push_at"] is None and fresh["last_pull_at"] is None
    assert fresh["events_behind"] is None and fresh["gaps"] == 0
    member, events = term.enrol()
    events += term.sale(member, 1000)
    assert term.push(events[:2]).status_code == 200
    pushed = health()
    assert pushed["last_push_at"] >= started and pushed["last_pull_at"] is None
    assert pushed["high_seq"] == 2
    # the till has recorded len(events) events; the hub holds 2 of them
    with hub.client(term.token) as c:
        page = c.get("/v1/sync/pull", params={"cursor": 0, "limit": 5},
                     headers={"X-Origin-High-Seq": str(len(events))})
    assert page.status_code == 200
    pulled = health()
    assert pulled["last_pull_at"] >= pushed["last_push_at"]
    assert pulled["reported_high_seq"] == len(events)
    assert pulled["events_behind"] == len(events) - 2 > 0
    assert pulled["pull_cursor"] == page.json()["cursor"]
    # refused pushes are counted per origin
    assert term.push(events[3:]).status_code == 409                      # skips seq 3
    assert term.push([with_changes(events[2], prev_hash="0" * 64)]).status_code == 409
    assert term.push([with_changes(events[2], prev_hash="1" * 64)]).status_code == 409
    refused = health()
    assert (refused["gaps"], refused["chain_broken"]) == (1, 2)
    assert refused["last_refused_at"] >= pulled["last_pull_at"]
    assert refused["high_seq"] == 2 and refused["missing"] == 0
    # the rest arrives: nothing behind any more
    assert term.push(events[2:]).status_code == 200
    with hub.client(term.token) as c:
        c.get("/v1/sync/pull", params={"cursor": 0, "limit": 1},
              headers={"X-Origin-High-Seq": str(len(events))})
    caught_up = health()
    assert caught_up["events_behind"] == 0 and caught_up["gaps"] == 1
    # the CLI shows the same numbers
    config = write_config(tmp_path, hub.ctx.settings.hub.database_url)
    rows = json.loads(run_cli(config, "report", "sync-health", "--json").stdout)
    mine = next(o for o in rows if o["origin"] == term.origin)
    assert {k: mine[k] for k in ("events_behind", "gaps", "chain_broken", "high_seq")} == {
        "events_behind": 0, "gaps": 1, "chain_broken": 2, "high_seq": len(events)}
    table = run_cli(config, "report", "sync-health").stdout.splitlines()
    header = table[0].split()
    assert header[-3:] == ["events_behind", "gaps", "chain_broken"]
    [line] = [line for line in table if line.startswith(term.origin)]
    assert line.split()[-3:] == ["0", "1", "2"]
