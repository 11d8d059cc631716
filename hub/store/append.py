"""Appending a batch of one origin's events to the ledger, and the checks before it.

    >>> high, chain = lock_stream(conn, ctx, "S001-T1", 1)
    >>> repeats, new, head = sort_batch(conn, "S001-T1", 1, batch, high, chain)
    >>> hub_seqs = insert_events(conn, ctx.db, new, received)

Per `(origin, origin_epoch)` stream the hub keeps the highest origin_seq and the hash of
that event (the chain head). A batch's events at or below it are repeats: the same
event_id with the same canonical content is acknowledged again with its hub_seq; other
content under that seq is a conflict. The rest must continue the stream without a gap
and continue its hash chain. Nothing here folds: `hub.store.fold` does, in the same
transaction (`hub.store.ingest`).

Refusals raise an `ApiError` whose `flag` attribute, when set, is a flag the caller
records in a fresh transaction after rolling this one back.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, text

from hub.context import HubContext
from hub.db import Database, bulk_insert, now_text
from hub.exceptions import ApiError, Conflict
from hub.tables import events, origin_totals, origins, streams
from loyalty.events import GENESIS, Event, Kind


def refuse(cls: type[ApiError], detail: str, *, code: str, flag: dict | None = None,
           **extra: Any) -> ApiError:
    """An API error carrying the flag to record once the transaction is rolled back."""
    exc = cls(detail, code=code, **extra)
    exc.flag = flag  # type: ignore[attr-defined]
    return exc


def lock_stream(conn: Connection, ctx: HubContext, origin: str, epoch: int) -> tuple[int, str]:
    """The stream's (high_seq, chain head), its row locked until commit (created if new),
    so two pushes of one terminal take turns."""
    db = ctx.db
    conn.execute(
        db.insert(streams).values(origin=origin, origin_epoch=epoch, high_seq=0,
                                  chain_hash=GENESIS, updated_at=now_text())
        .on_conflict_do_nothing(index_elements=[streams.c.origin, streams.c.origin_epoch])
    )
    row = conn.execute(db.for_update(
        select(streams.c.high_seq, streams.c.chain_hash)
        .where(streams.c.origin == origin, streams.c.origin_epoch == epoch))).one()
    return int(row.high_seq), row.chain_hash


def sort_batch(conn: Connection, origin: str, epoch: int, batch: list[Event], high: int,
               chain: str) -> tuple[list[dict[str, Any]], list[Event], str]:
    """Split a batch into repeats (their answers, `status: duplicate`) and new events, and
    check the new ones continue the stream; returns (repeats, new, the new chain head)."""
    first = batch[0].origin_seq
    for i, event in enumerate(batch):
        if event.origin_seq != first + i:
            raise refuse(Conflict, f"the batch skips origin_seq {first + i}: send events "
                         "in origin_seq order without gaps", code="gap", expected_seq=first + i)
    n_old = max(0, min(len(batch), high - first + 1))
    repeats = _repeats(conn, origin, epoch, batch[:n_old])
    new = batch[n_old:]
    if new and new[0].origin_seq != high + 1:
        raise refuse(Conflict, f"the hub has this stream up to origin_seq {high}; the batch "
                     f"starts at {new[0].origin_seq}", code="gap", expected_seq=high + 1)
    for event in new:
        if event.prev_hash != chain:
            raise refuse(
                Conflict, f"event {event.origin_seq} does not continue the hub's copy of this "
                "terminal's chain (prev_hash differs): a restored backup or a tampered ledger; "
                "start a new epoch", code="chain_broken", expected_seq=event.origin_seq,
                flag={"kind": "chain_broken", "origin": origin, "member_id": event.member_id,
                      "event_ids": [event.event_id],
                      "detail": f"prev_hash of seq {event.origin_seq} does not match"})
        chain = event.content_hash()
    return repeats, new, chain


def _repeats(conn: Connection, origin: str, epoch: int,
             old: list[Event]) -> list[dict[str, Any]]:
    if not old:
        return []
    rows = conn.execute(
        select(events.c.origin_seq, events.c.event_id, events.c.hub_seq, events.c.content)
        .where(events.c.origin == origin, events.c.origin_epoch == epoch,
               events.c.origin_seq.between(old[0].origin_seq, old[-1].origin_seq)))
    by_seq = {r.origin_seq: r for r in rows}
    answers = []
    for event in old:
        row = by_seq.get(event.origin_seq)
        if row is None or row.event_id != event.event_id or not _same(row.content, event):
            what = ("another event" if row is not None and row.event_id != event.event_id
                    else "different content")
            raise refuse(
                Conflict,
                f"origin_seq {event.origin_seq} ({event.event_id}) was already received "
                f"with {what}: the terminal's ledger does not match the hub's copy",
                code="conflict", event_id=event.event_id,
                flag={"kind": "conflict", "origin": origin, "member_id": event.member_id,
                      "event_ids": [event.event_id] + ([row.event_id] if row else []),
                      "detail": f"event {event.event_id} (seq {event.origin_seq}) re-sent "
                                f"with {what}"})
        answers.append({"event_id": event.event_id, "origin_seq": event.origin_seq,
                        "hub_seq": row.hub_seq, "status": "duplicate"})
    return answers


def _same(stored: str, event: Event) -> bool:
    """The stored content is the event's, or its erasure (hub.privacy): a terminal that has
    not pulled the erasure yet may send the event again as it was before."""
    if stored == event.canonical():
        return True
    if '"erased":' not in stored:
        return False
    import orjson

    from loyalty.events import chain_link
    return chain_link(Event.from_dict(orjson.loads(stored))) == event.content_hash()


def insert_events(conn: Connection, db: Database, new: list[Event], received: str) -> list[int]:
    """Append the events; their hub_seqs, in order. An event id the ledger already holds
    under another stream position is refused (an id is the idempotency key everywhere)."""
    _refuse_reused_ids(conn, db, new)
    seqs = _next_hub_seqs(conn, db, len(new))
    bulk_insert(conn, events, [{"hub_seq": seq} | event_row(e, received)
                               for e, seq in zip(new, seqs, strict=True)])
    return seqs


def _next_hub_seqs(conn: Connection, db: Database, n: int) -> list[int]:
    """The hub_seqs the next n events get, taken before the insert so that it needs no
    RETURNING, which would make it one statement with a placeholder per value.
    PostgreSQL: n values of the column's own sequence. SQLite: the write transaction
    holds the database's lock, so max + 1 ... is free (what SQLite itself would pick).
    (`hub.db.bulk_insert` says why the insert is one statement.)"""
    if db.is_postgres:
        return sorted(conn.execute(text(
            "SELECT nextval(pg_get_serial_sequence('events', 'hub_seq')) "
            "FROM generate_series(1, :n)"), {"n": n}).scalars())
    top = conn.execute(select(func.max(events.c.hub_seq))).scalar() or 0
    return list(range(top + 1, top + 1 + n))


def _refuse_reused_ids(conn: Connection, db: Database, new: list[Event]) -> None:
    seen: set[str] = set()
    for event in new:
        if event.event_id in seen:
            raise refuse(Conflict, f"event id {event.event_id} is twice in this batch",
                         code="conflict", event_id=event.event_id,
                         flag=_reuse_flag(event, "twice in one batch"))
        seen.add(event.event_id)
    row = conn.execute(select(events.c.event_id, events.c.origin, events.c.origin_seq)
                       .where(db.among(events.c.event_id, sorted(seen))).limit(1)).first()
    if row is not None:
        event = next(e for e in new if e.event_id == row.event_id)
        raise refuse(Conflict, f"event id {row.event_id} is already used by {row.origin} "
                     f"seq {row.origin_seq}", code="conflict", event_id=row.event_id,
                     flag=_reuse_flag(event, f"reused by {event.origin} seq {event.origin_seq}"))


def _reuse_flag(event: Event, how: str) -> dict[str, Any]:
    return {"kind": "conflict", "origin": event.origin, "member_id": event.member_id,
            "event_ids": [event.event_id], "detail": f"event id {how}"}


def event_row(event: Event, received: str) -> dict[str, Any]:
    """The event's row of the `events` table: the canonical content (the ledger itself)
    and the columns reports filter and sum on."""
    reward_id, action, tier, units = _reward_columns(event)
    return {"event_id": event.event_id, "origin": event.origin,
            "origin_epoch": event.origin_epoch, "origin_seq": event.origin_seq,
            "member_id": event.member_id, "kind": event.kind, "points": event.points,
            "amount": event.amount, "program_version": event.program_version,
            "ref": event.ref, "occurred_at": event.occurred_at, "hlc": event.hlc,
            "received_at": received, "reward_id": _column_text(reward_id),
            "reward_action": action, "reward_units": units, "tier": _column_text(tier),
            "content": event.canonical()}


def _reward_columns(event: Event) -> tuple[str | None, str | None, str | None, int | None]:
    """(reward_id, action, tier, units) of the events table; the actions are defined in
    `hub.store.reports.rewards`. units is left NULL (one reward) but for stamp events."""
    data = event.data
    if event.kind == Kind.REDEEM:
        if data.get("voucher_used"):
            return data.get("voucher_reward_id"), "voucher", data.get("tier"), None
        if data.get("reward_id"):
            # a gift card or store credit bought with points is a voucher, used later
            action = "issue" if data.get("vouchers_issued") else "redeem"
            return data.get("reward_id"), action, data.get("tier"), None
    if event.kind == Kind.STAMP and data.get("vouchers_issued"):
        issued = data["vouchers_issued"]
        reward = issued[0].get("reward_id") if isinstance(issued[0], dict) else None
        return reward, "stamp", None, len(issued)
    return None, None, None, None


def _column_text(value: Any) -> str | None:
    """A value of the event's data kept in a column of its own for reports: text of at most
    64 characters, without NUL (PostgreSQL text cannot hold it; `content` keeps it all)."""
    return str(value).replace("\x00", "")[:64] if value else None


def advance_stream(conn: Connection, ctx: HubContext, origin: str, epoch: int,
                   new: list[Event], chain: str, received: str) -> None:
    """The stream's new high-water mark and chain head, the origin's last push, totals."""
    conn.execute(streams.update()
                 .where(streams.c.origin == origin, streams.c.origin_epoch == epoch)
                 .values(high_seq=new[-1].origin_seq, chain_hash=chain, updated_at=received))
    conn.execute(origins.update().where(origins.c.origin == origin)
                 .values(last_push_at=received))
    credited = sum(e.points for e in new if e.points > 0)
    debited = -sum(e.points for e in new if e.points < 0)
    stmt = ctx.db.insert(origin_totals).values(
        origin=origin, events=len(new), points=credited - debited, credited=credited,
        debited=debited)
    conn.execute(stmt.on_conflict_do_update(index_elements=[origin_totals.c.origin], set_={
        "events": origin_totals.c.events + len(new),
        "points": origin_totals.c.points + (credited - debited),
        "credited": origin_totals.c.credited + credited,
        "debited": origin_totals.c.debited + debited,
    }))
