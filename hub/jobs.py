"""The hub's jobs: expire lots, record tier changes, queue and send notifications.

    >>> run_job(ctx, "all")          # what `pos-hub jobs run all` and the scheduler do
    {'expiry': 3, 'tiers': 1, 'notify': 5, 'send': 5}

Events made here have origin `hub` and deterministic ids from the domain (expiry: member
and lot; tier: member, tier and day), so a job run twice, or by two hub processes at once,
records each change once. Each member is handled in its own short transaction, holding
that member's lock, so a job never blocks the sync API for long.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text

from hub.context import HubContext
from hub.db import now_text
from hub.store import members as member_store
from hub.store import programs
from hub.store.ingest import record_drafts
from hub.store.notifications import enqueue_many
from hub.tables import members
from loyalty.events import EventDraft, Kind
from loyalty.expiry import due_expiries, expiring_within
from loyalty.ids import deterministic_event_id
from loyalty.tiers import tier_at

log = logging.getLogger(__name__)
ORIGIN = "hub"
CHUNK = 500


def _member_ids(ctx: HubContext, where: Any = None) -> list[str]:
    stmt = select(members.c.member_id).order_by(members.c.member_id)
    if where is not None:
        stmt = stmt.where(where)
    with ctx.db.read() as conn:
        return list(conn.execute(stmt).scalars())


def expire(ctx: HubContext, now: datetime | None = None) -> int:
    """Record `expire` events for lots that expired more than the grace period ago."""
    now = now or datetime.now(UTC)
    cutoff = now - timedelta(days=ctx.settings.hub.expiry_grace_days)
    made = 0
    for member_id in _member_ids(ctx, members.c.next_expiry <= now_text(cutoff)):
        with ctx.db.write() as conn:
            snap = member_store.lock_member(conn, ctx.db, member_id)
            drafts = due_expiries(snap.state, cutoff)
            if drafts:
                made += len(record_drafts(conn, ctx, ORIGIN, drafts, now).events)
    return made


def tiers(ctx: HubContext, now: datetime | None = None) -> int:
    """Record a `tier` event for each member whose tier moved with the rolling window."""
    now = now or datetime.now(UTC)
    made = 0
    with ctx.db.read() as conn:
        program = programs.current_program(conn)
    if program is None:
        return 0
    base = program.tiers[0].name
    day = now.astimezone(program.zone).date().isoformat()
    ids = _member_ids(ctx)
    moved: list[str] = []
    for start in range(0, len(ids), CHUNK):
        with ctx.db.read() as conn:
            snaps = member_store.lock_members(conn, ctx.db, ids[start:start + CHUNK],
                                             lock=False)
        moved += [m for m, s in snaps.items()
                  if tier_at(s.state, program, now).name != (s.state.last_tier or base)]
    for member_id in moved:
        with ctx.db.write() as conn:
            snap2 = member_store.lock_member(conn, ctx.db, member_id)
            state = snap2.state
            tier = tier_at(state, program, now).name
            previous = state.last_tier or base
            if tier == previous:
                continue
            draft = EventDraft(
                kind=Kind.TIER, member_id=member_id,
                data={"tier": tier, "from": previous},
                event_id=deterministic_event_id(member_id, "tier", f"{day}:{tier}"),
            )
            result = record_drafts(conn, ctx, ORIGIN, [draft], now,
                                   program_version=program.version)
            if result.events:
                made += 1
                enqueue_many(conn, ctx, [{
                    "member_id": member_id, "kind": "tier_change", "dedup": f"{day}:{tier}",
                    "payload": {"from": previous, "to": tier,
                                "direction": "up" if _rank(program, tier) >
                                _rank(program, previous) else "down"}}])
    return made


def _rank(program: Any, name: str) -> int:
    return next((i for i, t in enumerate(program.tiers) if t.name == name), 0)


def notify(ctx: HubContext, now: datetime | None = None) -> int:
    """Queue 'points expiring soon' notes (once per member and expiry date)."""
    now = now or datetime.now(UTC)
    with ctx.db.read() as conn:
        program = programs.current_program(conn)
    if program is None:
        return 0
    horizon = now + timedelta(days=program.expiry_notice_days)
    queued = 0
    ids = _member_ids(ctx, members.c.next_expiry <= now_text(horizon))
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        with ctx.db.read() as conn:
            snaps = member_store.lock_members(conn, ctx.db, chunk, lock=False)
        rows = []
        for member_id, snap in snaps.items():
            for item in expiring_within(snap.state, program, now):
                rows.append({"member_id": member_id, "kind": "points_expiring",
                             "dedup": item.on.isoformat(),
                             "payload": {"points": item.points, "on": item.on.isoformat(),
                                         "points_name": program.points_name,
                                         "balance": snap.state.balance}})
        if rows:
            with ctx.db.write() as conn:
                queued += enqueue_many(conn, ctx, rows)
    return queued


def send(ctx: HubContext, now: datetime | None = None) -> int:
    from hub.webhook import send_due

    return send_due(ctx, now)


JOBS: dict[str, Callable[[HubContext, datetime | None], int]] = {
    "expiry": expire, "tiers": tiers, "notify": notify, "send": send,
}


def run_job(ctx: HubContext, name: str, now: datetime | None = None) -> dict[str, int]:
    """Run one job, or `all` in order; returns what each made."""
    names = list(JOBS) if name == "all" else [name]
    out = {}
    for job in names:
        out[job] = JOBS[job](ctx, now)
    return out


JOBS_LOCK = 0x504F534A  # "POSJ": the advisory lock key of the jobs' leader


@contextmanager
def jobs_leader(ctx: HubContext) -> Iterator[bool]:
    """Whether this process runs the jobs now (`with jobs_leader(ctx) as leader: ...`).

    On PostgreSQL every `pos-hub serve` sharing the database (on any machine) schedules
    the jobs, and each run first takes the session advisory lock JOBS_LOCK with
    `pg_try_advisory_lock` on a connection of its own, held for the run: exactly one
    process runs them at a time, the others skip that turn; a process that dies lets the
    lock go with its connection, so another takes over at its next turn. Why a lock and
    not a separate `pos-hub jobs` service: nothing to deploy or watch beside the hub, and
    no leader to elect or fail over by hand. (The jobs are idempotent anyway, by
    deterministic event ids; the lock saves the duplicate work and a notification sent
    twice by two senders at once.) On SQLite a single process serves: always the leader."""
    if not ctx.db.is_postgres:
        yield True
        return
    with ctx.db.writer.connect() as conn:
        got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"),
                                {"k": JOBS_LOCK}).scalar())
        conn.commit()
        try:
            yield got
        finally:
            if got:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": JOBS_LOCK})
                conn.commit()


def start_scheduler(ctx: HubContext) -> Any:
    """Run all jobs every `hub.jobs_interval_s` in a background thread of this process;
    one run at a time, missed runs coalesced; among hub processes sharing a PostgreSQL
    database, one at a time (`jobs_leader`)."""
    from apscheduler.schedulers.background import BackgroundScheduler

    interval = ctx.settings.hub.jobs_interval_s
    scheduler = BackgroundScheduler(timezone="UTC")

    def tick() -> None:
        try:
            with jobs_leader(ctx) as leader:
                if leader:
                    log.info("jobs: %s", run_job(ctx, "all"))
                else:
                    log.info("jobs: another hub process is running them")
        except Exception:  # keep the scheduler alive; the next run retries
            log.exception("hub jobs failed")

    scheduler.add_job(tick, "interval", seconds=interval, id="hub-jobs", max_instances=1,
                      coalesce=True,
                      next_run_time=datetime.now(UTC) + timedelta(seconds=min(interval, 5)))
    scheduler.start()
    return scheduler
