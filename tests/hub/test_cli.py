"""`pos-hub` as a manager runs it, on SQLite and PostgreSQL (a database of its own per
test): init, tokens printed once on the last line, revoke, lists per kind, reports, flags
with filters, a member's per-origin balance, jobs with real due work, the scheduler of
`pos-hub serve`, and help text for every option."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory

from hub.cli import build_parser
from hub.context import HubContext
from hub.db import alembic_config
from hub.jobs import tiers
from hub.settings import settings_for
from hub.store.flags import add_flag
from hub.store.ingest import ingest
from loyalty.events import Event
from tests.cli_help import undocumented, walk

from .conftest import BIN, Term, free_port, raw_program, run_cli, write_config

pytestmark = pytest.mark.slow


def _push(ctx: HubContext, term: Term, events: list[Event]) -> None:
    """Record a terminal's events in-process, as its push would (no server needed)."""
    with ctx.db.write() as conn:
        ingest(conn, ctx, term.origin, term.epoch, events)


def _context(url: str) -> HubContext:
    return HubContext.from_settings(settings_for(url, raw_program()))


def test_cli_tokens_revoke_reports(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url if "postgresql" in fresh_url else None)
    out = run_cli(config, "init").stdout
    head = ScriptDirectory.from_config(alembic_config(fresh_url)).get_current_head()
    assert f"schema revision {head}" in out and "published" in out
    if "postgresql" not in fresh_url:
        assert (tmp_path / "pos-hub.db").exists()  # relative to the config file
    added = run_cli(config, "terminal", "add", "S001-T1").stdout.strip().splitlines()
    token = added[-1]
    assert token.startswith("t_") and len(token) > 30 and " " not in token
    assert "shown only this once" in added[0]
    assert run_cli(config, "terminal", "add", "not a terminal", ok=False).stderr
    admin = run_cli(config, "admin", "add", "ann").stdout.strip().splitlines()[-1]
    assert admin.startswith("a_")
    run_cli(config, "channel", "add", "online")
    listed = json.loads(run_cli(config, "terminal", "list", "--json").stdout)
    assert [(c["kind"], c["name"]) for c in listed] == [("terminal", "S001-T1")]
    admins = json.loads(run_cli(config, "admin", "list", "--json").stdout)
    assert [(c["kind"], c["name"]) for c in admins] == [("admin", "ann")]
    channels = run_cli(config, "channel", "list").stdout
    assert "online" in channels and "S001-T1" not in channels and "ann" not in channels
    assert "revoked 1" in run_cli(config, "terminal", "revoke", "S001-T1").stdout
    run_cli(config, "terminal", "revoke", "S001-T1", ok=False)
    [row] = json.loads(run_cli(config, "terminal", "list", "--json").stdout)
    assert row["revoked_at"]
    liability = json.loads(run_cli(config, "report", "liability", "--json").stdout)
    assert liability["total"] == 0 and liability["stores"] == []
    assert "total outstanding: 0" in run_cli(config, "report", "liability").stdout
    health = run_cli(config, "report", "sync-health").stdout
    assert "S001-T1" in health and "last_push_at" in health and "gaps" in health
    assert json.loads(run_cli(config, "flags", "--json").stdout) == []
    assert "snapshots that differed: 0" in run_cli(config, "rebuild", "--check").stdout
    assert "expiry: 0" in run_cli(config, "jobs", "run", "all").stdout
    # --json only where it does something
    refused = run_cli(config, "init", "--json", ok=False)
    assert refused.returncode == 2 and "unrecognized arguments: --json" in refused.stderr


