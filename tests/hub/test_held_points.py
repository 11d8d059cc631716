"""Points a till asserts beyond the rules are kept (the receipt is a fact) but held: not
spendable online, through the hub's authorisation or at any till, until HQ releases them
in the flag review. Each attack goes through the real hub over HTTP with a terminal token;
the honest paths (enrolment, sales with stamps, a completed card, refunds, voids,
redemptions) hold nothing and flag nothing."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from hub.store.members import rebuild_member
from loyalty.earning import earn_for_sale, enrolment_drafts, local_day, visit_bonuses
from loyalty.events import Event, EventDraft
from loyalty.fold import MemberState, fold
from loyalty.ids import new_member_id
from loyalty.rederive import hold_event_id
from loyalty.reversal import reverse_receipt
from loyalty.sale import make_sale

from .conftest import PROGRAM, Hub, Term, new_terminal, run_cli, write_config


def _member(hub: Hub, member: str) -> dict[str, Any]:
    with hub.admin() as c:
        r = c.get(f"/v1/admin/members/{member}")
        assert r.status_code == 200, r.text
        return r.json()


def _flags(hub: Hub, member: str, kind: str | None = None) -> list[dict[str, Any]]:
    return [f for f in hub.rows("flags", member_id=member) if kind in (None, f["kind"])]


def _online_redeem(hub: Hub, member: str, reward: str = "free-latte"):
    with hub.online() as c:
        return c.post("/v1/online/redeem", json={"member_id": member, "reward_id": reward})


def _forged_earn(term: Term, member: str, points: int, total: int = 1) -> list[Event]:
    """What a till that lies makes: an honest sale of `total`, its earn saying `points`."""
    state = MemberState(member_id=member)  # another store's member: this till knows nothing
    drafts = earn_for_sale(PROGRAM, state, make_sale(total=total), datetime.now(UTC),
                           receipt_no=term.receipt()).drafts
    return [term.seal(replace(drafts[0], points=points))] + [term.seal(d) for d in drafts[1:]]


def _enrolled(hub: Hub, term: Term | None = None) -> tuple[Term, str]:
    term = term or new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    return term, member


def _snapshot(hub: Hub, token: str, member: str) -> dict[str, Any]:
    """The member's snapshot as a terminal pulls it."""
    found, cursor = None, 0
    with hub.client(token) as c:
        while True:
            page = c.get("/v1/sync/pull", params={"cursor": cursor, "limit": 2000}).json()
            for ch in page["changes"]:
                if ch["type"] == "member" and ch["member_id"] == member:
                    found = ch["snapshot"]
            cursor = page["cursor"]
            if not page["more"]:
                assert found is not None
                return found


def test_a_minted_earn_is_kept_held_refused_everywhere_until_released(hub: Hub,
                                                                      tmp_path: Path):
    _, member = _enrolled(hub)  # 50: the welcome bonus, at store A
    thief = new_terminal(hub)  # another store's till
    forged = _forged_earn(thief, member, 999_999)  # on a 0.01 sale (+ the day's visit, 5)
    r = thief.push(forged)
    assert r.status_code == 200, r.text  # kept: a receipt is a fact
    earn = forged[0]
    # the program gives 0.01 x 10 a euro = 0 (floor): every point of it is held
    [flag] = _flags(hub, member, "points_held")
    assert flag["detail"] == (f"receipt {earn.ref} earned 999,999; program {PROGRAM.version} "
                              "gives 0: 999,999 held")
    assert json.loads(flag["event_ids"]) == [earn.event_id, hold_event_id(earn)]
    assert flag["origin"] == thief.origin
    [hold] = hub.rows("events", event_id=hold_event_id(earn))
    assert (hold["origin"], hold["kind"], hold["points"]) == ("hub", "hold", 0)
    assert json.loads(hold["content"])["data"]["points"] == 999_999
    assert _flags(hub, member, "rule_mismatch") == []
    view = _member(hub, member)
    assert view["balance"] == 50 + 999_999 + 5
    assert (view["held_points"], view["spendable"]) == (999_999, 55)
    assert view["summary"]["held_points"] == 999_999
    # the online shop cannot spend it
    before = hub.counts()
    r = _online_redeem(hub, member)
    assert r.status_code == 409 and r.json()["error"] == "insufficient_points", r.text
    assert "999999 more held for review" in r.json()["detail"]
    with hub.online() as c:
        web = c.get("/v1/online/members", params={"member_id": member}).json()
    assert (web["balance"], web["held_points"]) == (view["balance"], 999_999)
    # nor a till through the hub's authorisation
    spend = thief.redeem(member, "gift-10", balance=view["balance"])
    r = thief.push([spend], "/v1/redemptions/authorize")
    assert r.status_code == 409 and r.json()["error"] == "insufficient_points", r.text
    assert hub.counts() == before
    # the terminals see the hold in the snapshot they pull (and refuse it offline too)
    snapshot = MemberState.from_dict(_snapshot(hub, thief.token, member))
    assert (snapshot.held, snapshot.spendable) == (999_999, 55)
    with hub.ctx.db.read() as conn:  # the member row is the fold of its ledger, hold and all
        assert rebuild_member(conn, member).to_dict() == snapshot.to_dict()

    # finance sees them in the liability, apart
    with hub.admin() as c:
        held_before = c.get("/v1/admin/reports/liability").json()["held"]
    assert held_before >= 999_999

    # HQ releases it in the flag review: the points become spendable
    config = write_config(tmp_path, hub.ctx.settings.hub.database_url)
    out = run_cli(config, "flags", "resolve", str(flag["id"]), "--release", "--note",
                  "checked the till roll", "--json").stdout
    resolved = json.loads(out)
    assert resolved["status"] == "resolved" and resolved["outcome"] == "released"
    assert resolved["points"] == 999_999 and resolved["release_event_id"]
    assert resolved["resolution_note"] == "released 999,999 held points: checked the till roll"
    view = _member(hub, member)
    assert (view["held_points"], view["spendable"]) == (0, view["balance"])
    with hub.admin() as c:
        assert c.get("/v1/admin/reports/liability").json()["held"] == held_before - 999_999
    assert _online_redeem(hub, member).status_code == 200
    # a second release makes nothing twice
    again = run_cli(config, "flags", "resolve", str(flag["id"]), "--release", "--note", "x",
                    ok=False)
    assert "already resolved" in again.stderr
    assert hub.count("events", kind="release", member_id=member) == 1


