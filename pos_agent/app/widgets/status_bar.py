"""The always-visible line: store and terminal, online/offline with how long and how many
events are queued, and the printer's state."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import Static

from pos_agent.ledger import queued_count
from pos_agent.printing import print_queue
from pos_agent.store import Store
from pos_agent.sync.agent import SyncAgent, describe_status


def status_text(store: Store, agent: SyncAgent | None) -> str:
    origin = store.identity.origin
    if agent is None:
        sync = f"no hub configured, {queued_count(store.conn)} queued"
    else:
        agent.status.queued = queued_count(store.conn)
        sync = describe_status(agent.status, datetime.now(UTC))
    jobs = print_queue(store, all_jobs=True, limit=1)
    if not jobs:
        printer = "printer: idle"
    elif jobs[-1]["status"] == "failed":
        printer = f"PRINTER: {jobs[-1]['last_error']}"
    else:
        printer = f"printer: {jobs[-1]['status']}"
    return f" {store.settings.terminal.store_name} | {origin} | {sync} | {printer}"


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: 1; background: $primary-background; color: $text; }
    """
