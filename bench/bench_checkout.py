"""Checkout benchmark: sales with earn through `pos_agent.operations.record_sale` (the code
path `pos sale` and the app use), against the raw SQLite limit measured in the same run.

    .venv/bin/python bench/bench_checkout.py            # 2000 sales over 500 members
    .venv/bin/python bench/bench_checkout.py --sales 5000 --members 1000 --dir /var/tmp

`--frames` adds, after the measured run, a count of the WAL frames one sale's commit
writes, per b-tree (each b-tree a sale touches costs it at least one 4 KiB frame).

The raw limit is one single-row INSERT + COMMIT per transaction, in its own database in
the same folder, with the terminal's pragmas (WAL, synchronous=FULL, same page cache and
checkpoint settings): what the disk's fsync allows a one-row transaction to do. Each sale
is one transaction too (events, receipt, cached balance), so the ratio shows what the
ledger's own work costs on top of the unavoidable fsync. Printing is not measured: the
receipt is given its print job, rendered and sent after the commit (see docs/terminal.md).
"""

from __future__ import annotations

import argparse
import collections
import gc
import random
import shutil
import sqlite3
import statistics
import struct
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from loyalty.sale import SaleLine, make_sale
from pos_agent.db import open_database
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = [
    SaleLine("LATTE", "coffee", 1, 350),
    SaleLine("FILTER", "coffee", 1, 250),
    SaleLine("CROISSANT", "pastry", 1, 180),
    SaleLine("BEANS-1KG", "beans", 1, 2400),
    SaleLine("MUG", "goods", 1, 900),
]


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))]


def open_raw(folder: Path) -> sqlite3.Connection:
    """The raw-limit database, opened by the terminal's own `open_database` (same pragmas)."""
    conn = open_database(folder / "raw.db").conn
    conn.execute("CREATE TABLE raw (id INTEGER PRIMARY KEY, payload TEXT NOT NULL)")
    return conn


def raw_block(conn: sqlite3.Connection, n: int, latencies: list[float]) -> None:
    """n single-row INSERT + COMMIT transactions."""
    for i in range(n):
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO raw (payload) VALUES (?)", (f"sale {i}",))
        conn.execute("COMMIT")
        latencies.append(time.perf_counter() - t0)


def setup(folder: Path, members: int) -> tuple:
    config = folder / "pos.toml"
    text = (ROOT / "config.example.toml").read_text()
    text = text.replace('database = "pos-terminal.db"', 'database = "bench-terminal.db"')
    config.write_text(text)
    settings = load_settings(str(config))
    store = open_store(settings)
    init_terminal(store.db, "S001", "T1")
    start = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    ids = [
        enrol(store, name=f"Member {i}", phone=f"+3361{i:07d}", at=start).member_id
        for i in range(members)
    ]
    return store, ids, start


def wal_frames(store, sales: list, at: datetime) -> tuple[float, dict[str, float]]:
    """Record `sales` with checkpoints off and read the WAL back: frames per sale, and per
    b-tree (dbstat names the b-tree each page belongs to)."""
    conn = store.conn
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.execute("PRAGMA wal_autocheckpoint = 0")
    path = Path(conn.execute("PRAGMA database_list").fetchone()[2] + "-wal")
    for i, (member_id, sale) in enumerate(sales):
        record_sale(store, member_id, sale, at=at + timedelta(seconds=i))
    page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    try:
        owner = dict(conn.execute("SELECT pageno, name FROM dbstat").fetchall())
    except sqlite3.OperationalError:  # SQLite built without dbstat: totals only
        owner = {}
    data = path.read_bytes()
    counts: collections.Counter[str] = collections.Counter()
    for offset in range(32, len(data) - 23, 24 + page_size):
        (page,) = struct.unpack(">I", data[offset:offset + 4])
        counts[owner.get(page, "?")] += 1
    conn.execute("PRAGMA wal_autocheckpoint = 1000")
    n = len(sales)
    return sum(counts.values()) / n, {k: v / n for k, v in counts.most_common()}


