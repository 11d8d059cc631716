"""A sale as the till sees it: lines with product, category, quantity and unit price.

    >>> sale = make_sale(total=1250)                                  # amount only
    >>> sale = make_sale(lines=[SaleLine("LATTE", "coffee", 2, 350)])  # lines, total 700
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from loyalty.errors import MoneyError, SaleError
from loyalty.money import MAX_SALE_MINOR, parse_amount
from loyalty.validation import check_text, is_ascii_digits

MAX_QTY = 9999
OTHER_SKU = "OTHER"
"""The SKU of what is sold by amount, without a product (the rest of a total, an open item)."""
_SKU = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")


@dataclass(frozen=True)
class SaleLine:
    sku: str
    category: str
    qty: int
    unit_price: int

    @property
    def total(self) -> int:
        return self.qty * self.unit_price


@dataclass(frozen=True)
class Sale:
    lines: tuple[SaleLine, ...]
    total: int


def parse_line(text: str, exponent: int = 2) -> SaleLine:
    """Parse "SKU,CATEGORY,QTY,UNIT_PRICE", e.g. "LATTE,coffee,2,3.50"."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 4:
        raise SaleError(
            f"line '{text}' must be SKU,CATEGORY,QTY,UNIT_PRICE, e.g. LATTE,coffee,2,3.50"
        )
    sku, category, qty_text, price_text = parts
    if not is_ascii_digits(qty_text):
        raise SaleError(f"line '{text}': quantity '{qty_text}' must be a whole number")
    try:
        price = parse_amount(price_text, exponent)
    except MoneyError as exc:
        raise SaleError(f"line '{text}': {exc}") from exc
    return make_line(sku, category.lower(), int(qty_text), price)


def make_line(sku: str, category: str, qty: int, unit_price: int) -> SaleLine:
    if not _SKU.fullmatch(sku):  # match() would let "LATTE\n" through ($)
        raise SaleError(f"SKU '{sku}' must be letters, digits, . _ / - (max 64)")
    check_text(category, f"the category of {sku}")
    if not 1 <= qty <= MAX_QTY:
        raise SaleError(f"quantity {qty} must be between 1 and {MAX_QTY}")
    if unit_price < 0 or unit_price > MAX_SALE_MINOR:
        raise SaleError(f"unit price of {sku} is out of range")
    return SaleLine(sku, category, qty, unit_price)


def make_sale(lines: list[SaleLine] | tuple[SaleLine, ...] = (), total: int | None = None) -> Sale:
    """A sale from lines and/or a total. A total above the lines' sum adds an
    uncategorised line for the rest (items rung up without a SKU)."""
    lines = tuple(lines)
    lines_sum = sum(line.total for line in lines)
    if total is None:
        total = lines_sum
    if not isinstance(total, int) or isinstance(total, bool):
        raise SaleError("the total must be an integer amount of minor units")
    if total <= 0:
        raise SaleError("a sale must be for more than 0")
    if total > MAX_SALE_MINOR:
        raise SaleError("the total is larger than any single sale this system accepts")
    if lines_sum > total:
        raise SaleError("the lines add up to more than the total")
    if total > lines_sum:
        lines = (*lines, SaleLine(OTHER_SKU, "", 1, total - lines_sum))
    return Sale(lines, total)
