"""Published program versions. The hub keeps every version ever published: an `earn`
event is checked against the version it names, however old.

    >>> publish(conn, db, raw_program_table, by="cli")   # -> version, and a pull change
    >>> program_by_version(conn, "3f2a...")
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, select

from hub.db import Database, now_text
from hub.store import changes
from hub.tables import programs, reward_stock
from loyalty.program import Program, program_from_dict

_cache: dict[str, Program] = {}


def _json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def publish(conn: Connection, db: Database, raw: dict[str, Any],
            by: str | None = None) -> tuple[str, bool]:
    """Publish the `[program]` table `raw`; returns (version, newly_published). `by` is
    who published it: "cli" for `pos-hub program publish` and `init`, the HQ user's name
    for /hq/program (hub.web.hq_pages); kept in `programs.published_by`.

    The table is stored as written (currency units), since that is what terminals parse
    with `program_from_dict`; the version is the domain's hash of the parsed program.
    Going back to an older version makes it the newest publication again, by `by`.
    """
    program = program_from_dict(raw)
    content = json.dumps(raw, default=_json_default, sort_keys=True)
    row = conn.execute(select(programs.c.version).where(programs.c.version == program.version))
    new = row.first() is None
    latest = current_version(conn)
    # (no `by`, no column written: the code also runs on databases migrated only part of
    # the way, as tests/hub/test_one_fold_path.py builds one, before 0017)
    who = {} if by is None else {"published_by": by}
    if new:
        conn.execute(programs.insert().values(
            version=program.version, content=content, published_at=now_text(), **who))
    elif latest != program.version:
        # Going back to an older version: it becomes the newest publication again.
        conn.execute(programs.update().where(programs.c.version == program.version)
                     .values(published_at=now_text(), **who))
    else:
        return program.version, False
    for reward in program.rewards:
        if reward.stock is None:
            continue
        stmt = db.insert(reward_stock).values(
            reward_id=reward.id, units_left=reward.stock, updated_at=now_text()
        ).on_conflict_do_nothing(index_elements=[reward_stock.c.reward_id])
        if conn.execute(stmt).rowcount:
            changes.touch(conn, db, "stock", [reward.id])
    changes.touch(conn, db, "program", [program.version])
    return program.version, new


def current_version(conn: Connection) -> str | None:
    return conn.execute(
        select(programs.c.version).order_by(programs.c.published_at.desc()).limit(1)
    ).scalar()


def raw_program(conn: Connection, version: str) -> dict[str, Any] | None:
    content = conn.execute(select(programs.c.content).where(programs.c.version == version))
    text = content.scalar()
    return json.loads(text) if text else None


def program_by_version(conn: Connection, version: str) -> Program | None:
    """The program of `version`, parsed once per process (a published version never
    changes, so nothing can make the entry wrong).

    Serves the storm floor (bench/bench_hub_ingest.py): every pushed earn is rechecked
    under the version it names, and reading and validating the program each time costs
    ~0.1 ms, a third again of the hub's ~250 us an event (2026-12-02)."""
    cached = _cache.get(version)
    if cached is not None:
        return cached
    raw = raw_program(conn, version)
    if raw is None:
        return None
    program = _cache[version] = program_from_dict(raw)
    return program


def current_program(conn: Connection) -> Program | None:
    version = current_version(conn)
    return program_by_version(conn, version) if version else None
