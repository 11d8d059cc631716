"""The receipt layout, written once: a `Receipt` becomes a list of simple blocks.

Both renderers (`render_text` for the on-screen preview, `render_escpos` for the printer)
walk the same block list, so the preview is what the paper shows. Blocks arrive already
fitted to the paper: text is wrapped, columns are padded, so a renderer never measures.

    >>> blocks = layout(receipt, width_for(80))
    >>> [type(b).__name__ for b in blocks][:3]
    ['Text', 'Text', 'Columns']

Widths are Font A characters per line (`PAPER_WIDTH_CHARS`); double-size text takes two
columns per character and is wrapped at half the width.
"""

from __future__ import annotations

import textwrap
import unicodedata
from dataclasses import dataclass
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from loyalty.validation import is_control
from printers.exceptions import ReceiptRenderError
from printers.receipt import TENDER_LABELS, MemberBlock, Receipt, TenderLine

__all__ = [
    "COPY_BANNER",
    "PAPER_WIDTH_CHARS",
    "QR",
    "Align",
    "Barcode",
    "Block",
    "Columns",
    "Cut",
    "Feed",
    "Rule",
    "Text",
    "copy_banner",
    "format_card_number",
    "layout",
    "width_for",
]

PAPER_WIDTH_CHARS: dict[int, int] = {58: 32, 80: 48}
"""Characters per line in Font A for each paper width in mm (the only width table)."""

OFFLINE_NOTICE = "Approved OFFLINE - subject to hub confirmation"

COPY_BANNER = "*** COPY ***"
"""Printed double size at the top and the bottom of a reprint: a copy must never pass for
the original (a second refund, a second gift)."""

KIND_TITLES: dict[str, str] = {
    "redemption": "REWARD",
    "enrolment": "MEMBER CARD",
    "void": "VOID",
    "refund": "REFUND",
    "checkin": "CHECK-IN",
    "day_report": "DAY REPORT",
    "test": "PRINTER TEST",
}

Align = Literal["left", "center", "right"]


@dataclass(frozen=True, slots=True)
class Text:
    """One line of text that already fits the width (double: counts twice)."""

    text: str
    align: Align = "left"
    bold: bool = False
    double: bool = False


@dataclass(frozen=True, slots=True)
class Rule:
    """A full-width line of `char`."""

    char: str = "-"


@dataclass(frozen=True, slots=True)
class Columns:
    """`left` flush left and `right` flush right on one line; `left` gives way if too long."""

    left: str
    right: str
    bold: bool = False

    def fit(self, width: int) -> str:
        """The padded line, exactly `width` characters long."""
        right = self.right[:width]
        room = width - len(right) - 1 if right else width
        if room <= 0:
            return right.rjust(width)
        left = self.left[:room]
        return left + " " * (width - len(left) - len(right)) + right


@dataclass(frozen=True, slots=True)
class QR:
    """The member's QR code, with `caption` (the card number) centred under it."""

    payload: str
    caption: str
    large: bool = False


@dataclass(frozen=True, slots=True)
class Barcode:
    """The receipt number as a Code128 barcode, the number printed under it."""

    data: str


@dataclass(frozen=True, slots=True)
class Feed:
    """Blank lines."""

    lines: int = 1


@dataclass(frozen=True, slots=True)
class Cut:
    """End of the receipt: feed past the cutter and cut."""


Block = Text | Rule | Columns | QR | Barcode | Feed | Cut


def width_for(paper_mm: int) -> int:
    """Characters per line for a paper width in mm (58 or 80)."""
    try:
        return PAPER_WIDTH_CHARS[paper_mm]
    except KeyError:
        known = " or ".join(str(mm) for mm in PAPER_WIDTH_CHARS)
        raise ReceiptRenderError(
            f"paper width {paper_mm} mm is not supported: use {known}"
        ) from None


