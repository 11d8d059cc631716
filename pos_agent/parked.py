"""Parked baskets: a basket put aside (the customer went back for their wallet) and
recalled later, on this till, by any cashier.

    >>> parked_id = park(store, basket, [Applied("ten-off")], member_id=ann, found_by="qr")
    >>> [p.label for p in parked_baskets(store)]      # the app names it; by default:
    ['2 items: Latte and 1 more']
    >>> recall(store, parked_id).basket == basket                  # and it is gone from the list
    True

Kept in the terminal database (table `parked_baskets`), not in the app: a restart or a
crash loses no parked basket. Nothing of it is a sale: no event, no receipt, no points.
Only how the member was found is kept with it, never a PIN: a spend that needed the PIN
asks for it again at tender.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from loyalty.basket import Applied, Basket, BasketLine
from pos_agent.db import transaction
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from pos_agent.store import Store


@dataclass(frozen=True)
class Parked:
    parked_id: int
    parked_at: str
    label: str
    """What the list shows: "2 items, 7.92 - Ann Lee"."""
    basket: Basket
    applied: tuple[Applied, ...]
    member_id: str | None
    found_by: str | None
    staff_id: str | None


def park(store: Store, basket: Basket, applied: tuple[Applied, ...] | list[Applied] = (),
         *, member_id: str | None = None, found_by: str | None = None,
         label: str = "", at: datetime | None = None) -> int:
    """Put `basket` (with its rewards and member) aside; its id recalls it."""
    if not basket.lines:
        raise StoreError("the basket is empty: nothing to park")
    body = {"lines": [asdict(ln) for ln in basket.lines], "next_line_no": basket.next_line_no,
            "applied": [asdict(a) for a in applied], "found_by": found_by}
    when = (at or datetime.now(UTC)).isoformat()
    with transaction(store.db) as conn:
        cur = conn.execute(
            "INSERT INTO parked_baskets (parked_at, staff_id, member_id, label, basket) "
            "VALUES (?, ?, ?, ?, ?)",
            (when, store.staff_id, member_id, label or _label(basket), json.dumps(body)))
        return int(cur.lastrowid)


def parked_baskets(store: Store) -> list[Parked]:
    """Every parked basket of this till, oldest first."""
    rows = store.conn.execute(
        "SELECT id, parked_at, label, basket, member_id, staff_id FROM parked_baskets "
        "ORDER BY id").fetchall()
    return [_parked(row) for row in rows]


def recall(store: Store, parked_id: int) -> Parked:
    """The parked basket `parked_id`, taken off the list (StoreError if another cashier
    recalled it first)."""
    with transaction(store.db) as conn:
        row = conn.execute(
            "SELECT id, parked_at, label, basket, member_id, staff_id FROM parked_baskets "
            "WHERE id = ?", (parked_id,)).fetchone()
        if row is None:
            raise StoreError(f"parked basket {parked_id} is no longer parked: it was "
                             "recalled already")
        conn.execute("DELETE FROM parked_baskets WHERE id = ?", (parked_id,))
    return _parked(row)


def _label(basket: Basket) -> str:
    units = sum(ln.qty for ln in basket.lines)
    first = basket.lines[0].name
    more = f" and {len(basket.lines) - 1} more" if len(basket.lines) > 1 else ""
    return f"{units} item{'s' if units != 1 else ''}: {first}{more}"


def _parked(row: tuple) -> Parked:
    parked_id, parked_at, label, text, member_id, staff_id = tuple(row)
    body = json.loads(text)
    basket = Basket(tuple(BasketLine(**ln) for ln in body["lines"]), body["next_line_no"])
    applied = tuple(Applied(**a) for a in body.get("applied", ()))
    return Parked(int(parked_id), parked_at, label, basket, applied, member_id,
                  body.get("found_by"), staff_id)


__all__ = ["Parked", "park", "parked_baskets", "recall"]
