"""Tenders: change, cash rounding, split payments, the errors a cashier reads (issue 17)."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.basket import Applied, Basket, add_item, price
from loyalty.program import load_program, load_program_text
from loyalty.tender import (
    TenderError,
    TenderKind,
    card,
    cash,
    gift_card,
    max_points,
    points,
    round_cash,
    settle,
)

EXAMPLE = load_program("config.example.toml")


def ticket(program=EXAMPLE, applied=()):
    b = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                 tax_rate=550, qty=2)
    b = add_item(b, sku="CROISSANT", name="Croissant", category="pastry", unit_price=180,
                 tax_rate=550)
    b = add_item(b, sku="MUG", name="Mug", category="goods", unit_price=1200, tax_rate=2000)
    return price(program, b, list(applied))


def test_cash_gives_change():
    t = ticket(applied=[Applied("ten-off")])  # 18.72
    s = settle(EXAMPLE, t, [cash(2000)])
    assert (s.due, s.paid, s.change, s.rounding, s.remaining) == (1872, 1872, 128, 0, 0)
    assert s.by_kind() == {"cash": 1872}


def test_chf_cash_rounding_to_five_centimes():
    text = Path("config.example.toml").read_text().replace(
        'currency = "EUR"', 'currency = "CHF"').replace("cash_rounding = 0",
                                                          'cash_rounding = "0.05"')
    chf = load_program_text(text)
    assert chf.cash_rounding == 5
    assert [round_cash(chf, a) for a in (1872, 1873, 1875, 1877, 1870)] == [
        1870, 1875, 1875, 1875, 1870]
    t = ticket(chf, [Applied("ten-off")])  # 18.72 -> 18.70 in cash
    s = settle(chf, t, [cash(2000)])
    assert (s.due, s.rounding, s.change) == (1870, -2, 130)
    # a card pays to the centime: no rounding
    assert settle(chf, t, [card(1872)]).rounding == 0
    # part card, cash for the rest: only the cash part rounds (3.72 -> 3.70)
    s = settle(chf, t, [cash(500), card(1500)])
    assert (s.due, s.rounding, s.change) == (1870, -2, 130)


def test_split_cash_card_points():
    t = ticket()  # 20.80
    s = settle(EXAMPLE, t, [cash(1000), card(500), points(EXAMPLE, 300)], spendable=800,
               complete=False)
    # points first (300 x 0.01 = 3.00), then the card 5.00, then cash 10.00 of 12.80
    assert [x.kind for x in s.tenders] == [TenderKind.POINTS, TenderKind.CARD,
                                           TenderKind.CASH]
    assert (s.paid, s.remaining) == (1800, 280)
    assert s.points_spent == 300 and s.points_value == 300
    with pytest.raises(TenderError, match="not enough paid: 2.80 EUR still to pay"):
        settle(EXAMPLE, t, [cash(1000), card(500), points(EXAMPLE, 300)])
    s = settle(EXAMPLE, t, [cash(2000), card(500), points(EXAMPLE, 300)])
    assert (s.paid, s.change) == (2080, 720)


def test_partial_settlement_answers_what_is_left():
    s = settle(EXAMPLE, ticket(), [card(500)], complete=False)
    assert (s.paid, s.remaining, s.change) == (500, 1580, 0)


def test_card_and_points_never_give_change():
    t = ticket()
    with pytest.raises(TenderError, match="card 25.00 EUR is more than the 20.80 EUR left "
                                          "to pay: a card payment gives no change"):
        settle(EXAMPLE, t, [card(2500)])
    small = price(EXAMPLE, add_item(Basket(), sku="X", name="X", category="x",
                                    unit_price=150, tax_rate=0))
    with pytest.raises(TenderError, match="use fewer Stars"):
        settle(EXAMPLE, small, [points(EXAMPLE, 200)])
    with pytest.raises(TenderError, match="nothing is left to pay in cash"):
        settle(EXAMPLE, small, [card(150), cash(100)])


def test_points_limits():
    t = ticket()
    with pytest.raises(TenderError, match="at least 100"):
        settle(EXAMPLE, t, [points(EXAMPLE, 50), cash(2000)])
    big = price(EXAMPLE, add_item(Basket(), sku="X", name="X", category="x",
                                  unit_price=5000, tax_rate=0))
    with pytest.raises(TenderError, match="at most 2,000 Stars per payment"):
        settle(EXAMPLE, big, [points(EXAMPLE, 2500), cash(5000)])
    with pytest.raises(TenderError, match="the member has 250 Stars to spend, not 300"):
        settle(EXAMPLE, t, [points(EXAMPLE, 300), cash(2000)], spendable=250)
    assert max_points(EXAMPLE, 2080, 5000) == 2000
    assert max_points(EXAMPLE, 2080, 800) == 800
    assert max_points(EXAMPLE, 90, 800) == 0  # 90 points is below min_points
    with pytest.raises(TenderError):
        points(EXAMPLE, 0)


def test_gift_card_is_a_tender_record():
    s = settle(EXAMPLE, ticket(), [gift_card(" gx7k2 ", 1000), cash(1080)])
    assert s.tenders[0].code == "GX7K2" and s.change == 0 and s.remaining == 0


