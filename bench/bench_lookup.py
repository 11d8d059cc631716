"""Lookup benchmark: with 1,000,000 members in the terminal database, p99 of
`pos_agent.members.find_member` by card number, phone number and member QR (target < 2 ms).

    .venv/bin/python bench/bench_lookup.py                     # 1,000,000 members
    .venv/bin/python bench/bench_lookup.py --members 100000 --lookups 5000

Members and cards are generated in one transaction with executemany (the terminal's own
schema and indexes, created by its migrations); lookups go through the same function the
CLI and the app call, QR signature check included.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from loyalty.ids import make_card_number
from loyalty.member_qr import sign_card
from pos_agent.identity import init_terminal
from pos_agent.members import find_member
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parent.parent
PER_ORIGIN = 999_999  # card serials are 6 digits per origin and epoch


def card_for(i: int) -> str:
    return make_card_number(i // PER_ORIGIN + 1, i % PER_ORIGIN + 1)  # issuer, serial


def phone_for(i: int) -> str:
    return f"+336{i:08d}"


def populate(store, n: int) -> float:
    t0 = time.perf_counter()
    conn = store.conn
    conn.execute("BEGIN IMMEDIATE")
    batch = 50_000
    for start in range(0, n, batch):
        ids = range(start, min(start + batch, n))
        conn.executemany(
            "INSERT INTO members (member_id, name, phone, updated_at) VALUES (?, ?, ?, ?)",
            ((f"m{i:08d}", f"Member {i}", phone_for(i), "2026-03-01T00:00:00+00:00")
             for i in ids),
        )
        conn.executemany(
            "INSERT INTO cards (card_number, member_id, source, added_at) "
            "VALUES (?, ?, 'hub', ?)",
            ((card_for(i), f"m{i:08d}", "2026-03-01T00:00:00+00:00") for i in ids),
        )
    conn.execute("COMMIT")
    conn.execute("ANALYZE")
    return time.perf_counter() - t0


def measure(store, queries: list[str]) -> list[float]:
    latencies = []
    for q in queries:
        t0 = time.perf_counter()
        find_member(store, q)
        latencies.append(time.perf_counter() - t0)
    return latencies


def p(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=10_000)
    parser.add_argument("--dir", help="folder for the database (default: a temp folder)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-lookup-", dir=args.dir))
    try:
        config = folder / "pos.toml"
        config.write_text((ROOT / "config.example.toml").read_text())
        store = open_store(load_settings(str(config)))
        init_terminal(store.db, "S001", "T1")
        took = populate(store, args.members)
        print(f"{args.members:,} members and cards generated in {took:.1f} s")
        rng = random.Random(3)
        picks = [rng.randrange(args.members) for _ in range(args.lookups)]
        key = store.qr_key
        kinds = {
            "card": [card_for(i) for i in picks],
            "phone": [phone_for(i) for i in picks],
            "qr": [sign_card(card_for(i), key) for i in picks],
        }
        for name, queries in kinds.items():
            measure(store, queries[:200])  # warm the page cache, as a running terminal is
            lat = measure(store, queries)
            verdict = "ok" if p(lat, 99) < 2 else "OVER 2 ms"
            print(f"  by {name:<5} p50 {statistics.median(lat) * 1e3:.3f} ms  "
                  f"p99 {p(lat, 99):.3f} ms  max {max(lat) * 1e3:.3f} ms   {verdict}")
        store.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
