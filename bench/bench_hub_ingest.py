"""Hub ingest benchmark: 50 terminals push at once to a real `pos-hub serve` (PostgreSQL
when POS_HUB_TEST_DATABASE_URL is set, and SQLite), until every balance is readable
through the online API. The floor (issue #15): on PostgreSQL, >= 5,000 events/s from
the first push until every pushed balance is readable (about twice the fleet's peak of
5,000 stores x 10,000 sales a day), with read-your-writes lag 0 (an answered push is
visible to the next read). The raw batch-insert rate of the same rows into a copy of
the events table, measured in the same run, is printed beside it for reference.

    .venv/bin/python bench/bench_hub_ingest.py --terminals 50      # 100,000 events
    .venv/bin/python bench/bench_hub_ingest.py --terminals 50 --backend postgresql
    .venv/bin/python bench/bench_hub_ingest.py --backend postgresql --workers 2
    .venv/bin/python bench/bench_hub_ingest.py --events 20000 --terminals 4

Events are real: enrolments and sales sealed with the domain code (earn points computed by
`earn_for_sale`, so the hub's rule check passes), one gap-free chain per terminal, each
terminal with its own members. They are generated and serialised before timing starts;
the hub runs in its own process; each terminal sends its batches one after another, the
terminals at once. After every answered push, the web shop reads the balance of the
batch's last member through `GET /v1/online/members` and compares it with the balance
the terminal's own fold says: the lag is how long until the read shows it (0 when the
first read does). Each backend ends with one line:
`readable_events_per_s=N raw_rows_per_s=M lag_ms=L`.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import MetaData, Table, create_engine, text
from sqlalchemy.pool import NullPool

from hub.db import bulk_insert, migrate
from hub.settings import normalise_url
from hub.store.append import event_row
from hub.tables import events as events_table
from loyalty.clock import HybridClock
from loyalty.earning import earn_for_sale
from loyalty.events import GENESIS, Event, EventDraft, format_instant, seal
from loyalty.fold import MemberState, apply, fold
from loyalty.ids import new_member_id
from loyalty.program import load_program_text
from loyalty.sale import make_sale

ROOT = Path(__file__).resolve().parent.parent
CONFIG = (ROOT / "config.example.toml").read_text()
PROGRAM = load_program_text(CONFIG)
ORIGIN = "S001-T1"


def generate(n: int, members: int, origin: str = ORIGIN, seed: int = 7) -> list[Event]:
    """n events of one terminal: each member enrolled, then sales at random members."""
    rng = random.Random(seed)
    phone_prefix = f"+3{seed}6"
    clock = HybridClock()
    start = datetime.now(UTC) - timedelta(days=30)
    out: list[Event] = []
    chain = GENESIS
    states: dict[str, MemberState] = {}
    ids: list[str] = []

    def add(draft: EventDraft, at: datetime) -> None:
        nonlocal chain
        event = seal(draft, origin=origin, origin_seq=len(out) + 1, origin_epoch=1,
                     prev_hash=chain, occurred_at=format_instant(at),
                     hlc=clock.now(int(at.timestamp() * 1000)), program_version=PROGRAM.version)
        chain = event.content_hash()
        apply(states.setdefault(event.member_id, MemberState(event.member_id)), event)
        out.append(event)

    step = timedelta(days=30) / n
    for i in range(n):
        at = start + step * i
        if len(ids) < members and (not ids or rng.random() < 0.2):
            member = new_member_id()
            ids.append(member)
            add(EventDraft(kind="enrol", member_id=member, ref=f"E{i}", data={
                "channel": f"store:{origin}", "card_number": None,
                "profile": {"name": f"Member {i}", "phone": f"{phone_prefix}{i:08d}"}}), at)
            continue
        member = rng.choice(ids)
        earned = earn_for_sale(PROGRAM, states[member], make_sale(total=rng.randint(200, 5000)),
                               at, receipt_no=f"{origin}-{i:07d}")
        add(earned.drafts[0], at)  # the purchase itself (bonuses would add a second event)
    return out[:n]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(folder: Path, url: str, origins: list[str], workers: int = 1
          ) -> tuple[subprocess.Popen, str, list[str], str]:
    env = {**os.environ, "POS_HUB__DATABASE_URL": url, "POS_HUB__JOBS_INTERVAL_S": "0"}
    bin_ = str(Path(sys.executable).parent / "pos-hub")
    cfg = ["--config", str(folder / "hub.toml")]

    def cli(*args: str) -> str:
        done = subprocess.run([bin_, *args, *cfg], env=env, capture_output=True, text=True,
                              cwd=folder)
        if done.returncode:
            raise SystemExit(f"pos-hub {' '.join(args)} failed: {done.stderr}")
        return done.stdout

    cli("init")
    tokens = [cli("terminal", "add", origin).strip().splitlines()[-1] for origin in origins]
    online = cli("channel", "add", "online").strip().splitlines()[-1]
    port = free_port()
    proc = subprocess.Popen([bin_, "serve", *cfg, "--port", str(port), "--log-level",
                             "warning", "--workers", str(workers)], env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, base, tokens, online


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hub_cpu(pid: int) -> float:
    """CPU seconds of `pos-hub serve` and its worker processes (`--workers`)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return cpu_seconds(pid) + sum(cpu_seconds(int(k)) for k in kids)


