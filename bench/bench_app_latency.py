"""Keypress-to-screen latency of the checkout flow, measured with Textual's pilot.

    .venv/bin/python bench/bench_app_latency.py            # 200 sales

For each sale: type the amount, press Enter, and time until the screen shows the recorded
sale (the sale is committed to SQLite and its receipt sent to the dummy printer in that
time). Prints median and p99 next to the raw cost of one SQLite commit measured in the same
run. Target: p99 under 50 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from pos_agent.app.app import PosApp
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parent.parent


async def run(sales: int, folder: Path) -> list[float]:
    config = folder / "pos.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    card = enrol(store, name="Bench", phone="+33600000001").card_number
    app = PosApp(store.settings, store=store)
    latencies = []
    handler: list[float] = []
    from pos_agent.app.checkout_screen import CheckoutScreen

    original = CheckoutScreen.confirm_sale

    def timed(self, text: str) -> None:  # the app's own work for Enter, without the pilot
        started = time.perf_counter()
        original(self, text)
        handler.append((time.perf_counter() - started) * 1000)

    CheckoutScreen.confirm_sale = timed
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*card, "enter")
        await pilot.pause()
        message = app.screen.query_one("#message")
        for i in range(sales):
            await pilot.press(*"3.50")
            started = time.perf_counter()
            await pilot.press("enter")
            while "recorded" not in str(message.render()) or f"{i + 2:06d}" not in str(
                message.render()
            ):
                await asyncio.sleep(0)
            latencies.append((time.perf_counter() - started) * 1000)
    CheckoutScreen.confirm_sale = original
    return latencies, handler


def raw_commit_ms(folder: Path, n: int = 200) -> float:
    conn = sqlite3.connect(folder / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (a TEXT)")
    times = []
    for _ in range(n):
        started = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t VALUES ('x')")
        conn.execute("COMMIT")
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=200)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-app-"))
    try:
        latencies, handler = asyncio.run(run(args.sales, folder))
        for label, values in (("keypress-to-screen (pilot)", latencies),
                              ("Enter handler: sale + print + panel", handler)):
            values = sorted(values)
            p99 = values[max(0, int(len(values) * 0.99) - 1)]
            print(f"{label} over {len(values)} sales: median "
                  f"{statistics.median(values):.1f} ms, p99 {p99:.1f} ms (target < 50 ms)")
        print(f"raw SQLite commit (WAL, synchronous=FULL): median {raw_commit_ms(folder):.3f} ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
