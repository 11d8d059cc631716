"""What a return can take back: the terminal's recent sales, and one sale's lines with what
is left of each to return. Read-only; the return itself is `pos_agent.operations.refund_lines`.

    >>> [r.receipt_no for r in recent_receipts(store, limit=3)]      # newest first
    ['S001-T1-000007', 'S001-T1-000005', 'S001-T1-000004']
    >>> receipt = receipt_for_return(store, " s001-t1-000005 ")      # as typed or scanned
    >>> [(ln.line_no, ln.sold, ln.returned, ln.left) for ln in receipt.lines]
    [(1, 2, 1, 1), (2, 1, 0, 1)]
    >>> receipt.refund_preview([(2, 1)])                             # minor units
    350
    >>> receipt.check([(1, 2)])          # refund_lines' rule: more than is left
    Traceback (most recent call last):
    loyalty.errors.ReversalError: line 1: 2 bought, 1 already returned; at most 1 more ...

The units already returned of a line are the `qty` of that line in the sale's refund
receipts (kind 'refund', `reverses` the sale, `details.lines`), exactly as `refund_lines`
counts them; `loyalty.reversal.returnable` is the one rule for what may still go back.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from loyalty.reversal import _part, returnable
from pos_agent.exceptions import ReceiptNotFound
from pos_agent.store import Store


@dataclass(frozen=True)
class ReturnLine:
    """One line of a sale as a return sees it."""

    line_no: int
    sku: str
    name: str
    sold: int
    """Units the sale rang up."""
    returned: int
    """Units earlier returns took back."""
    unit_price: int
    net: int
    """The line's net for all `sold` units (after its share of the ticket's discounts)."""

    @property
    def left(self) -> int:
        """Units that can still be returned."""
        return max(self.sold - self.returned, 0)

    def refund(self, qty: int) -> int:
        """The line's net for `qty` more units, shared as `refund_lines` shares it (the
        remainder on the last units): the lines' part of the refund."""
        if qty <= 0 or self.sold <= 0:
            return 0
        return _part(self.net, self.sold, self.returned, min(qty, self.left))


@dataclass(frozen=True)
class ReturnableReceipt:
    """A sale and what is left of each of its lines to return."""

    receipt_no: str
    created_at: str
    total: int
    member_id: str | None
    member_name: str | None
    refunded: int
    """Money already refunded (minor units): the returned lines' nets."""
    lines: tuple[ReturnLine, ...]

    @property
    def returnable(self) -> bool:
        """Some unit of some line can still be returned."""
        return any(ln.left for ln in self.lines)

    def line(self, line_no: int) -> ReturnLine:
        return next(ln for ln in self.lines if ln.line_no == line_no)

    def check(self, returns: Iterable[tuple[int, int]]) -> dict[int, int]:
        """`returns` ((line_no, qty), ...) checked with `loyalty.reversal.returnable`, the
        rule `refund_lines` applies: the units per line, or ReversalError (an unknown line,
        a quantity below 1 or above what is left, nothing chosen)."""
        return returnable(self.receipt_no, {ln.line_no: ln.sold for ln in self.lines},
                          {ln.line_no: ln.returned for ln in self.lines if ln.returned},
                          returns)

    def refund_preview(self, returns: Iterable[tuple[int, int]]) -> int:
        """The returned lines' nets for `returns`: a preview, `refund_lines` computes the
        exact amount (with a member, from the loyalty record; money back excludes what was
        paid with points)."""
        by_no = {ln.line_no: ln for ln in self.lines}
        return sum(by_no[no].refund(qty) for no, qty in returns if no in by_no)


@dataclass(frozen=True)
class RecentReceipt:
    """A recent sale, as the return dialog lists it."""

    receipt_no: str
    created_at: str
    total: int
    member_id: str | None
    member_name: str | None
    refunded: int
    voided: bool
    returnable: bool
    """A line of it can still be returned (not voided, not refunded by amount, recorded
    with its lines, some unit left)."""


def returned_quantities(conn: sqlite3.Connection, receipt_nos: Sequence[str], *,
                        after: int | None = None) -> dict[str, dict[int, int]]:
    """Units returned so far per line of each sale of `receipt_nos`, read from their
    refund receipts as `refund_lines` reads them: `{"S001-T1-000042": {2: 1}}` (a sale
    with no line returned is left out). One pass over the refunds, however many sales;
    `after` (the rowid of the oldest of the sales: a refund is always written after its
    sale) makes it a pass over the rows written since, not the whole table."""
    out: dict[str, dict[int, int]] = {}
    if not receipt_nos:
        return out
    marks = ", ".join("?" for _ in receipt_nos)
    since = "" if after is None else " AND rowid > ?"
    params = (*receipt_nos, *(() if after is None else (after,)))
    for reverses, details in conn.execute(
            f"SELECT reverses, details FROM receipts WHERE kind = 'refund' "
            f"AND reverses IN ({marks}){since}", params):
        for ln in json.loads(details or "{}").get("lines", ()):
            returned = out.setdefault(reverses, {})
            returned[int(ln["line_no"])] = returned.get(int(ln["line_no"]), 0) + int(ln["qty"])
    return out


