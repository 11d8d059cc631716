"""Convergence: terminals in two stores (and the online channel) act at random while
terminals drop offline and come back; after every origin syncs fully, every terminal, the
hub and the online API report the same balance, stamps and tier for every member, equal to
folding all events with the domain code. Offline double spends show up as hub flags."""

from __future__ import annotations

import itertools
import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from loyalty.errors import LoyaltyError
from loyalty.events import Event
from loyalty.fold import fold
from loyalty.program import load_program
from loyalty.sale import SaleLine, make_sale
from loyalty.summary import member_summary
from pos_agent.exceptions import PosError
from pos_agent.members import enrol, member_view
from pos_agent.operations import check_in, record_sale, redeem_reward, refund_receipt, void_receipt
from pos_agent.sync.authorize import hub_authorizer

from .conftest import ROOT, HubServer, Terminal, make_terminal

pytestmark = pytest.mark.slow
PROGRAM = load_program(str(ROOT / "config.example.toml"))
SEEN = {"members": 0, "online_orders": 0, "redemptions": 0, "offline": 0, "negative": 0}
# The hub and terminals outlive each hypothesis example (starting them per example would
# take minutes), so anything that must be unique on the hub comes from one process-wide
# counter: an order id reused by a later example would be a real conflict, not a bug.
ORDER_NO = itertools.count(1)
PRODUCTS = [
    SaleLine("LATTE", "coffee", 1, 350),
    SaleLine("CROI", "pastry", 1, 180),
    SaleLine("BEANS", "retail", 1, 1200),
]


def all_events(hub: HubServer) -> list[Event]:
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        rows = conn.execute("SELECT content FROM events").fetchall()
    return [Event.from_dict(json.loads(r[0])) for r in rows]


