"""The terminal's side of a sync, over the local store (`LocalSync` of `agent.py`).

    >>> local = StoreSync(settings)          # opens its own connection per thread
    >>> agent = SyncAgent(local, client)

SQLite connections stay in the thread that opened them, and the agent runs in a scheduler
thread or an app worker: each thread gets its own `Store` on the same database file.
"""

from __future__ import annotations

import contextlib
import threading

from pos_agent import hubdata, keys, ledger
from pos_agent.db import transaction
from pos_agent.settings import PosSettings
from pos_agent.store import Store, open_store
from pos_agent.sync.client import HubClient


class StoreSync:
    def __init__(self, settings: PosSettings) -> None:
        self.settings = settings
        self._local = threading.local()
        self._stores: list[Store] = []
        identity = self.store.identity
        self.origin = identity.origin
        self.epoch = identity.epoch

    @property
    def store(self) -> Store:
        store = getattr(self._local, "store", None)
        if store is None:
            store = self._local.store = open_store(self.settings)
            self._stores.append(store)
        return store

    def pending_batch(self, limit: int) -> list[dict]:
        return [e.to_dict() for e in ledger.pending_events(self.store.conn, limit)]

    def queued_count(self) -> int:
        return ledger.queued_count(self.store.conn)

    def high_seq(self) -> int:
        return ledger.high_seq(self.store.conn, self.store.identity.epoch)

    def mark_acknowledged(self, results: list[dict]) -> int:
        with transaction(self.store.db) as conn:
            return ledger.mark_acknowledged(conn, results)

    def unacknowledge_from(self, origin_seq: int) -> int:
        with transaction(self.store.db) as conn:
            return ledger.unacknowledge_from(conn, self.store.identity.epoch, origin_seq)

    def ensure_certified(self, client: HubClient) -> bool:
        return keys.ensure_certified(self.store, client)

    def pull_cursor(self) -> int:
        return hubdata.pull_cursor(self.store)

    def apply_pull_page(self, changes: list[dict], cursor: int) -> int:
        return hubdata.apply_pull_page(self.store, changes, cursor)

    def record_sync(
        self, *, ok: bool, error: str | None = None, flags: list | None = None
    ) -> None:
        if not ok and hubdata.sync_state(self.store).get("last_error") is not None:
            # Still failing: last_error_at keeps when this outage began ("offline since"
            # in `pos sync --status`, which runs in another process than the agent).
            self.store.db.execute("UPDATE sync_state SET last_error = ?", (error,))
            return
        hubdata.record_sync(self.store, ok=ok, error=error, flags=flags)

    def close(self) -> None:
        for store in self._stores:
            # Another thread's connection refuses; it closes with the process.
            with contextlib.suppress(Exception):
                store.close()
        self._stores.clear()
