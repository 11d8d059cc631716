"""The sync agent against a real hub through a fault-injecting proxy: nothing lost, nothing
counted twice, whatever the network or the processes do."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path

import pytest

from loyalty.sale import make_sale
from pos_agent.ledger import queued_count, verify_ledger
from pos_agent.members import enrol, member_view
from pos_agent.operations import record_sale, redeem_reward
from pos_agent.sync.authorize import hub_authorizer
from pos_agent.sync.client import HubClient

from .conftest import (
    HubServer,
    Terminal,
    hub_events,
    local_events,
    make_terminal,
    saved_cursor,
    sell,
    spawn_pos,
    wait_until,
)
from .faultproxy import FaultProxy

pytestmark = pytest.mark.slow


def assert_delivered_once(hub: HubServer, t: Terminal) -> None:
    held = hub_events(hub, t.origin)
    assert held == local_events(t)
    assert len({e for e, _ in held}) == len(held)
    assert queued_count(t.store.conn) == 0
    assert verify_ledger(t.store.conn) == []


def test_hub_down_all_day_then_everything_delivered_once(tmp_path: Path, hub: HubServer):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    with FaultProxy(hub.url) as proxy:
        proxy.mode = "down"
        agent = t.agent(proxy.url, token, batch_size=500)
        ids = sell(t, 10_000, members=200)  # a day of a store: ~50 sales a member
        report = agent.sync_once()
        assert report.error and not report.ok
        assert agent.status.online is False and agent.status.offline_since is not None
        total = len(local_events(t))
        assert total > 10_000 and report.queued == total
        assert hub_events(hub, t.origin) == []
        proxy.mode = "pass"
        report = agent.sync_once()
        assert report.error is None, report.error
        assert report.pushed == total and report.queued == 0
    assert_delivered_once(hub, t)
    # after the pull the terminal shows the hub's number for every member
    for member_id in ids[:5]:
        _, summary = member_view(t.store, member_id)
        assert hub.member_balance(member_id)["balance"] == summary.balance


def test_answer_lost_after_hub_committed_counts_nothing_twice(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 30, members=3)
    with FaultProxy(hub.url) as proxy:
        proxy.mode, proxy.faults_left, proxy.path_filter = "drop_response", 1, "/sync/push"
        agent = t.agent(proxy.url, token, batch_size=10)
        first = agent.sync_once()
        assert first.error is not None
        # the hub did commit the first batch though the terminal never heard it
        assert len(hub_events(hub, t.origin)) == 10
        total = len(local_events(t))
        assert queued_count(t.store.conn) == total
        second = agent.sync_once()
        assert second.error is None
        assert second.duplicates == 10 and second.pushed == total - 10
    assert_delivered_once(hub, t)


def test_duplicate_delivery_of_every_batch(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    ids = sell(t, 40, members=4)
    with FaultProxy(hub.url) as proxy:
        proxy.mode, proxy.path_filter = "duplicate", "/sync/push"
        report = t.agent(proxy.url, token, batch_size=7).sync_once()
        assert report.error is None
    assert_delivered_once(hub, t)
    _, summary = member_view(t.store, ids[0])
    assert hub.member_balance(ids[0])["balance"] == summary.balance


def test_hub_answering_500_for_a_while_then_recovering(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 12, members=2)
    with FaultProxy(hub.url) as proxy:
        proxy.mode, proxy.faults_left = "error500", 3
        agent = t.agent(proxy.url, token, batch_size=5, interval_s=1, max_backoff_s=8)
        outcomes = [agent.sync_once() for _ in range(4)]
        assert [o.error is None for o in outcomes] == [False, False, False, True]
        # backoff grew while failing and stays within its cap
        assert agent.status.failures == 0
    assert_delivered_once(hub, t)


def test_backoff_is_exponential_with_jitter_and_capped():
    from pos_agent.sync.agent import SyncAgent

    agent = SyncAgent(local=None, client=None, interval_s=10, max_backoff_s=120)  # type: ignore[arg-type]
    delays = []
    for failures in range(1, 8):
        agent.status.failures = failures
        delays.append(max(agent.next_delay() for _ in range(200)))
    assert delays[0] <= 20 and delays[1] <= 40
    assert all(d <= 120 for d in delays) and delays[-1] > 60
    agent.status.failures = 3
    samples = {round(agent.next_delay(), 3) for _ in range(50)}
    assert len(samples) > 40  # jitter: stores do not come back in lockstep


def test_slow_hub_times_out_then_syncs(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 5, members=1)
    with FaultProxy(hub.url) as proxy:
        proxy.mode, proxy.delay, proxy.faults_left = "slow", 3.0, 1
        agent = t.agent(proxy.url, token, timeout=1.0)
        started = time.monotonic()
        report = agent.sync_once()
        assert report.error and "in time" in report.error
        assert time.monotonic() - started < 3.0
        time.sleep(2.5)  # let the slow request finish at the hub
        assert agent.sync_once().error is None
    assert_delivered_once(hub, t)


def test_revoked_credential_stops_syncing_with_a_clear_message(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 2, members=1)
    from .conftest import hub_cli

    hub_cli(hub.config, "terminal", "revoke", t.origin)
    agent = t.agent(hub.url, token)
    report = agent.sync_once()
    assert report.error == (
        "this terminal's credential was revoked or is wrong: ask HQ for a new token"
    )
    assert agent.status.stopped is True
    assert queued_count(t.store.conn) == len(local_events(t))  # kept for a new token


def test_redemption_authorised_online_else_offline_within_limit(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    member = enrol(t.store, name="Ann", phone="+33611111111")
    record_sale(t.store, member.member_id, make_sale(total=4000))  # 400 Stars + 5 + 50
    with FaultProxy(hub.url) as proxy:
        client = HubClient(proxy.url, token)
        online = redeem_reward(t.store, member.member_id, "free-latte", found_by="qr",
                               authorizer=hub_authorizer(client, origin=t.origin, timeout=1.5))
        assert online.approved_offline is False
        # the hub holds it already: pending events and the redemption went in atomically
        assert len(hub_events(hub, t.origin)) == len(local_events(t))
        assert queued_count(t.store.conn) == 0
        assert hub.member_balance(member.member_id)["balance"] == online.balance
        proxy.mode, proxy.delay = "slow", 3.0
        started = time.monotonic()
        offline = redeem_reward(t.store, member.member_id, "tree", found_by="qr",
                                authorizer=hub_authorizer(client, origin=t.origin, timeout=1.0))
        assert time.monotonic() - started < 2.5
        assert offline.approved_offline is True
        row = t.store.conn.execute(
            "SELECT approved_offline FROM events WHERE event_id = ?", (offline.event.event_id,)
        ).fetchone()
        assert row == (1,)
        time.sleep(2.5)
        proxy.mode = "pass"
        client.close()
    report = t.agent(hub.url, token).sync_once()
    assert report.error is None
    assert_delivered_once(hub, t)


def hub_changes(hub: HubServer) -> tuple[int, int]:
    """How many rows the hub's change feed has, and its newest change_seq (where a
    terminal's cursor stands after a full pull)."""
    with sqlite3.connect(hub.folder / "hub.db") as conn:
        return conn.execute("SELECT COUNT(*), MAX(change_seq) FROM changes").fetchone()


