"""Rebuilding the caches from the ledger: member snapshots and report totals.

    >>> rebuild(ctx, check_only=True)["differed"]     # [] when every cache == fold
    []

Balances are a fold of events; the snapshot column is only a cache of that fold. This is
the proof (and the repair after a bug or a manual edit).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from hub.context import HubContext
from hub.db import bulk_update
from hub.store import members as member_store
from hub.store.reports import rebuild_totals
from hub.tables import members

CHUNK = 200


def rebuild(ctx: HubContext, *, check_only: bool = False) -> dict[str, Any]:
    """Refold every member from the ledger and compare with its row; rewrite the rows
    that differ (unless `check_only`) and the report totals."""
    with ctx.db.read() as conn:
        ids = list(conn.execute(select(members.c.member_id).order_by(members.c.member_id))
                   .scalars())
    differed: list[str] = []
    for start in range(0, len(ids), CHUNK):
        with ctx.db.write() as conn:
            rows = {r.member_id: r for r in conn.execute(ctx.db.for_update(
                select(members.c.member_id, members.c.state, members.c.balance,
                       members.c.debt, members.c.last_tier, members.c.last_hlc,
                       members.c.hub_seq)
                .where(members.c.member_id.in_(ids[start:start + CHUNK]))
                .order_by(members.c.member_id)))}
            updates = []
            for member_id, row in rows.items():
                state = member_store.rebuild_member(conn, member_id)
                try:
                    stored = _canonical(json.loads(row.state))
                except ValueError:  # a damaged snapshot differs; rebuilt like the others
                    stored = None
                kept = (row.balance, row.debt, row.last_tier, row.last_hlc, stored)
                if kept != (state.balance, state.debt, state.last_tier, state.last_hlc,
                            _canonical(state.to_dict())):
                    differed.append(member_id)
                    updates.append({"member_id": member_id,
                                    **member_store.snapshot_values(state, row.hub_seq)})
            if not check_only:
                bulk_update(conn, members, "member_id", updates)
    if not check_only:
        with ctx.db.write() as conn:
            rebuild_totals(conn)
    return {"members": len(ids), "differed": differed}


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)
