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

from loyalty.errors import ReversalError
from loyalty.events import EventDraft, Kind
from loyalty.fold import MemberState
from loyalty.validation import check_text


def reverse_receipt(
    state: MemberState, receipt_no: str, *, refund_amount: int | None = None, reason: str = ""
) -> EventDraft:
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
    data: dict = {"reverses": list(rec.event_ids), "full": full}
    if reason:
        data["reason"] = check_text(reason, "the reason")
    if full:
        points = -(rec.points - rec.reversed_points)
        stamps = {
            card: -(rec.stamps.get(card, 0) - rec.reversed_stamps.get(card, 0))
            for card in rec.stamps
        }
        data["purchase_points"] = rec.purchase_points - rec.reversed_purchase_points
        data["purchase_stamps"] = {
            card: n - rec.reversed_purchase_stamps.get(card, 0)
            for card, n in rec.purchase_stamps.items()
        }
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
