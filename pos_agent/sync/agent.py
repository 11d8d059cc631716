"""The sync cycle: push every unacknowledged event in batches (`push.py`), then pull every
page of changes since the saved cursor (`pull.py`); retry with exponential backoff and
jitter when the hub is away; stop (and say why) when the hub rejects the terminal's
credential.

    >>> agent = SyncAgent(local, HubClient(url, token), batch_size=500)
    >>> report = agent.sync_once()          # the manager's end-of-day run
    >>> agent.start_background()            # inside the app: APScheduler, one job at a time

Crash safety comes from the two ends, not from the agent: the hub inserts idempotently by
event_id, the terminal marks events acknowledged only from the hub's answer, and each pull
page is applied together with its cursor in one SQLite transaction. Killing the agent at
any instant therefore loses nothing and counts nothing twice; the next run finishes.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from pos_agent.exceptions import CredentialRejected, HubUnreachable, SyncError
from pos_agent.sync.client import HubClient
from pos_agent.sync.pull import pull
from pos_agent.sync.push import push

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""progress(stage, done, total): stage is "push" or "pull"; total is 0 when unknown."""


class LocalSync(Protocol):
    """What the agent needs from the terminal's store (see `pos_agent.sync.local`)."""

    origin: str
    epoch: int

    def pending_batch(self, limit: int) -> list[dict]:
        """Unacknowledged events as push dicts (`Event.to_dict()`), in (epoch, seq) order,
        all of one epoch (the oldest that has any)."""
        ...
    def queued_count(self) -> int: ...
    def high_seq(self) -> int: ...
    def mark_acknowledged(self, results: list[dict]) -> int: ...
    def unacknowledge_from(self, origin_seq: int) -> int: ...
    def pull_cursor(self) -> int: ...
    def apply_pull_page(self, changes: list[dict], cursor: int) -> int: ...
    def ensure_certified(self, client: HubClient) -> bool:
        """Get the terminal's signing key certified if it is not yet."""
        ...
    def record_sync(
        self, *, ok: bool, error: str | None = None, flags: list | None = None
    ) -> None: ...


@dataclass
class SyncReport:
    pushed: int = 0
    duplicates: int = 0
    pulled: int = 0
    queued: int = 0
    flags: list[dict] = field(default_factory=list)
    error: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.queued == 0

    def to_dict(self) -> dict:
        return {
            "pushed": self.pushed,
            "duplicates": self.duplicates,
            "pulled": self.pulled,
            "queued": self.queued,
            "flags": self.flags,
            "error": self.error,
            "ok": self.ok,
            "started_at": self.started_at.isoformat(),
            "finished_at": self.finished_at.isoformat() if self.finished_at else None,
        }


@dataclass
class SyncStatus:
    """What the app's status bar and `pos sync` show."""

    online: bool | None = None
    offline_since: datetime | None = None
    queued: int = 0
    last_success: datetime | None = None
    last_error: str | None = None
    flags: list[dict] = field(default_factory=list)
    stopped: bool = False
    """True after a 401: syncing waits for a new token instead of retrying forever."""
    failures: int = 0
    next_attempt: datetime | None = None
    retry_after: float | None = None
    """Seconds the hub asked to wait when it last deferred a request (HubBusy)."""


