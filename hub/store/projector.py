"""The projector: folds pushed events into members, flags, notifications and the change
feed behind the ledger (docs/hub.md, "Ledger first").

    >>> projector.catch_up(ctx)                    # a reader: everything pushed so far
    >>> with projector.write(ctx) as conn: ...     # a writer that reads members first

A terminal's push only checks and appends its events (`hub.store.ledger.ingest(...,
defer=True)`) and answers their hub_seqs, as DESIGN.md's push contract asks. What the
ledger implies for each member (balance, lots, tier, the snapshot terminals pull), the
earn check, negative-balance and card flags, reward stock, notifications and the change
feed are worked out here, in hub_seq order, one push batch at a time with the same code
(`hub.store.ledger.fold_batch`) an eager ingest runs, so the result is the same.

The mark. `counters['projected']` is the hub_seq through which every event is folded.
Every event above it is pending; every member row reflects exactly its events at or
below it (`hub.store.members.catch_up` reads a member's events only up to the row's
hub_seq, so a pending event is never folded twice).

Who waits for whom. A push holds the *ledger lock* shared; whoever folds or locks
member rows (this projector, an eager ingest, `members.lock_rows`) holds it exclusive.
On PostgreSQL that is a transaction-scoped advisory lock; on SQLite the write lock
already serialises every writer. So while the projector runs, no push is half-way:
every hub_seq it sees above the mark is committed, and hub_seqs drawn later are higher.

When it runs. Every reader catches up first (the API's `caught_up` dependency, jobs,
reports, rebuild), so no answer ever misses a pushed event. In `pos-hub serve` a
`Projector` thread also catches up once the pushes pause (`[hub] projector_idle_ms`) or
the oldest pending push has waited `[hub] projector_max_lag_s`, so readers rarely have
to. A burst of pushes (a store's end-of-day sync, a thousand stores after an outage) is
taken at the speed of the append, and folded right after.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import orjson
from sqlalchemy import Connection, exists, func, select

from hub.db import Database, read_counter
from hub.store import changes
from hub.tables import counters, events
from loyalty.events import Event

if TYPE_CHECKING:
    from hub.context import HubContext

MARK = "projected"
CHUNK = 5_000
HANDOFF_MAX = 200_000
KNOWN_MAX = 500_000
log = logging.getLogger(__name__)

def mark(conn: Connection) -> int:
    return read_counter(conn, MARK)


def set_mark(conn: Connection, db: Database, hub_seq: int) -> None:
    stmt = db.insert(counters).values(name=MARK, value=hub_seq)
    conn.execute(stmt.on_conflict_do_update(index_elements=[counters.c.name],
                                            set_={"value": hub_seq}))


def behind(conn: Connection) -> int:
    """How many events wait to be folded."""
    return int(conn.execute(select(func.count()).select_from(events)
                            .where(events.c.hub_seq > mark(conn))).scalar_one())


_pending_stmt = select(exists().where(events.c.hub_seq > func.coalesce(
    select(counters.c.value).where(counters.c.name == MARK).scalar_subquery(), 0)))


def hand_over(ctx: HubContext, batch: list[Event]) -> None:
    """Keep a committed push's events for the projector of this process, which then need
    not parse them back from the ledger."""
    handoff = ctx.handoff
    with ctx.handoff_lock:
        for event in batch:
            handoff[event.event_id] = event
        while len(handoff) > HANDOFF_MAX:
            handoff.popitem(last=False)
        known = ctx.known_members
        if len(known) > KNOWN_MAX:
            known.clear()  # (a cache: a push then looks its members up once)
        known.update(e.member_id for e in batch)


def _take_events(ctx: HubContext, conn: Connection, rows: list[Any]) -> list[Event]:
    with ctx.handoff_lock:
        found = [ctx.handoff.pop(r.event_id, None) for r in rows]
    missing = [r.hub_seq for r, e in zip(rows, found, strict=True) if e is None]
    if missing:
        parsed = {}
        for start in range(0, len(missing), 900):
            for seq, content in conn.execute(
                    select(events.c.hub_seq, events.c.content)
                    .where(ctx.db.among(events.c.hub_seq, missing[start:start + 900]))).all():
                parsed[seq] = Event.from_dict(orjson.loads(content))
        found = [e if e is not None else parsed[r.hub_seq]
                 for r, e in zip(rows, found, strict=True)]
    return found  # type: ignore[return-value]


def project_pending(conn: Connection, ctx: HubContext, limit: int | None = None) -> int:
    """Fold the events above the mark, in hub_seq order, one push batch at a time (events
    of one origin received together); at most about `limit` events, never splitting a
    batch. The caller holds the ledger lock exclusive (`Database.lock_ledger`). Returns
    how many."""
    from hub.store import ledger

    db = ctx.db
    top = mark(conn)
    stmt = (select(events.c.hub_seq, events.c.event_id, events.c.origin,
                   events.c.received_at)
            .where(events.c.hub_seq > top).order_by(events.c.hub_seq))
    if limit is not None:
        stmt = stmt.limit(limit + 1)
    rows = conn.execute(stmt).all()
    if not rows:
        return 0
    groups: list[list[Any]] = []
    for r in rows:
        if groups and (groups[-1][-1].origin, groups[-1][-1].received_at) \
                == (r.origin, r.received_at):
            groups[-1].append(r)
        else:
            groups.append([r])
    if limit is not None and len(rows) > limit:
        if len(groups) > 1:
            groups.pop()  # it may go on past this chunk: folded whole, next time
        else:  # one batch longer than the chunk: all of it
            first = groups[0][0]
            groups = [conn.execute(
                stmt.limit(None).where(events.c.origin == first.origin,
                                       events.c.received_at == first.received_at)).all()]
    rows = [r for g in groups for r in g]
    found = _take_events(ctx, conn, rows)
    touched: dict[str, set[str]] = {"member": set(), "stock": set()}
    i = 0
    for group in groups:
        batch = found[i:i + len(group)]
        i += len(group)
        ledger.fold_batch(conn, ctx, group[0].origin, batch, [r.hub_seq for r in group],
                          group[0].received_at, touched=touched)
    set_mark(conn, db, rows[-1].hub_seq)
    for kind in ("stock", "member"):
        changes.touch(conn, db, kind, touched[kind])  # last: the change counter's lock
    return len(rows)


def catch_up(ctx: HubContext, chunk: int = CHUNK) -> int:
    """Fold everything pushed before this call, a chunk per write transaction (pushes
    go on between chunks). Cheap when nothing waits: one read."""
    db = ctx.db
    with db.read() as conn:
        if not conn.execute(_pending_stmt).scalar():
            return 0
        goal = int(conn.execute(select(func.max(events.c.hub_seq))).scalar() or 0)
    done = 0
    chunk = max(chunk, 2 * ctx.settings.hub.max_batch)
    while True:
        with db.write() as conn:
            db.lock_ledger(conn)
            n = project_pending(conn, ctx, limit=chunk)
            reached = mark(conn)
        done += n
        if n == 0 or reached >= goal:
            return done


@contextmanager
def write(ctx: HubContext) -> Iterator[Connection]:
    """A write transaction that holds the ledger lock and starts with every pushed event
    folded: for writers that read members before recording (online channel, admin, jobs,
    authorisations)."""
    with ctx.db.write() as conn:
        ctx.db.lock_ledger(conn)
        project_pending(conn, ctx)
        yield conn


class Projector(threading.Thread):
    """`pos-hub serve`'s projector: catches up at start (a previous process may have left
    events pending), then once pushes pause for `idle_s` (none in flight: a push stalled
    in the database is not a pause), or once the oldest pending push has waited
    `max_lag_s`."""

    def __init__(self, ctx: HubContext, idle_s: float, max_lag_s: float) -> None:
        super().__init__(name="hub-projector", daemon=True)
        self.ctx = ctx
        self.idle_s = idle_s
        self.max_lag_s = max_lag_s
        self._wake = threading.Event()
        self._halt = threading.Event()
        self._last_push = time.monotonic()
        self._first_pending: float | None = None
        self._in_flight = 0
        self._count_lock = threading.Lock()
        self.started_up = threading.Event()
        """Set once the catch-up at start has run (what a previous process left)."""
        self._folding = False

    @contextmanager
    def pushing(self) -> Iterator[None]:
        """Around a push: while any is in flight the hub is not idle."""
        with self._count_lock:
            self._in_flight += 1
        try:
            yield
        finally:
            with self._count_lock:
                self._in_flight -= 1
            self.poke()

    def poke(self) -> None:
        """A push ended (committed or not)."""
        now = time.monotonic()
        self._last_push = now
        if self._first_pending is None:
            self._first_pending = now
        self._wake.set()

    def idle(self) -> bool:
        """Nothing poked and not folding: nothing will run until the next push."""
        return self._first_pending is None and not self._folding and not self._in_flight

    def stop(self) -> None:
        self._halt.set()
        self._wake.set()
        self.join(10)

    def _due(self) -> float | None:
        """Seconds until the next catch-up is due (0: now), None when nothing waits."""
        first = self._first_pending
        if first is None:
            return None
        now = time.monotonic()
        idle_at = self._last_push + self.idle_s if not self._in_flight else first + self.max_lag_s
        return max(0.0, min(idle_at, first + self.max_lag_s) - now)

    def run(self) -> None:
        self._first_pending = None
        try:
            catch_up(self.ctx)
        except Exception:
            log.exception("the projector could not catch up at start; it tries again")
            self._first_pending = time.monotonic()
        self.started_up.set()
        while not self._halt.is_set():
            wait = self._due()
            if wait is None or wait > 0:
                self._wake.wait(wait)
                self._wake.clear()
                continue
            self._first_pending = None
            self._folding = True
            try:
                catch_up(self.ctx)
            except Exception:  # a busy or lost database: the next push or reader retries
                log.exception("the projector could not catch up; it tries again")
                if self._first_pending is None:
                    self._first_pending = time.monotonic()
                self._halt.wait(1.0)
            finally:
                self._folding = False