def test_cli_help_for_hq(tmp_path: Path):
    config = write_config(tmp_path)
    add = run_cli(config, "terminal", "add", "--help").stdout
    assert "printed once" in add and "`pos init --hub URL` (with the till's" in " ".join(
        add.split()) and "never on a command line" in " ".join(add.split())
    report = " ".join(run_cli(config, "report", "--help").stdout.split())
    assert "events_behind reported_high_seq - high_seq" in report
    assert "gaps pushes refused because they skipped origin_seqs" in report
    flags = run_cli(config, "flags", "--help").stdout
    assert "--store STORE" in flags and "--kind" in flags
    for command in (["--help"], ["serve", "--help"], ["flags", "resolve", "--help"]):
        assert "usage: pos-hub" in run_cli(config, *command).stdout


def test_every_command_and_option_of_pos_hub_says_what_it_is():
    assert undocumented(build_parser(), "pos-hub") == ([], [])
    paths = {" ".join(p) for p, _ in walk(build_parser())}
    assert {"terminal add", "report", "flags resolve", "jobs run", "rebuild"} <= paths


def test_cli_flags_filters_and_member_balance_by_origin(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    ctx = _context(fresh_url)
    try:
        t1, t2 = Term(None, "S001-T1", ""), Term(None, "S002-T1", "")  # type: ignore[arg-type]
        member, events = t1.enrol()
        events += t1.sale(member, 2000)                       # 200 + visit 5
        _push(ctx, t1, events)
        t2.states[member] = t1.states[member].copy()
        _push(ctx, t2, [t2.redeem(member, "free-latte")])     # -150 at the other store
        with ctx.db.write() as conn:
            wrong = add_flag(conn, "wrong_origin", origin="S001-T1", detail="test: wrong")
            chain = add_flag(conn, "chain_broken", origin="S002-T1", detail="test: chain")
    finally:
        ctx.close()
    shown = json.loads(run_cli(config, "flags", "--json", "--store", "S001").stdout)
    assert [(f["id"], f["kind"]) for f in shown] == [(wrong, "wrong_origin")]
    shown = json.loads(run_cli(config, "flags", "--json", "--kind", "chain_broken").stdout)
    assert [(f["id"], f["store"]) for f in shown] == [(chain, "S002")]
    assert json.loads(run_cli(config, "flags", "--json", "--store", "S001", "--kind",
                              "chain_broken").stdout) == []
    assert "invalid choice" in run_cli(config, "flags", "--kind", "nope", ok=False).stderr
    run_cli(config, "flags", "resolve", str(wrong), "--note", "reinstalled")
    assert json.loads(run_cli(config, "flags", "--json", "--store", "S001").stdout) == []
    assert len(json.loads(run_cli(config, "flags", "--all", "--json", "--store", "S001"
                                  ).stdout)) == 1

    [one] = json.loads(run_cli(config, "report", "balances", "--member", member, "--json"
                               ).stdout)
    assert one["balance"] == 50 + 205 - 150
    assert one["by_origin"] == [{"origin": "S001-T1", "points": 255, "events": len(events)},
                                {"origin": "S002-T1", "points": -150, "events": 1}]
    text = run_cli(config, "report", "balances", "--member", member).stdout
    lines = text.splitlines()
    at = lines.index("by origin:")
    assert [line.split() for line in lines[at + 3:]] == [["S001-T1", "255", str(len(events))],
                                                          ["S002-T1", "-150", "1"]]
    missing = run_cli(config, "report", "balances", "--member", "nobody", ok=False)
    assert "no member nobody" in missing.stderr


def _due_work(url: str) -> tuple[str, int]:
    """A member who spent 600.00 (Gold) 400 days ago: the tier job recorded Gold then; now
    the lots of that day are past their 12 months (+ grace), and the spend left the
    180-day window. Returns the member and how many lots are due."""
    ctx = _context(url)
    try:
        term = Term(None, "S001-T1", "")  # type: ignore[arg-type]
        then = datetime.now(UTC) - timedelta(days=400)
        member, events = term.enrol(then)
        events += term.sale(member, 60_000, then + timedelta(minutes=1))
        _push(ctx, term, events)
        assert tiers(ctx, then + timedelta(minutes=2)) == 1   # Green -> Gold back then
        lots = sum(1 for e in events if e.points > 0)
    finally:
        ctx.close()
    return member, lots


def _rows(url: str, member: str) -> tuple[list[dict], list[dict], dict]:
    from hub.tables import events, members, notifications

    ctx = _context(url)
    try:
        with ctx.db.read() as conn:
            evs = [dict(r._mapping) for r in conn.execute(
                events.select().where(events.c.member_id == member, events.c.origin == "hub")
                .order_by(events.c.hub_seq))]
            notes = [dict(r._mapping) for r in conn.execute(
                notifications.select().where(notifications.c.member_id == member))]
            row = dict(conn.execute(members.select().where(members.c.member_id == member)
                                    ).one()._mapping)
    finally:
        ctx.close()
    return evs, notes, row


def test_cli_jobs_run_does_the_due_work(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    member, lots = _due_work(fresh_url)
    assert lots == 3  # welcome 50, the sale's 6000, the visit's 5
    done = json.loads(run_cli(config, "jobs", "run", "--json").stdout)
    assert done == {"expiry": 3, "tiers": 1, "notify": 0, "send": 0}
    evs, notes, row = _rows(fresh_url, member)
    kinds = [(e["kind"], e["points"]) for e in evs]
    assert kinds[0] == ("tier", 0)  # Gold, from the run 400 days ago
    assert sorted(kinds[1:]) == [("expire", -6000), ("expire", -50), ("expire", -5),
                                 ("tier", 0)]
    drop = json.loads(evs[-1]["content"])
    assert (drop["kind"], drop["data"]) == ("tier", {"tier": "Green", "from": "Gold"})
    assert row["balance"] == 0 and row["last_tier"] == "Green"
    [note] = [json.loads(n["payload"]) for n in notes if n["kind"] == "tier_change"
              and json.loads(n["payload"])["direction"] == "down"]
    assert (note["from"], note["to"]) == ("Gold", "Green")
    assert "expiry: 0" in run_cli(config, "jobs", "run", "expiry").stdout  # once only
    assert json.loads(run_cli(config, "jobs", "run", "--json").stdout)["tiers"] == 0


def test_cli_serve_answers_runs_its_jobs_and_stops(fresh_url: str, tmp_path: Path):
    """On PostgreSQL with two worker processes: the jobs run in the serving process."""
    config = write_config(tmp_path, fresh_url, jobs_interval_s=1)
    run_cli(config, "init")
    token = run_cli(config, "terminal", "add", "S009-T2").stdout.strip().splitlines()[-1]
    member, lots = _due_work(fresh_url)
    port = free_port()
    workers = "2" if "postgresql" in fresh_url else "1"
    proc = subprocess.Popen([str(BIN), "serve", "--config", str(config), "--port", str(port),
                             "--log-level", "warning", "--workers", workers], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/v1/terminal/whoami",
                              headers={"Authorization": f"Bearer {token}"}, timeout=1)
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline and proc.poll() is None
                time.sleep(0.1)
        assert r.status_code == 200 and r.json()["origin"] == "S009-T2"
        # nobody runs `pos-hub jobs`: the server's scheduler expires the lots
        deadline = time.monotonic() + 40
        while True:
            evs, _, row = _rows(fresh_url, member)
            if sum(1 for e in evs if e["kind"] == "expire") == lots:
                break
            assert time.monotonic() < deadline, f"the scheduler did not run: {evs}"
            time.sleep(0.5)
        assert row["balance"] == 0
        time.sleep(2)  # two more job runs: nothing is expired twice
        assert sum(1 for e in _rows(fresh_url, member)[0] if e["kind"] == "expire") == lots
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise
    assert code == 0


def test_cli_serve_refuses_several_workers_on_sqlite(tmp_path: Path):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    run_cli(config, "init")
    done = run_cli(config, "serve", "--workers", "2", ok=False)
    assert done.returncode == 1 and "several workers need PostgreSQL" in done.stderr
