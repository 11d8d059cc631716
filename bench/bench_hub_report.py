"""Consolidation report benchmark: 1,000 terminals and 1,000,000 events, rows generated
straight into the hub's tables (SQLite; PostgreSQL too when POS_HUB_TEST_DATABASE_URL is
set), then the HQ reports timed as the API computes them.

    .venv/bin/python bench/bench_hub_report.py
    .venv/bin/python bench/bench_hub_report.py --terminals 100 --events 100000

Liability and sync health read the per-origin running totals the ingest keeps; the
rewards report reads the partial index on rewarded events; `rebuild_totals` (a full
GROUP BY over the ledger) is timed too, as the worst case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hub.db import Database, migrate
from hub.settings import normalise_url
from hub.store import reports
from hub.tables import events, members, origins, streams

GENESIS = "0" * 64


def populate(db: Database, terminals: int, n: int, n_members: int) -> float:
    t0 = time.perf_counter()
    per = n // terminals
    now = "2026-11-01T10:00:00.000000+00:00"
    with db.write() as conn:
        conn.execute(origins.insert(), [
            {"origin": f"S{t // 4:04d}-T{t % 4 + 1}", "kind": "terminal",
             "store": f"S{t // 4:04d}", "created_at": now, "last_push_at": now,
             "last_pull_at": now, "reported_high_seq": per + t % 3} for t in range(terminals)])
        conn.execute(streams.insert(), [
            {"origin": f"S{t // 4:04d}-T{t % 4 + 1}", "origin_epoch": 1, "high_seq": per,
             "chain_hash": GENESIS, "updated_at": now} for t in range(terminals)])
        conn.execute(members.insert(), [
            {"member_id": f"m{i:035d}", "origin": "S0000-T1", "created_at": now,
             "state": "{}", "balance": 0, "debt": 0, "hub_seq": 0, "updated_at": now,
             "consent_email": False, "consent_sms": False} for i in range(n_members)])
    seq = 0
    for t in range(terminals):
        origin = f"S{t // 4:04d}-T{t % 4 + 1}"
        rows = []
        for i in range(per):
            seq += 1
            redeem = i % 10 == 9
            rows.append({
                "event_id": f"{t:08d}-{i:027d}", "origin": origin, "origin_epoch": 1,
                "origin_seq": i + 1, "member_id": f"m{seq % n_members:035d}",
                "kind": "redeem" if redeem else "earn", "points": -150 if redeem else 42,
                "amount": 0 if redeem else 420, "program_version": "bench", "ref": f"R{i}",
                "occurred_at": now, "hlc": f"{seq:015d}.00000", "received_at": now,
                "reward_id": "free-latte" if redeem else None,
                "reward_action": "redeem" if redeem else None,
                "tier": "Green" if redeem else None,
                "content": '{"bench":true}'})
        with db.write() as conn:
            conn.execute(events.insert(), rows)
    return time.perf_counter() - t0


def timed(label: str, fn) -> None:  # noqa: ANN001
    t0 = time.perf_counter()
    out = fn()
    took = time.perf_counter() - t0
    size = len(out) if isinstance(out, list) else out.get("members", "") \
        if isinstance(out, dict) else out
    print(f"  {label:<28} {took * 1e3:>10.1f} ms   ({size})", flush=True)


def run(name: str, url: str, terminals: int, n: int, n_members: int) -> None:
    migrate(url)
    db = Database(url)
    took = populate(db, terminals, n, n_members)
    print(f"{name}: {terminals:,} terminals, {n:,} events, {n_members:,} members generated "
          f"in {took:.1f} s", flush=True)
    with db.write() as conn:
        timed("rebuild_totals (full scan)", lambda: reports.rebuild_totals(conn))
    with db.read() as conn:
        timed("liability", lambda: reports.liability(conn))
        timed("sync-health", lambda: reports.sync_health(conn))
        timed("rewards", lambda: reports.rewards(conn))
    db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--members", type=int, default=100_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-report-"))
    try:
        run("sqlite", f"sqlite:///{folder / 'hub.db'}", args.terminals, args.events,
            args.members)
        pg = os.environ.get("POS_HUB_TEST_DATABASE_URL")
        if pg:
            schema = f"bench_report_{os.getpid()}"
            base = normalise_url(pg, folder)
            admin = create_engine(base, poolclass=NullPool)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                sep = "&" if "?" in base else "?"
                run("postgresql", f"{base}{sep}options=-csearch_path%3D{schema}",
                    args.terminals, args.events, args.members)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
