"""The receipt model and money formatting."""

from __future__ import annotations

from datetime import datetime

import pytest

from printers import Receipt, ReceiptLine, format_money, format_points
from tests.printers.receipt_samples import STORE, member, sale


@pytest.mark.parametrize(
    ("minor", "exponent", "code", "text"),
    [
        (1250, 2, "EUR", "12.50 EUR"),
        (5, 2, "EUR", "0.05 EUR"),
        (-1, 2, "EUR", "-0.01 EUR"),
        (-1250, 2, "", "-12.50"),
        (123456789, 2, "EUR", "1,234,567.89 EUR"),
        (1500, 0, "JPY", "1,500 JPY"),
        (1234, 3, "KWD", "1.234 KWD"),
        (0, 2, "EUR", "0.00 EUR"),
    ],
)
def test_format_money(minor, exponent, code, text):
    assert format_money(minor, exponent, code) == text


def test_format_money_refuses_floats_and_bools():
    with pytest.raises(TypeError, match="integer minor units"):
        format_money(12.5, 2, "EUR")
    with pytest.raises(TypeError):
        format_money(True, 2, "EUR")
    with pytest.raises(ValueError, match="exponent"):
        format_money(1, -1, "EUR")


def test_format_points():
    assert format_points(1234, "Stars") == "1,234 Stars"
    assert format_points(-20, "Étoiles") == "-20 Étoiles"


def test_receipt_is_frozen_and_lists_become_tuples():
    receipt = sale(footer_lines=["a", "b"], promotions=["x"])
    assert receipt.footer_lines == ("a", "b")
    assert receipt.promotions == ("x",)
    with pytest.raises(AttributeError):
        receipt.total_minor = 1  # type: ignore[misc]
    assert hash(sale()) == hash(sale())


def test_receipt_validation_names_the_field():
    with pytest.raises(ValueError, match="printed_at must be timezone-aware"):
        sale(printed_at=datetime(2026, 3, 10, 14, 5))
    with pytest.raises(ValueError, match="Receipt.kind must be one of"):
        sale(kind="invoice")
    with pytest.raises(TypeError, match="Receipt.total_minor must be an integer"):
        sale(total_minor=14.4)
    with pytest.raises(TypeError, match="ReceiptLine.total_minor"):
        ReceiptLine("Latte", 1, 350, 3.5)
    with pytest.raises(TypeError, match="MemberBlock.balance"):
        member(balance=None)
    with pytest.raises(TypeError, match="bonuses"):
        sale(bonuses=(("Store visit", 5.0),))


def test_money_helpers_use_the_receipt_currency():
    receipt = Receipt(
        kind="sale", receipt_no="1", currency_code="JPY", currency_exponent=0, **STORE
    )
    assert receipt.money(1500) == "1,500 JPY"
    assert receipt.money(1500, code=False) == "1,500"
    assert receipt.points(5) == "5 Stars"