def run(n_sales: int, n_members: int, folder: Path, frames: int = 0,
        freeze: bool = True) -> dict:
    store, ids, start = setup(folder, n_members)
    rng = random.Random(7)
    sales = []
    for _ in range(n_sales + frames):
        lines = [
            SaleLine(p.sku, p.category, rng.randint(1, 3), p.unit_price)
            for p in rng.sample(PRODUCTS, rng.randint(1, 3))
        ]
        sales.append((rng.choice(ids), make_sale(lines)))
    raw_conn = open_raw(folder)
    if freeze:
        # As the app does once started (pos_agent.app.app): what start-up made lives as
        # long as the process, out of the collector's sight. Without it one full
        # collection, walking the ~100,000 objects the imports and the set-up made
        # (~55 ms here), falls in a 3,000-sale run about once: ~18 us per sale, a run
        # with it and a run without differing by 5%. `--no-freeze` measures that process.
        gc.collect()
        gc.freeze()
    latencies: list[float] = []
    raw: list[float] = []
    at = start + timedelta(hours=1)
    # Alternate blocks of sales and raw commits: the disk's speed drifts (other load on
    # the machine), and interleaving exposes both measurements to the same drift.
    block = 100
    for first in range(0, n_sales, block):
        raw_block(raw_conn, min(block, n_sales - first), raw)
        for i in range(first, min(first + block, n_sales)):
            member_id, sale = sales[i]
            t0 = time.perf_counter()
            record_sale(store, member_id, sale, at=at + timedelta(seconds=i))
            latencies.append(time.perf_counter() - t0)
    events = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    frame_counts = wal_frames(store, sales[n_sales:], at + timedelta(days=1)) if frames \
        else None
    store.close()
    raw_conn.close()
    if freeze:
        gc.unfreeze()
    sales_per_s = len(latencies) / sum(latencies)
    raw_per_s = len(raw) / sum(raw)
    return {
        "sales": n_sales,
        "members": n_members,
        "events": events,
        "sales_per_s": sales_per_s,
        "p50_ms": statistics.median(latencies) * 1e3,
        "p99_ms": percentile(latencies, 99) * 1e3,
        "raw_per_s": raw_per_s,
        "raw_p50_ms": statistics.median(raw) * 1e3,
        "raw_p99_ms": percentile(raw, 99) * 1e3,
        "ratio": sales_per_s / raw_per_s,
        "frames": frame_counts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=2000)
    parser.add_argument("--members", type=int, default=500)
    parser.add_argument("--dir", help="folder for the databases (default: a temp folder)")
    parser.add_argument("--frames", type=int, default=0, metavar="N",
                        help="after the run, count the WAL frames of N more sales")
    parser.add_argument("--no-freeze", action="store_true",
                        help="leave the set-up's objects to the garbage collector (the app "
                        "freezes its start-up heap)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-checkout-", dir=args.dir))
    try:
        r = run(args.sales, args.members, folder, args.frames, freeze=not args.no_freeze)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"sqlite {sqlite3.sqlite_version}, WAL, synchronous=FULL, folder {args.dir or 'tmp'}, "
          f"start-up heap {'not ' if args.no_freeze else ''}frozen")
    print(f"checkout  {r['sales']} sales over {r['members']} members ({r['events']} events)")
    print(f"  record_sale: {r['sales_per_s']:8.0f} sales/s   p50 {r['p50_ms']:.3f} ms   "
          f"p99 {r['p99_ms']:.3f} ms")
    print(f"  raw limit:   {r['raw_per_s']:8.0f} commits/s p50 {r['raw_p50_ms']:.3f} ms   "
          f"p99 {r['raw_p99_ms']:.3f} ms   (1-row INSERT + COMMIT)")
    print(f"  ratio: {r['ratio']:.2f} of the raw limit (target >= 0.5)")
    if r["frames"]:
        total, per_tree = r["frames"]
        print(f"WAL frames per sale (next {args.frames} sales, checkpoints off): {total:.2f}")
        for name, n in per_tree.items():
            print(f"  {n:5.2f}  {name}")


if __name__ == "__main__":
    main()
