"""Receipts of a real checkout (issue 17): product names, line and basket discounts, a tax
summary per rate, split tenders with change, cash rounding, line returns refunded per
tender, COPY on reprints, the receipt-number barcode, and text no code page holds."""

from __future__ import annotations

import dataclasses

import pytest
import zxingcpp

from printers import (
    Barcode,
    DiscountLine,
    ReceiptLine,
    TaxLine,
    TenderLine,
    layout,
    raster_text,
    render_escpos_bytes,
    render_text,
)
from printers.layout import COPY_BANNER
from printers.render_escpos import code128_data, mark_copy
from tests.printers.escpos_stream import (
    barcodes,
    printed_lines,
    raster_images,
    tokenize,
    with_quiet_zone,
)
from tests.printers.receipt_samples import PAYLOAD, member, sale

RECEIPT_NO = "S001-T1-000042"


def checkout(**changes):
    fields = {
        "receipt_no": RECEIPT_NO,
        "lines": (
            ReceiptLine("Latte", 2, 350, 700),
            ReceiptLine("Coffee beans 250 g", 1, 890, 801, discount_minor=89,
                        discount_label="Beans -10%"),
            ReceiptLine("Croissant", 1, 140, 0, free=True, discount_label="Free croissant"),
        ),
        "subtotal_minor": 1501,
        "discounts": (DiscountLine("10% off your basket", 150),),
        "total_minor": 1351,
        "tax": (TaxLine("5.5", 1191, 66), TaxLine("20", 83, 17)),
        "tenders": (TenderLine(kind="card", amount_minor=500),
                    TenderLine(kind="points", amount_minor=300, points=300),
                    TenderLine(kind="gift_card", amount_minor=200, code_last4="1234"),
                    TenderLine(kind="cash", amount_minor=500)),
        "change_minor": 149,
        "barcode": True,
        "offline_approved": False,
    }
    fields.update(changes)
    return sale(**fields)


def text_lines(receipt, paper_mm=58):
    return render_text(receipt, paper_mm).splitlines()


def test_basket_receipt_with_names_discounts_two_tax_rates_and_split_tender():
    got = text_lines(checkout(), 58)
    start = got.index("Latte x2                    7.00")
    assert got[start : start + 22] == [
        "Latte x2                    7.00",
        "Coffee beans 250 g x1       8.01",
        "  Beans -10%               -0.89",
        "Croissant x1                0.00",
        "  FREE: Free croissant",
        "--------------------------------",
        "Subtotal                   15.01",
        "10% off your basket        -1.50",
        "TOTAL                  13.51 EUR",
        "Card                        5.00",
        "Stars 300                   3.00",
        "Gift card ****1234          2.00",
        "Cash                        5.00",
        "CHANGE                  1.49 EUR",
        "--------------------------------",
        "Tax                  Base    Tax",
        "5.5%                11.91   0.66",
        "20%                  0.83   0.17",
        "                    12.74   0.83",
        "Prices include tax",
        "--------------------------------",
        "Stars earned                 +33",
    ]


@pytest.mark.parametrize("width", [32, 42, 48])
def test_amounts_line_up_at_every_width(width):
    from printers.render_text import blocks_to_lines

    got = blocks_to_lines(layout(checkout(), width), width)
    assert all(len(line) <= width for line in got)
    for label in ("Latte x2", "Subtotal", "Card", "Cash", "5.5%", "20%"):
        (line,) = [g for g in got if g.startswith(label)]
        assert len(line) == width, (label, line)  # the amount ends at the right margin


def test_cash_rounding_is_printed_only_when_there_was_some():
    rounded = text_lines(checkout(rounding_minor=-1, total_minor=1350), 58)
    assert "Rounding                   -0.01" in rounded
    assert not any(line.startswith("Rounding") for line in text_lines(checkout(), 58))


def test_old_receipts_print_as_before():
    # No checkout fields: no Subtotal, tenders, tax or barcode (existing receipts).
    got = text_lines(sale(), 80)
    for word in ("Subtotal", "CHANGE", "Prices include tax", "[BARCODE", "COPY"):
        assert not any(word in line for line in got)


def test_a_line_return_lists_the_lines_and_the_refund_per_tender():
    refund = checkout(
        kind="refund", receipt_no="S001-T1-000043", voided_receipt_no=RECEIPT_NO,
        lines=(ReceiptLine("Latte", 1, 350, 315),), subtotal_minor=None, discounts=(),
        total_minor=None, tenders=(), change_minor=None, tax=(TaxLine("5.5", 299, 16),),
        refund_minor=315, refunds=(TenderLine(kind="card", amount_minor=200),
                                   TenderLine(kind="cash", amount_minor=115)),
        barcode=False, points_earned=None, promotions=(), bonuses=(), points_reversed=8,
        member=None, footer_lines=())
    got = text_lines(refund, 58)
    i = got.index("Refund of receipt S001-T1-000042")
    assert got[i + 2 : i + 9] == [
        "Returned",
        "Latte x1                    3.15",
        "--------------------------------",
        "REFUNDED                3.15 EUR",
        "  to Card                   2.00",
        "  to Cash                   1.15",
        "--------------------------------",
    ]


