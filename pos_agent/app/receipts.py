"""Receipts are printed in one background thread, after the operation has committed.

    >>> printer = ReceiptPrinter(settings, database_path)
    >>> printer.print_receipt("S001-T1-000042", screen)   # returns at once
    ...                                                  # screen gets ReceiptPrinted later

Rendering a receipt (QR image, ESC/POS encoding) costs 1-7 ms and a printer can take
seconds to answer (or time out): the cashier's screen must not wait for either. The
receipt is "to print" from its commit on (it lies past the print mark until it is given its
job: `pos_agent.printing`), so nothing is lost if the app stops before the thread gets to
it (`pos print retry` or the next start sends it). One thread, so receipts
come out in the order they were made; it has its own SQLite connection (connections stay
in the thread that opened them). The outcome is posted back to the screen as a message
(`post_message` is thread-safe and never blocks the thread on the app).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from textual.message import Message
from textual.message_pump import MessagePump

from pos_agent.printing import PrintOutcome, print_pending, print_receipt, retry_failed
from pos_agent.settings import PosSettings
from pos_agent.store import Store, open_store

log = logging.getLogger(__name__)


LEFT_OVER = "left over"
"""The key of the outcome of `print_left_over`."""
RETRY = "retry"
"""The key of the outcome of `retry_failed`."""


class ReceiptPrinted(Message):
    """Posted to the screen that asked, once its receipt was sent (or failed)."""

    def __init__(self, key: str, outcomes: list[PrintOutcome]) -> None:
        super().__init__()
        self.key = key
        """The receipt number, `job <id>` for a reprint, LEFT_OVER or RETRY."""
        self.outcomes = outcomes

    @property
    def ok(self) -> bool:
        return bool(self.outcomes) and all(o.ok for o in self.outcomes)

    @property
    def error(self) -> str | None:
        failed = [o for o in self.outcomes if not o.ok]
        if failed:
            return failed[0].error
        return None if self.outcomes else "no print job found"


class ReceiptPrinter:
    def __init__(self, settings: PosSettings, database_path: str) -> None:
        self.settings = settings
        self.database_path = database_path
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="receipts")
        self._store: Store | None = None  # opened in the printing thread

    def _thread_store(self) -> Store:
        if self._store is None:
            self._store = open_store(self.settings, path=self.database_path)
        return self._store

    def _submit(self, key: str, send: Callable[[Store], list[PrintOutcome]],
                reply_to: MessagePump | None) -> Future:
        def run() -> list[PrintOutcome]:
            try:
                outcomes = send(self._thread_store())
            except Exception as exc:  # a bug here must not pass silently
                log.exception("printing %s failed", key)
                outcomes = [PrintOutcome(-1, None, False, f"printing failed: {exc}")]
            if reply_to is not None:
                reply_to.post_message(ReceiptPrinted(key, outcomes))
            return outcomes

        return self._pool.submit(run)

    def print_receipt(self, receipt_no: str, reply_to: MessagePump | None = None) -> Future:
        """Send the receipt (its job is made first: the operation did not write one)."""
        return self._submit(receipt_no, lambda store: print_receipt(store, receipt_no),
                            reply_to)

    def print_jobs(self, job_ids: list[int], reply_to: MessagePump | None = None) -> Future:
        """Send these jobs (a reprint, a test page)."""
        return self._submit(f"job {job_ids[0] if job_ids else '-'}",
                            lambda store: print_pending(store, job_ids), reply_to)

    def print_left_over(self, reply_to: MessagePump | None = None) -> Future:
        """Send the receipts and jobs still waiting from before the app started (it was
        closed, or the till lost power, between a sale's commit and its receipt). Failed
        jobs stay for the manager's retry: the printer that failed them may still be out of
        paper."""
        return self._submit(LEFT_OVER, print_pending, reply_to)

    def retry_failed(self, reply_to: MessagePump | None = None) -> Future:
        """Send every job not printed yet, failed ones included (the manager's retry)."""
        return self._submit(RETRY, retry_failed, reply_to)

    def wait(self) -> None:
        """Until everything asked so far has been sent (tests, shutdown)."""
        self._pool.submit(lambda: None).result()

    def close(self) -> None:
        """Finish the receipts asked for, then close the thread's connection."""
        def close_store() -> None:
            if self._store is not None:
                self._store.close()
                self._store = None

        self._pool.submit(close_store)
        self._pool.shutdown(wait=True)
