"""The notification outbox: rows a webhook sender delivers to the shop's mailer or SMS
gateway (points expiring soon, reward unlocked, tier change).

    >>> enqueue(conn, ctx, member_id, "tier_change", {"from": "Gold", "to": "Silver"},
    ...         dedup="tier:2026-11-22")

Each row has a dedup key so a job run twice queues once.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select, update

from hub.context import HubContext
from hub.db import bulk_insert, now_text
from hub.store import programs
from hub.tables import notifications


def enqueue_many(conn: Connection, ctx: HubContext, rows: list[dict[str, Any]]) -> int:
    """rows: {member_id, kind, payload, dedup}; duplicates (by dedup key) are skipped.
    Returns how many were new."""
    if not rows:
        return 0
    now = now_text()
    fresh = {f"{r['member_id']}|{r['kind']}|{r['dedup']}"[:200]: r for r in rows}
    have = set(conn.execute(select(notifications.c.dedup_key)
                            .where(ctx.db.among(notifications.c.dedup_key, list(fresh)))).scalars())
    bulk_insert(conn, notifications, [
        {"dedup_key": key, "member_id": r["member_id"], "kind": r["kind"],
         "payload": json.dumps({"member_id": r["member_id"], "kind": r["kind"],
                                **r["payload"]}, sort_keys=True),
         "status": "pending", "attempts": 0, "next_attempt_at": now, "created_at": now}
        for key, r in fresh.items() if key not in have
    ], conflict=("dedup_key",))
    return len(fresh) - len(have)


def rewards_unlocked(conn: Connection, ctx: HubContext, balances: dict[str, tuple[int, int]],
                     last_hlcs: dict[str, str]) -> int:
    """Queue a 'reward unlocked' note for each member whose balance just crossed a
    reward's cost (`last_hlcs`: each member's newest stamp after the batch, which makes
    the note's dedup key)."""
    risen = {m: b for m, b in balances.items() if b[1] > b[0]}
    if not risen:
        return 0
    program = programs.current_program(conn)
    if program is None:
        return 0
    costs = sorted((r.cost, r.id, r.name) for r in program.rewards if r.cost > 0)
    lowest = costs[0][0] if costs else 0
    rows = []
    for member_id, (before, after) in risen.items():
        if after < lowest:
            continue
        for cost, reward_id, name in costs:
            if before < cost <= after:
                hub_seq = max(last_hlcs[member_id], "")
                rows.append({"member_id": member_id, "kind": "reward_unlocked",
                             "dedup": f"{reward_id}|{hub_seq}",
                             "payload": {"reward_id": reward_id, "reward": name, "cost": cost,
                                         "balance": after,
                                         "points_name": program.points_name}})
    return enqueue_many(conn, ctx, rows)


def due(conn: Connection, now: str, limit: int = 100) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(notifications).where(notifications.c.status == "pending",
                                    notifications.c.next_attempt_at <= now)
        .order_by(notifications.c.id).limit(limit))
    return [dict(r._mapping) for r in rows]


def mark(conn: Connection, notification_id: int, **values: Any) -> None:
    conn.execute(update(notifications).where(notifications.c.id == notification_id)
                 .values(**values))


def counts(conn: Connection) -> dict[str, int]:
    from sqlalchemy import func

    rows = conn.execute(select(notifications.c.status, func.count())
                        .group_by(notifications.c.status))
    return {r[0]: int(r[1]) for r in rows}
