"""Hub ingest benchmark: push events in batches through HTTP to a real `pos-hub serve`
(SQLite, and PostgreSQL when POS_HUB_TEST_DATABASE_URL is set), beside the raw batched
insert rate of the same database measured in the same run (the same rows into a copy of
the events table with its indexes, in the same batch size, one transaction per batch,
straight through the driver: see `raw_rate`). Target: >= 0.3.

    .venv/bin/python bench/bench_hub_ingest.py                   # 100,000 events
    .venv/bin/python bench/bench_hub_ingest.py --events 20000 --batch 500
    .venv/bin/python bench/bench_hub_ingest.py --terminals 4    # 4 terminals at once

Events are real: enrolments and sales sealed with the domain code (earn points computed by
`earn_for_sale`, so the hub's rule check passes), one gap-free chain per terminal. They are
generated and serialised before timing starts; the hub runs in its own process; each
terminal's client sends its batches one after another (one terminal by default; with
`--terminals K`, K at once, each with its own members, and the raw limit then has K
writers too). The raw limit is timed before and after the hub and averaged (the machine
is shared). The hub's CPU time for the pushes is printed too: on a busy machine it says
more than the wall time. A push is appended and answered; the hub folds it into members,
flags, notifications and the change feed behind the ledger (docs/hub.md, "Ledger
first"), with the default settings of `pos-hub serve`. So the bench then times how long
after the last answer a reader waits for everything to be folded, and prints the rate of
pushes and folding together beside the push rate; then one terminal pulling every
changed member (JSON snapshots are caught up by their reader). Neither is in the ratio
the target is about.
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

from hub.db import insert_rows, migrate
from hub.settings import normalise_url
from hub.store.ledger import EVENT_COLUMNS, event_values
from hub.tables import events as events_table
from loyalty.clock import HybridClock
from loyalty.earning import earn_for_sale
from loyalty.events import GENESIS, Event, EventDraft, format_instant, seal
from loyalty.fold import MemberState, apply
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


def serve(folder: Path, url: str, origins: list[str]) -> tuple[subprocess.Popen, str, list[str]]:
    env = {**os.environ, "POS_HUB__DATABASE_URL": url, "POS_HUB__JOBS_INTERVAL_S": "0"}
    bin_ = str(Path(sys.executable).parent / "pos-hub")
    cfg = ["--config", str(folder / "hub.toml")]

    def cli(*args: str) -> str:
        return subprocess.run([bin_, *args, *cfg], env=env, check=True, capture_output=True,
                              text=True, cwd=folder).stdout

    cli("init")
    tokens = [cli("terminal", "add", origin).strip().splitlines()[-1] for origin in origins]
    port = free_port()
    proc = subprocess.Popen([bin_, "serve", *cfg, "--port", str(port), "--log-level",
                             "warning"], env=env, cwd=folder)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.1)
    return proc, base, tokens


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux; 0 elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def hub_rate(folder: Path, url: str, streams: dict[str, list[bytes]],
             n: int) -> tuple[float, float, int, float, float]:
    """events/s of the pushes (each terminal's batches one after another, the terminals
    at once) and the hub process's CPU seconds for them (on a busy machine the CPU time
    says more than the wall time); then (not in the rate) how long one terminal takes to
    pull every changed member: the snapshots the pushes left behind are caught up there."""
    proc, base, tokens = serve(folder, url, list(streams))
    clients = [httpx.Client(base_url=base, timeout=120, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/json"})
        for token in tokens]
    start = threading.Barrier(len(clients) + 1)

    def push(client: httpx.Client, bodies: list[bytes]) -> None:
        start.wait()
        for body in bodies:
            r = client.post("/v1/sync/push", content=body)
            assert r.status_code == 200, r.text[:300]

    try:
        with ThreadPoolExecutor(len(clients)) as pool:
            done = [pool.submit(push, c, bodies)
                    for c, bodies in zip(clients, streams.values(), strict=True)]
            cpu = cpu_seconds(proc.pid)
            start.wait()
            t0 = time.perf_counter()
            for future in done:
                future.result()
            took = time.perf_counter() - t0
            cpu = cpu_seconds(proc.pid) - cpu
        # Any reader catches the projector up first: this one reads nothing else, so its
        # wait is what was left to fold after the last push was answered.
        t0 = time.perf_counter()
        r = clients[0].get("/v1/sync/flags")
        assert r.status_code == 200, r.text[:300]
        fold_took = time.perf_counter() - t0
        t0 = time.perf_counter()
        cursor, pulled, more = 0, 0, True
        while more:
            page = clients[0].get("/v1/sync/pull",
                                  params={"cursor": cursor, "limit": 500}).json()
            pulled += sum(ch["type"] == "member" for ch in page["changes"])
            cursor, more = page["cursor"], page["more"]
        pull_took = time.perf_counter() - t0
    finally:
        for c in clients:
            c.close()
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return n / took, cpu, pulled, pull_took, fold_took


def raw_table() -> Table:
    """A copy of `events` with its constraints and indexes (renamed: names are global)."""
    raw = events_table.to_metadata(MetaData(), name="raw_events")
    for item in [*raw.indexes, *raw.constraints]:
        if item.name:
            item.name = f"raw_{item.name}"
    return raw


def raw_rate(url: str, streams: list[list[tuple]], batch: int) -> tuple[float, str]:
    """Rows/s of the fastest plain batched insert of the same rows into a copy of `events`
    (same columns, constraints and indexes), a batch per transaction, straight through
    the driver, with as many writers at once as there are terminals (each its own
    connection and its own rows): sqlite3 executemany; on PostgreSQL the better of
    psycopg's executemany and one INSERT ... SELECT FROM unnest(arrays) per batch (the
    statement the hub sends, `hub.db.insert_rows`). COPY is not a batched insert and is
    left out."""
    sqlite = url.startswith("sqlite")
    engine = create_engine(url, poolclass=NullPool,
                           connect_args={"timeout": 60} if sqlite else {})
    raw = raw_table()
    names = ", ".join(EVENT_COLUMNS)
    plain = (f"INSERT INTO raw_events ({names}) VALUES "
             f"({', '.join(['?' if sqlite else '%s'] * len(EVENT_COLUMNS))})")

    def writer(method: str, rows: list[tuple], start: threading.Barrier) -> None:
        with engine.connect() as conn:
            if sqlite:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA synchronous=NORMAL")
            conn.commit()
            cur = conn.connection.dbapi_connection.cursor()
            start.wait()
            for at in range(0, len(rows), batch):
                with conn.begin():
                    if method == "executemany":
                        cur.executemany(plain, rows[at:at + batch])
                    else:
                        insert_rows(conn, raw, EVENT_COLUMNS, rows[at:at + batch])

    def timed(method: str) -> float:
        raw.drop(engine, checkfirst=True)
        raw.create(engine)
        start = threading.Barrier(len(streams) + 1)
        with ThreadPoolExecutor(len(streams)) as pool:
            done = [pool.submit(writer, method, rows, start) for rows in streams]
            start.wait()
            t0 = time.perf_counter()
            for future in done:
                future.result()
            took = time.perf_counter() - t0
        return sum(map(len, streams)) / took

    try:
        rates = {"executemany": timed("executemany")}
        if not sqlite:
            rates["unnest"] = timed("unnest")
    finally:
        raw.drop(engine, checkfirst=True)
        engine.dispose()
    best = max(rates, key=rates.__getitem__)
    return rates[best], best


def run_backend(name: str, url: str, streams: dict[str, list[Event]], batch: int,
                folder: Path) -> None:
    bodies = {origin: [json.dumps({"origin": origin, "origin_epoch": 1,
                                   "events": [e.to_dict() for e in evs[i:i + batch]]}).encode()
                       for i in range(0, len(evs), batch)]
              for origin, evs in streams.items()}
    received = format_instant(datetime.now(UTC))
    rows: list[list[tuple]] = []
    seq = 0
    for evs in streams.values():
        rows.append([event_values(e, seq + i + 1, e.canonical(), received)
                     for i, e in enumerate(evs)])
        seq += len(evs)
    n = seq
    migrate(url)
    # The limit is timed before and after the hub and averaged: on a shared 2-core
    # machine either one alone can land in someone else's busy minute.
    before, how = raw_rate(url, rows, batch)
    hub, cpu, pulled, pull_took, fold_took = hub_rate(folder, url, bodies, n)
    after, how_after = raw_rate(url, rows, batch)
    raw = (before + after) / 2
    ratio = hub / raw
    verdict = "ok" if ratio >= 0.3 else "BELOW 0.3"
    print(f"{name:<10} hub {hub:>9,.0f} events/s   raw insert {raw:>9,.0f} rows/s "
          f"({before:,.0f} before by {how}, {after:,.0f} after by {how_after})   "
          f"ratio {ratio:.2f}  {verdict}", flush=True)
    print(f"{'':<10} the hub's CPU for the pushes: {cpu:.1f} s, "
          f"{cpu / n * 1e6:.0f} us an event", flush=True)
    pushes_took = n / hub
    print(f"{'':<10} folded behind the pushes: done {fold_took:.1f} s after the last answer; "
          f"pushes and folding together {n / (pushes_took + fold_took):,.0f} events/s "
          f"(ratio {n / (pushes_took + fold_took) / raw:.2f})", flush=True)
    print(f"{'':<10} then a full pull: {pulled:,} member snapshots in {pull_took:.1f} s "
          f"(caught up behind the pushes; not in the rate)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--members", type=int, default=20_000)
    parser.add_argument("--terminals", type=int, default=1,
                        help="terminals pushing at once, each its own members and chain "
                             "(the raw limit then has as many writers)")
    parser.add_argument("--backend", choices=("both", "sqlite", "postgresql"), default="both",
                        help="which database(s) to measure (PostgreSQL needs "
                             "POS_HUB_TEST_DATABASE_URL)")
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
                            streams, args.batch, folder)
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