def _clean(text: str) -> str:
    # Names come from people typing at a till or a web form. A stray ESC would be sent to
    # the printer as a command, and a newline would break the fitted layout, so control
    # characters (loyalty.validation's rule: C0, C1, line separators) become spaces and
    # invisible format characters (bidi overrides among them) go. NFC turns 'e' plus a
    # combining accent into the single 'é' a code page can hold.
    out = []
    for ch in unicodedata.normalize("NFC", str(text)):
        category = unicodedata.category(ch)
        if is_control(ch) and category != "Cf":
            out.append(" ")
        elif category.startswith("C"):
            continue
        else:
            out.append(ch)
    return "".join(out)


def format_card_number(card_number: str) -> str:
    """'6012345678901234' -> '6012 3456 7890 1234', so a cashier can read it out."""
    card = card_number.strip()
    if card.isdigit():
        return " ".join(card[i : i + 4] for i in range(0, len(card), 4))
    return card


def _signed(points: int) -> str:
    return f"{points:+,}"


class _Page:
    """Collects blocks, wrapping and cleaning text on the way in."""

    def __init__(self, width: int) -> None:
        if width < 16:
            raise ReceiptRenderError(
                f"a receipt needs at least 16 characters per line, not {width}"
            )
        self.width = width
        self.blocks: list[Block] = []

    def text(
        self, text: str, align: Align = "left", *, bold: bool = False, double: bool = False
    ) -> None:
        room = self.width // 2 if double else self.width
        lines = textwrap.wrap(_clean(text), room, break_long_words=True) or [""]
        for line in lines:
            self.blocks.append(Text(line, align, bold, double))

    def columns(self, left: str, right: str, *, bold: bool = False) -> None:
        self.blocks.append(Columns(_clean(left), _clean(right), bold))

    def rule(self, char: str = "-") -> None:
        # Sections that happen to be empty must not leave two rules in a row.
        if self.blocks and isinstance(self.blocks[-1], Rule):
            return
        self.blocks.append(Rule(char))

    def feed(self, lines: int = 1) -> None:
        self.blocks.append(Feed(lines))

    def qr(self, payload: str, caption: str, *, large: bool = False) -> None:
        if payload:
            self.blocks.append(QR(payload, _clean(caption), large))

    def barcode(self, data: str) -> None:
        if data:
            self.blocks.append(Barcode(_clean(data)))

    def cut(self) -> None:
        self.blocks.append(Cut())

    def amount_row(self, label: str, amount: str, *, bold: bool = False) -> None:
        # The label gives way (truncated), never the amount.
        room = max(self.width - len(amount) - 1, 1)
        self.columns(_clean(label)[:room], amount, bold=bold)


def copy_banner(width: int) -> list[Block]:
    """The COPY mark of a reprint, also put around bytes printed before (`printing.reprint`)."""
    page = _Page(width)
    page.text(COPY_BANNER, "center", bold=True, double=True)
    return page.blocks


