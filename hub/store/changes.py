"""The change feed terminals pull: which members, programs and stock changed, in order.

There is one row per changed thing (`kind`, `key`); each change moves its `change_seq`
forward, so a terminal that pulls from cursor C gets the newest state of everything that
changed after C, once.

Why pulling never skips a row, on PostgreSQL too: sequence values can commit out of order
(transaction A takes 10, B takes 11, B commits, a pull serves 11 and moves its cursor past
10 before A commits). Here change_seq values come from one counter row updated as the
*last* statement of the writing transaction, and the row lock is held until commit; so a
transaction can only take a value after every earlier holder has committed, and values
become visible in order. The safe watermark is therefore simply the highest committed
value: nothing below it can still appear. (SQLite serialises writers anyway.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from sqlalchemy import Connection, select

from hub.db import Database, bulk_insert, next_counter
from hub.tables import cards, changes, members, programs, reward_stock, terminal_keys

COUNTER = "change"
TERMINAL_KEY = "tkey"  # a terminal key certified or revoked (hub.store.terminal_keys)


def touch(conn: Connection, db: Database, kind: str, keys: Iterable[str]) -> int:
    """Record that `keys` of `kind` changed. Call it last in the transaction: it takes the
    change counter's lock, which is held until commit (see the module docstring)."""
    keys = sorted(set(keys))
    if not keys:
        return 0
    top = next_counter(conn, db, COUNTER, len(keys))
    first = top - len(keys) + 1
    bulk_insert(conn, changes, [{"kind": kind, "key": key, "change_seq": first + i}
                                for i, key in enumerate(keys)],
                conflict=("kind", "key"), update=("change_seq",))
    return top


def pull(db: Database, cursor: int, limit: int, store: str | None = None) -> dict[str, Any]:
    """One page of changes after `cursor` (see docs/ARCHITECTURE.md, pull), in one read
    transaction. Snapshots are `orjson.Fragment`s of the stored JSON: encode the page
    with orjson. `store`: the pulling terminal's store, whose staff it gets (hub.staff);
    None (a channel): no staff."""
    with db.read() as conn:
        return _page(conn, db, cursor, limit, store)


def _page(conn: Connection, db: Database, cursor: int, limit: int,
          store: str | None = None) -> dict[str, Any]:
    rows = conn.execute(
        select(changes.c.kind, changes.c.key, changes.c.change_seq)
        .where(changes.c.change_seq > cursor)
        .order_by(changes.c.change_seq)
        .limit(limit + 1)
    ).all()
    more = len(rows) > limit
    rows = rows[:limit]
    member_ids = [r.key for r in rows if r.kind == "member"]
    member_rows: dict[str, Any] = {}
    card_lists: dict[str, list[str]] = {}
    if member_ids:
        for m in conn.execute(
            select(members.c.member_id, members.c.name, members.c.phone, members.c.email,
                   members.c.birthday, members.c.consent_email, members.c.consent_sms,
                   members.c.state, members.c.hub_seq)
            .where(db.among(members.c.member_id, member_ids))
        ):
            member_rows[m.member_id] = m
        for c in conn.execute(
            select(cards.c.member_id, cards.c.card_number)
            .where(db.among(cards.c.member_id, member_ids)).order_by(cards.c.added_at)
        ):
            card_lists.setdefault(c.member_id, []).append(c.card_number)
    out: list[dict[str, Any]] = []
    keys = _terminal_keys(conn, db, [r.key for r in rows if r.kind == TERMINAL_KEY])
    # -- product catalogue (issue 17): one query per page, not one per product
    from hub.catalogue import KIND as PRODUCT
    from hub.catalogue import pull_changes as product_changes
    products = product_changes(conn, db, [r.key for r in rows if r.kind == PRODUCT])
    # -- privacy (issue 18): an erased member's events to blank (hub.privacy)
    from hub.privacy import ERASE
    from hub.privacy import pull_changes as erase_changes
    erased = erase_changes(conn, db, [r.key for r in rows if r.kind == ERASE])
    for r in rows:
        if r.kind == "member":
            m = member_rows.get(r.key)
            if m is None:
                continue
            out.append({
                "type": "member", "change_seq": r.change_seq, "member_id": r.key,
                "profile": {"card_numbers": card_lists.get(r.key, []), "phone": m.phone,
                            "name": m.name, "email": m.email, "birthday": m.birthday,
                            "consent_email": bool(m.consent_email),
                            "consent_sms": bool(m.consent_sms)},
                "snapshot": orjson.Fragment(m.state), "hub_seq": m.hub_seq,
            })
        elif r.kind == "program":
            content = conn.execute(
                select(programs.c.content).where(programs.c.version == r.key)).scalar()
            if content is not None:
                out.append({"type": "program", "change_seq": r.change_seq, "version": r.key,
                            "program": orjson.Fragment(content)})
        elif r.kind == TERMINAL_KEY and r.key in keys:
            out.append({"type": "terminal_key", "change_seq": r.change_seq, **keys[r.key]})
        elif r.kind == "staff":
            from hub.staff import pull_change  # (hub.staff writes its changes through here)
            change = pull_change(conn, r.key, r.change_seq, store)
            if change is not None:
                out.append(change)
        elif r.kind == PRODUCT and r.key in products:
            out.append({**products[r.key], "change_seq": r.change_seq})
        elif r.kind == ERASE and r.key in erased:
            out.append({**erased[r.key], "change_seq": r.change_seq})
        elif r.kind == "stock":
            left = conn.execute(select(reward_stock.c.units_left)
                                .where(reward_stock.c.reward_id == r.key)).scalar()
            if left is not None:
                out.append({"type": "stock", "change_seq": r.change_seq, "reward_id": r.key,
                            "left": int(left)})
    new_cursor = rows[-1].change_seq if rows else cursor
    return {"changes": out, "cursor": int(new_cursor), "more": more}


def _terminal_keys(conn: Connection, db: Database, key_ids: list[str]) -> dict[str, dict]:
    """Certificates (and revocations) of terminal keys, by key id: `Certificate.to_dict()`
    plus `revoked_at` (hub.store.terminal_keys)."""
    if not key_ids:
        return {}
    return {r.key_id: {"terminal": r.origin, "key_id": r.key_id, "public_key": r.public_key,
                       "issued_at": r.issued_at, "signature": r.signature,
                       "revoked_at": r.revoked_at}
            for r in conn.execute(select(terminal_keys)
                                  .where(db.among(terminal_keys.c.key_id, key_ids)))}