def test_a_reprint_says_copy_at_the_top_and_the_bottom_for_every_kind():
    for kind in ("sale", "refund", "void", "redemption", "enrolment", "checkin", "day_report"):
        receipt = dataclasses.replace(checkout(), kind=kind, copy=True)
        got = [line.strip() for line in text_lines(receipt, 80)]
        assert got[0] == COPY_BANNER and got[-1] == COPY_BANNER, kind
        printed = [line.strip() for line in printed_lines(render_escpos_bytes(receipt))]
        assert printed[0] == COPY_BANNER and printed[-1] == COPY_BANNER, kind


def test_mark_copy_wraps_the_bytes_printed_first():
    original = render_escpos_bytes(checkout(), paper_mm=58)
    copy = mark_copy(original, 58)
    assert original[:-5] in copy  # everything but the cut, byte for byte
    printed = [line.strip() for line in printed_lines(copy)]
    assert printed[0] == printed[-1] == COPY_BANNER
    assert copy.endswith(b"\x1dV\x00") and copy.count(b"\x1dV") == 1
    assert b"COPY" not in original


def test_sale_receipt_prints_its_number_as_a_code128_barcode():
    data = render_escpos_bytes(checkout(), paper_mm=58)
    # GS k m=73 (Code128, function B), '{B' for the prefix, '{C' pairs for the serial.
    assert barcodes(data) == [(73, RECEIPT_NO)]
    assert b"\x1dkI" + bytes([len(code128_data(RECEIPT_NO)[0])]) + b"{BS001-T1-{C" in data
    assert b"\x1dw\x02" in data and b"\x1dH\x00" in data  # 2-dot modules, no printer HRI
    printed = [line.strip() for line in printed_lines(data)]
    assert printed[printed.index("[BARCODE]") + 1] == RECEIPT_NO
    preview = [line.strip() for line in text_lines(checkout(), 58)]
    assert preview[preview.index(f"[BARCODE: {RECEIPT_NO}]") + 1] == RECEIPT_NO
    assert [b for b in layout(checkout(), 32) if isinstance(b, Barcode)] == [
        Barcode(RECEIPT_NO)]


def test_barcode_width_fits_the_paper_or_is_left_out():
    data, modules = code128_data(RECEIPT_NO)
    assert modules * 2 <= 384  # 58 mm paper's print area at 2 dots a module
    assert code128_data("000123") == ("{C\x00\x01\x17", 68)
    assert code128_data("Ab-1") == ("{BAb-1", 79)  # start, 4, check: 6 x 11 + 13
    assert code128_data("Café") is None
    # A number too long for 58 mm at 2 dots prints as text only, never clipped bars.
    long_no = "S001-T1-E2-000042"
    printed = printed_lines(render_escpos_bytes(checkout(receipt_no=long_no), paper_mm=58))
    assert "[BARCODE]" not in printed and long_no in [p.strip() for p in printed]
    assert barcodes(render_escpos_bytes(checkout(receipt_no=long_no), paper_mm=80)) == [
        (73, long_no)]


def test_cjk_and_emoji_are_never_question_marks():
    receipt = checkout(lines=(ReceiptLine("Latte ☕", 1, 350, 350),),
                       member=member(name="王芳"))
    data = render_escpos_bytes(receipt, paper_mm=58, qr_native=True)
    printed = printed_lines(data)
    assert not any("?" in line for line in printed)
    assert "王".encode("gb18030") not in data and b"?" not in b"".join(
        t.data for t in tokenize(data) if t.kind == "text")
    # ☕ is drawn (DejaVu has it): its line is a raster image (GS v 0), not text.
    assert raster_text.can_draw("☕")
    assert not any(line.startswith("Latte") for line in printed)
    assert printed.count("[IMAGE]") >= 1
    assert len(raster_images(data)) == printed.count("[IMAGE]")
    # The preview shows the text itself.
    preview = text_lines(receipt, 58)
    assert "Latte ☕ x1                  3.50" in preview and "Member: 王芳" in preview


def test_text_no_font_can_draw_prints_a_placeholder(monkeypatch):
    monkeypatch.setattr(raster_text, "_font_for", lambda ch: None)
    receipt = checkout(member=member(name="王芳"))
    printed = printed_lines(render_escpos_bytes(receipt, qr_native=True))
    assert f"Member: {raster_text.PLACEHOLDER}" in printed
    assert not any("?" in line for line in printed)


def test_a_name_with_a_drawable_and_an_undrawable_part_is_one_image():
    if raster_text.can_draw("王"):
        pytest.skip("this machine has a CJK font: 王 is drawn, no placeholder")
    receipt = checkout(member=member(name="Ana ☕ 王芳"))
    data = render_escpos_bytes(receipt, qr_native=True)
    printed = printed_lines(data)
    assert not any(line.startswith("Member:") for line in printed)  # an image
    assert not any("?" in line for line in printed)


def test_member_qr_still_decodes_from_the_printed_bytes():
    data = render_escpos_bytes(checkout(), paper_mm=58, qr_native=False)
    images = raster_images(data)
    decoded = [r.text for image in images
               for r in zxingcpp.read_barcodes(with_quiet_zone(image))]
    assert PAYLOAD in decoded

