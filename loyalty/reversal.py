"""Voids and refunds: undo exactly what a receipt earned or spent.

A void (or a refund of what is left) reverses everything the receipt still holds: its
points (purchase, bonuses, spends), stamps (including card completions, whose vouchers
are revoked) and qualifying spend. A partial refund reverses purchase points and stamps in
proportion, deterministically: after refunds totalling R of a sale of T that earned P,
exactly floor(P x R / T) points have been taken back, so several partial refunds that add
up to the whole sale take back exactly P. Points already spent are still taken back: the
balance may go negative (no "refund and keep the points").

    >>> draft = reverse_receipt(state, "S001-T1-000042", refund_amount=500)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from decimal import Decimal
from fractions import Fraction
from typing import Any

from loyalty.basket import allocate
from loyalty.errors import ReversalError
from loyalty.events import EventDraft, Kind
from loyalty.fold import MemberState, ReceiptRecord
from loyalty.program import Rounding
from loyalty.validation import check_text


def _void_stamps(state: MemberState, rec: ReceiptRecord) -> tuple[dict[str, int], list[str]]:
    """The stamps a void moves and the vouchers it revokes. The rule (issue 17): a void
    takes back exactly what the sale added. Its purchase stamps (still held) always come
    off. A card completion it made is undone (its stamps given back, its voucher revoked)
    only while its voucher can be revoked: unused, or used on this very receipt. A
    completion whose voucher was used on another receipt stays (the member had the
    reward), so the card can drop below 0: a stamp debt the next purchases pay first.
    When that other receipt is voided later, the voucher is not reissued: that void
    revokes it and gives the completion's stamps back, so both voids together leave the
    card exactly as before the first sale."""
    stamps = {card: -(n - rec.reversed_purchase_stamps.get(card, 0))
              for card, n in rec.purchase_stamps.items()}
    revoked: list[str] = []
    used_here = set(rec.vouchers_used)

    def undo(code: str, card: str, each: int) -> None:
        stamps[card] = stamps.get(card, 0) + each
        revoked.append(code)

    for code, (card, each) in rec.completions.items():
        voucher = state.vouchers.get(code)
        status = voucher.status if voucher else "revoked"
        if status == "issued" or (status == "used" and code in used_here):
            undo(code, card, each)
    if not rec.completions and any(n != rec.purchase_stamps.get(card, 0)
                                   for card, n in rec.stamps.items()):
        # a receipt folded from a snapshot older than `completions`: the whole stamp delta
        for card in rec.stamps:
            stamps[card] = -(rec.stamps[card] - rec.reversed_stamps.get(card, 0))
        revoked = list(rec.vouchers_issued)
    for code in rec.vouchers_used:
        voucher = state.vouchers.get(code)
        source = state.receipts.get(voucher.source_ref) if voucher else None
        if (voucher is None or source is None or source is rec or not source.voided
                or code not in source.completions or code in revoked):
            continue
        # its own sale was voided while it was in use here: the completion stayed then
        undo(code, *source.completions[code])
    return {card: n for card, n in stamps.items() if n}, revoked


def reverse_receipt(
    state: MemberState, receipt_no: str, *, refund_amount: int | None = None, reason: str = ""
) -> EventDraft:
    """The void (no `refund_amount`, or all that is left) or partial refund by amount of
    a receipt: `reverse_receipt(state, "S001-T1-000042", reason="wrong member")`."""
    rec = state.receipts.get(receipt_no)
    if rec is None:
        raise ReversalError(f"receipt {receipt_no} has no loyalty record for this member")
    if rec.voided:
        raise ReversalError(f"receipt {receipt_no} was already voided or fully refunded")
    remaining = rec.amount - rec.reversed_amount
    if refund_amount is not None:
        if refund_amount <= 0:
            raise ReversalError("the refund amount must be more than 0")
        if rec.amount == 0:
            raise ReversalError(f"receipt {receipt_no} had no sale amount: void it instead")
        if refund_amount > remaining:
            raise ReversalError(
                f"at most {remaining} (minor units) of receipt {receipt_no} can still be refunded"
            )
    full = refund_amount is None or refund_amount == remaining
    if not full and rec.returned:
        raise ReversalError(f"lines of receipt {receipt_no} were returned: return the "
                            "other lines, or void what is left")
    data: dict = {"reverses": list(rec.event_ids), "full": full}
    if reason:
        data["reason"] = check_text(reason, "the reason")
    if full:
        points = -(rec.points - rec.reversed_points)
        stamps, revoked = _void_stamps(state, rec)
        data["purchase_points"] = rec.purchase_points - rec.reversed_purchase_points
        data["purchase_stamps"] = {
            card: n - rec.reversed_purchase_stamps.get(card, 0)
            for card, n in rec.purchase_stamps.items()
        }
        data["vouchers_revoked"] = revoked
        amount = -remaining
    else:
        assert refund_amount is not None
        refunded = rec.reversed_amount + refund_amount
        taken = rec.purchase_points * refunded // rec.amount - rec.reversed_purchase_points
        points = -taken
        purchase_stamps = {
            card: n * refunded // rec.amount - rec.reversed_purchase_stamps.get(card, 0)
            for card, n in rec.purchase_stamps.items()
        }
        stamps = {card: -n for card, n in purchase_stamps.items()}
        data["purchase_points"] = taken
        data["purchase_stamps"] = purchase_stamps
        amount = -refund_amount
    return EventDraft(
        kind=Kind.REVERSE,
        member_id=state.member_id,
        points=points,
        stamps={k: v for k, v in stamps.items() if v},
        amount=amount,
        ref=receipt_no,
        data=data,
    )


def returnable(receipt_no: str, bought: dict[int, int], returned: dict[int, int],
               returns: Iterable[tuple[int, int]]) -> dict[int, int]:
    """The units to return per line, checked against what each line bought and what
    earlier returns took; the one rule for returns with or without a member.

        >>> returnable("R1", {1: 2, 2: 1}, {1: 1}, [(1, 1), (2, 1)])
        {1: 1, 2: 1}
    """
    asked: dict[int, int] = {}
    for line_no, qty in returns:
        if line_no not in bought:
            raise ReversalError(f"receipt {receipt_no} has no line {line_no}")
        if type(qty) is not int or qty <= 0:
            raise ReversalError(f"line {line_no}: return at least 1 unit")
        asked[line_no] = asked.get(line_no, 0) + qty
    if not asked:
        raise ReversalError("choose the lines to return")
    for line_no, qty in asked.items():
        before = returned.get(line_no, 0)
        if before + qty > bought[line_no]:
            raise ReversalError(
                f"line {line_no}: {bought[line_no]} bought, {before} already returned; at "
                f"most {bought[line_no] - before} more can be returned")
    return asked


def return_lines(state: MemberState, receipt_no: str, returns: Sequence[tuple[int, int]],
                 *, reason: str = "") -> EventDraft:
    """The `reverse` event of returning `qty` units of lines `line_no` of a receipt:
    `return_lines(state, "S001-T1-000042", [(2, 1)], reason="cold")`.

    - Refund per line: its net (after its share of the ticket's discounts) for the units
      returned, units sharing it evenly with the remainder on the last units, so all
      returns of a line add up to its net exactly. `-draft.amount` is their sum.
    - Points: what the receipt still holds minus what the lines kept earn on their own
      (their recorded exact points, rounded once the way the sale was), so the points
      kept are always what the kept net earns; that is the returned lines' points, up to
      the sale's one rounding.
    - Stamps: each returned unit's own stamps, on its own card (beans never take coffee
      stamps); a card completed meanwhile can drop below 0 (see `_void_stamps`).
    - The return that brings every line back is the receipt's void (`reverse_receipt`):
      bonuses, spends, completions and qualifying spend come back exactly as before.

    ReversalError: an unknown line, a quantity above what is left of the line (earlier
    returns count), a receipt voided, refunded by amount, or recorded without lines.
    Event data: `returns`: [{"line_no", "qty", "refund", "points", "stamps"}], beside
    `reverses`, `full`, `purchase_points`, `purchase_stamps` as for any reversal."""
    rec = state.receipts.get(receipt_no)
    if rec is None:
        raise ReversalError(f"receipt {receipt_no} has no loyalty record for this member")
    if rec.voided:
        raise ReversalError(f"receipt {receipt_no} was already voided or fully refunded")
    if not rec.items:
        raise ReversalError(f"receipt {receipt_no} was recorded without its lines: refund "
                            "it by amount")
    if rec.refunded_by_amount:
        raise ReversalError(f"receipt {receipt_no} was refunded by amount: refund the rest "
                            "by amount")
    lines = {item[0]: item for item in rec.items}
    asked = returnable(receipt_no, {no: item[1] for no, item in lines.items()},
                       {int(no): n for no, n in rec.returned.items()}, returns)
    entries = []
    for line_no in sorted(asked):
        _, qty, net, _, _, stamps = lines[line_no]
        before, k = rec.returned.get(str(line_no), 0), asked[line_no]
        entries.append({
            "line_no": line_no, "qty": k, "refund": _part(net, qty, before, k),
            "stamps": {card: n for card, n in ((c, _part(s, qty, before, k))
                                               for c, s in stamps.items()) if n}})
    everything = all(rec.returned.get(str(no), 0) + asked.get(no, 0) >= item[1]
                     for no, item in lines.items())
    if everything:
        draft = reverse_receipt(state, receipt_no, reason=reason)
        taken = draft.data["purchase_points"]
    else:
        taken = _points_taken(rec, asked)
    weights = [(e["line_no"], int(_returned_exact(lines[e["line_no"]], rec, asked)
                                  * 1_000_000)) for e in entries]
    for entry, (_, share) in zip(entries, allocate(taken, weights), strict=True):
        entry["points"] = share
    if everything:
        return replace(draft, data={**draft.data, "returns": entries})
    purchase_stamps: dict[str, int] = {}
    for entry in entries:
        for card, n in entry["stamps"].items():
            purchase_stamps[card] = purchase_stamps.get(card, 0) + n
    data: dict = {"reverses": list(rec.event_ids), "full": False,
                  "purchase_points": taken, "purchase_stamps": purchase_stamps,
                  "returns": entries}
    if reason:
        data["reason"] = check_text(reason, "the reason")
    return EventDraft(kind=Kind.REVERSE, member_id=state.member_id, points=-taken,
                      stamps={card: -n for card, n in purchase_stamps.items()},
                      amount=-sum(e["refund"] for e in entries), ref=receipt_no, data=data)


def _part(total: int, qty: int, before: int, k: int) -> int:
    """The share of `total` of units `before+1 .. before+k` out of `qty`: the shares of
    all units sum to `total` exactly."""
    return total * (before + k) // qty - total * before // qty


def _kept_exact(item: list[Any], returned: int) -> Fraction:
    """The exact points the units of a line not returned earn: its recorded exact points
    in proportion to the part of its earning amount kept."""
    _, qty, _, earning, exact, _ = item
    if not earning:
        return Fraction(0)
    kept = earning - earning * returned // qty
    return Fraction(Decimal(exact)) * kept / earning


def _returned_exact(item: list[Any], rec: ReceiptRecord, asked: dict[int, int]) -> Fraction:
    before = rec.returned.get(str(item[0]), 0)
    return _kept_exact(item, before) - _kept_exact(item, before + asked.get(item[0], 0))


def _points_taken(rec: ReceiptRecord, asked: dict[int, int]) -> int:
    kept = sum((_kept_exact(item, rec.returned.get(str(item[0]), 0) + asked.get(item[0], 0))
                for item in rec.items), Fraction(0))
    rounding = Rounding(rec.earn_rounding) if rec.earn_rounding else Rounding.FLOOR
    if rounding is Rounding.FLOOR:
        after = math.floor(kept)
    elif rounding is Rounding.CEIL:
        after = math.ceil(kept)
    else:
        after = math.floor(kept + Fraction(1, 2))
    held = rec.purchase_points - rec.reversed_purchase_points
    # never gives points: an earn recorded below its rules keeps what it had
    return max(0, held - after)