def test_cancelling_held_points_takes_them_off(hub: Hub):
    _, member = _enrolled(hub)
    thief = new_terminal(hub)
    assert thief.push(_forged_earn(thief, member, 5_000, total=100)).status_code == 200
    [flag] = _flags(hub, member, "points_held")
    assert flag["detail"].endswith("gives 10: 4,990 held")
    with hub.admin() as c:
        plain = c.post(f"/v1/admin/flags/{flag['id']}/resolve", json={"note": "seen"})
        assert plain.status_code == 422 and plain.json()["error"] == "release_or_cancel"
        r = c.post(f"/v1/admin/flags/{flag['id']}/resolve",
                   json={"note": "forged receipt", "cancel": True})
        assert r.status_code == 200, r.text
        assert r.json()["outcome"] == "cancelled" and r.json()["adjust_event_id"]
        again = c.post(f"/v1/admin/flags/{flag['id']}/resolve",
                       json={"note": "again", "cancel": True})
        assert again.status_code == 409
    view = _member(hub, member)
    assert (view["balance"], view["held_points"]) == (50 + 10 + 5, 0)
    [adjust] = hub.rows("events", member_id=member, kind="adjust")
    assert (adjust["origin"], adjust["points"]) == ("hub", -4_990)
    [done] = [f for f in hub.rows("flags", id=flag["id"])]
    assert done["resolution_note"].startswith("cancelled 4,990 held points (adjust ")


def test_a_second_welcome_is_held(hub: Hub):
    _, member = _enrolled(hub)
    thief = new_terminal(hub)
    [again] = [d for d in enrolment_drafts(PROGRAM, member, datetime.now(UTC),
                                           receipt_no=thief.receipt(), channel="store")
               if d.kind == "bonus"]
    e = thief.seal(again)
    assert thief.push([e]).status_code == 200
    [flag] = _flags(hub, member, "points_held")
    assert flag["detail"] == (f"receipt {e.ref}: a second Welcome bonus (welcome): each is "
                              "given once: 50 held")
    view = _member(hub, member)
    assert (view["balance"], view["held_points"], view["spendable"]) == (100, 50, 50)


def _enrol_born(term: Term, born: date) -> tuple[str, list[Event]]:
    member = new_member_id()
    at = datetime.now(UTC)
    drafts = enrolment_drafts(PROGRAM, member, at, receipt_no=term.receipt(), channel="store")
    drafts[0] = replace(drafts[0], data={**drafts[0].data, "profile": {
        "name": "Born", "birthday": born.isoformat()}})
    return member, [term.seal(d, at) for d in drafts]


