"""Keypress-to-screen latency of the checkout flow, measured inside the app with the pilot.

    .venv/bin/python bench/bench_app_latency.py              # 200 sales
    .venv/bin/python bench/bench_app_latency.py --profile    # + pyinstrument of the Enters

For each sale the amount `3.50` is typed and Enter pressed. Each key is posted to the app
the way the terminal driver posts it (no pilot waits in the timed path), and the clock
stops when the app paints the frame that shows its effect:

- Enter: the frame whose message line reads `Sale <receipt> recorded` (the sale is
  committed to SQLite by then; its receipt is rendered and sent to the dummy printer
  after that frame, and the bench checks at the end that every receipt was printed);
- an amount key: the frame whose amount field shows the text typed so far.

Headless Textual computes each frame's update but does not turn it into terminal bytes;
the bench does that too (as a real terminal's driver would) so its cost is counted.
Also printed: the time spent inside the Enter handler (`confirm_sale`) alone. Target:
p99 under 50 ms. Prints median and p99 next to the raw cost of one SQLite commit.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path

from textual import events

from pos_agent.app.app import PosApp
from pos_agent.app.checkout_screen import CheckoutScreen
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parent.parent
TARGET_MS = 50.0
MOVE = re.compile(r"\x1b\[(\d+);(\d+)H")
STYLE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def frame_rows(sequence: str) -> dict[int, str]:
    """Screen row (0-based) -> text written to it, from a frame's terminal bytes."""
    rows: dict[int, str] = {}
    moves = list(MOVE.finditer(sequence))
    for i, move in enumerate(moves):
        end = moves[i + 1].start() if i + 1 < len(moves) else len(sequence)
        row = int(move.group(1)) - 1
        rows[row] = rows.get(row, "") + STYLE.sub("", sequence[move.end():end])
    return rows


class FrameWatch:
    """Wraps the app's display step: renders each frame to terminal bytes and checks
    whether a row now shows the text being waited for."""

    def __init__(self, app: PosApp) -> None:
        self.app = app
        self.row: int | None = -1
        self.text = ""
        self.seen = asyncio.Event()
        self.painted_at = 0.0
        original = app._display

        def display(screen, renderable) -> None:  # noqa: ANN001
            original(screen, renderable)
            if renderable is None or self.seen.is_set() or self.row == -1:
                return
            rows = frame_rows(renderable.render_segments(app.console))
            if any(self.text in line for row, line in rows.items()
                   if self.row is None or row == self.row):
                self.painted_at = time.perf_counter()
                self.seen.set()

        app._display = display

    async def key(self, key: str, character: str | None, row: int | None, text: str) -> float:
        """Post one key; ms until a frame shows `text` on screen row `row` (None: any)."""
        self.row, self.text = row, text
        self.seen.clear()
        started = time.perf_counter()
        self.app.post_message(events.Key(key, character))
        await asyncio.wait_for(self.seen.wait(), timeout=10)
        self.row = -1
        return (self.painted_at - started) * 1000


def setup(folder: Path) -> tuple[PosApp, str, object]:
    config = folder / "pos.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    card = enrol(store, name="Bench", phone="+33600000001").card_number
    return PosApp(store.settings, store=store), card, store


async def run(sales: int, folder: Path, profiler=None) -> dict[str, list[float]]:  # noqa: ANN001
    app, card, store = setup(folder)
    enter_ms: list[float] = []
    key_ms: list[float] = []
    handler_ms: list[float] = []
    original = CheckoutScreen.confirm_sale

    def timed(self, text: str) -> None:  # noqa: ANN001 - the app's own work for Enter
        started = time.perf_counter()
        original(self, text)
        handler_ms.append((time.perf_counter() - started) * 1000)

    CheckoutScreen.confirm_sale = timed
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press(*card, "enter")
            await pilot.pause()
            watch = FrameWatch(app)
            amount = app.screen.query_one("#sale-input")
            for i in range(sales):
                amount_row = amount.content_region.y  # the member panel may grow
                typed = ""
                for char, key in (("3", "3"), (".", "full_stop"), ("5", "5"), ("0", "0")):
                    typed += char
                    key_ms.append(await watch.key(key, char, amount_row, typed))
                await asyncio.sleep(0.005)  # a cashier's pause before Enter
                receipt = f"S001-T1-{i + 2:06d}"
                if profiler is not None:
                    profiler.start()
                enter_ms.append(await watch.key("enter", None, None,
                                                 f"Sale {receipt} recorded"))
                if profiler is not None:
                    profiler.stop()
                await asyncio.sleep(0.005)
            await app.workers.wait_for_complete()
            await pilot.pause()
    finally:
        CheckoutScreen.confirm_sale = original
    statuses = store.conn.execute(
        "SELECT status, COUNT(*) FROM print_jobs j JOIN receipts r USING (receipt_no) "
        "WHERE r.kind = 'sale' GROUP BY status").fetchall()
    assert statuses == [("printed", sales)], f"receipts not all printed: {statuses}"
    return {"Enter -> 'Sale ... recorded' painted": enter_ms,
            "amount key -> field painted": key_ms,
            "inside the Enter handler (confirm_sale)": handler_ms}


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


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99 + 0.5) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sales", type=int, default=200)
    parser.add_argument("--profile", action="store_true",
                        help="profile the Enters with pyinstrument and print the tree")
    args = parser.parse_args()
    profiler = None
    if args.profile:
        from pyinstrument import Profiler

        profiler = Profiler(interval=0.0005, async_mode="disabled")
    folder = Path(tempfile.mkdtemp(prefix="bench-app-"))
    try:
        results = asyncio.run(run(args.sales, folder, profiler))
        for label, values in results.items():
            print(f"{label:42s} n={len(values):4d}  median {statistics.median(values):6.1f} ms"
                  f"  p99 {p99(values):6.1f} ms  max {max(values):6.1f} ms"
                  f"  (target p99 < {TARGET_MS:g} ms)")
        print(f"raw SQLite commit (WAL, synchronous=FULL): median {raw_commit_ms(folder):.3f} ms")
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if profiler is not None:
        print(profiler.output_text(unicode=True, color=False, show_all=False))


if __name__ == "__main__":
    main()
