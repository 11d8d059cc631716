"""The receipt model: what a checkout terminal prints, as frozen, typed data.

A `Receipt` holds facts only (amounts, points, names); `printers.layout` decides how
they look. Money is always an integer number of minor units (cents) with the currency's
exponent beside it, never a float, so a receipt shows exactly what the ledger holds.
`format_money` is the domain's (`loyalty.money`), re-exported here.

    >>> format_money(1250, 2, "EUR")
    '12.50 EUR'
    >>> format_points(1234, "Stars")
    '1,234 Stars'
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import date, datetime
from typing import Literal, get_args

from loyalty.money import format_money

__all__ = [
    "RECEIPT_KINDS",
    "TENDER_LABELS",
    "DiscountLine",
    "MemberBlock",
    "Receipt",
    "ReceiptKind",
    "ReceiptLine",
    "StampLine",
    "TaxLine",
    "TenderLine",
    "format_money",
    "format_points",
]

ReceiptKind = Literal[
    "sale", "redemption", "enrolment", "void", "refund", "checkin", "day_report", "test"
]
RECEIPT_KINDS: tuple[str, ...] = get_args(ReceiptKind)


def _is_int(value: object) -> bool:
    # bool is an int subclass; True as an amount is always a bug.
    return isinstance(value, int) and not isinstance(value, bool)


def format_points(points: int, points_name: str) -> str:
    """'1,234 Stars'."""
    if not _is_int(points):
        raise TypeError(f"points must be an integer, not {type(points).__name__}")
    return f"{points:,} {points_name}"


def _check_ints(obj: object, names: tuple[str, ...], *, optional: bool) -> None:
    for name in names:
        value = getattr(obj, name)
        if value is None and optional:
            continue
        if not _is_int(value):
            raise TypeError(
                f"{type(obj).__name__}.{name} must be an integer, not {type(value).__name__}"
            )


def _freeze_tuples(obj: object) -> None:
    # Callers naturally build lists; store tuples so the frozen object is really immutable
    # and hashable.
    for f in fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        if isinstance(value, list):
            object.__setattr__(obj, f.name, tuple(value))


@dataclass(frozen=True, slots=True)
class ReceiptLine:
    """One sold (or returned) article: 'Latte x2 ... 7.00'.

    `description` is the product's name (the mapping falls back to the SKU only when the
    catalogue has no name). `total_minor` is what the line costs after its own discount;
    `discount_minor` (a positive amount) and `discount_label` say what was taken off, and
    `free` marks a free-product reward (the line at 0), so the member sees why.
    """

    description: str
    qty: int
    unit_price_minor: int
    total_minor: int
    discount_minor: int | None = None
    discount_label: str | None = None
    free: bool = False

    def __post_init__(self) -> None:
        _check_ints(self, ("qty", "unit_price_minor", "total_minor"), optional=False)
        _check_ints(self, ("discount_minor",), optional=True)


@dataclass(frozen=True, slots=True)
class DiscountLine:
    """A basket discount: printed '10% off your basket ... -1.44'; `amount_minor` > 0."""

    label: str
    amount_minor: int

    def __post_init__(self) -> None:
        _check_ints(self, ("amount_minor",), optional=False)


@dataclass(frozen=True, slots=True)
class TaxLine:
    """One VAT rate of the tax summary. `rate` is the percent as text ('5.5', '20'), so
    no float reaches the paper; `base_minor` is the amount before tax at that rate."""

    rate: str
    base_minor: int
    tax_minor: int

    def __post_init__(self) -> None:
        _check_ints(self, ("base_minor", "tax_minor"), optional=False)


TENDER_LABELS: dict[str, str] = {
    "cash": "Cash",
    "card": "Card",
    "points": "Points",
    "gift_card": "Gift card",
    "store_credit": "Store credit",
    "voucher": "Voucher",
}
"""Printed names of tender kinds; an unknown kind prints as given (never dropped)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TenderLine:
    """One payment (or, on a return, one refund to an original tender).

    `points` is set for pay-with-points ('Stars 300 ... 3.00'); `code_last4` for a gift
    card or store credit, printed masked ('Gift card ****1234'), never the whole code.
    """

    kind: str
    amount_minor: int
    points: int | None = None
    code_last4: str | None = None

    def __post_init__(self) -> None:
        _check_ints(self, ("amount_minor",), optional=False)
        _check_ints(self, ("points",), optional=True)


