"""`pos sync`: the store manager's end-of-day sync, the agent as a service, its status.

    $ pos sync --now        # push, pull, summary; exit 1 if anything is left unsynced
    $ pos sync --daemon     # run the agent until stopped, or until the token is refused
    $ pos sync --status     # online/offline since, queued events, last success, hub flags
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import signal
import sys
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, open_for
from pos_agent.exceptions import PosError, StoreError

if TYPE_CHECKING:
    from pos_agent.sync.agent import SyncReport

EXIT_UNSYNCED = 1


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "sync", parents=[common], help=HELP["sync"],
        description="Send this terminal's sales to the hub and fetch what changed elsewhere "
        "(balances, programme, stock). --now is the end-of-day run: it shows progress, then "
        "what was sent, what is still queued and what the hub flagged for this store, and "
        "exits 1 if anything is left unsynced. --daemon keeps syncing every [sync] "
        "interval_s seconds, backing off while the hub is away, logging one line per run; "
        "it exits 1 if the hub refuses this terminal's token. --status shows what the last "
        "run found, without the network.",
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--now", action="store_true", help="sync once now (the default)")
    mode.add_argument("--daemon", action="store_true", help="keep syncing until stopped")
    mode.add_argument("--status", action="store_true", help="show the sync state, no network")
    p.set_defaults(handler=run_sync)


def run_sync(args: argparse.Namespace) -> int:
    from pos_agent.sync.setup import build_agent
    store = open_for(args)
    if args.status:
        return _status(args, store)
    agent = build_agent(store.settings, store)
    if agent is None:
        raise StoreError("no hub configured: run `pos init --new-key --hub URL` (it asks for "
                         "the token) or set [sync] hub_url and token_file in the config")
    if args.daemon:
        return _daemon(store, agent)
    try:
        report = _sync_with_progress(agent, quiet=args.json)
        return _summary(args, store, agent, report)
    finally:
        agent.client.close()


def _daemon(store, agent) -> int:
    # force: python-escpos calls basicConfig() when imported, which would make ours a
    # no-op and leave the root at WARNING (the cycle lines would never show).
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s",
                        force=True)
    # One line per cycle comes from the agent; per-request and per-job lines would bury it.
    for noisy in ("httpx", "httpcore", "apscheduler"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    print(f"pos: syncing {store.identity.origin} with {agent.client.base_url} every "
          f"{agent.interval_s:g}s; Ctrl-C stops", file=sys.stderr)
    stopped_by = None

    def terminate(signum: int, frame: object) -> None:
        # a service manager's stop: leave the scheduler's loop; a cycle under way finishes
        # its batch first (its worker thread is joined at exit), and nothing is lost if
        # the manager kills us anyway (acknowledgements are per batch)
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, terminate)
    try:
        with contextlib.suppress(KeyboardInterrupt, SystemExit):
            stopped_by = agent.run_forever()
    finally:
        agent.client.close()
    if not stopped_by:
        print("pos: sync daemon stopped", file=sys.stderr)
    if stopped_by:
        print(f"pos: sync stopped: {stopped_by}", file=sys.stderr)
        return EXIT_UNSYNCED
    return 0


def _sync_with_progress(agent, *, quiet: bool) -> SyncReport:
    if quiet or not sys.stderr.isatty():
        def progress(stage: str, done: int, total: int) -> None:
            if not quiet:
                print(f"{stage}: {done}" + (f"/{total}" if total else ""), file=sys.stderr)
        return agent.sync_once(progress)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  transient=False) as bar:
        tasks: dict[str, int] = {}

        def progress(stage: str, done: int, total: int) -> None:
            label = {"push": "sending sales", "pull": "receiving updates"}.get(stage, stage)
            if stage not in tasks:
                tasks[stage] = bar.add_task(label, total=total or None)
            bar.update(tasks[stage], completed=done, total=total or None)

        return agent.sync_once(progress)


def _summary(args: argparse.Namespace, store, agent, report: SyncReport) -> int:
    from pos_agent.reports import day_report
    program = store.active_program()
    zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
    today = datetime.now(UTC).astimezone(zone).date()
    local = day_report(store, today)
    hub_day = None
    if report.error is None:
        try:
            hub_day = agent.client.day_report(today.isoformat())
        except PosError:
            hub_day = None  # an older hub without the endpoint: the local report stands
    data = {**report.to_dict(), "origin": store.identity.origin, "day": local, "hub_day": hub_day}
    lines = [
        f"Sync of {store.identity.origin}: "
        + ("done" if report.error is None else f"FAILED: {report.error}"),
        f"  sent:          {report.pushed} events"
        + (f" ({report.duplicates} the hub already had)" if report.duplicates else ""),
        f"  received:      {report.pulled} updates",
        f"  still queued:  {report.queued} events",
        f"  hub flags:     {len(report.flags)} for this store",
    ]
    for flag in report.flags[:10]:
        lines.append(f"    - {flag.get('kind', '?')}: {flag.get('detail', '')}")
    lines.append(f"  today here:    {local['sales']['count']} sales, "
                 f"{local['points']['issued']} {local['points_name']} issued, "
                 f"{local['points']['redeemed']} redeemed")
    if hub_day:
        lines.append(f"  today at hub:  {hub_day.get('sales', '?')} sales, "
                     f"{hub_day.get('points_issued', '?')} issued, "
                     f"{hub_day.get('points_redeemed', '?')} redeemed")
    if report.queued and report.error is None:
        lines.append("  some events are still queued: run `pos sync --now` again")
    emit(args, data, lines)
    if not report.ok:
        reason = report.error or f"{report.queued} events still queued"
        print(f"pos: not everything is synced: {reason}", file=sys.stderr)
        return EXIT_UNSYNCED
    return 0


def _status(args: argparse.Namespace, store) -> int:
    from pos_agent.hubdata import sync_state
    from pos_agent.ledger import queued_count
    state = sync_state(store)
    queued = queued_count(store.conn)
    flags = json.loads(state.get("flags") or "[]")
    # What the last attempt found, as the agent recorded it (no network here): a stored
    # error means the hub has not been reached since last_error_at, the outage's start.
    if state.get("last_error") is not None:
        online, since = False, state.get("last_error_at")
        line = f"OFFLINE since {_when(since)}: {state['last_error']}"
    elif state.get("last_success_at"):
        online, since = True, None
        line = "online (the last sync reached the hub)"
    else:
        online, since, line = None, None, "never synced"
    emit(args, {"origin": store.identity.origin, "queued": queued, **state, "flags": flags,
                "online": online, "offline_since": since},
         [f"terminal:      {store.identity.origin}",
          f"hub:           {line}",
          f"queued events: {queued}",
          f"last success:  {_when(state.get('last_success_at'))}",
          f"pull cursor:   {state.get('pull_cursor')}",
          f"hub flags:     {len(flags)}"])
    return 0


def _when(stamp: str | None) -> str:
    """A stored UTC time as the terminal's local time, with how long ago."""
    from pos_agent.sync.agent import duration

    if not stamp:
        return "never"
    at = datetime.fromisoformat(stamp)
    return (f"{at.astimezone().strftime('%Y-%m-%d %H:%M:%S %Z')} "
            f"({duration(datetime.now(UTC) - at)} ago)")
