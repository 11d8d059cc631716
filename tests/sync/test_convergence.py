"""Convergence: terminals in two stores and the online channel (enrolment, orders, refunds,
redemptions) act at random while terminals drop offline and come back; after every origin
syncs fully, every terminal, the hub's admin view and the online API report the same
balance, stamps and tier for every member, equal to folding all events with the domain
code. Every member whose hub balance ever went negative (after any batch) has a
negative_balance flag; an offline double spend is forced by a rule and checked there."""

from __future__ import annotations

import itertools
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from hub.store.members import event_from_row
from loyalty.errors import LoyaltyError
from loyalty.events import Event
from loyalty.fold import fold
from loyalty.program import load_program_text
from loyalty.sale import SaleLine, make_sale
from loyalty.summary import member_summary
from pos_agent.exceptions import PosError
from pos_agent.members import enrol, member_view
from pos_agent.operations import check_in, record_sale, redeem_reward, refund_receipt, void_receipt
from pos_agent.sync.authorize import hub_authorizer
from tests.example_config import example_config_text

from .conftest import HubServer, Terminal, make_terminal

pytestmark = pytest.mark.slow
PROGRAM = load_program_text(example_config_text())  # the program the hub publishes
# What the machine really did, summed over every example, asserted after the run: a check
# that never ran would pass silently.
SEEN = {"members": 0, "online_orders": 0, "online_enrolments": 0, "online_refunds": 0,
        "online_redemptions": 0, "redemptions": 0, "offline": 0, "double_spends": 0,
        "ever_negative": 0}
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
    return [event_from_row(r[0]) for r in rows]


def ever_negative(hub: HubServer) -> set[str]:
    """Members whose hub balance was below zero after some batch. A batch is one hub
    transaction (its events share received_at); the hub judges a batch as a whole, so a
    dip inside one that the same batch pays back is not a state the hub ever held."""
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        rows = conn.execute(
            "SELECT member_id, points, received_at FROM events ORDER BY hub_seq").fetchall()
    balance: dict[str, int] = {}
    negative: set[str] = set()
    touched: set[str] = set()
    for n, (member_id, points, received_at) in enumerate(rows):
        balance[member_id] = balance.get(member_id, 0) + points
        touched.add(member_id)
        if n + 1 == len(rows) or rows[n + 1][2] != received_at:
            negative |= {m for m in touched if balance[m] < 0}
            touched.clear()
    return negative


def hub_seq_now(hub: HubServer) -> int:
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        return conn.execute("SELECT COALESCE(MAX(hub_seq), 0) FROM events").fetchone()[0]


def changed_since(hub: HubServer, hub_seq: int) -> set[str]:
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        return {m for (m,) in conn.execute(
            "SELECT DISTINCT member_id FROM events WHERE hub_seq > ?", (hub_seq,))}


def negative_flags(hub: HubServer) -> set[str]:
    """Members with a negative_balance flag at the hub."""
    r = hub.admin("/v1/admin/flags")
    assert r.status_code == 200, r.text
    body = r.json()
    flags = body["flags"] if isinstance(body, dict) else body
    return {f.get("member_id") for f in flags if f.get("kind") == "negative_balance"}


def assert_converged(hub: HubServer, terminals: list[Terminal], http: httpx.Client,
                     members: set[str] | None = None) -> int:
    """After a full sync of every origin: nothing any terminal recorded is missing at the
    hub, and for each member (all if None) every terminal, the hub's admin view and the
    online API show the balance, tier and stamps of a fresh fold of the hub's events.
    Every member ever negative at the hub is flagged. Returns how many were compared."""
    events = all_events(hub)
    local_ids = set()
    for t in terminals:
        local_ids |= {r[0] for r in t.store.conn.execute("SELECT event_id FROM events")}
    assert local_ids <= {e.event_id for e in events}  # nothing lost
    now = datetime.now(UTC)
    by_member: dict[str, list[Event]] = {}
    for e in events:
        if members is None or e.member_id in members:
            by_member.setdefault(e.member_id, []).append(e)
    for member_id, evs in by_member.items():
        state = fold(evs)
        expected = member_summary(PROGRAM, state, now)
        want = (state.balance, expected.tier, {s.card_id: s.have for s in expected.stamps})
        held = hub.member_balance(member_id)
        assert (held["balance"], held["tier"], stamps_of(held["summary"])) == want, member_id
        assert held["stamps"] == dict(state.stamps), member_id
        for t in terminals:
            _, shown = member_view(t.store, member_id, now)
            assert (shown.balance, shown.tier,
                    {s.card_id: s.have for s in shown.stamps}) == want, (t.origin, member_id)
        online = http.get("/v1/online/members", params={"member_id": member_id})
        assert online.status_code == 200, online.text
        web = online.json()
        assert (web["balance"], web["tier"], stamps_of(web["summary"])) == want, member_id
    went_negative = ever_negative(hub)
    # a double spend (or a refund after spending) is flagged, never dropped
    assert went_negative <= negative_flags(hub), went_negative - negative_flags(hub)
    SEEN["ever_negative"] = max(SEEN["ever_negative"], len(went_negative))
    return len(by_member)


