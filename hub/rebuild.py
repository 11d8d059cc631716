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
from hub.store import members as member_store
from hub.store import projector
from hub.store.reports import rebuild_totals
from hub.tables import members

CHUNK = 200


def rebuild(ctx: HubContext, *, check_only: bool = False) -> dict[str, Any]:
    projector.catch_up(ctx)  # the members' rows hold folded events only
    with ctx.db.read() as conn:
        ids = list(conn.execute(select(members.c.member_id).order_by(members.c.member_id))
                   .scalars())
    differed: list[str] = []
    for start in range(0, len(ids), CHUNK):
        with ctx.db.write() as conn:
            # Snapshots behind the ledger are caught up first (what every reader does),
            # so this checks the catching-up as well as the hot columns kept per batch.
            rows = member_store.lock_rows(conn, ctx.db, ids[start:start + CHUNK])
            states = member_store.catch_up(conn, rows, save=True)
            updates = []
            for member_id, row in rows.items():
                state = member_store.rebuild_member(conn, member_id)
                hot = (row.balance, row.debt, row.last_tier, row.last_hlc)
                if hot != (state.balance, state.debt, state.last_tier, state.last_hlc) or \
                        json.dumps(state.to_dict(), sort_keys=True) != json.dumps(
                        states[member_id].to_dict(), sort_keys=True):
                    differed.append(member_id)
                    updates.append({"member_id": member_id,
                                    **member_store.snapshot_values(state, row.hub_seq)})
            if not check_only:
                member_store.save_snapshots(conn, updates)
    if not check_only:
        with ctx.db.write() as conn:
            rebuild_totals(conn)
    return {"members": len(ids), "differed": differed}