def assert_terminal_shows_hub(hub: HubServer, t: Terminal) -> None:
    """Every member the terminal knows: balance, stamps and tier equal to the hub's."""
    members = [m for (m,) in t.store.conn.execute("SELECT member_id FROM members")]
    assert members
    for member_id in members:
        _, shown = member_view(t.store, member_id)
        held = hub.member_balance(member_id)
        assert shown.balance == held["balance"], member_id
        assert shown.tier == held["tier"], member_id
        assert {s.card_id: s.have for s in shown.stamps} == {
            s["card_id"]: s["have"] for s in held["summary"]["stamps"]}, member_id


def test_agent_killed_mid_push_and_mid_pull_loses_nothing(tmp_path, hub):
    t, token = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 300, members=30)
    total = len(local_events(t))
    config = Path(t.settings.config_path)
    with FaultProxy(hub.url) as proxy:
        t.store.db.execute("UPDATE identity SET hub_url = ?", (proxy.url,))
        text = config.read_text().replace("batch_size = 500", "batch_size = 20")
        config.write_text(text.replace("pull_page_size = 100", "pull_page_size = 4"))
        assert "batch_size = 20" in config.read_text()
        assert "pull_page_size = 4" in config.read_text()
        # mid-push: every push is slow, the process is killed while batches are in flight
        proxy.mode, proxy.delay, proxy.path_filter = "slow", 0.3, "/sync/push"
        proc = spawn_pos(config, "sync", "--now")
        wait_until(lambda: len(hub_events(hub, t.origin)) >= 40, 60, proc, "two batches")
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        held = len(hub_events(hub, t.origin))
        assert 0 < held < total
        assert saved_cursor(t) == 0  # it never reached the pull
        # mid-pull: pushes pass, every pull page is slow; the first page is applied and
        # its cursor saved, the next pages are still to come when the process dies
        proxy.mode, proxy.delay, proxy.path_filter = "slow", 0.5, "/sync/pull"
        proc = spawn_pos(config, "sync", "--now")
        wait_until(lambda: saved_cursor(t) > 0, 90, proc, "a pull page was applied")
        assert proc.poll() is None  # really killed while pulling, not after
        rows, final = hub_changes(hub)
        assert len(hub_events(hub, t.origin)) == total  # the push half finished first
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        partial = saved_cursor(t)
        assert 0 < partial < final, (partial, final)
        asked = [r for r in proxy.requests if "/sync/pull" in r[1]]
        assert rows > 4 * len(asked)  # pages were still due when it died
        proxy.mode = "pass"
        proc = spawn_pos(config, "sync", "--now")
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
        assert "still queued:  0 events" in out.decode()
    assert saved_cursor(t) == hub_changes(hub)[1]
    assert_delivered_once(hub, t)
    assert_terminal_shows_hub(hub, t)
