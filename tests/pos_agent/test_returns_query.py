"""pos_agent.returns: the recent sales and one sale's returnable lines, checked against what
`refund_lines` and `void_receipt` leave in the terminal database."""

from __future__ import annotations

import pytest

from loyalty.basket import Basket, add_item
from loyalty.errors import ReversalError
from loyalty.sale import make_sale
from loyalty.tender import cash
from pos_agent.exceptions import ReceiptNotFound
from pos_agent.members import enrol
from pos_agent.operations import checkout, record_sale, refund_lines, void_receipt
from pos_agent.returns import (
    ReturnLine,
    normal_receipt_no,
    receipt_for_return,
    recent_receipts,
    returned_quantities,
)


def basket() -> Basket:
    """2 lattes at 3.50 (line 1) and a croissant at 1.80 (line 2): 8.80."""
    b = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                 tax_rate=550, qty=2)
    return add_item(b, sku="CROISSANT", name="Croissant", category="pastry", unit_price=180,
                    tax_rate=550)


def test_recent_receipts_newest_first_with_member_refunds_and_voids(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")  # an enrolment receipt: left out
    first = checkout(store, ann.member_id, basket(), [], [cash(2000)])
    second = checkout(store, None, basket(), [], [cash(2000)])
    third = checkout(store, None, basket(), [], [cash(1000)])
    by_amount = record_sale(store, None, make_sale(total=500))  # no lines
    refund_lines(store, first.receipt_no, [(1, 1)], reason="cold")
    void_receipt(store, third.receipt_no)

    recent = recent_receipts(store)
    assert [r.receipt_no for r in recent] == [by_amount.receipt_no, third.receipt_no,
                                              second.receipt_no, first.receipt_no]
    latest, voided, plain, member = recent
    assert (latest.total, latest.returnable) == (500, False)  # recorded by amount
    assert (voided.voided, voided.returnable) == (True, False)
    assert (plain.member_name, plain.refunded, plain.voided, plain.returnable) == (
        None, 0, False, True)
    assert (member.member_id, member.member_name, member.total, member.refunded,
            member.returnable) == (ann.member_id, "Ann Lee", 880, 350, True)
    assert member.created_at < plain.created_at
    assert [r.receipt_no for r in recent_receipts(store, limit=2)] == [
        by_amount.receipt_no, third.receipt_no]


def test_recent_receipt_fully_returned_is_not_returnable(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    refund_lines(store, sale.receipt_no, [(1, 2), (2, 1)], reason="wrong order")
    (only,) = recent_receipts(store)
    assert (only.receipt_no, only.refunded, only.voided, only.returnable) == (
        sale.receipt_no, 880, False, False)


def test_receipt_for_return_after_a_partial_return(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    sale = checkout(store, ann.member_id, basket(), [], [cash(2000)])
    refund_lines(store, sale.receipt_no, [(1, 1)], reason="cold")

    receipt = receipt_for_return(store, f"  {sale.receipt_no.lower()} \r\n")  # as typed
    assert receipt.receipt_no == sale.receipt_no
    assert (receipt.member_name, receipt.total, receipt.refunded) == ("Ann Lee", 880, 350)
    assert receipt.lines == (
        ReturnLine(1, "LATTE", "Latte", sold=2, returned=1, unit_price=350, net=700),
        ReturnLine(2, "CROISSANT", "Croissant", sold=1, returned=0, unit_price=180, net=180),
    )
    assert [ln.left for ln in receipt.lines] == [1, 1]
    assert receipt.returnable
    assert receipt.refund_preview([(1, 1), (2, 1)]) == 530
    assert receipt.check([(2, 1)]) == {2: 1}
    with pytest.raises(ReversalError, match="at most 1 more can be returned"):
        receipt.check([(1, 2)])  # the rule refund_lines applies
    assert returned_quantities(store.conn, [sale.receipt_no, "S001-T1-999999"]) == {
        sale.receipt_no: {1: 1}}

    refund_lines(store, sale.receipt_no, [(1, 1), (2, 1)], reason="cold")
    done = receipt_for_return(store, sale.receipt_no)
    assert [(ln.returned, ln.left) for ln in done.lines] == [(2, 0), (1, 0)]
    assert not done.returnable


def test_preview_is_what_refund_lines_gives_back_without_a_member(store):
    b = add_item(Basket(), sku="MUFFIN", name="Muffin", category="pastry", unit_price=333,
                 tax_rate=550, qty=3)
    sale = checkout(store, None, b, [], [cash(2000)])
    receipt = receipt_for_return(store, sale.receipt_no)
    preview = receipt.refund_preview([(1, 2)])
    assert preview == refund_lines(store, sale.receipt_no, [(1, 2)], reason="stale").amount


def test_voided_receipt_refused(store):
    sale = checkout(store, None, basket(), [], [cash(2000)])
    void = void_receipt(store, sale.receipt_no)
    with pytest.raises(ReceiptNotFound, match=f"was voided by {void.receipt_no}"):
        receipt_for_return(store, sale.receipt_no)


def test_unknown_not_a_sale_and_without_lines_refused(store):
    ann = enrol(store, name="Ann Lee", phone="+33612345678")
    by_amount = record_sale(store, None, make_sale(total=500))
    with pytest.raises(ReceiptNotFound, match="no receipt S001-T1-999999 on this terminal"):
        receipt_for_return(store, " s001-t1-999999")
    with pytest.raises(ReceiptNotFound, match="type or scan the receipt number"):
        receipt_for_return(store, "   ")
    with pytest.raises(ReceiptNotFound, match="is an enrolment receipt, not a sale"):
        receipt_for_return(store, ann.receipt_no)
    with pytest.raises(ReceiptNotFound, match="recorded without its lines"):
        receipt_for_return(store, by_amount.receipt_no)


def test_refunded_by_amount_refused(store):
    from pos_agent.operations import refund_receipt

    sale = checkout(store, None, basket(), [], [cash(2000)])
    refund_receipt(store, sale.receipt_no, 100)
    with pytest.raises(ReceiptNotFound, match="refunded by amount"):
        receipt_for_return(store, sale.receipt_no)
    assert not recent_receipts(store)[0].returnable


def test_normal_receipt_no():
    assert normal_receipt_no(" s001-t1-e2-000042\r\n") == "S001-T1-E2-000042"
