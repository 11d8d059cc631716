"""The member QR image decodes back to the payload, at the documented size."""

from __future__ import annotations

import io

import pytest
import zxingcpp
from PIL import Image

from printers import qr_image, qr_png_bytes
from printers.member_qr import qr_version
from tests.printers.receipt_samples import PAYLOAD


def test_qr_image_decodes_to_payload():
    image = qr_image(PAYLOAD)
    assert image.mode == "L"
    # Version 3 = 29 modules, plus a 4-module quiet zone each side, 4 px a module.
    assert image.size == ((29 + 8) * 4, (29 + 8) * 4)
    results = zxingcpp.read_barcodes(image)
    assert [r.text for r in results] == [PAYLOAD]
    assert results[0].format == zxingcpp.BarcodeFormat.QRCode


def test_png_bytes_decode_to_payload():
    data = qr_png_bytes(PAYLOAD)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(data)).convert("L")
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [PAYLOAD]


@pytest.mark.parametrize(
    ("payload", "version"),
    [
        ("LOY1:6012345678901234:Qm9uam91ci1jYWZl", 3),  # 38 chars: loyalty.member_qr's size
        ("LOY1:6012345678901234:3q2-7wXy9Zk", 3),
        ("LOY1:6012345678901234:" + "x" * 40, 4),  # 62 chars: the most version 4-M holds
    ],
)
def test_smallest_version_at_level_m(payload, version):
    assert qr_version(payload) == version
    assert [r.text for r in zxingcpp.read_barcodes(qr_image(payload, box_size=3))] == [payload]


def test_empty_payload_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        qr_image("")
