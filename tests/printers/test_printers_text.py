"""The plain-text preview, checked line by line."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from printers import (
    PAPER_WIDTH_CHARS,
    Columns,
    Receipt,
    ReceiptLine,
    ReceiptRenderError,
    layout,
    render_text,
)
from tests.printers.receipt_samples import PAYLOAD, STORE, day_report, enrolment, member, sale

SALE_58 = [
    "          Café Étoile",
    "       12 Rue de la Paix",
    "          75002 Paris",
    "Receipt 000123           S001-T1",
    "2026-03-10 15:05 CET",
    "--------------------------------",
    "Latte x2                    7.00",
    "Blueberry muffin with cr x1 3.20",
    "Croissant x3                4.20",
    "--------------------------------",
    "TOTAL                  14.40 EUR",
    "--------------------------------",
    "Stars earned                 +33",
    "  Double Stars Tuesday x2",
    "  Store visit                 +5",
    "Approved OFFLINE - subject to",
    "hub confirmation",
    "--------------------------------",
    "Member: José Müller",
    "Balance: 1,234 Stars",
    "Silver - spend 45.00 EUR more",
    "for Gold",
    "80 Stars to Free Latte",
    "Coffee card: 7 of 10",
    "120 Stars expire on 2026-12-31",
    "",
    "   [QR: 6012 3456 7890 1234]",
    "      6012 3456 7890 1234",
    "",
    "--------------------------------",
    "   Thank you for your visit!",
]

SALE_80 = [
    "                  Café Étoile",
    "               12 Rue de la Paix",
    "                  75002 Paris",
    "Receipt 000123                           S001-T1",
    "2026-03-10 14:05 UTC",
    "------------------------------------------------",
    "Latte x2                                    7.00",
    "Blueberry muffin with crumble x1            3.20",
    "Croissant x3                                4.20",
    "------------------------------------------------",
    "TOTAL                                  14.40 EUR",
    "------------------------------------------------",
    "Stars earned                                 +33",
    "  Double Stars Tuesday x2",
    "  Store visit                                 +5",
    "Approved OFFLINE - subject to hub confirmation",
    "------------------------------------------------",
    "Member: José Müller",
    "Balance: 1,234 Stars",
    "Silver - spend 45.00 EUR more for Gold",
    "80 Stars to Free Latte",
    "Coffee card: 7 of 10",
    "120 Stars expire on 2026-12-31",
    "",
    "           [QR: 6012 3456 7890 1234]",
    "              6012 3456 7890 1234",
    "",
    "------------------------------------------------",
    "           Thank you for your visit!",
]

ENROLMENT_58 = [
    "          Café Étoile",
    "       12 Rue de la Paix",
    "          75002 Paris",
    "Receipt 000124           S001-T1",
    "2026-03-10 15:05 CET",
    "--------------------------------",
    "          MEMBER CARD",
    "--------------------------------",
    "     Welcome, José Müller!",
    "This is your Café Étoile member",
    "             card.",
    "",
    "   [QR: 6012 3456 7890 1234]",
    "      6012 3456 7890 1234",
    "",
    " Show this code at checkout to",
    "         collect Stars.",
    "--------------------------------",
    "Stars earned                 +50",
    "  Welcome bonus              +50",
    "--------------------------------",
    "Balance: 50 Stars",
    "Bronze - spend 100.00 EUR more",
    "for Silver",
    "100 Stars to Free Latte",
    "--------------------------------",
    "      Welcome to the club!",
]

DAY_REPORT_80 = [
    "                  Café Étoile",
    "               12 Rue de la Paix",
    "                  75002 Paris",
    "Receipt Z-2026-03-10                     S001-T1",
    "2026-03-10 22:30 CET",
    "------------------------------------------------",
    "                   DAY REPORT",
    "------------------------------------------------",
    "Sales                                         42",
    "Sales total                         1,234.50 EUR",
    "Voids                                          1",
    "Refunds                            2 (12.00 EUR)",
    "Stars earned                               3,120",
    "Stars redeemed                               900",
    "New members                                    3",
    "Offline approvals                              1",
    "Events waiting for sync                        0",
    "------------------------------------------------",
]


def lines(receipt: Receipt, paper_mm: int, tz: str = "UTC") -> list[str]:
    text = render_text(receipt, paper_mm=paper_mm, tz=tz)
    assert text.endswith("\n")
    return text.splitlines()


def test_sale_58mm_in_local_time():
    assert lines(sale(), 58, tz="Europe/Paris") == SALE_58


def test_sale_80mm_default_utc():
    assert lines(sale(), 80) == SALE_80


def test_enrolment_slip_58mm():
    assert lines(enrolment(), 58, tz="Europe/Paris") == ENROLMENT_58


def test_day_report_80mm():
    assert lines(day_report(), 80, tz="Europe/Paris") == DAY_REPORT_80


def test_day_report_rows_at_58mm_are_right_aligned():
    got = lines(day_report(), 58)
    assert "Sales total         1,234.50 EUR" in got
    assert "Events waiting for sync        0" in got


def test_void_shows_original_receipt_and_points_reversed():
    void = sale(
        kind="void",
        receipt_no="000130",
        voided_receipt_no="000123",
        points_earned=None,
        promotions=(),
        bonuses=(),
        points_reversed=33,
        offline_approved=False,
        member=member(balance=1201),
    )
    got = lines(void, 80)
    assert got[6:9] == [
        " " * 22 + "VOID",
        "-" * 48,
        "Voids receipt 000123",
    ]
    assert "Stars reversed                               -33" in got
    assert "Balance: 1,201 Stars" in got
    assert not any("OFFLINE" in line for line in got)


def test_refund_shows_amount_and_original_receipt():
    refund = sale(
        kind="refund",
        receipt_no="000131",
        voided_receipt_no="000123",
        lines=(ReceiptLine("Latte", 1, 350, 350),),
        total_minor=None,
        refund_minor=350,
        points_earned=None,
        promotions=(),
        bonuses=(),
        points_reversed=8,
        offline_approved=False,
        member=None,
        footer_lines=(),
    )
    assert lines(refund, 58)[5:] == [
        "--------------------------------",
        "             REFUND",
        "--------------------------------",
        "Refund of receipt 000123",
        "--------------------------------",
        "Latte x1                    3.50",
        "--------------------------------",
        "REFUNDED                3.50 EUR",
        "--------------------------------",
        "Stars reversed                -8",
        "--------------------------------",
    ]


def test_redemption_offline():
    redemption = sale(
        kind="redemption",
        lines=(),
        total_minor=None,
        points_earned=None,
        promotions=(),
        bonuses=(),
        points_spent=150,
        reward_name="Free Latte",
        offline_approved=True,
    )
    got = lines(redemption, 80)
    i = got.index("Stars spent                                 -150")
    assert got[i + 1 : i + 3] == [
        "Reward: Free Latte",
        "Approved OFFLINE - subject to hub confirmation",
    ]


def test_test_page_has_ruler_and_qr():
    page = Receipt(kind="test", receipt_no="T1", **STORE)
    got = lines(page, 58)
    assert "12345678901234567890123456789012" in got
    assert "32 characters per line" in got
    assert "       [QR: Test QR code]" in got


def test_unknown_paper_width_and_time_zone_are_refused():
    with pytest.raises(ReceiptRenderError, match="paper width 76 mm"):
        render_text(sale(), paper_mm=76)
    with pytest.raises(ReceiptRenderError, match="unknown time zone"):
        render_text(sale(), tz="Mars/Olympus")


def test_control_characters_cannot_reach_the_printer():
    nasty = sale(member=member(name="Bob\x1b@\x1dV\x00 Smith"), footer_lines=("a\nb",))
    got = lines(nasty, 80)
    assert "Member: Bob @ V  Smith" in got
    assert all(ord(ch) >= 32 for line in got for ch in line)


def test_combining_accents_are_composed():
    got = lines(sale(member=member(name="Jose\u0301")), 80)
    assert "Member: José" in got


def test_columns_truncate_left_and_keep_right():
    assert Columns("A very long description indeed", "12.50").fit(20) == "A very long de 12.50"
    assert Columns("Short", "1").fit(10) == "Short    1"
    assert Columns("x", "a too long right side").fit(8) == "a too lo"


text_st = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), max_codepoint=0x2FFF), max_size=70
)


@settings(max_examples=60, deadline=None)
@given(
    name=text_st,
    description=text_st,
    store=text_st,
    footer=text_st,
    total=st.integers(-(10**12), 10**12),
    paper=st.sampled_from(sorted(PAPER_WIDTH_CHARS)),
)
def test_no_line_is_wider_than_the_paper(name, description, store, footer, total, paper):
    receipt = sale(
        store_name=store,
        member=member(name=name),
        lines=(ReceiptLine(description, 1, total, total),),
        total_minor=total,
        footer_lines=(footer,),
    )
    width = PAPER_WIDTH_CHARS[paper]
    for block in layout(receipt, width):
        text = getattr(block, "text", None)
        if text is not None:
            limit = width // 2 if block.double else width
            assert len(text) <= limit, block
    for line in lines(receipt, paper):
        assert len(line) <= width, line


def test_layout_is_pure():
    receipt = sale()
    assert layout(receipt, 48) == layout(receipt, 48)
    assert receipt.printed_at == datetime(2026, 3, 10, 14, 5, tzinfo=UTC)
    assert PAYLOAD in {b.payload for b in layout(receipt, 48) if hasattr(b, "payload")}
