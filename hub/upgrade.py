"""Bringing a hub database from the projector era (migration 0005) to one fold path.

Until migration 0006 a push only appended its events and a projector folded them later,
so a database may hold events above the projector's mark (`counters['projected']`) that
no member row, flag, note or change-feed entry reflects yet, and member snapshots behind
their own events (`state_seq < hub_seq`). `hub.db.migrate` calls `refold_stale` at 0005
(0006 drops the columns it reads) and `fold_left_behind` at the newest revision (the fold
writes columns later migrations add): after them nothing is behind, ever.
"""

from __future__ import annotations

from sqlalchemy import text

from hub.context import HubContext
from hub.db import Database
from hub.settings import settings_for


def refold_stale(url: str) -> int:
    """At revision 0005: refold the snapshots behind their own events (`state_seq <
    hub_seq`, a column 0006 drops) and keep the projector's mark as
    `counters['left_behind']` (0006 drops `projected`), in one transaction. Returns how
    many members it refolded."""
    from hub.store import members as member_store

    db = Database(url, pool_size=0)
    try:
        with db.write() as conn:
            stale = conn.execute(text(
                "SELECT member_id, hub_seq FROM members WHERE state_seq < hub_seq "
                "ORDER BY member_id")).all()
            for member_id, hub_seq in stale:
                state = member_store.rebuild_member(conn, member_id, upto=hub_seq)
                conn.execute(text("UPDATE members SET state = :state, state_seq = :seq "
                                  "WHERE member_id = :m"),
                             {"state": member_store.snapshot_values(state, hub_seq)["state"],
                              "seq": hub_seq, "m": member_id})
            mark = conn.execute(text(
                "SELECT value FROM counters WHERE name = 'projected'")).scalar()
            if mark is not None:
                conn.execute(text("INSERT INTO counters (name, value) "
                                  "VALUES ('left_behind', :v)"), {"v": mark})
    finally:
        db.dispose()
    return len(stale)


def fold_left_behind(url: str) -> int:
    """At the newest revision: fold every event above the kept mark one push batch at a
    time (events of one origin received together, in hub_seq order) with the fold the
    pushes use now (whose member columns only the newest schema has), then drop the mark,
    in one transaction: interrupted, it runs again at the next `migrate`. Returns how many
    events it folded; 0 on a database with nothing behind."""
    from hub.store import members as member_store
    from hub.store.fold import fold_batch

    db = Database(url, pool_size=0)
    ctx = HubContext(db, settings_for(url, {}))  # (the fold reads no setting)
    try:
        with db.write() as conn:
            mark = conn.execute(text(
                "SELECT value FROM counters WHERE name = 'left_behind'")).scalar()
            if mark is None:
                return 0
            rows = conn.execute(text(
                "SELECT hub_seq, origin, received_at, content FROM events "
                "WHERE hub_seq > :mark ORDER BY hub_seq"), {"mark": mark}).all()
            batches: list[list] = []
            for r in rows:
                if batches and (batches[-1][-1].origin, batches[-1][-1].received_at) \
                        == (r.origin, r.received_at):
                    batches[-1].append(r)
                else:
                    batches.append([r])
            for batch in batches:
                fold_batch(conn, ctx, [member_store.event_from_row(r.content) for r in batch],
                           [r.hub_seq for r in batch], batch[0].received_at)
            conn.execute(text("DELETE FROM counters WHERE name = 'left_behind'"))
    finally:
        db.dispose()
    return len(rows)
