"""Recording events: the one path by which anything enters the hub's ledger.

    >>> result = ingest(conn, ctx, "S001-T1", 1, events)             # a terminal's push
    >>> result = record_drafts(conn, ctx, "online", drafts, at)      # the hub seals them

In the caller's single transaction: refuse a batch holding a kind its origin may not
record (`loyalty.rederive.ROLE_KINDS`: 403 `kind_not_allowed`), lock the origin's
stream, sort repeats from new events and check the new ones continue the stream
(`hub.store.append`), append them, then fold them into their members with everything
that follows (`hub.store.fold`), and hold what a terminal or channel asserted beyond the
rules: a hub `hold` event per excess (id from the held event's, so it is recorded once)
and a `points_held` flag. So when a push is answered its events are in every balance,
snapshot and report, and a power cut after the answer loses nothing (both databases
commit durably).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, select

from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import Forbidden
from hub.store import append, authorize, programs
from hub.store.credentials import is_channel_origin
from hub.store.flags import add_flags
from hub.store.fold import HUB_ORIGIN, Folded, fold_batch, touch_feed
from hub.tables import events
from loyalty.events import Event, EventDraft, Kind, format_instant, seal
from loyalty.fold import MemberState
from loyalty.rederive import ROLE_KINDS, Excess, hold_event_id, may_send

HUB_EPOCH = 1


def role_of(origin: str) -> str:
    """hub (jobs, admin), channel (online, online-webshop...: every channel HQ runs) or
    terminal: what the origin may record."""
    if origin == HUB_ORIGIN:
        return "hub"
    return "channel" if is_channel_origin(origin) else "terminal"


def check_kinds(origin: str, batch: list[Event]) -> None:
    """Refuse the whole batch (403 `kind_not_allowed`, flagged) if an event's kind is one
    its origin may not record: a terminal or channel never adjusts, merges, expires,
    changes a tier or holds (those are the hub's)."""
    role = role_of(origin)
    bad = next((e for e in batch if not may_send(role, e.kind)), None)
    if bad is None:
        return
    allowed = ", ".join(sorted(ROLE_KINDS[role]))
    detail = (f"event {bad.event_id} (seq {bad.origin_seq}) is a {bad.kind}: a {role} may "
              f"record only {allowed}; the batch was refused whole")
    raise append.refuse(Forbidden, detail, code="kind_not_allowed", event_id=bad.event_id,
                        kind=bad.kind, flag={
                            "kind": "kind_not_allowed", "origin": origin,
                            "member_id": bad.member_id,
                            "event_ids": [e.event_id for e in batch
                                          if not may_send(role, e.kind)][:20],
                            "detail": detail})


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
    check_kinds(origin, batch)
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
    folded = fold_batch(conn, ctx, new, hub_seqs, received,
                        authorizing=authorizing and new[-1] is batch[-1], judge=True,
                        feed=False)
    result.results += [{"event_id": e.event_id, "origin_seq": e.origin_seq, "hub_seq": seq,
                        "status": "new"} for e, seq in zip(new, hub_seqs, strict=True)]
    ctx.observe(max(e.hlc for e in new))
    result.high_seq = new[-1].origin_seq
    result.events = new
    result.states = folded.states
    if folded.held:
        # after the fold, whose member locks the hold's fold takes again, and before the
        # change counter's lock (hub.store.fold, "Several processes")
        result.states.update(_hold(conn, ctx, folded))
    touch_feed(conn, ctx.db, folded)
    return result


def _hold(conn: Connection, ctx: HubContext, folded: Folded) -> dict[str, MemberState]:
    """Record a hub `hold` of each excess the fold found, and its `points_held` flag;
    returns the states after the holds."""
    drafts = [hold_draft(event, found) for event, found in folded.held]
    held = record_drafts(conn, ctx, HUB_ORIGIN, drafts, datetime.now(UTC))
    add_flags(conn, [{"kind": "points_held", "origin": event.origin,
                      "member_id": event.member_id,
                      "event_ids": [event.event_id, hold_event_id(event)],
                      "detail": f"{found.reason}: {found.points:,} held"}
                     for event, found in folded.held])
    return held.states


def hold_draft(event: Event, found: Excess) -> EventDraft:
    """The hub's `hold` of `found.points` of `event` (data: the held event, its kind and
    origin, the points and why)."""
    return EventDraft(kind=Kind.HOLD, member_id=event.member_id, ref=event.ref,
                      event_id=hold_event_id(event),
                      data={"held_event": event.event_id, "held_kind": event.kind,
                            "held_origin": event.origin, "points": found.points,
                            "reason": found.reason})


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