def test_a_birthday_bonus_off_the_birthday_is_held_and_on_it_is_not(hub: Hub):
    term = new_terminal(hub)
    now = datetime.now(UTC)
    today = local_day(PROGRAM, now)
    other = date(1990, today.month % 12 + 1, 10)  # next month: not this one
    member, events = _enrol_born(term, other)
    assert term.push(events).status_code == 200
    # the till says the birthday is today: a birthday bonus (and the day's visit)
    drafts = visit_bonuses(PROGRAM, term.states[member], now, receipt_no=term.receipt(),
                           birthday=date(1990, today.month, today.day))
    assert [d.data["reason"] for d in drafts] == ["Store visit", "Birthday"]
    sealed = [term.seal(d, now) for d in drafts]
    assert term.push(sealed).status_code == 200
    [flag] = _flags(hub, member, "points_held")
    assert flag["detail"] == (f"receipt {sealed[1].ref}: a Birthday bonus (birthday:"
                              f"{today.year}) on {today}; the member's birthday is in "
                              f"{other:%B}: 100 held")
    assert json.loads(flag["event_ids"])[0] == sealed[1].event_id
    assert _member(hub, member)["held_points"] == 100
    # the member whose birthday it is gets theirs, nothing held
    born_today, events = _enrol_born(term, date(1990, today.month, 1))
    state = fold(events)
    sale = earn_for_sale(PROGRAM, state, make_sale(total=1000), now,
                         receipt_no=term.receipt(), birthday=date(1990, today.month, 1))
    assert "Birthday" in [b for b, _ in sale.bonuses]
    assert term.push(events + [term.seal(d, now) for d in sale.drafts]).status_code == 200
    assert _flags(hub, born_today) == []


def test_a_redeem_that_takes_less_than_the_reward_costs_is_held(hub: Hub):
    term, member = _enrolled(hub)
    assert term.push(term.sale(member, 2000)).status_code == 200  # 200 + 5: 255 in all
    cheap = term.seal(EventDraft(kind="redeem", member_id=member, points=-1,
                                 ref=term.receipt(), data={"reward_id": "free-latte"}))
    assert term.push([cheap]).status_code == 200  # an offline approval: kept
    [flag] = _flags(hub, member, "points_held")
    assert flag["detail"] == (f"receipt {cheap.ref} redeemed free-latte for 1; in program "
                              f"{PROGRAM.version} Free latte costs 150: 149 held")
    view = _member(hub, member)
    assert (view["balance"], view["held_points"], view["spendable"]) == (254, 149, 105)


def test_held_points_cannot_be_spent_in_the_same_authorisation(hub: Hub):
    _, member = _enrolled(hub)
    thief = new_terminal(hub)
    forged = _forged_earn(thief, member, 10_000)
    spend = thief.redeem(member, "gift-10", balance=10_055)
    before = hub.counts()
    r = thief.push(forged + [spend], "/v1/redemptions/authorize")
    assert r.status_code == 409 and r.json()["error"] == "insufficient_points", r.text
    assert hub.counts() == before  # nothing kept: no earn, no hold, no flag


def test_honest_tills_hold_nothing(hub: Hub):
    t1 = new_terminal(hub)
    t2 = new_terminal(hub, t1.origin.split("-")[0])
    member, events = t1.enrol()  # the welcome at enrolment
    coffee = [("LATTE", "coffee", 6, 350), ("CROI", "pastry", 1, 180)]
    events += t1.sale(member, None, lines=coffee)
    events += t1.sale(member, None, lines=coffee)  # 12 coffees: the card completes once
    assert any(e.kind == "stamp" for e in events)
    events += t1.sale(member, 4000)
    refund_of = events[-1].ref
    events.append(t1.seal(reverse_receipt(t1.states[member], refund_of, refund_amount=1500)))
    events += t1.sale(member, 1200)
    events.append(t1.seal(reverse_receipt(t1.states[member], events[-1].ref)))  # a void
    spend = t1.redeem(member, "free-latte")
    events.append(spend)
    events.append(t1.seal(reverse_receipt(t1.states[member], spend.ref)))  # void it
    code = next(iter(t1.states[member].vouchers))
    events.append(t1.use_voucher(member, code))
    assert t1.push(events).status_code == 200
    # a second till of the store, knowing the member from its pull
    t2.states[member] = t1.states[member].copy()
    later = t2.sale(member, None, lines=[("BEANS", "retail", 1, 1200)])
    assert t2.push(later).status_code == 200
    assert [f["kind"] for f in _flags(hub, member)] == []
    assert hub.count("events", member_id=member, kind="hold") == 0
    view = _member(hub, member)
    assert view["held_points"] == 0 and view["spendable"] == view["balance"] > 0