def hub_rate(folder: Path, url: str, streams: dict[str, list[Event]],
             bodies: dict[str, list[bytes]], batch: int,
             workers: int = 1) -> tuple[float, float, float]:
    """(events/s from the first push until the last pushed balance is readable online,
    the worst read-your-writes lag in ms, the hub processes' CPU seconds)."""
    proc, base, tokens, online_token = serve(folder, url, list(streams), workers)
    clients = [httpx.Client(base_url=base, timeout=120, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        for token in tokens]
    shop = httpx.Client(base_url=base, timeout=120,
                        headers={"Authorization": f"Bearer {online_token}"},
                        limits=httpx.Limits(max_connections=len(clients)))
    start = threading.Barrier(len(clients) + 1)
    lags: list[float] = []
    deferred: list[int] = []

    def expected_after(evs: list[Event], upto: int) -> tuple[str, int]:
        member = evs[upto - 1].member_id
        return member, fold([e for e in evs[:upto] if e.member_id == member]).balance

    def push(client: httpx.Client, evs: list[Event], mine: list[bytes]) -> float:
        start.wait()
        for i, body in enumerate(mine):
            while True:
                r = client.post("/v1/sync/push", content=body)
                if r.status_code != 503 or "Retry-After" not in r.headers:
                    break
                # deferred by admission control: come back as the agent does
                deferred.append(1)
                time.sleep(float(r.headers["Retry-After"]) * random.uniform(1.0, 1.5))
            assert r.status_code == 200, r.text[:300]
            answered = time.perf_counter()
            member, balance = expected_after(evs, min(len(evs), (i + 1) * batch))
            lag = 0.0
            while True:
                seen = shop.get("/v1/online/members", params={"member_id": member})
                assert seen.status_code == 200, seen.text[:300]
                if seen.json()["balance"] == balance:
                    break
                time.sleep(0.001)
                lag = time.perf_counter() - answered
            lags.append(lag)
        return time.perf_counter()

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            done = [pool.submit(push, c, streams[o], bodies[o])
                    for c, o in zip(clients, streams, strict=True)]
            cpu = hub_cpu(proc.pid)
            start.wait()
            t0 = time.perf_counter()
            last = max(future.result() for future in done)
            cpu = hub_cpu(proc.pid) - cpu
    finally:
        for c in [*clients, shop]:
            c.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    n = sum(map(len, streams.values()))
    if deferred:
        print(f"  pushes deferred by admission control (503 + Retry-After): {len(deferred)}")
    return n / (last - t0), max(lags) * 1000, cpu


def raw_table() -> Table:
    """A copy of `events` with its constraints and indexes (renamed: names are global)."""
    raw = events_table.to_metadata(MetaData(), name="raw_events")
    for item in [*raw.indexes, *raw.constraints]:
        if item.name:
            item.name = f"raw_{item.name}"
    return raw


def raw_rate(url: str, streams: list[list[dict]], batch: int) -> float:
    """Rows/s of a plain batched insert of the same rows into a copy of `events` (same
    columns, constraints and indexes), a batch per transaction with the statement the hub
    itself appends with (`hub.db.bulk_insert`), as many writers at once as terminals."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, poolclass=NullPool,
                           connect_args={"timeout": 60} if sqlite else {})
    raw = raw_table()

    def writer(rows: list[dict], start: threading.Barrier) -> None:
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA synchronous=FULL")
            conn.commit()
            start.wait()
            for at in range(0, len(rows), batch):
                with conn.begin():
                    bulk_insert(conn, raw, rows[at:at + batch])

    raw.drop(engine, checkfirst=True)
    raw.create(engine)
    try:
        start = threading.Barrier(len(streams) + 1)
        with ThreadPoolExecutor(len(streams)) as pool:
            done = [pool.submit(writer, rows, start) for rows in streams]
            start.wait()
            t0 = time.perf_counter()
            for future in done:
                future.result()
            took = time.perf_counter() - t0
    finally:
        raw.drop(engine, checkfirst=True)
        engine.dispose()
    return sum(map(len, streams)) / took


def run_backend(name: str, url: str, streams: dict[str, list[Event]], batch: int,
                folder: Path, workers: int = 1) -> None:
    bodies = {origin: [json.dumps({"origin": origin, "origin_epoch": 1,
                                   "events": [e.to_dict() for e in evs[i:i + batch]]}).encode()
                       for i in range(0, len(evs), batch)]
              for origin, evs in streams.items()}
    received = format_instant(datetime.now(UTC))
    seqs = iter(range(1, 1 + sum(map(len, streams.values()))))
    rows = [[{"hub_seq": next(seqs)} | event_row(e, received) for e in evs]
            for evs in streams.values()]
    migrate(url)
    # The raw limit is timed before and after the hub and averaged: on a shared 2-core
    # machine either one alone can land in someone else's busy minute.
    before = raw_rate(url, rows, batch)
    readable, lag_ms, cpu = hub_rate(folder, url, streams, bodies, batch, workers)
    after = raw_rate(url, rows, batch)
    raw = (before + after) / 2
    n = sum(map(len, rows))
    print(f"{name}: {n:,} events from {len(streams)} terminals, {workers} hub worker(s); "
          f"the hub's CPU "
          f"{cpu:.1f} s ({cpu / n * 1e6:.0f} us an event); raw {before:,.0f} rows/s "
          f"before, {after:,.0f} after", flush=True)
    print(f"readable_events_per_s={readable:.0f} raw_rows_per_s={raw:.0f} "
          f"lag_ms={lag_ms:.0f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--terminals", type=int, default=50,
                        help="terminals pushing at once, each its own members and chain "
                             "(the raw limit then has as many writers)")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both",
                        help="which database(s) to measure (PostgreSQL needs "
                             "POS_HUB_TEST_DATABASE_URL)")
    parser.add_argument("--workers", type=int, default=1,
                        help="`pos-hub serve --workers N` (PostgreSQL only)")
    args = parser.parse_args()
    t0 = time.perf_counter()
    k = max(1, args.terminals)
    streams = {f"S{t:03d}-T1": generate(args.events // k, args.members // k,
                                        origin=f"S{t:03d}-T1", seed=6 + t)
               for t in range(1, k + 1)}
    n = sum(map(len, streams.values()))
    enrolments = sum(e.kind == "enrol" for evs in streams.values() for e in evs)
    print(f"{n:,} events ({enrolments:,} enrolments) from {k} terminal(s) generated in "
          f"{time.perf_counter() - t0:.1f} s; batches of {args.batch}")
    folder = Path(tempfile.mkdtemp(prefix="bench-hub-"))
    try:
        (folder / "hub.toml").write_text(CONFIG)
        if args.backend != "postgresql":
            run_backend("sqlite", f"sqlite:///{folder / 'hub.db'}", streams, args.batch,
                        folder)
        pg = os.environ.get("POS_HUB_TEST_DATABASE_URL")
        if args.backend == "sqlite":
            pass
        elif pg:
            schema = f"bench_hub_{os.getpid()}"
            base = normalise_url(pg, folder)
            admin = create_engine(base, poolclass=NullPool)
            with admin.begin() as conn:
                conn.execute(text(f'CREATE SCHEMA "{schema}"'))
            try:
                sep = "&" if "?" in base else "?"
                run_backend("postgresql", f"{base}{sep}options=-csearch_path%3D{schema}",
                            streams, args.batch, folder, args.workers)
            finally:
                with admin.begin() as conn:
                    conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
                admin.dispose()
        else:
            print("postgresql skipped: set POS_HUB_TEST_DATABASE_URL")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
