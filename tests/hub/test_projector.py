"""Ledger first: a push is appended and answered; the projector folds it behind, and every
reader catches it up first (hub.store.projector). On SQLite and PostgreSQL, over HTTP."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from hub.rebuild import rebuild
from hub.store import projector
from hub.tables import flags, members
from loyalty.events import EventDraft, format_instant, seal

from .conftest import PROGRAM, Hub, Term, new_terminal, variant

pytestmark = pytest.mark.slow


def _push(url: str, term: Term, events: list) -> httpx.Response:
    return httpx.post(f"{url}/v1/sync/push", json=term.body(events), timeout=30,
                      headers={"Authorization": f"Bearer {term.token}"})


def _raw(hub: Hub, table: Any, **where: Any) -> list[dict]:
    """Rows straight from the database, without folding what waits (unlike hub.rows)."""
    stmt = select(table)
    for key, value in where.items():
        stmt = stmt.where(table.c[key] == value)
    with hub.ctx.db.read() as conn:
        return [dict(r._mapping) for r in conn.execute(stmt)]


def _behind(hub: Hub) -> int:
    with hub.ctx.db.read() as conn:
        return projector.behind(conn)


def _member_with_a_latte(hub: Hub) -> tuple[Term, Term, str, list, int]:
    """Two terminals of a settled hub; a member enrolled and served at the first, with
    points for one latte (150) and not two."""
    hub.quiet()
    t1, t2 = new_terminal(hub), new_terminal(hub)
    member, events = t1.enrol()
    events += t1.sale(member, 1000)
    have = t1.states[member].balance
    assert 150 <= have < 300
    return t1, t2, member, events, have


def test_a_push_is_answered_unfolded_and_every_reader_folds_it_first(hub: Hub):
    t1, t2, member, events, have = _member_with_a_latte(hub)
    spend1 = t1.redeem(member, "free-latte")
    spend2 = t2.redeem(member, "free-latte", balance=have)
    spend3 = t2.redeem(member, "free-latte", balance=have)
    with variant(hub, projector_idle_ms=0) as url:  # a hub without the background fold
        r = _push(url, t1, events + [spend1])
        assert r.status_code == 200, r.text
        seqs = [x["hub_seq"] for x in r.json()["results"]]
        assert len(seqs) == len(events) + 1 and seqs == sorted(seqs)
        assert _push(url, t2, [spend2, spend3]).status_code == 200  # double spend, offline
        # answered, in the ledger, not folded yet: no member row, no flag
        assert _behind(hub) == len(events) + 3
        assert _raw(hub, members, member_id=member) == []
        assert _raw(hub, flags, member_id=member) == []
        # a reader (here a terminal's pull) folds everything first
        with httpx.Client(base_url=url, timeout=30,
                          headers={"Authorization": f"Bearer {t2.token}"}) as c:
            snaps, cursor, more = {}, 0, True
            while more:
                page = c.get("/v1/sync/pull", params={"cursor": cursor, "limit": 500}).json()
                snaps.update({ch["member_id"]: ch for ch in page["changes"]
                              if ch["type"] == "member"})
                cursor, more = page["cursor"], page["more"]
    assert _behind(hub) == 0
    owed = 450 - have
    assert snaps[member]["snapshot"]["balance"] == -owed
    [row] = _raw(hub, members, member_id=member)
    assert row["balance"] == -owed and row["debt"] == owed
    [flag] = [f for f in _raw(hub, flags, member_id=member) if f["kind"] == "negative_balance"]
    assert {spend1.event_id, spend2.event_id} <= set(json.loads(flag["event_ids"]))
    # what the fold wrote is what folding the ledger alone gives
    assert rebuild(hub.ctx, check_only=True)["differed"] == []


def test_the_server_folds_once_pushes_pause(hub: Hub):
    hub.quiet()
    term = new_terminal(hub)
    member, events = term.enrol()
    events += term.sale(member, 2000)
    with variant(hub, projector_idle_ms=100) as url:
        assert _push(url, term, events).status_code == 200
        deadline = time.monotonic() + 10
        while not _raw(hub, members, member_id=member):
            assert time.monotonic() < deadline, "the projector thread did not fold"
            time.sleep(0.05)
    [row] = _raw(hub, members, member_id=member)
    assert row["balance"] == term.states[member].balance
    assert _behind(hub) == 0


def test_a_chunk_never_splits_a_push_batch(hub: Hub):
    hub.quiet()
    term = new_terminal(hub)
    member, first = term.enrol()
    for _ in range(3):
        first += term.sale(member, 500)
    second = term.sale(member, 700)
    with variant(hub, projector_idle_ms=0) as url:
        assert _push(url, term, first).status_code == 200
        assert _push(url, term, second).status_code == 200
    assert _behind(hub) == len(first) + len(second)
    with hub.ctx.db.write() as conn:
        hub.ctx.db.lock_ledger(conn)
        # a limit inside the first batch still folds all of it, and only it
        assert projector.project_pending(conn, hub.ctx, limit=2) == len(first)
    assert _behind(hub) == len(second)
    [row] = _raw(hub, members, member_id=member)
    assert row["balance"] == sum(e.points for e in first)
    assert hub.settle() == len(second)
    [row] = _raw(hub, members, member_id=member)
    assert row["balance"] == term.states[member].balance


def test_a_member_enrolled_in_an_unfolded_push_is_known(hub: Hub):
    hub.quiet()
    term = new_terminal(hub)
    member, events = term.enrol()
    stranger, _ = new_terminal(hub).enrol()
    with variant(hub, projector_idle_ms=0) as url:
        assert _push(url, term, events).status_code == 200
        assert _raw(hub, members, member_id=member) == []
        # a later batch may name the member (its enrolment waits in the ledger) ...
        assert _push(url, term, term.sale(member, 1000)).status_code == 200
        # ... but not one the hub never heard of: refused, nothing written
        before = _behind(hub)
        r = _push(url, term, term.sale(stranger, 1000))
        assert r.status_code == 422 and r.json()["error"] == "unknown_member"
        assert _behind(hub) == before


@pytest.mark.parametrize("kind,points,data,says", [
    ("bonus", 10, {"expires_at": "soon"}, "data.expires_at"),
    ("membership", 0, {"tier": "Gold", "until": 20270101}, "data.until"),
    ("redeem", -10, {"reward_id": 5}, "data.reward_id"),
    ("bonus", 10, {"once": ["promo"]}, "data.once"),
    ("stamp", 0, {"vouchers_issued": ["V1"]}, "data.vouchers_issued"),
    ("reverse", 5, {"reverses": [1, 2]}, "data.reverses"),
])
def test_data_the_fold_cannot_read_is_refused_at_the_push(hub: Hub, kind, points, data, says):
    """A properly chained event whose data the fold would choke on: refused with 422 at
    the edge, nothing written, so it can never stop the projector behind it."""
    hub.settle()
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    before = hub.counts()
    with hub.ctx.db.read() as conn:
        top = projector.mark(conn)
    # sealed and chained like the terminal's own, without folding it on the terminal
    at = datetime.now(UTC)
    bad = seal(EventDraft(kind=kind, member_id=member, points=points, ref="R-1", data=data),
               origin=term.origin, origin_seq=term.seq + 1, origin_epoch=term.epoch,
               prev_hash=term.chain, occurred_at=format_instant(at),
               hlc=term.clock.now(int(at.timestamp() * 1000)), program_version=PROGRAM.version)
    r = term.push([bad])
    assert r.status_code == 422, r.text
    assert says in r.json()["detail"]
    assert hub.counts() == before
    with hub.ctx.db.read() as conn:
        assert projector.behind(conn) == 0 and projector.mark(conn) == top


def test_an_event_id_already_in_the_ledger_is_refused_by_the_insert(hub: Hub):
    """No look-up runs before a push's insert: the insert skips an id the ledger has and
    the push is refused 409 naming the event that holds it, with a flag, nothing kept."""
    hub.quiet()
    t1, t2 = new_terminal(hub), new_terminal(hub)
    member, events = t1.enrol()
    assert t1.push(events).status_code == 200
    before = hub.counts()
    copy = t2.seal(EventDraft(kind="bonus", member_id=member, points=10, ref="B-1",
                              event_id=events[0].event_id))
    r = t2.push([copy])
    assert r.status_code == 409, r.text
    assert r.json()["error"] == "conflict" and r.json()["event_id"] == copy.event_id
    assert f"already used by {t1.origin} seq 1" in r.json()["detail"]
    assert hub.counts() == {**before, "flags": before["flags"] + 1}
    [flag] = hub.rows("flags", origin=t2.origin)
    assert flag["kind"] == "conflict" and json.loads(flag["event_ids"]) == [copy.event_id]
    # twice in one batch: the second is the reuse
    t3 = new_terminal(hub)
    first = t3.seal(EventDraft(kind="bonus", member_id=member, points=5, ref="C-1"))
    twin = t3.seal(EventDraft(kind="bonus", member_id=member, points=5, ref="C-2",
                              event_id=first.event_id))
    r = t3.push([first, twin])
    assert r.status_code == 409 and f"already used by {t3.origin} seq 1" in r.json()["detail"]
    assert hub.count("events", origin=t3.origin) == 0


def _authorize(url: str, term: Term, events: list) -> httpx.Response:
    return httpx.post(f"{url}/v1/redemptions/authorize", json=term.body(events), timeout=30,
                      headers={"Authorization": f"Bearer {term.token}"})


def test_an_authorisation_judges_the_members_waiting_events_without_folding_a_backlog(
        hub: Hub):
    t1, t2, member, events, have = _member_with_a_latte(hub)
    busy = new_terminal(hub)
    backlog = []
    for _ in range(3):
        other, evs = busy.enrol()
        backlog += evs + busy.sale(other, 5000)
    with variant(hub, projector_idle_ms=0) as url:
        assert _push(url, t1, events).status_code == 200
        assert _push(url, busy, backlog).status_code == 200
        waiting = _behind(hub)
        assert waiting == len(events) + len(backlog)
        # the member's sale is not folded yet, and counts: one latte is authorised ...
        r = _authorize(url, t1, [t1.redeem(member, "free-latte")])
        assert r.status_code == 200, r.text
        assert r.json()["authorized"] is True and r.json()["balance"] == have - 150
        # ... without folding anybody's events (the backlog stays for the projector)
        assert _behind(hub) == waiting + 1
        assert _raw(hub, members, member_id=member) == []
        # a second latte, from another store: the first one, still waiting, is counted
        r = _authorize(url, t2, [t2.redeem(member, "free-latte", balance=have)])
        assert r.status_code == 409 and r.json()["error"] == "insufficient_points"
        assert _behind(hub) == waiting + 1
    hub.settle()
    [row] = _raw(hub, members, member_id=member)
    assert row["balance"] == have - 150


def test_an_authorisation_counts_a_waiting_offline_redemption(hub: Hub):
    t1, t2, member, events, have = _member_with_a_latte(hub)
    assert t1.push(events).status_code == 200
    hub.quiet()
    with variant(hub, projector_idle_ms=0) as url:
        # approved offline at store 2, pushed, not folded yet
        assert _push(url, t2, [t2.redeem(member, "free-latte", balance=have)]).status_code \
            == 200
        r = _authorize(url, t1, [t1.redeem(member, "free-latte")])
        assert r.status_code == 409 and r.json()["error"] == "insufficient_points", r.text
        assert r.json()["balance"] == have - 150


def test_an_authorisation_folds_an_older_offline_event_of_its_batch_in_order(hub: Hub):
    """The batch carries an offline sale dated before what the hub holds of the member
    (the refold branch of the judgement): its points count, the answer is the balance
    the projector then folds, and that equals the ledger's fold."""
    t1, t2, member, events, have = _member_with_a_latte(hub)
    earlier = datetime.now(UTC) - timedelta(hours=2)
    offline = t2.sale(member, 2000, at=earlier)  # 100 more, recorded before the push
    assert t1.push(events).status_code == 200
    latte = t2.redeem(member, "free-latte", balance=have + sum(e.points for e in offline))
    with variant(hub, projector_idle_ms=0) as url:
        r = _authorize(url, t2, offline + [latte])
        assert r.status_code == 200, r.text
    hub.settle()
    [row] = _raw(hub, members, member_id=member)
    assert r.json()["balance"] == row["balance"] == have + sum(e.points for e in offline) - 150
    assert rebuild(hub.ctx, check_only=True)["differed"] == []