def _lines(details: dict, returned: dict[int, int]) -> tuple[ReturnLine, ...]:
    return tuple(
        ReturnLine(line_no=int(ln["line_no"]), sku=str(ln.get("sku", "")),
                   name=str(ln.get("name", "") or ln.get("sku", "")), sold=int(ln["qty"]),
                   returned=returned.get(int(ln["line_no"]), 0),
                   unit_price=int(ln.get("unit_price", 0)),
                   net=int(ln.get("net", ln.get("total", 0))))
        for ln in sorted(details.get("lines", ()), key=lambda ln: int(ln["line_no"])))


def _refusal(receipt_no: str, kind: str, voided_by: str | None, refunded: int,
             lines: tuple[ReturnLine, ...], returned: dict[int, int]) -> str | None:
    """Why no line of the sale can be returned at all (refund_lines' refusals), or None."""
    if kind != "sale":
        article = "an" if kind[:1] in tuple("aeiou") else "a"
        return (f"receipt {receipt_no} is {article} {kind} receipt, not a sale: only a "
                "sale's lines can be returned")
    if voided_by:
        return f"receipt {receipt_no} was voided by {voided_by}: nothing is left to return"
    if not lines:
        return f"receipt {receipt_no} was recorded without its lines: refund it by amount"
    if refunded and not returned:
        return f"receipt {receipt_no} was refunded by amount: refund the rest by amount"
    return None


_COLUMNS = ("r.rowid, r.receipt_no, r.kind, r.created_at, r.total, r.member_id, m.name, "
            "r.refunded, r.voided_by, r.details")
_FROM = "FROM receipts r LEFT JOIN members m ON m.member_id = r.member_id"


def recent_receipts(store: Store, limit: int = 20) -> list[RecentReceipt]:
    """The terminal's `limit` most recent sales, newest first, each with its member's name
    (None without a member), what was refunded, whether it was voided and whether a line
    can still be returned:

        >>> r = recent_receipts(store, limit=1)[0]
        >>> r.receipt_no, r.total, r.member_name, r.refunded, r.voided, r.returnable
        ('S001-T1-000007', 1250, 'Ann Lee', 0, False, True)
    """
    # Newest first is the order the rows were written in (receipt serials): the table has
    # no index on created_at (migration 7), and going back along the rowids reads only the
    # last rows (0.2 ms at 64,000 receipts; ordering by created_at sorts them all: 90 ms).
    rows = store.conn.execute(
        f"SELECT {_COLUMNS} {_FROM} WHERE r.kind = 'sale' ORDER BY r.rowid DESC LIMIT ?",
        (max(int(limit), 0),)).fetchall()
    returned = returned_quantities(store.conn, [row[1] for row in rows],
                                   after=rows[-1][0] if rows else None)
    out = []
    for _, no, kind, created_at, total, member_id, name, refunded, voided_by, details in rows:
        back = returned.get(no, {})
        lines = _lines(json.loads(details or "{}"), back)
        ok = (_refusal(no, kind, voided_by, refunded, lines, back) is None
              and any(ln.left for ln in lines))
        out.append(RecentReceipt(no, created_at, total, member_id,
                                 (name or None) if member_id else None, refunded,
                                 bool(voided_by), ok))
    return out


def normal_receipt_no(text: str) -> str:
    """A receipt number as typed or scanned: spaces (and a scanner's CR) around it off,
    letters in upper case as printed: `normal_receipt_no(" s001-t1-000042 ")` ->
    'S001-T1-000042'."""
    return text.strip().upper()


def receipt_for_return(store: Store, receipt_no: str) -> ReturnableReceipt:
    """The sale `receipt_no` (typed in any case, spaces around allowed) with, per line,
    what it sold, what earlier returns took and what is left:

        >>> receipt = receipt_for_return(store, "s001-t1-000005")
        >>> receipt.lines[0].sold, receipt.lines[0].returned, receipt.lines[0].left
        (2, 1, 1)

    ReceiptNotFound, in a sentence for the cashier: no such receipt on this terminal, not a
    sale, voided, recorded without its lines (by amount) or refunded by amount. A sale
    whose every line was returned is returned as it is (`returnable` is False)."""
    typed = receipt_no.strip()
    if not typed:
        raise ReceiptNotFound("type or scan the receipt number (as printed, e.g. "
                              "S001-T1-000042)")
    row = None
    for candidate in dict.fromkeys((typed, normal_receipt_no(typed))):
        row = store.conn.execute(f"SELECT {_COLUMNS} {_FROM} WHERE r.receipt_no = ?",
                                 (candidate,)).fetchone()
        if row is not None:
            break
    if row is None:
        raise ReceiptNotFound(f"no receipt {normal_receipt_no(typed)} on this terminal: "
                              "check the number on the receipt")
    rowid, no, kind, created_at, total, member_id, name, refunded, voided_by, details = row
    back = returned_quantities(store.conn, [no], after=rowid).get(no, {})
    lines = _lines(json.loads(details or "{}"), back)
    refusal = _refusal(no, kind, voided_by, refunded, lines, back)
    if refusal is not None:
        raise ReceiptNotFound(refusal)
    return ReturnableReceipt(no, created_at, total, member_id,
                             (name or None) if member_id else None, refunded, lines)


__all__ = ["RecentReceipt", "ReturnLine", "ReturnableReceipt", "normal_receipt_no",
           "recent_receipts", "receipt_for_return", "returned_quantities"]