class SyncAgent:
    def __init__(
        self,
        local: LocalSync,
        client: HubClient,
        *,
        batch_size: int = 500,
        page_size: int = 500,
        interval_s: float = 60.0,
        max_backoff_s: float = 600.0,
    ) -> None:
        self.local = local
        self.client = client
        self.batch_size = batch_size
        self.page_size = page_size
        self.interval_s = interval_s
        self.max_backoff_s = max_backoff_s
        self.status = SyncStatus()
        self._lock = threading.Lock()
        self._scheduler = None
        # Only the service stops for good after a 401; the app waits for a new token.
        self._exit_when_stopped = False
        self._stopped_by: str | None = None

    # -- one cycle ---------------------------------------------------------------------
    def sync_once(self, progress: Progress | None = None) -> SyncReport:
        """Push, pull, fetch this store's flags. Never raises for hub trouble: the report
        says what happened, and the status is updated for the app."""
        report = SyncReport()
        with self._lock:
            try:
                # First, so the pull can check the certificates it brings with the hub's
                # key, and a till set up offline gets its cards verifiable everywhere.
                self.local.ensure_certified(self.client)
                push(self.local, self.client, self.batch_size, report, progress)
                pull(self.local, self.client, self.page_size, report, progress)
                report.flags = self.client.flags()
            except CredentialRejected as exc:
                report.error = str(exc)
                self.status.stopped = True
            except SyncError as exc:
                report.error = str(exc)
                self.status.retry_after = getattr(exc, "retry_after", None)
            except Exception as exc:  # a bug must not kill the background thread silently
                log.exception("sync failed")
                report.error = f"sync failed: {exc}"
            report.queued = self.local.queued_count()
            report.finished_at = datetime.now(UTC)
            self._update_status(report)
        return report

    def _update_status(self, report: SyncReport) -> None:
        status = self.status
        now = report.finished_at or datetime.now(UTC)
        status.queued = report.queued
        if report.error is None:
            status.online, status.offline_since, status.last_error = True, None, None
            status.last_success = now
            status.failures = 0
            status.retry_after = None
            status.flags = report.flags
        else:
            if status.online is not False:
                status.offline_since = now
            status.online = False
            status.last_error = report.error
            status.failures += 1
        status.next_attempt = now + timedelta(seconds=self.next_delay())
        try:
            self.local.record_sync(ok=report.error is None, error=report.error, flags=report.flags)
        except Exception:  # the status is advisory; never let it break a sync
            log.exception("could not record sync state")

    def next_delay(self) -> float:
        """Seconds to the next attempt: the interval when healthy; after failures an
        exponential backoff with full jitter, so a thousand stores coming back after an
        outage do not arrive at the same second; deferred by a busy hub, its Retry-After
        plus up to half again."""
        if self.status.failures == 0:
            return self.interval_s * random.uniform(0.9, 1.1)
        if self.status.retry_after is not None:
            # the hub deferred us (admission control): come back when it said, spread out
            return self.status.retry_after * random.uniform(1.0, 1.5)
        ceiling = min(self.max_backoff_s, self.interval_s * 2 ** min(self.status.failures, 16))
        return random.uniform(min(1.0, ceiling), ceiling)

    # -- scheduling --------------------------------------------------------------------
    def _tick(self) -> None:
        if self.status.stopped:
            return
        report = self.sync_once()
        delay = self.next_delay()
        log_cycle(report, None if self.status.stopped else delay)
        if self.status.stopped and self._exit_when_stopped:
            # A service idling forever on a dead token would look healthy to its service
            # manager; ending makes the failure visible (systemd shows it, restarts it).
            self._stopped_by = report.error
            if self._scheduler is not None:
                self._scheduler.shutdown(wait=False)
            return
        self._schedule(delay)

    def _schedule(self, delay: float) -> None:
        if self._scheduler is None:
            return
        run_at = datetime.now(UTC) + timedelta(seconds=delay)
        self._scheduler.add_job(
            self._tick, "date", run_date=run_at, id="sync", replace_existing=True,
            max_instances=1, coalesce=True, misfire_grace_time=None,
        )

    def start_background(self, first_delay: float = 0.5) -> None:
        """Run cycles in a background thread (the terminal app)."""
        from apscheduler.schedulers.background import BackgroundScheduler

        self._scheduler = BackgroundScheduler(timezone="UTC")
        self._scheduler.start()
        self._schedule(first_delay)

    def trigger_now(self) -> None:
        """Ask for a cycle as soon as possible (e.g. after a sale, or a manager's request)."""
        self.status.stopped = False
        self._schedule(0)

    def run_forever(self) -> str | None:
        """Block running cycles (`pos sync --daemon`) until interrupted (returns None) or
        until the hub rejects this terminal's credential (returns why: retrying cannot
        help, a new token is needed)."""
        from apscheduler.schedulers.blocking import BlockingScheduler

        self._exit_when_stopped = True
        self._stopped_by = None
        self._scheduler = BlockingScheduler(timezone="UTC")
        self._schedule(0)
        self._scheduler.start()
        return self._stopped_by

    def shutdown(self) -> None:
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
        self._scheduler = None


def log_cycle(report: SyncReport, next_in: float | None) -> None:
    """One log line per cycle, so a service's journal tells what each run did."""
    if report.error is None:
        log.info("sync: pushed %d (%d the hub already had), pulled %d, %d queued; "
                 "next in %.0fs", report.pushed, report.duplicates, report.pulled,
                 report.queued, next_in or 0)
    elif next_in is None:
        log.error("sync stopped: %s; %d events stay queued", report.error, report.queued)
    else:
        log.warning("sync failed: %s; pushed %d, %d queued; retry in %.0fs",
                    report.error, report.pushed, report.queued, next_in)


def duration(delta: timedelta) -> str:
    """How long, for a person: '12 min', '3h05m', '2d04h'."""
    minutes = max(0, int(delta.total_seconds() // 60))
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


__all__ = [
    "HubUnreachable", "SyncAgent", "SyncReport", "SyncStatus", "duration", "log_cycle",
]
