"""End-of-day after an outage: a terminal with ~10,000 queued events syncs to a hub on
loopback. Prints the agent's wall time and events/s next to the hub's ingest rate measured
in the same run (the same kind of events pushed by a bare HTTP loop, no agent), and the ratio.

    .venv/bin/python bench/bench_sync.py                 # 10,000 events
    .venv/bin/python bench/bench_sync.py --events 3000

The bare loop is the limit the agent can reach: it only POSTs batches encoded before the
clock starts, half of them before the agent's run and half after (the hub slows a little as
its tables grow), and then waits for the hub to fold them (one read: every reader folds
what pushes left waiting first, docs/hub.md "Ledger first"). The agent's sync pays that
fold too, in its pull; without it in the limit the comparison would set a push that is only
appended against a sync that waits for the fold. The agent also reads its queue from
SQLite, encodes, writes each acknowledgement, and then pulls what both terminals did (~400
member snapshots).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from loyalty.sale import SaleLine, make_sale
from pos_agent.identity import fetch_whoami, init_terminal
from pos_agent.ledger import pending_events, queued_count
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.agent import SyncAgent
from pos_agent.sync.client import HubClient
from pos_agent.sync.local import StoreSync

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
SALE = make_sale([SaleLine("LATTE", "coffee", 1, 350), SaleLine("CROI", "pastry", 1, 180)])


def hub_cli(config: Path, *args: str) -> str:
    return subprocess.run([str(BIN / "pos-hub"), *args, "--config", str(config)], check=True,
                          capture_output=True, text=True, cwd=config.parent).stdout


def terminal(folder: Path, hub_url: str, config_src: Path, term: str, events: int):
    folder.mkdir()
    config = folder / "pos.toml"
    text = config_src.read_text().replace('terminal = "T1"', f'terminal = "{term}"')
    config.write_text(text.replace('kind = "file"', 'kind = "dummy"'))
    settings = load_settings(str(config))
    store = open_store(settings)
    token = hub_cli(config_src, "terminal", "add", f"S001-{term}").strip().splitlines()[-1]
    whoami = fetch_whoami(hub_url, token)
    init_terminal(store.db, "S001", term, hub_url=hub_url, hub_token=token,
                  qr_key=whoami["qr_key"], card_issuer=whoami["card_issuer"])
    members = [enrol(store, name=f"M{i}", phone=f"+3361{i:07d}").member_id for i in range(200)]
    i = 0
    while queued_count(store.conn) < events:
        record_sale(store, members[i % len(members)], SALE)
        i += 1
    return settings, store, token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pin", action="store_true",
                        help="hub on CPU 0, the terminal on the others (two machines)")
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--page", type=int, default=None,
                        help="pull page size (default: the terminal's [sync] pull_page_size)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    config = work / "hub.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    config.write_text(config.read_text().replace('"sqlite:///pos-hub.db"',
                                                 f'"sqlite:///{work / "hub.db"}"'))
    hub_cli(config, "init")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    # A till and the hub are two machines: with --pin (and two CPUs or more) the hub
    # runs on CPU 0 and this process (the terminal and the bare loop) on the others, so
    # the terminal's work does not take the core of the hub's own threads (its SQLite
    # checkpointer), nor the reverse.
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = args.pin and len(cpus) >= 2
    hub = subprocess.Popen([str(BIN / "pos-hub"), "serve", "--config", str(config), "--host",
                            "127.0.0.1", "--port", str(port)], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus[:1])) if pin
                           else None)
    if pin:
        os.sched_setaffinity(0, cpus[1:])
        print(f"hub pinned to CPU {cpus[0]}, terminal to CPU {cpus[1:]}")
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"seeding two terminals with {args.events} queued events each...", flush=True)
        a_settings, a_store, a_token = terminal(work / "a", url, config, "T1", args.events)
        _, b_store, b_token = terminal(work / "b", url, config, "T2", args.events)

        # the limit: ready-made batches POSTed in a bare loop on one keep-alive client
        batches = []
        n_raw = 0
        while True:
            events = pending_events(b_store.conn, args.batch)
            if not events:
                break
            n_raw += len(events)
            # Encoded before the clock starts: the limit spends nothing on JSON.
            batches.append(orjson.dumps({"origin": "S001-T2", "origin_epoch": 1,
                                         "events": [e.to_dict() for e in events]}))
            b_store.conn.execute("UPDATE events SET acked_hub_seq = 0 WHERE origin_seq <= ?",
                                 (events[-1].origin_seq,))
        raw = httpx.Client(base_url=url, timeout=60,
                           headers={"Authorization": f"Bearer {b_token}",
                                    "Content-Type": "application/json"})
        raw_s = 0.0

        raw_push_s = 0.0

        def post_limit(bodies: list[bytes]) -> None:
            nonlocal raw_s, raw_push_s
            started = time.perf_counter()
            for body in bodies:
                raw.post("/v1/sync/push", content=body).raise_for_status()
            raw_push_s += time.perf_counter() - started
            raw.get("/v1/sync/flags").raise_for_status()  # waits for the fold
            raw_s += time.perf_counter() - started

        # The hub slows a little as its tables grow: half of the limit's batches go before
        # the agent and half after, so both see the same hub on average.
        half = len(batches) // 2
        post_limit(batches[:half])

        n_agent = queued_count(a_store.conn)
        agent = SyncAgent(StoreSync(a_settings), HubClient(url, a_token, timeout=60),
                          batch_size=args.batch,
                          page_size=args.page or a_settings.sync.pull_page_size)
        marks: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            marks[stage] = time.perf_counter()

        started = time.perf_counter()
        report = agent.sync_once(progress)
        agent_s = time.perf_counter() - started
        push_s = marks.get("push", started) - started
        agent.client.close()
        post_limit(batches[half:])
        raw.close()
        assert report.error is None, report.error
        assert report.pushed == n_agent and report.queued == 0
        raw_rate, agent_rate = n_raw / raw_s, n_agent / agent_s
        print(f"hub ingest (bare HTTP loop): {n_raw} events in {raw_s:.2f} s = "
              f"{raw_rate:,.0f} events/s, folded (the pushes alone {raw_push_s:.2f} s = "
              f"{n_raw / raw_push_s:,.0f} events/s)")
        print(f"agent end-of-day sync:       {n_agent} events in {agent_s:.2f} s = "
              f"{agent_rate:,.0f} events/s (push + pull of {report.pulled} changes)")
        print(f"  of which push {push_s:.2f} s = {n_agent / push_s:,.0f} events/s "
              f"(ratio {n_agent / push_s / (n_raw / raw_push_s):.2f} of the bare pushes), "
              f"pull (with the fold) and flags {agent_s - push_s:.2f} s")
        print(f"ratio: {agent_rate / raw_rate:.2f} of the hub ingest rate (target >= 0.7)")
    finally:
        hub.send_signal(signal.SIGINT)
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            hub.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
