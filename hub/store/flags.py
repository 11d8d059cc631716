"""Flags for HQ review: offline double spends, rule mismatches, points held (asserted
beyond the rules), refused kinds, reused ids, wrong origins, broken chains. A flag is
resolved with a note (and optionally an `adjust` event, or the `release` of held points),
never deleted.

    >>> add_flag(conn, "negative_balance", member_id=m, origin="S001-T1", event_ids=[...],
    ...          detail="balance -150 after an offline redemption")
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, func, select, update

from hub.db import Database, now_text
from hub.store.credentials import store_of
from hub.tables import flags, origins

KINDS = ("negative_balance", "rule_mismatch", "unknown_program", "conflict", "wrong_origin",
         "chain_broken", "card_conflict", "stock_negative", "points_held", "kind_not_allowed")


def add_flag(
    conn: Connection,
    kind: str,
    *,
    detail: str,
    member_id: str | None = None,
    origin: str | None = None,
    event_ids: list[str] | None = None,
) -> int:
    result = conn.execute(flags.insert().values(
        kind=kind, member_id=member_id, origin=origin,
        store=store_of(origin) if origin else None,
        event_ids=json.dumps(event_ids or []), detail=detail, created_at=now_text(),
    ).returning(flags.c.id))
    return int(result.scalar_one())


def add_flags(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Several flags in one statement (the ingest path)."""
    if not rows:
        return
    now = now_text()
    conn.execute(flags.insert(), [
        {"kind": r["kind"], "member_id": r.get("member_id"), "origin": r.get("origin"),
         "store": store_of(r["origin"]) if r.get("origin") else None,
         "event_ids": json.dumps(r.get("event_ids") or []), "detail": r["detail"],
         "created_at": now}
        for r in rows
    ])


# Refused pushes counted per origin for sync health (hub.store.reports.sync_health).
REFUSAL_COUNTERS = {"gap": "refused_gaps", "chain_broken": "refused_chains"}


def record_refusal(db: Database, flag: dict[str, Any] | None, *, origin: str | None = None,
                   code: str | None = None) -> None:
    """A flag for a refused request, and for a gap or a broken chain the origin's refusal
    count, in their own transaction (the request's was rolled back, so nothing else of it
    is written)."""
    counter = REFUSAL_COUNTERS.get(code or "")
    if not flag and not (counter and origin):
        return
    with db.write() as conn:
        if flag:
            add_flags(conn, [flag])
        if counter and origin:
            conn.execute(origins.update().where(origins.c.origin == origin).values(
                {counter: origins.c[counter] + 1, "last_refused_at": now_text()}))


def _row(r: Any) -> dict[str, Any]:
    out = dict(r._mapping)
    out["event_ids"] = json.loads(out["event_ids"])
    out["status"] = "resolved" if out["resolved_at"] else "open"
    return out


def list_flags(
    conn: Connection, *, status: str = "open", store: str | None = None,
    kind: str | None = None, limit: int = 500,
) -> list[dict[str, Any]]:
    stmt = select(flags).order_by(flags.c.id.desc()).limit(limit)
    if status == "open":
        stmt = stmt.where(flags.c.resolved_at.is_(None))
    elif status == "resolved":
        stmt = stmt.where(flags.c.resolved_at.is_not(None))
    if store:
        stmt = stmt.where(flags.c.store == store)
    if kind:
        stmt = stmt.where(flags.c.kind == kind)
    return [_row(r) for r in conn.execute(stmt)]


def count_open(conn: Connection) -> int:
    """Flags waiting for HQ: `count_open(conn)` -> 3."""
    return int(conn.execute(select(func.count()).select_from(flags)
                            .where(flags.c.resolved_at.is_(None))).scalar_one())


def get_flag(conn: Connection, flag_id: int, *, lock: Database | None = None) -> dict | None:
    stmt = select(flags).where(flags.c.id == flag_id)
    if lock is not None:
        stmt = lock.for_update(stmt)
    row = conn.execute(stmt).first()
    return _row(row) if row else None


def mark_resolved(conn: Connection, flag_id: int, note: str, adjust_event_id: str | None, *,
                  release_event_id: str | None = None) -> None:
    conn.execute(update(flags).where(flags.c.id == flag_id).values(
        resolved_at=now_text(), resolution_note=note, adjust_event_id=adjust_event_id,
        release_event_id=release_event_id))
