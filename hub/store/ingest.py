"""Recording events: the one path by which anything enters the hub's ledger.

    >>> result = ingest(conn, ctx, "S001-T1", 1, events)             # a terminal's push
    >>> result = record_drafts(conn, ctx, "online", drafts, at)      # the hub seals them

In the caller's single transaction: lock the origin's stream, sort repeats from new
events and check the new ones continue the stream (`hub.store.append`), append them,
then fold them into their members with everything that follows (`hub.store.fold`). So
when a push is answered its events are in every balance, snapshot and report, and a
power cut after the answer loses nothing (both databases commit durably).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from hub.context import HubContext
from hub.db import now_text
from hub.store import append, authorize, programs
from hub.store.fold import fold_batch
from hub.tables import events
from loyalty.events import Event, EventDraft, format_instant, seal
from loyalty.fold import MemberState

HUB_EPOCH = 1


@dataclass
class IngestResult:
    results: list[dict[str, Any]] = field(default_factory=list)
    """One answer per event of the batch, in order: event_id, origin_seq, hub_seq and
    status (new or duplicate)."""
    high_seq: int = 0
    states: dict[str, MemberState] = field(default_factory=dict)
    """The state after the batch of every member a new event touched."""
    events: list[Event] = field(default_factory=list)
    """The new events."""

    def body(self) -> dict[str, Any]:
        return {"results": self.results, "high_seq": self.high_seq}


def ingest(conn: Connection, ctx: HubContext, origin: str, epoch: int, batch: list[Event],
           *, authorizing: bool = False) -> IngestResult:
    """Record a batch of one origin's events, in origin_seq order (module docstring).
    `authorizing`: the last event is a redemption recorded only if the hub approves it."""
    if authorizing:
        authorize.check_last_is_redeem(batch)
    result = IngestResult()
    high, chain = append.lock_stream(conn, ctx, origin, epoch)
    if not batch:
        result.high_seq = high
        return result
    result.results, new, chain = append.sort_batch(conn, origin, epoch, batch, high, chain)
    if not new:
        result.high_seq = high
        return result
    received = now_text()
    hub_seqs = append.insert_events(conn, ctx.db, new, received)
    append.advance_stream(conn, ctx, origin, epoch, new, chain, received)
    result.states = fold_batch(conn, ctx, new, hub_seqs, received,
                               authorizing=authorizing and new[-1] is batch[-1])
    result.results += [{"event_id": e.event_id, "origin_seq": e.origin_seq, "hub_seq": seq,
                        "status": "new"} for e, seq in zip(new, hub_seqs, strict=True)]
    ctx.observe(max(e.hlc for e in new))
    result.high_seq = new[-1].origin_seq
    result.events = new
    return result


def record_drafts(conn: Connection, ctx: HubContext, origin: str, drafts: list[EventDraft],
                  at: datetime, *, program_version: str | None = None) -> IngestResult:
    """Seal drafts as `origin` (online, hub) with the next seqs of its chain and record
    them. Drafts with a deterministic id the hub already has are skipped (a job run twice
    records once). Callers lock the members they computed the drafts from first."""
    ids = [d.event_id for d in drafts if d.event_id]
    if ids:
        have = set(conn.execute(select(events.c.event_id)
                                .where(events.c.event_id.in_(ids))).scalars())
        drafts = [d for d in drafts if d.event_id not in have]
    if not drafts:
        return IngestResult()
    high, chain = append.lock_stream(conn, ctx, origin, HUB_EPOCH)
    version = program_version or programs.current_version(conn) or ""
    sealed: list[Event] = []
    occurred = format_instant(at)
    for i, draft in enumerate(drafts):
        event = seal(draft, origin=origin, origin_seq=high + 1 + i, origin_epoch=HUB_EPOCH,
                     prev_hash=chain, occurred_at=occurred, hlc=ctx.stamp(at),
                     program_version=version)
        chain = event.content_hash()
        sealed.append(event)
    return ingest(conn, ctx, origin, HUB_EPOCH, sealed)
