"""ESC/POS output: the QR (native and image), code pages, and agreement with the preview."""

from __future__ import annotations

import zxingcpp
from escpos.printer import Dummy

from printers import QR, layout, render_escpos_bytes, render_text
from printers.render_escpos import QR_MODULE_DOTS, render_escpos, uses_native_qr
from tests.printers.escpos_stream import (
    printed_lines,
    qr_setting,
    qr_store_data,
    raster_images,
    text_runs,
    tokenize,
    with_quiet_zone,
)
from tests.printers.receipt_samples import PAYLOAD, enrolment, member, sale


def preview_lines(receipt, paper_mm=80, tz="UTC") -> list[str]:
    out = []
    for line in render_text(receipt, paper_mm, tz).splitlines():
        stripped = line.strip()
        out.append("[QR]" if stripped.startswith("[QR: ") else stripped)
    return out


def test_native_qr_command_carries_the_payload():
    data = render_escpos_bytes(sale(), paper_mm=80, qr_native=True)
    tokens = tokenize(data)
    assert qr_store_data(tokens) == [PAYLOAD.encode("ascii")]
    # The raw command, exactly: GS ( k pL pH cn=49 fn=80 m=48 <data>.
    length = len(PAYLOAD) + 3
    raw = b"\x1d(k" + bytes([length % 256, length // 256]) + b"\x31\x50\x30" + PAYLOAD.encode()
    assert raw in data
    assert qr_setting(tokens, 69) == [b"\x31"]  # error correction M (48 + 1)
    assert qr_setting(tokens, 67) == [bytes([QR_MODULE_DOTS[False]])]
    assert qr_setting(tokens, 65) == [b"\x32\x00"]  # model 2
    assert sum(1 for t in tokens if t.kind == "gs(" and t.data[:3] == b"\x31\x51\x30") == 1
    assert raster_images(data) == []


def test_native_qr_is_centred_and_card_number_follows():
    data = render_escpos_bytes(sale(), qr_native=True)
    qr_at = data.index(b"\x1d(k")
    assert data.rfind(b"\x1ba\x01", 0, qr_at) > data.rfind(b"\x1ba\x00", 0, qr_at)
    lines = printed_lines(data)
    assert lines[lines.index("[QR]") + 1] == "6012 3456 7890 1234"


def test_profile_decides_native_qr():
    assert uses_native_qr(Dummy(profile="default")) is True
    assert uses_native_qr(Dummy(profile="simple")) is False
    assert uses_native_qr(Dummy(profile="simple"), qr_native=True) is True
    simple = render_escpos_bytes(sale(), profile="simple")
    assert qr_store_data(tokenize(simple)) == []
    assert len(raster_images(simple)) == 1


def test_image_qr_printed_as_raster_scans_back_to_the_payload():
    data = render_escpos_bytes(sale(), paper_mm=58, qr_native=False)
    tokens = tokenize(data)
    assert qr_store_data(tokens) == []
    (raster,) = [t for t in tokens if t.kind == "raster"]
    # Version 6 (41 modules) plus python-escpos's 1-module border, 6 dots a module.
    side = (41 + 2) * QR_MODULE_DOTS[False]
    assert (raster.height, raster.width_bytes) == (side, (side + 7) // 8)
    (image,) = raster_images(data)
    results = zxingcpp.read_barcodes(with_quiet_zone(image))
    assert [r.text for r in results] == [PAYLOAD]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_enrolment_prints_a_large_qr_that_scans():
    data = render_escpos_bytes(enrolment(), qr_native=False)
    (image,) = raster_images(data)
    assert image.height == (41 + 2) * QR_MODULE_DOTS[True]  # version 6, 8 dots a module
    assert [r.text for r in zxingcpp.read_barcodes(with_quiet_zone(image))] == [PAYLOAD]
    native = render_escpos_bytes(enrolment(), qr_native=True)
    assert qr_setting(tokenize(native), 67) == [bytes([QR_MODULE_DOTS[True]])]


def test_printed_text_matches_the_preview_line_for_line():
    for receipt in (sale(), enrolment()):
        for paper in (58, 80):
            data = render_escpos_bytes(receipt, paper_mm=paper, qr_native=True, tz="Europe/Paris")
            printed = [line.strip() for line in printed_lines(data)]
            assert printed == preview_lines(receipt, paper, "Europe/Paris")


def test_image_path_prints_the_same_text():
    data = render_escpos_bytes(sale(), qr_native=False)
    printed = [line.strip() for line in printed_lines(data) if line.strip()]
    expected = [line for line in preview_lines(sale()) if line]
    assert [line.replace("[IMAGE]", "[QR]") for line in printed] == expected


def test_stream_starts_with_init_and_ends_with_cut():
    data = render_escpos_bytes(sale())
    assert data.startswith(b"\x1b@")
    assert data.endswith(b"\x1bd\x06\x1dV\x00")


def test_accented_text_selects_a_code_page_that_decodes_back():
    data = render_escpos_bytes(sale(points_name="Étoiles", member=member(name="José Müller")))
    runs = text_runs(data)
    (page, raw) = next((p, r) for p, r in runs if r.startswith(b"Member: Jos"))
    # MagicEncode picks CP437 (slot 0 of the default profile), where é is 0x82, ü 0x81.
    assert page == 0
    assert raw == b"Member: Jos\x82 M\x81ller"
    assert raw.decode("cp437") == "Member: José Müller"
    assert b"\x1bt\x00" in data
    lines = printed_lines(data)
    assert "Member: José Müller" in lines
    assert "Balance: 1,234 Étoiles" in lines


def test_characters_needing_other_code_pages_switch_and_round_trip():
    names = ["Begoña Núñez", "Łukasz Żółć", "Zoë Ørsted", "Ñandú Çelik"]
    for name in names:
        receipt = sale(member=member(name=name), points_name="Étoiles")
        for profile in ("default", "TM-T88V", "TM-T20II"):
            data = render_escpos_bytes(receipt, profile=profile)
            assert f"Member: {name}" in printed_lines(data, profile), (name, profile)


def test_unencodable_characters_are_never_question_marks():
    # Issue 17: the line becomes an image (☕ has a font) with a placeholder for what no
    # font draws (王 on a till without CJK fonts), never '?'.
    receipt = sale(member=member(name="Ana ☕ 王"))
    data = render_escpos_bytes(receipt)
    printed = printed_lines(data)
    assert not any(line.startswith("Member:") for line in printed)
    assert not any("?" in line for line in printed)
    # MagicEncode alone would have sent the whole line as GB18030.
    assert "王".encode("gb18030") not in data


def test_simple_profile_has_only_cp437():
    receipt = sale(member=member(name="José € Łukasz"))
    data = render_escpos_bytes(receipt, profile="simple", qr_native=False)
    assert {page for page, _ in text_runs(data)} == {0}
    printed = printed_lines(data, "simple")
    # € and Ł are in no code page of the profile: that line is printed as an image.
    assert not any("?" in line or line.startswith("Member:") for line in printed)
    assert printed.count("[IMAGE]") == 2  # the name line and the QR


def test_renders_on_a_caller_supplied_printer():
    printer = Dummy(profile="TM-T20II")
    render_escpos(sale(), printer, paper_mm=80)
    assert qr_store_data(tokenize(printer.output)) == [PAYLOAD.encode()]
    # Rendering twice on one printer object resets modes and re-selects the code page.
    first = printer.output
    printer.clear()
    render_escpos(sale(), printer, paper_mm=80)
    assert printer.output == first


def test_bold_and_double_use_escpos_commands():
    data = render_escpos_bytes(enrolment())
    title_at = data.index(b"MEMBER CARD")
    before = data[:title_at]
    assert before.rfind(b"\x1b!0") > before.rfind(b"\x1b!\x00")  # double width + height
    assert before.rfind(b"\x1bE\x01") > before.rfind(b"\x1bE\x00")  # bold
    total_at = render_escpos_bytes(sale()).index(b"TOTAL")
    assert render_escpos_bytes(sale())[total_at - 3 : total_at] == b"\x1bE\x01"


def test_each_qr_in_the_layout_is_printed_once():
    receipt = sale()
    expected = [b.payload.encode() for b in layout(receipt, 48) if isinstance(b, QR)]
    assert qr_store_data(tokenize(render_escpos_bytes(receipt))) == expected
