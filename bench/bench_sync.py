"""End-of-day sync after a day offline: a terminal with 5,000 queued events syncs to a
`pos-hub serve` on loopback, on PostgreSQL when POS_HUB_TEST_DATABASE_URL is set (in a
schema of its own), else SQLite. The floor (issue #15): <= 10 s on PostgreSQL, from the
first push until every event is acknowledged and the pull of what changed is applied.

    .venv/bin/python bench/bench_sync.py                   # 5,000 events
    .venv/bin/python bench/bench_sync.py --events 20000 --pin

Two terminals of one store are seeded (200 members each); the second one syncs first, so
the measured terminal also pulls the other's members. `--pin` puts the hub on CPU 0 and
this process on the others, as if till and hub were two machines. Ends with one line:
`end_of_day_s=S events=N backend=B`.
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
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

from hub.settings import normalise_url
from loyalty.sale import SaleLine, make_sale
from pos_agent.identity import fetch_whoami, init_terminal
from pos_agent.ledger import queued_count
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
                  card_issuer=whoami["card_issuer"])
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
    parser.add_argument("--events", type=int, default=5_000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    config = work / "hub.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    pg = os.environ.get("POS_HUB_TEST_DATABASE_URL")
    schema = f"bench_sync_{os.getpid()}"
    if pg:
        base = normalise_url(pg, work)
        admin = create_engine(base, poolclass=NullPool)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url_db = f"{base}{'&' if '?' in base else '?'}options=-csearch_path%3D{schema}"
    else:
        url_db = f"sqlite:///{work / 'hub.db'}"
    config.write_text(config.read_text().replace('"sqlite:///pos-hub.db"', f'"{url_db}"'))
    hub_cli(config, "init")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    pin = args.pin and len(cpus) >= 2
    hub = subprocess.Popen([str(BIN / "pos-hub"), "serve", "--config", str(config), "--host",
                            "127.0.0.1", "--port", str(port), "--no-jobs"], cwd=work,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           preexec_fn=(lambda: os.sched_setaffinity(0, cpus[:1])) if pin
                           else None)
    if pin:
        os.sched_setaffinity(0, cpus[1:])
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(url + "/openapi.json", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        print(f"seeding two terminals with {args.events:,} queued events each...", flush=True)
        a_settings, a_store, a_token = terminal(work / "a", url, config, "T1", args.events)
        b_settings, _, b_token = terminal(work / "b", url, config, "T2", args.events)
        other = SyncAgent(StoreSync(b_settings), HubClient(url, b_token, timeout=60),
                          batch_size=args.batch, page_size=b_settings.sync.pull_page_size)
        assert other.sync_once().error is None
        other.client.close()

        n = queued_count(a_store.conn)
        agent = SyncAgent(StoreSync(a_settings), HubClient(url, a_token, timeout=60),
                          batch_size=args.batch, page_size=a_settings.sync.pull_page_size)
        marks: dict[str, float] = {}

        def progress(stage: str, done: int, total: int) -> None:
            marks[stage] = time.perf_counter()

        started = time.perf_counter()
        report = agent.sync_once(progress)
        took = time.perf_counter() - started
        agent.client.close()
        assert report.error is None, report.error
        assert report.pushed == n and report.queued == 0
        push_s = marks.get("push", started) - started
        backend = "postgresql" if pg else "sqlite"
        print(f"{backend}: {n:,} events pushed in {push_s:.2f} s, then {report.pulled} changes "
              f"pulled and flags read in {took - push_s:.2f} s")
        print(f"end_of_day_s={took:.2f} events={n} backend={backend}")
    finally:
        hub.send_signal(signal.SIGINT)
        try:
            hub.wait(10)
        except subprocess.TimeoutExpired:
            hub.kill()
        shutil.rmtree(work, ignore_errors=True)
        if pg:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()


if __name__ == "__main__":
    main()