def _local_time(receipt: Receipt, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ReceiptRenderError(f"unknown time zone {tz!r}: use a name like Europe/Paris") from exc
    local = receipt.printed_at.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def _header(page: _Page, r: Receipt, tz: str) -> None:
    if r.copy:
        page.blocks.extend(copy_banner(page.width))
    page.text(r.store_name, "center", bold=True)
    for line in r.store_address_lines:
        page.text(line, "center")
    page.columns(f"Receipt {r.receipt_no}", r.terminal)
    page.text(_local_time(r, tz))
    title = KIND_TITLES.get(r.kind)
    if title:
        page.rule()
        page.text(title, "center", bold=True, double=True)
    page.rule()


def _reference(page: _Page, r: Receipt) -> None:
    if r.voided_receipt_no is None:
        return
    verb = "Refund of" if r.kind == "refund" else "Voids"
    page.text(f"{verb} receipt {r.voided_receipt_no}", bold=True)
    page.rule()


def tender_label(r: Receipt, tender: TenderLine) -> str:
    """'Cash', 'Stars 300', 'Gift card ****1234' (the code is never printed whole)."""
    if tender.kind == "points" and tender.points is not None:
        return f"{r.points_name} {tender.points:,}"
    label = TENDER_LABELS.get(tender.kind, tender.kind.replace("_", " ").capitalize())
    if tender.code_last4:
        label += f" ****{tender.code_last4[-4:]}"
    return label


def _items(page: _Page, r: Receipt) -> None:
    money = r.money
    if r.kind == "refund" and r.lines and (r.refunds or r.tax):
        # A line return lists only what came back; say so (an old refund by amount keeps
        # its layout).
        page.text("Returned", bold=True)
    for line in r.lines:
        amount = money(line.total_minor, code=False)
        suffix = f" x{line.qty}"
        # Cut the description, not the quantity, when the line is too long.
        room = max(page.width - len(amount) - 1 - len(suffix), 1)
        page.columns(_clean(line.description)[:room] + suffix, amount)
        if line.free:
            page.text(f"  FREE: {line.discount_label or 'reward'}")
        elif line.discount_minor:
            page.amount_row(f"  {line.discount_label or 'Discount'}",
                            money(-line.discount_minor, code=False))
    if r.lines:
        page.rule()
    if r.discounts:
        if r.subtotal_minor is not None:
            page.amount_row("Subtotal", money(r.subtotal_minor, code=False))
        for discount in r.discounts:
            page.amount_row(discount.label, money(-discount.amount_minor, code=False))
    if r.rounding_minor:
        page.amount_row("Rounding", money(r.rounding_minor, code=False))
    if r.total_minor is not None:
        page.columns("TOTAL", money(r.total_minor), bold=True)
    for tender in r.tenders:
        page.amount_row(tender_label(r, tender), money(tender.amount_minor, code=False))
    if r.change_minor is not None and r.tenders:
        page.columns("CHANGE", money(r.change_minor), bold=True)
    if r.refund_minor is not None:
        page.columns("REFUNDED", money(r.refund_minor), bold=True)
    for refund in r.refunds:
        page.amount_row(f"  to {tender_label(r, refund)}", money(refund.amount_minor, code=False))
    if r.total_minor is not None or r.refund_minor is not None or r.tenders:
        page.rule()
    _tax(page, r)


def _tax(page: _Page, r: Receipt) -> None:
    if not r.tax:
        return
    # Three columns: the rate flush left, base and tax right-aligned in fixed fields so the
    # rows line up at 32, 42 and 48 characters alike.
    field = max(len(r.money(t.base_minor, code=False)) for t in r.tax) + 1
    field = max(field, 7)

    def row(rate: str, base: str, tax: str) -> None:
        page.columns(rate, base.rjust(field) + tax.rjust(field))

    row("Tax", "Base", "Tax")
    for t in r.tax:
        row(f"{t.rate}%", r.money(t.base_minor, code=False), r.money(t.tax_minor, code=False))
    if len(r.tax) > 1:
        row("", r.money(sum(t.base_minor for t in r.tax), code=False),
            r.money(sum(t.tax_minor for t in r.tax), code=False))
    page.text("Prices include tax" if r.tax_included else "Tax added to prices")
    page.rule()


def _report(page: _Page, r: Receipt) -> None:
    for label, value in r.report_rows:
        page.columns(label, value)
    if r.report_rows:
        page.rule()


def _points(page: _Page, r: Receipt) -> None:
    name = r.points_name
    start = len(page.blocks)
    if r.points_earned is not None:
        page.columns(f"{name} earned", _signed(r.points_earned), bold=True)
    for promotion in r.promotions:
        page.text(f"  {promotion}")
    for bonus, points in r.bonuses:
        page.columns(f"  {bonus}", _signed(points))
    if r.points_spent is not None:
        page.columns(f"{name} spent", _signed(-abs(r.points_spent)), bold=True)
    if r.reward_name:
        page.text(f"Reward: {r.reward_name}")
    if r.points_reversed is not None:
        page.columns(f"{name} reversed", _signed(-abs(r.points_reversed)), bold=True)
    for code, reward, until in r.vouchers:
        page.columns("Voucher", code, bold=True)
        page.text(f"  {reward}" + (f", valid until {until}" if until else ""))
    if r.offline_approved:
        page.text(OFFLINE_NOTICE, bold=True)
    if len(page.blocks) > start:
        page.rule()


def _progress(page: _Page, r: Receipt, m: MemberBlock) -> None:
    page.text(f"Balance: {r.points(m.balance)}", bold=True)
    if m.next_tier and m.spend_to_next_tier_minor is not None:
        spend = r.money(m.spend_to_next_tier_minor)
        page.text(f"{m.tier} - spend {spend} more for {m.next_tier}")
    elif m.tier:
        page.text(f"Tier: {m.tier}")
    if m.next_reward_name and m.points_to_next_reward is not None:
        page.text(f"{r.points(m.points_to_next_reward)} to {m.next_reward_name}")
    for stamp in m.stamps:
        page.text(f"{stamp.card_name}: {stamp.have} of {stamp.need}")
    for points, day in m.expiring:
        page.text(f"{r.points(points)} expire on {day.isoformat()}")


def _member(page: _Page, r: Receipt, m: MemberBlock) -> None:
    page.text(f"Member: {m.name}")
    _progress(page, r, m)
    page.feed()
    page.qr(m.qr_payload, format_card_number(m.card_number))
    page.feed()


def _enrolment(page: _Page, r: Receipt, m: MemberBlock) -> None:
    page.text(f"Welcome, {m.name}!", "center", bold=True)
    page.text(f"This is your {r.store_name} member card.", "center")
    page.feed()
    page.qr(m.qr_payload, format_card_number(m.card_number), large=True)
    page.feed()
    page.text(f"Show this code at checkout to collect {r.points_name}.", "center")
    page.rule()
    _points(page, r)
    _progress(page, r, m)


def _test_page(page: _Page, r: Receipt) -> None:
    page.text(f"{page.width} characters per line")
    # The ruler shows at a glance whether the configured paper width is right.
    page.text("".join(str(i % 10) for i in range(1, page.width + 1)))
    page.columns("Left", "Right")
    page.text("Centred", "center")
    page.text("Bold", bold=True)
    page.text("Double", double=True)
    page.text("Accents: é è à ü ö ñ ç ß")
    page.text(f"Points: {r.points(1234)}")
    page.feed()
    if r.member is not None:
        page.qr(r.member.qr_payload, format_card_number(r.member.card_number))
    else:
        page.qr(f"TEST:{r.terminal}:{r.receipt_no}", "Test QR code")
    page.feed()


def layout(receipt: Receipt, width_chars: int, tz: str = "UTC") -> list[Block]:
    """Lay out `receipt` for lines of `width_chars` characters, times shown in `tz`."""
    page = _Page(width_chars)
    r = receipt
    _header(page, r, tz)
    _reference(page, r)
    _items(page, r)
    _report(page, r)
    if r.kind == "enrolment" and r.member is not None:
        # The card slip leads with the welcome and the card; the bonus comes after.
        _enrolment(page, r, r.member)
    else:
        _points(page, r)
        if r.kind == "test":
            _test_page(page, r)
        elif r.member is not None:
            _member(page, r, r.member)
    if r.footer_lines:
        page.rule()
        for line in r.footer_lines:
            page.text(line, "center")
    if r.barcode:
        # Last before the cut: the return desk scans it without hunting through the slip.
        page.feed()
        page.barcode(r.receipt_no)
    if r.copy:
        page.rule()
        page.blocks.extend(copy_banner(page.width))
    page.cut()
    return page.blocks