@dataclass(frozen=True, slots=True)
class StampLine:
    """Progress on a stamp card: printed 'Coffee card: 7 of 10'."""

    card_name: str
    have: int
    need: int

    def __post_init__(self) -> None:
        _check_ints(self, ("have", "need"), optional=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MemberBlock:
    """What the member sees about their account, plus the QR code of their card."""

    name: str
    card_number: str
    qr_payload: str
    """Signed payload made by `loyalty.member_qr`, e.g. 'LOY2:6012345678901234:KZDV...'."""
    balance: int
    tier: str
    next_tier: str | None = None
    spend_to_next_tier_minor: int | None = None
    points_to_next_reward: int | None = None
    next_reward_name: str | None = None
    stamps: tuple[StampLine, ...] = ()
    expiring: tuple[tuple[int, date], ...] = ()
    """(points, date they expire on), soonest first."""

    def __post_init__(self) -> None:
        _freeze_tuples(self)
        _check_ints(self, ("balance",), optional=False)
        _check_ints(self, ("spend_to_next_tier_minor", "points_to_next_reward"), optional=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class Receipt:
    """Everything any receipt kind can print; fields a kind does not use stay empty."""

    kind: ReceiptKind
    store_name: str
    receipt_no: str
    terminal: str
    """Origin that printed it, e.g. 'S001-T1'."""
    printed_at: datetime
    """Timezone-aware (normally UTC); shown in the time zone given to the renderer."""
    store_address_lines: tuple[str, ...] = ()
    currency_code: str = "EUR"
    currency_exponent: int = 2
    points_name: str = "Points"
    lines: tuple[ReceiptLine, ...] = ()
    total_minor: int | None = None
    points_earned: int | None = None
    """Everything credited by this receipt, promotions and bonuses included."""
    promotions: tuple[str, ...] = ()
    """Names of the promotions that applied, e.g. 'Double Stars Tuesday x2'."""
    bonuses: tuple[tuple[str, int], ...] = ()
    """(name, points) of one-off bonuses, e.g. ('Store visit', 5)."""
    points_spent: int | None = None
    reward_name: str | None = None
    points_reversed: int | None = None
    """Points taken back by a void or refund (a positive number)."""
    vouchers: tuple[tuple[str, str, str | None], ...] = ()
    """(code, reward name, valid until or None) of vouchers this receipt issued: a completed
    stamp card, a gift card or store credit bought with points. The code is how the member
    uses it, in store or online."""
    offline_approved: bool = False
    """The terminal approved this without the hub; the receipt says so."""
    member: MemberBlock | None = None
    footer_lines: tuple[str, ...] = ()
    voided_receipt_no: str | None = None
    """The original receipt a void or refund reverses."""
    refund_minor: int | None = None
    report_rows: tuple[tuple[str, str], ...] = ()
    """(label, value) rows of a day report, already formatted."""
    subtotal_minor: int | None = None
    """Sum of the lines before basket discounts; printed only when there are discounts."""
    discounts: tuple[DiscountLine, ...] = ()
    tax: tuple[TaxLine, ...] = ()
    tax_included: bool = True
    """Prices include tax (the European shelf price); False prints 'Tax added'."""
    tenders: tuple[TenderLine, ...] = ()
    change_minor: int | None = None
    rounding_minor: int | None = None
    """Cash rounding applied to the total (signed: -2 rounds 14.42 down to 14.40)."""
    refunds: tuple[TenderLine, ...] = ()
    """A return's refund per original tender."""
    barcode: bool = False
    """Print the receipt number as a Code128 barcode, so a return can scan it."""
    copy: bool = False
    """A reprint: 'COPY' at the top and the bottom."""

    def __post_init__(self) -> None:
        _freeze_tuples(self)
        if self.kind not in RECEIPT_KINDS:
            raise ValueError(
                f"Receipt.kind must be one of {', '.join(RECEIPT_KINDS)}, not {self.kind!r}"
            )
        if self.printed_at.tzinfo is None or self.printed_at.utcoffset() is None:
            raise ValueError("Receipt.printed_at must be timezone-aware (UTC)")
        _check_ints(self, ("currency_exponent",), optional=False)
        if self.currency_exponent < 0:
            raise ValueError("Receipt.currency_exponent must be >= 0")
        _check_ints(
            self,
            ("total_minor", "points_earned", "points_spent", "points_reversed", "refund_minor",
             "subtotal_minor", "change_minor", "rounding_minor"),
            optional=True,
        )
        for name, points in self.bonuses:
            if not _is_int(points):
                raise TypeError(f"Receipt.bonuses: points of {name!r} must be an integer")

    def money(self, minor: int, *, code: bool = True) -> str:
        """Format an amount in this receipt's currency."""
        return format_money(minor, self.currency_exponent, self.currency_code if code else "")

    def points(self, points: int) -> str:
        """Format points in this receipt's points currency: '1,234 Stars'."""
        return format_points(points, self.points_name)