class Convergence(RuleBasedStateMachine):
    def __init__(self, hub: HubServer, terminals: list[tuple[Terminal, str]]) -> None:
        super().__init__()
        self.hub = hub
        self.terminals = terminals
        self.online = {t.origin: True for t, _ in terminals}
        self.agents = [t.agent(hub.url, token) for t, token in terminals]
        self.receipts: dict[str, list[str]] = {t.origin: [] for t, _ in terminals}
        self.http = httpx.Client(
            base_url=hub.url, timeout=30, headers={"Authorization": f"Bearer {hub.online_token}"}
        )
        self.online_orders: list[tuple[str, str]] = []

    @initialize()
    def start(self) -> None:
        # every terminal starts with one member rich enough to redeem
        for n, (t, _) in enumerate(self.terminals):
            m = enrol(t.store, name=f"Seed {n}", phone=f"+3370000{n:04d}{len(self.receipts)}")
            self.receipts[t.origin].append(
                record_sale(t.store, m.member_id, make_sale(total=5000)).receipt_no)
        for agent in self.agents:
            agent.sync_once()

    def _members(self, i: int) -> list[str]:
        t = self.terminals[i][0]
        return [r[0] for r in t.store.conn.execute("SELECT member_id FROM members ORDER BY 1")]

    @rule(i=st.integers(0, 2), n=st.integers(0, 10**6))
    def enrol_member(self, i: int, n: int) -> None:
        t = self.terminals[i][0]
        enrol(t.store, name=f"Member {n}", phone=f"+339{n:08d}")

    @rule(
        i=st.integers(0, 2),
        pick=st.integers(0, 10**6),
        lines=st.lists(st.tuples(st.integers(0, 2), st.integers(1, 3)), min_size=1, max_size=3),
    )
    def sale(self, i: int, pick: int, lines: list[tuple[int, int]]) -> None:
        members = self._members(i)
        if not members:
            return
        t = self.terminals[i][0]
        sale = make_sale(
            [
                SaleLine(PRODUCTS[p].sku, PRODUCTS[p].category, q, PRODUCTS[p].unit_price)
                for p, q in lines
            ]
        )
        result = record_sale(t.store, members[pick % len(members)], sale)
        self.receipts[t.origin].append(result.receipt_no)

    @rule(
        i=st.integers(0, 2),
        pick=st.integers(0, 10**6),
        reward=st.sampled_from(["free-latte", "tree", "pay"]),
    )
    def redeem(self, i: int, pick: int, reward: str) -> None:
        members = self._members(i)
        if not members:
            return
        t, token = self.terminals[i]
        authorizer = (
            hub_authorizer(self.agents[i].client, origin=t.origin, timeout=5)
            if self.online[t.origin]
            else None
        )
        kwargs = {"authorizer": authorizer} if authorizer else {}
        try:
            points = 100 if reward == "pay" else None
            result = redeem_reward(
                t.store, members[pick % len(members)], reward, points=points, **kwargs
            )
        except (LoyaltyError, PosError):
            return
        self.receipts[t.origin].append(result.receipt_no)
        SEEN["redemptions"] += 1
        SEEN["offline"] += result.approved_offline

    @rule(i=st.integers(0, 2), pick=st.integers(0, 10**6), part=st.integers(0, 100))
    def reverse(self, i: int, pick: int, part: int) -> None:
        t = self.terminals[i][0]
        receipts = self.receipts[t.origin]
        if not receipts:
            return
        receipt = receipts[pick % len(receipts)]
        try:
            if part < 50:
                void_receipt(t.store, receipt)
            else:
                refund_receipt(t.store, receipt, max(1, part))
        except (LoyaltyError, PosError):
            pass

    @rule(i=st.integers(0, 2), pick=st.integers(0, 10**6))
    def checkin(self, i: int, pick: int) -> None:
        members = self._members(i)
        if members:
            check_in(self.terminals[i][0].store, members[pick % len(members)])

    @rule(pick=st.integers(0, 10**6), cents=st.integers(100, 50_000))
    def online_order(self, pick: int, cents: int) -> None:
        members = self._members(0)
        if not members:
            return
        member = members[pick % len(members)]
        order_id = f"W{next(ORDER_NO)}"
        r = self.http.post(
            "/v1/online/orders",
            json={
                "member_id": member,
                "order_id": order_id,
                "total": cents,
                "lines": [["WEB", "retail", 1, cents]],
            },
        )
        if r.status_code == 404:  # not pulled to the hub yet: the member is still offline
            return
        assert r.status_code in (200, 201), r.text
        self.online_orders.append((member, order_id))
        SEEN["online_orders"] += 1

    @rule(i=st.integers(0, 2))
    def go_offline(self, i: int) -> None:
        self.online[self.terminals[i][0].origin] = False

    @rule(i=st.integers(0, 2))
    def come_back_and_sync(self, i: int) -> None:
        self.online[self.terminals[i][0].origin] = True
        report = self.agents[i].sync_once()
        assert report.error is None, report.error

    @invariant()
    def ledgers_sound(self) -> None:
        from pos_agent.ledger import verify_ledger

        for t, _ in self.terminals:
            assert verify_ledger(t.store.conn) == []

    def teardown(self) -> None:
        try:
            # everyone pushes, then everyone pulls what the others pushed
            for agent in self.agents + self.agents:
                report = agent.sync_once()
                assert report.error is None and report.queued == 0, report.error
            events = all_events(self.hub)
            local_ids = set()
            for t, _ in self.terminals:
                local_ids |= {r[0] for r in t.store.conn.execute("SELECT event_id FROM events")}
            hub_ids = {e.event_id for e in events}
            assert local_ids <= hub_ids  # nothing lost
            now = datetime.now(UTC)
            by_member: dict[str, list[Event]] = {}
            for e in events:
                by_member.setdefault(e.member_id, []).append(e)
            flagged = {f.get("member_id") for f in self._flags()}
            for member_id, evs in by_member.items():
                state = fold(evs)
                expected = member_summary(PROGRAM, state, now)
                hub_view = self.hub.member_balance(member_id)
                assert hub_view["balance"] == state.balance
                for t, _ in self.terminals:
                    _, shown = member_view(t.store, member_id, now)
                    assert (shown.balance, shown.tier) == (expected.balance, expected.tier)
                    assert {s.card_id: s.have for s in shown.stamps} == {
                        s.card_id: s.have for s in expected.stamps
                    }
                online = self.http.get("/v1/online/members", params={"member_id": member_id})
                if online.status_code == 200:
                    assert online.json()["balance"] == state.balance
                SEEN["members"] += 1
                if state.balance < 0:
                    SEEN["negative"] += 1
                    assert member_id in flagged  # double spend is flagged, never dropped
        finally:
            self.http.close()
            for agent in self.agents:
                agent.client.close()

    def _flags(self) -> list[dict]:
        r = self.hub.admin("/v1/admin/flags")
        assert r.status_code == 200, r.text
        body = r.json()
        return body["flags"] if isinstance(body, dict) else body


def test_terminals_hub_and_online_converge(tmp_path: Path, hub: HubServer):
    terminals = [
        make_terminal(tmp_path, hub, s, t)
        for s, t in (("S001", "T1"), ("S001", "T2"), ("S002", "T1"))
    ]
    run_state_machine_as_test(
        lambda: Convergence(hub, terminals),
        settings=settings(
            max_examples=8,
            stateful_step_count=35,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # the machine really exercised what it claims to check
    print("convergence exercised:", SEEN)
    assert SEEN["members"] >= 5 and SEEN["online_orders"] >= 1, SEEN
    assert SEEN["redemptions"] >= 1, SEEN
