"""The sync API over real HTTP, on SQLite and PostgreSQL: auth, push idempotency, gaps,
chains, conflicts, wrong origins, validation, authorisation races, pull == fold."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from hub.store.members import event_from_row
from loyalty.events import Event, EventDraft, with_changes
from loyalty.fold import fold

from .conftest import Hub, Term, new_terminal

pytestmark = pytest.mark.slow


def hub_events(hub: Hub, member_id: str) -> list[Event]:
    return [event_from_row(r["content"]) for r in hub.rows("events", member_id=member_id)]


def test_tokens_missing_wrong_revoked_and_wrong_kind(hub: Hub):
    term = new_terminal(hub)
    with hub.client(None) as c:
        r = c.get("/v1/terminal/whoami")
    assert r.status_code == 401 and r.json()["error"] == "unauthorized"
    with hub.client("t_not-a-token") as c:
        r = c.get("/v1/terminal/whoami")
    assert r.status_code == 401 and r.json()["error"] == "bad_token"
    with hub.client(term.token) as c:
        me = c.get("/v1/terminal/whoami").json()
        assert me["origin"] == term.origin and me["store"] == term.origin.split("-")[0]
        assert "qr_key" not in me and len(me["hub_public_key"]) == 43  # public, no secret
        assert c.get("/v1/admin/flags").status_code == 403
    from hub.store.credentials import revoke

    with hub.ctx.db.write() as conn:
        assert revoke(conn, "terminal", term.origin) == 1
    member, events = term.enrol()
    before = hub.counts()
    r = term.push(events)
    assert r.status_code == 401 and "revoked" in r.json()["detail"]
    assert hub.counts() == before


def test_push_twice_and_after_lost_answer_changes_nothing(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    events += term.sale(member, 2350)
    first = term.push(events[:2])
    assert first.status_code == 200, first.text
    assert [r["status"] for r in first.json()["results"]] == ["new", "new"]
    # the answer to this one is "lost": the terminal sends everything again
    term.push(events[2:3])
    counts = hub.counts()
    again = term.push(events)
    assert again.status_code == 200, again.text
    body = again.json()
    assert [r["status"] for r in body["results"]] == ["duplicate"] * 3 + ["new"] * (
        len(events) - 3)
    assert body["results"][:2] == [{**r, "status": "duplicate"} for r in first.json()["results"]]
    assert body["high_seq"] == len(events)
    assert hub.count("events") == counts["events"] + len(events) - 3
    counts = hub.counts()
    third = term.push(events)
    assert [r["hub_seq"] for r in third.json()["results"]] == [
        r["hub_seq"] for r in body["results"]]
    assert hub.counts() == counts
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == fold(events).balance > 50


def test_wrong_origin_is_403_and_flagged(hub: Hub):
    a, b = new_terminal(hub), new_terminal(hub)
    _, events = b.enrol()
    before = hub.counts()
    with hub.client(a.token) as c:
        r = c.post("/v1/sync/push", json=b.body(events))
        assert r.status_code == 403 and r.json()["error"] == "wrong_origin"
        body = a.body(events)  # a's name on the batch, b's events inside
        r = c.post("/v1/sync/push", json=body)
        assert r.status_code == 403
    assert hub.counts() == {**before, "flags": before["flags"] + 2}
    flags = hub.rows("flags", origin=a.origin)
    assert {f["kind"] for f in flags} == {"wrong_origin"}


@pytest.mark.parametrize("mutate, status", [
    (lambda b: {"origin": b["origin"]}, 422),                        # no events key
    (lambda b: {**b, "events": [{**b["events"][0], "points": "50"}]}, 422),  # not strict
    (lambda b: {**b, "events": [{**b["events"][0], "occurred_at": "yesterday"}]}, 422),
    (lambda b: {**b, "events": [{**b["events"][0], "member_id": "x; DROP TABLE events"}]},
     422),
    (lambda b: {**b, "events": b["events"] * 2000}, 413),
    # PostgreSQL text holds no NUL: refused as bad input, not met as a database error
    (lambda b: {**b, "events": [{**b["events"][0], "ref": "R\x001"}]}, 422),
    (lambda b: {**b, "events": [{**b["events"][0], "program_version": "v\x00"}]}, 422),
])
def test_malformed_payloads_write_nothing(hub: Hub, mutate, status):
    term = new_terminal(hub)
    _, events = term.enrol()
    before = hub.counts()
    with hub.client(term.token) as c:
        r = c.post("/v1/sync/push", json=mutate(term.body(events)))
    assert r.status_code == status, r.text
    assert set(r.json()) >= {"error", "detail"} and r.json()["detail"]
    assert hub.counts() == before


def test_bad_json_negative_amount_and_unknown_member(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    sale = term.sale(member, 1000)
    before = hub.counts()
    with hub.client(term.token) as c:
        r = c.post("/v1/sync/push", content=b"{not json",
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 422 and r.json()["error"] == "invalid"
        bad = [e.to_dict() for e in events] + [{**sale[0].to_dict(), "amount": -1000}]
        r = c.post("/v1/sync/push", json={**term.body([]), "events": bad})
        assert r.status_code == 422 and "amount" in r.json()["detail"]
    assert hub.counts() == before
    # a sale for a member the hub has never seen (enrolled on a till that never sent it)
    enroller, other = new_terminal(hub), new_terminal(hub)
    stranger, _ = enroller.enrol()
    other.states[stranger] = enroller.states[stranger]
    sale = other.sale(stranger, 500)
    assert sale[0].origin_seq == 1
    r = other.push(sale)
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "unknown_member" and r.json()["member_id"] == stranger
    assert stranger in r.json()["detail"]
    assert hub.counts() == before


@pytest.mark.parametrize("kind, field, value, message", [
    ("earn", "points", -100, "a earn event cannot have points -100"),
    ("bonus", "points", -5, "a bonus event cannot have points -5"),
    ("redeem", "points", 150, "a redeem event cannot have points 150"),
    ("enrol", "points", 50, "a enrol event moves no points"),
    ("earn", "amount", -1000, "a earn event cannot have amount -1000"),
    ("reverse", "amount", 500, "a reverse event cannot have amount 500"),
])
def test_points_or_amount_the_kind_does_not_allow_write_nothing(hub: Hub, kind, field, value,
                                                                message):
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    sale = term.sale(member, 1000)
    spend = term.redeem(member, "free-latte")
    template = {"earn": sale[0], "bonus": sale[-1], "redeem": spend, "enrol": events[0],
                "reverse": with_changes(sale[0], kind="reverse", points=-100, amount=-1000)}
    event = template[kind].to_dict()
    assert event["kind"] == kind
    before = hub.counts()
    with hub.client(term.token) as c:
        r = c.post("/v1/sync/push", json={**term.body([]), "events": [{**event, field: value}]})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid"
    assert r.json()["detail"] == f"events[0]: {message}"
    assert hub.counts() == before
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == 50


def test_gap_chain_broken_and_conflict(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    sale = term.sale(member, 1200)
    assert term.push(events).status_code == 200
    before = hub.counts()
    r = term.push(sale[1:])  # skips the earn
    assert r.status_code == 409 and r.json() == {**r.json(), "error": "gap",
                                                  "expected_seq": len(events) + 1}
    tampered = [with_changes(sale[0], prev_hash="f" * 64)] + sale[1:]
    r = term.push(tampered)
    assert r.status_code == 409 and r.json()["error"] == "chain_broken"
    changed = with_changes(events[-1], points=events[-1].points + 1000)
    r = term.push([changed])
    assert r.status_code == 409 and r.json()["error"] == "conflict"
    assert r.json()["event_id"] == changed.event_id
    after = hub.counts()
    assert after == {**before, "flags": before["flags"] + 2}
    kinds = sorted(f["kind"] for f in hub.rows("flags", origin=term.origin))
    assert kinds == ["chain_broken", "conflict"]
    assert term.push(sale).status_code == 200  # the real continuation is still accepted


def test_points_beyond_the_rules_are_kept_held_and_flagged(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    [earn, *rest] = term.sale(member, 1000)
    # a terminal with other rules: same sale, 500 more points, properly chained
    term.seq, term.chain = events[-1].origin_seq, events[-1].content_hash()
    draft = EventDraft(kind="earn", member_id=member, points=earn.points + 500,
                       amount=earn.amount, currency=earn.currency, ref=earn.ref,
                       data=earn.data)
    term.states.pop(member)
    e = term.seal(draft)
    r = term.push(events + [e])
    assert r.status_code == 200, r.text
    [flag] = hub.rows("flags", member_id=member)
    assert flag["kind"] == "points_held" and json.loads(flag["event_ids"])[0] == e.event_id
    assert flag["detail"].endswith(": 500 held")
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == 50 + earn.points + 500  # never rewritten (the 500 are held)


def test_two_concurrent_authorisations_exactly_one_wins(hub: Hub):
    store = new_terminal(hub).origin.split("-")[0]
    t1, t2 = new_terminal(hub, store), new_terminal(hub)
    member, events = t1.enrol()
    events += t1.sale(member, 1000)  # 50 + 100 + 5 = 155 (steady program): one latte
    assert t1.push(events).status_code == 200
    have = t1.states[member].balance
    assert 150 <= have < 300
    r1 = t1.redeem(member, "free-latte")
    r2 = t2.redeem(member, "free-latte", balance=have)
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(2)

    def go(term: Term, event: Event) -> None:
        barrier.wait()
        answers.append(term.push([event], "/v1/redemptions/authorize"))

    threads = [threading.Thread(target=go, args=a) for a in ((t1, r1), (t2, r2))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    ok = next(a for a in answers if a.status_code == 200).json()
    refused = next(a for a in answers if a.status_code == 409).json()
    assert ok["authorized"] is True and ok["balance"] == have - 150
    assert refused["error"] == "insufficient_points"
    [row] = hub.rows("members", member_id=member)
    assert row["balance"] == have - 150 >= 0
    assert hub.count("events", member_id=member) == len(events) + 1


def test_offline_double_spend_is_kept_flagged_and_paid_down(hub: Hub):
    t1, t2 = new_terminal(hub), new_terminal(hub)
    member, events = t1.enrol()
    events += t1.sale(member, 1000)
    assert t1.push(events).status_code == 200
    have = t1.states[member].balance
    spend1 = t1.redeem(member, "free-latte")
    spend2 = t2.redeem(member, "free-latte", balance=have)
    spend3 = t2.redeem(member, "free-latte", balance=have)
    assert t1.push([spend1]).status_code == 200
    assert t2.push([spend2, spend3]).status_code == 200  # offline approvals: facts, kept
    [row] = hub.rows("members", member_id=member)
    owed = 450 - have
    assert row["balance"] == -owed and row["debt"] == owed
    [flag] = [f for f in hub.rows("flags", member_id=member) if f["kind"] == "negative_balance"]
    assert {spend1.event_id, spend2.event_id} <= set(json.loads(flag["event_ids"]))
    with hub.client(t2.token) as c:
        seen = c.get("/v1/sync/flags").json()["flags"]
    assert flag["id"] in [f["id"] for f in seen]
    later = datetime.now(UTC) + timedelta(days=1)
    assert t1.push(t1.sale(member, 9000, at=later)).status_code == 200
    [row] = hub.rows("members", member_id=member)
    paid_down = row["balance"]
    assert paid_down > 0 and row["debt"] == 0
    with hub.admin() as c:
        r = c.post(f"/v1/admin/flags/{flag['id']}/resolve", json={"note": "goodwill",
                                                                  "points": 25})
        assert r.status_code == 200, r.text
        assert r.json()["status"] == "resolved" and r.json()["adjust_event_id"]
        again = c.post(f"/v1/admin/flags/{flag['id']}/resolve", json={"note": "x"})
        assert again.status_code == 409
        view = c.get(f"/v1/admin/members/{member}").json()
    assert view["balance"] == paid_down + 25
    assert {o["origin"] for o in view["by_origin"]} == {t1.origin, t2.origin, "hub"}
    assert hub.count("flags", id=flag["id"]) == 1  # resolved, not deleted


def _pull_all(hub: Hub, token: str, limit: int = 7) -> dict[str, dict]:
    snapshots: dict[str, dict] = {}
    cursor = 0
    with hub.client(token) as c:
        while True:
            page = c.get("/v1/sync/pull", params={"cursor": cursor, "limit": limit},
                         headers={"X-Origin-High-Seq": "3"}).json()
            for ch in page["changes"]:
                assert ch["change_seq"] > cursor
                if ch["type"] == "member":
                    snapshots[ch["member_id"]] = ch
            assert page["cursor"] >= cursor
            cursor = page["cursor"]
            if not page["more"]:
                return snapshots


def test_pull_snapshots_equal_fold_of_all_events(hub: Hub):
    t1, t2 = new_terminal(hub), new_terminal(hub)
    member, events = t1.enrol()
    events += t1.sale(member, 4200)
    assert t1.push(events).status_code == 200
    # t2 was offline since two hours ago: its sale sorts before t1's events
    old = datetime.now(UTC) - timedelta(hours=2)
    t2.states[member] = fold(events)
    assert t2.push(t2.sale(member, 999, at=old)).status_code == 200
    snapshots = _pull_all(hub, t1.token)
    change = snapshots[member]
    expected = fold(hub_events(hub, member))
    assert change["snapshot"] == expected.to_dict()
    assert change["profile"]["phone"].startswith("+3361")
    assert change["hub_seq"] == max(r["hub_seq"] for r in hub.rows("events", member_id=member))
    with hub.client(t1.token) as c:
        page = c.get("/v1/sync/pull", params={"cursor": 0, "limit": 1000}).json()
    assert any(ch["type"] == "program" for ch in page["changes"])
    health = {o["origin"]: o for o in
              hub.admin().get("/v1/admin/reports/sync-health").json()["origins"]}
    assert health[t1.origin]["reported_high_seq"] == 3
    assert health[t1.origin]["high_seq"] == len(events)
    assert health[t1.origin]["events_behind"] == 0 and health[t1.origin]["gaps"] == 0


def test_reports_liability_and_rewards(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    events += term.sale(member, 3000)
    events.append(term.redeem(member, "free-latte"))
    assert term.push(events).status_code == 200
    with hub.admin() as c:
        liab = c.get("/v1/admin/reports/liability").json()
        rewards = c.get("/v1/admin/reports/rewards").json()["rewards"]
    store = term.origin.split("-")[0]
    [row] = [s for s in liab["stores"] if s["store"] == store]
    assert row["points"] == 50 + 300 + 5 - 150 and row["debited"] == 150
    with hub.ctx.db.read() as conn:
        from sqlalchemy import func, select

        from hub.tables import members

        total = conn.execute(select(func.sum(members.c.balance))).scalar()
    assert liab["total"] == total
    [latte] = [r for r in rewards if r["store"] == store]
    assert latte == {"reward_id": "free-latte", "tier": "Green", "store": store,
                     "issued": 1, "redeemed": 1}


def test_a_nul_in_profile_text_is_kept_in_the_event_not_in_the_member_row(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol(name="Ann\x00Lee")
    with hub.client(term.token) as c:
        r = c.post("/v1/sync/push", json=term.body(events))
    assert r.status_code == 200, r.text
    assert [row["name"] for row in hub.rows("members", member_id=member)] == ["AnnLee"]
    stored = hub.rows("events", member_id=member, kind="enrol")[0]["content"]
    assert json.loads(stored)["data"]["profile"]["name"] == "Ann\x00Lee"
