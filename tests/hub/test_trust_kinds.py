"""The hub decides what each origin may assert: a terminal token that pushes a kind only
the hub makes (adjust, merge, expire, tier, membership, hold, release) is refused whole
(403 `kind_not_allowed`), nothing of the batch is kept, the stream does not move, and HQ
gets a flag; the kinds a till does make, card links and PIN events among them, go in."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.exceptions import Forbidden
from hub.store.ingest import record_drafts
from loyalty.events import EventDraft

from .conftest import Hub, new_terminal

FORBIDDEN = [
    ("adjust", {"points": 1_000_000, "data": {"note": "mine now"}}),
    ("merge", {"points": 5_000, "data": {"from": "someone-else"}}),
    ("expire", {"points": -50, "data": {}}),
    ("tier", {"data": {"tier": "Gold"}}),
    ("membership", {"amount": 4900, "data": {"tier": "Gold",
                                               "until": "2099-01-01T00:00:00+00:00"}}),
    ("hold", {"data": {"held_event": "x", "points": 1}}),
    ("release", {"data": {"held_event": "x"}}),
]


def _stream(hub: Hub, origin: str) -> int:
    rows = hub.rows("streams", origin=origin)
    return rows[0]["high_seq"] if rows else 0


@pytest.mark.parametrize(("kind", "fields"), FORBIDDEN, ids=[k for k, _ in FORBIDDEN])
def test_a_terminal_cannot_push_what_only_the_hub_makes(hub: Hub, kind: str, fields: dict):
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    balance = hub.rows("members", member_id=member)[0]["balance"]
    sale = term.sale(member, 1000)
    bad = term.seal(EventDraft(kind=kind, member_id=member, **fields))
    before, high = hub.counts(), _stream(hub, term.origin)
    r = term.push(sale + [bad])
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["error"] == "kind_not_allowed" and body["event_id"] == bad.event_id
    assert f"is a {kind}: a terminal may record only" in body["detail"]
    # nothing of the batch is kept (the honest sale before it neither), the stream stays
    assert hub.counts() == {**before, "flags": before["flags"] + 1}
    assert _stream(hub, term.origin) == high
    assert hub.rows("members", member_id=member)[0]["balance"] == balance
    [flag] = [f for f in hub.rows("flags", origin=term.origin)]
    assert flag["kind"] == "kind_not_allowed" and flag["member_id"] == member
    assert json.loads(flag["event_ids"]) == [bad.event_id]
    with hub.client(term.token) as c:  # the store sees it in its flags too
        assert flag["id"] in [f["id"] for f in c.get("/v1/sync/flags").json()["flags"]]
    # the honest continuation (the sale without the forged event) still goes in
    assert term.push(sale).status_code == 200


def test_a_forbidden_kind_in_an_authorisation_is_refused_too(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    gift = term.seal(EventDraft(kind="adjust", member_id=member, points=500))
    spend = term.redeem(member, "free-latte", balance=550)
    before = hub.counts()
    r = term.push([gift, spend], "/v1/redemptions/authorize")
    assert r.status_code == 403 and r.json()["error"] == "kind_not_allowed"
    assert hub.counts() == {**before, "flags": before["flags"] + 1}


def test_what_a_till_makes_goes_in(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    card = "6000001710000428"
    events += [term.seal(EventDraft(kind="link", member_id=member,
                                    data={"card_number": card})),
               term.seal(EventDraft(kind="pin", member_id=member, data={"action": "ok"}))]
    events += term.sale(member, 1000, lines=[("LATTE", "coffee", 2, 350)])
    r = term.push(events)
    assert r.status_code == 200, r.text
    assert [f["kind"] for f in hub.rows("flags", member_id=member)] == []
    assert {c["card_number"] for c in hub.rows("cards", member_id=member)} == {card}


def test_the_online_channel_is_held_to_its_kinds(hub: Hub):
    """The web shop's events are made at the hub from the order body; the same check
    stands behind them: an adjust recorded as `online` is refused."""
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    before = hub.counts()
    with pytest.raises(Forbidden) as refused, hub.ctx.db.write() as conn:
        record_drafts(conn, hub.ctx, "online", [EventDraft(kind="adjust", member_id=member,
                                                           points=100)], datetime.now(UTC))
    assert refused.value.code == "kind_not_allowed"
    assert "a channel may record only" in refused.value.detail
    assert hub.counts() == before