def stamps_of(summary: dict) -> dict[str, int]:
    return {s["card_id"]: s["have"] for s in summary["stamps"]}


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
        self.online_orders: list[tuple[str, str, int]] = []
        self.online_members: list[str] = []
        self.double_spent = 0
        self.start_seq = hub_seq_now(hub)

    @initialize()
    def start(self) -> None:
        # every terminal starts with one member rich enough to redeem
        for n, (t, _) in enumerate(self.terminals):
            m = enrol(t.store, name=f"Seed {n}", phone=f"+3370000{n:04d}{len(self.receipts)}")
            self.receipts[t.origin].append(
                record_sale(t.store, m.member_id, make_sale(total=5000)).receipt_no)
        for agent in self.agents:
            agent.sync_once()
        # a redemption at a till in every example, whatever rules hypothesis picks next
        # (it tests a random subset of rules per example); `m` is the last till's seed
        self._till_redeem(len(self.terminals) - 1, m.member_id, "free-latte")

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
        if members:
            self._till_redeem(i, members[pick % len(members)], reward)

    def _till_redeem(self, i: int, member: str, reward: str) -> None:
        t = self.terminals[i][0]
        kwargs = {}
        if self.online[t.origin]:  # else no authorizer: the offline rules decide
            kwargs["authorizer"] = hub_authorizer(self.agents[i].client, origin=t.origin,
                                                  timeout=5)
        try:
            points = 100 if reward == "pay" else None
            result = redeem_reward(t.store, member, reward, found_by="qr", points=points,
                                   **kwargs)
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

    def _web_members(self) -> list[str]:
        return self._members(0) + self.online_members

    def _hub_balance(self, member_id: str) -> int:
        return self.hub.member_balance(member_id)["balance"]

    @rule()
    def online_enrol(self) -> None:
        self._web_enrol()

    @rule(pick=st.integers(0, 10**6), cents=st.integers(100, 50_000))
    def online_order(self, pick: int, cents: int) -> None:
        members = self._web_members()
        if members:
            self._web_order(members[pick % len(members)], cents)

    @rule(pick=st.integers(0, 10**6), percent=st.none() | st.integers(1, 100))
    def online_refund(self, pick: int, percent: int | None) -> None:
        if self.online_orders:
            self._web_refund(self.online_orders[pick % len(self.online_orders)], percent)

    @rule(
        pick=st.integers(0, 10**6),
        reward=st.sampled_from(["free-latte", "tree", "pay"]),
        points=st.integers(100, 300),
    )
    def online_redeem(self, pick: int, reward: str, points: int) -> None:
        # members who ordered online have earned enough to redeem, most others have not
        members = [m for m, _, _ in self.online_orders] + self._web_members()
        if members:
            self._web_redeem(members[pick % len(members)], reward, points)

    # Hypothesis tests a random subset of the rules in each example ("swarm testing"), so
    # a rule may not run at all in a short run: one web customer per example goes through
    # every online endpoint, with drawn amounts, so those checks always run.
    @initialize(
        cents=st.integers(5_000, 50_000),
        reward=st.sampled_from(["free-latte", "tree", "pay"]),
        points=st.integers(100, 300),
        percent=st.none() | st.integers(1, 100),
    )
    def web_customer(self, cents: int, reward: str, points: int, percent: int | None) -> None:
        member = self._web_enrol()
        self._web_order(member, cents)
        self._web_redeem(member, reward, points)
        self._web_refund(self.online_orders[-1], percent)

    def _web_enrol(self) -> str:
        n = next(ORDER_NO)
        r = self.http.post("/v1/online/members",
                           json={"name": f"Web {n}", "email": f"web{n}@example.com"})
        assert r.status_code == 201, r.text
        body = r.json()
        assert body["balance"] == self._hub_balance(body["member_id"]) > 0  # welcome bonus
        self.online_members.append(body["member_id"])
        SEEN["online_enrolments"] += 1
        return body["member_id"]

    def _web_order(self, member: str, cents: int) -> None:
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
        assert r.status_code == 201, r.text
        self.online_orders.append((member, order_id, cents))
        SEEN["online_orders"] += 1

    def _web_refund(self, order: tuple[str, str, int], percent: int | None) -> None:
        member, order_id, total = order
        before = self._hub_balance(member)
        # None: what is left of the order; a part of it may already have been refunded
        body = {} if percent is None else {"amount": max(1, total * percent // 100)}
        r = self.http.post(f"/v1/online/orders/{order_id}/refund", json=body)
        if r.status_code == 409:  # refunded already, or more than is left of the order
            assert r.json()["error"] == "cannot_refund", r.text
            assert self._hub_balance(member) == before  # nothing written
            return
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["member_id"] == member and answer["points"] <= 0
        assert answer["balance"] == before + answer["points"] == self._hub_balance(member)
        SEEN["online_refunds"] += 1

    def _web_redeem(self, member: str, reward: str, points: int) -> None:
        body: dict = {"member_id": member, "reward_id": reward}
        known = self.hub.admin(f"/v1/admin/members/{member}")
        before = known.json()["balance"] if known.status_code == 200 else 0
        if reward == "pay":
            # mostly what the member can afford, so that redemptions do go through
            points = body["points"] = max(100, min(points, before))
        r = self.http.post("/v1/online/redeem", json=body)
        if known.status_code == 404:  # enrolled at a terminal that has not synced yet
            assert r.status_code == 404, r.text
            return
        if r.status_code == 409:  # refused against the hub's balance: nothing written
            assert r.json()["error"], r.text
            assert self._hub_balance(member) == before
            return
        assert r.status_code == 200, r.text
        cost = {"free-latte": 150, "tree": 200, "pay": points}[reward]
        answer = r.json()
        assert answer["points"] == -cost
        # authorised online against the hub's balance: never below zero
        assert 0 <= answer["balance"] == before - cost == self._hub_balance(member)
        SEEN["online_redemptions"] += 1

    # Forced once per example (so the check can never silently not run), and may happen
    # once more at a random point; each costs four syncs.
    @initialize(i=st.integers(0, 2), step=st.integers(1, 2), cents=st.integers(1000, 2400))
    def first_double_spend(self, i: int, step: int, cents: int) -> None:
        self.offline_double_spend(i, step, cents)

    @precondition(lambda self: self.double_spent < 2)
    @rule(i=st.integers(0, 2), step=st.integers(1, 2), cents=st.integers(1000, 2400))
    def offline_double_spend(self, i: int, step: int, cents: int) -> None:
        """Two tills that both know a member spend all of the member's points while
        offline: both approve, the hub keeps both, goes negative and flags it."""
        j = (i + step) % 3
        (a, _), (b, _) = self.terminals[i], self.terminals[j]
        n = next(ORDER_NO)
        member = enrol(a.store, name=f"Double {n}", phone=f"+3377{n:07d}").member_id
        self.receipts[a.origin].append(
            record_sale(a.store, member, make_sale(total=cents)).receipt_no)
        for k in (i, j):
            self.come_back_and_sync(k)
        balance = member_view(a.store, member)[1].balance
        assert member_view(b.store, member)[1].balance == balance == self._hub_balance(member)
        spend = min(balance, PROGRAM.offline_redeem_limit_per_transaction)
        for t in (a, b):  # no authorizer: the offline rules decide
            self.online[t.origin] = False
            result = redeem_reward(t.store, member, "pay", found_by="qr", points=spend)
            assert result.approved_offline
            self.receipts[t.origin].append(result.receipt_no)
        for k in (i, j):
            self.come_back_and_sync(k)
        assert self._hub_balance(member) == balance - 2 * spend < 0
        assert member in negative_flags(self.hub)
        self.double_spent += 1
        SEEN["double_spends"] += 1
        event("offline double spend")

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
            # members this example touched; the whole population is compared once, after
            # the run (comparing it after every example made the test several times slower)
            touched = changed_since(self.hub, self.start_seq)
            SEEN["members"] += assert_converged(
                self.hub, [t for t, _ in self.terminals], self.http, touched)
        finally:
            self.http.close()
            for agent in self.agents:
                agent.client.close()

def test_terminals_hub_and_online_converge(tmp_path: Path, hub: HubServer):
    terminals = [
        make_terminal(tmp_path, hub, s, t)
        for s, t in (("S001", "T1"), ("S001", "T2"), ("S002", "T1"))
    ]
    run_state_machine_as_test(
        lambda: Convergence(hub, terminals),
        settings=settings(
            max_examples=6,
            stateful_step_count=40,
            deadline=None,
            suppress_health_check=list(HealthCheck),
        ),
    )
    # the last example's teardown synced every origin: now every member there ever was
    with httpx.Client(base_url=hub.url, timeout=30,
                      headers={"Authorization": f"Bearer {hub.online_token}"}) as http:
        everyone = assert_converged(hub, [t for t, _ in terminals], http)
    assert everyone >= SEEN["online_enrolments"] + SEEN["double_spends"]
    # the machine really exercised what it claims to check
    print("convergence exercised:", SEEN)
    assert SEEN["members"] >= 5 and SEEN["online_orders"] >= 1, SEEN
    assert SEEN["redemptions"] >= 1 and SEEN["online_redemptions"] >= 1, SEEN
    assert SEEN["online_enrolments"] >= 1 and SEEN["online_refunds"] >= 1, SEEN
    # the offline double-spend path ran, and the flag check had negative members to check
    assert SEEN["double_spends"] >= 1 and SEEN["ever_negative"] >= 1, SEEN
