"""`pos sync --now`, `--status` and `--daemon` as a manager or a service manager runs them:
real subprocesses of the installed `pos` against a real `pos-hub serve`."""

from __future__ import annotations

import contextlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest

from loyalty.sale import make_sale
from pos_agent.ledger import queued_count
from pos_agent.members import enrol, find_member
from pos_agent.operations import record_sale, redeem_reward

from .conftest import (
    BIN,
    SALE,
    HubServer,
    Terminal,
    hub_cli,
    hub_events,
    local_events,
    make_terminal,
    sell,
    spawn_pos,
    wait_until,
)

pytestmark = pytest.mark.slow


def pos(t: Terminal, *args: str) -> subprocess.CompletedProcess:
    proc = spawn_pos(Path(t.settings.config_path), "sync", *args, text=True)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def status_json(t: Terminal) -> dict:
    done = pos(t, "--status", "--json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_sync_now_prints_sent_received_queued_flags_and_hub_totals(tmp_path, hub: HubServer):
    a, a_token = make_terminal(tmp_path, hub, "S001", "T1")
    b, b_token = make_terminal(tmp_path, hub, "S001", "T2")
    member = enrol(a.store, name="Zoé", phone="+33622222222")
    record_sale(a.store, member.member_id, make_sale(total=1500))  # 205 Stars
    assert a.agent(hub.url, a_token).sync_once().error is None
    assert b.agent(hub.url, b_token).sync_once().error is None
    # both tills of the store offline spend the same Stars: the hub flags the store
    found = find_member(b.store, member.qr_payload)
    redeem_reward(b.store, member.member_id, "free-latte", found_by=found.found_by)
    assert b.agent(hub.url, b_token).sync_once().error is None
    redeem_reward(a.store, member.member_id, "free-latte", found_by="qr")
    other = enrol(a.store, name="Yann", phone="+33633333333")
    record_sale(a.store, other.member_id, SALE)
    queued = queued_count(a.store.conn)

    done = pos(a, "--now")

    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "Sync of S001-T1: done" in out
    assert f"sent:          {queued} events\n" in out
    received = re.search(r"received:\s+(\d+) updates", out)
    assert received and int(received.group(1)) >= 1  # at least the member's new snapshot
    assert "still queued:  0 events" in out
    assert "hub flags:     1 for this store" in out
    assert "- negative_balance: balance -95 after" in out
    today = datetime.now(ZoneInfo(a.store.active_program().timezone)).date()
    day = httpx.get(hub.url + "/v1/sync/day-report", params={"date": today.isoformat()},
                    headers={"Authorization": f"Bearer {a_token}"}, timeout=30).json()
    assert day["sales"] == 2 and day["points_redeemed"] == 150
    assert (f"today at hub:  2 sales, {day['points_issued']} issued, 150 redeemed"
            in out), out
    assert re.search(r"today here:\s+2 sales, \d+ Stars issued, 150 redeemed", out), out
    assert "not everything is synced" not in done.stderr
    assert queued_count(a.store.conn) == 0


def test_sync_now_with_the_hub_down_fails_with_the_reason_and_status_tells(tmp_path, hub):
    t, _ = make_terminal(tmp_path, hub, "S001", "T1")
    sell(t, 4, members=2)
    never = pos(t, "--status")
    assert never.returncode == 0, never.stderr
    assert "hub:           never synced" in never.stdout
    assert f"queued events: {queued_count(t.store.conn)}" in never.stdout

    assert pos(t, "--now").returncode == 0
    online = pos(t, "--status")
    assert "hub:           online" in online.stdout
    assert "queued events: 0" in online.stdout
    assert "last success:  never" not in online.stdout

    sell(t, 3, members=1)
    queued = queued_count(t.store.conn)
    hub.stop()
    try:
        down = pos(t, "--now")
        assert down.returncode == 1
        assert f"FAILED: cannot reach the hub at {hub.url}" in down.stdout
        assert f"still queued:  {queued} events" in down.stdout
        assert "pos: not everything is synced: cannot reach the hub" in down.stderr
        offline = pos(t, "--status")
        assert re.search(r"hub:           OFFLINE since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d .*"
                         r"cannot reach the hub", offline.stdout), offline.stdout
        assert f"queued events: {queued}" in offline.stdout
        first = status_json(t)
        assert first["online"] is False and first["queued"] == queued
        time.sleep(1.1)
        assert pos(t, "--now").returncode == 1
        # still the same outage: "offline since" is when it began, not the latest try
        assert status_json(t)["offline_since"] == first["offline_since"]
    finally:
        hub.start()
    back = pos(t, "--now")
    assert back.returncode == 0, back.stdout + back.stderr
    assert f"sent:          {queued} events" in back.stdout
    state = status_json(t)
    assert (state["online"], state["offline_since"], state["queued"]) == (True, None, 0)
    assert hub_events(hub, t.origin) == local_events(t)


@contextlib.contextmanager
def daemon(t: Terminal, log_path: Path) -> Iterator[subprocess.Popen]:
    """`pos sync --daemon` every second, its log in `log_path`, running once its first
    cycle is logged; killed on the way out if still running."""
    config = Path(t.settings.config_path)
    config.write_text(config.read_text().replace("interval_s = 60", "interval_s = 1"))
    with open(log_path, "w") as log:
        proc = spawn_pos(config, "sync", "--daemon", stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_until(lambda: "0 queued" in log_path.read_text(), 60, proc, "a first cycle")
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_daemon_delivers_sales_then_exits_when_its_token_is_revoked(tmp_path, hub):
    t, _ = make_terminal(tmp_path, hub, "S001", "T1")
    members = [enrol(t.store, name=f"D{i}", phone=f"+3361000000{i}").member_id
               for i in range(3)]
    log_path = tmp_path / "daemon.log"
    with daemon(t, log_path) as proc:
        cycles = log_path.read_text().count("sync: pushed")
        # sales made while the service runs reach the hub without anyone asking
        for i in range(6):
            record_sale(t.store, members[i % 3], SALE)
            time.sleep(0.3)
        wait_until(lambda: hub_events(hub, t.origin) == local_events(t), 60, proc,
                   "the daemon delivered every sale")
        assert log_path.read_text().count("sync: pushed") > cycles
        assert proc.poll() is None
        hub_cli(hub.config, "terminal", "revoke", t.origin)
        record_sale(t.store, members[0], SALE)
        code = proc.wait(timeout=60)
    text = log_path.read_text()
    assert code == 1, text
    assert re.search(r"sync: pushed [1-9]\d* \(0 the hub already had\), pulled \d+, 0 queued",
                     text.split("\n", 2)[2]), text  # a later cycle delivered sales
    assert "sync stopped: this terminal's credential was revoked or is wrong" in text
    assert "events stay queued" in text
    # the sale after the revocation stays queued for the new token, not lost
    assert queued_count(t.store.conn) == 1
    assert len(hub_events(hub, t.origin)) == len(local_events(t)) - 1


def test_daemon_stops_cleanly_on_sigterm(tmp_path, hub):
    """A service manager's stop (SIGTERM) ends the daemon with exit 0 and a last line."""
    import signal

    t, _ = make_terminal(tmp_path, hub, "S001", "T1")
    enrol(t.store, name="D", phone="+33610000000")
    log_path = tmp_path / "daemon.log"
    with daemon(t, log_path) as proc:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    text = log_path.read_text()
    assert code == 0, text
    assert text.rstrip().endswith("pos: sync daemon stopped"), text
    assert queued_count(t.store.conn) == 0


def test_pos_init_with_the_hub_takes_a_card_issuer_no_other_till_has(tmp_path, hub):
    """Each till registered with the hub gets its own card issuer number (whoami), so
    cards enrolled offline on different tills can never share a number."""
    from tests.example_config import write_example_config

    issuers, cards = [], []
    for store_id, term in (("S138", "T2"), ("S1217", "T1")):  # clashed under the old hash
        folder = tmp_path / f"{store_id}-{term}"
        folder.mkdir()
        config = write_example_config(folder / "pos.toml")
        token = hub.add_terminal(f"{store_id}-{term}")
        done = subprocess.run(
            [str(BIN / "pos"), "init", "--store", store_id,
             "--terminal", term, "--hub", hub.url, "--token-stdin", "--config", str(config),
             "--json"], input=token + "\n", capture_output=True, text=True, timeout=60,
            cwd=folder)
        assert done.returncode == 0, done.stderr
        assert "card issuer" not in done.stderr  # no warning: the hub gave one
        issuer = json.loads(done.stdout)["card_issuer"]
        issuers.append(issuer)
        enrolled = subprocess.run(
            [str(BIN / "pos"), "enrol", "--name", "Ann",
             "--phone", "+33612345678", "--no-print", "--config", str(config), "--json"],
            capture_output=True, text=True, timeout=60, cwd=folder)
        assert enrolled.returncode == 0, enrolled.stderr
        cards.append(json.loads(enrolled.stdout)["card_number"])
    assert len(set(issuers)) == 2 and all(1 <= i < 900_000 for i in issuers)
    assert [c[2:8] for c in cards] == [f"{i:06d}" for i in issuers]
    assert cards[0] != cards[1]
