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
    # A LOY2 payload (134 characters, all alphanumeric): version 6 = 41 modules, plus a
    # 4-module quiet zone each side, 4 px a module.
    assert image.size == ((41 + 8) * 4, (41 + 8) * 4)
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
        (PAYLOAD, 6),  # LOY2, 134 alphanumeric characters: loyalty.member_qr's size
        (PAYLOAD.lower(), 8),  # the same in byte mode: why the payload is one case
        ("LOY1:6012345678901234:Qm9uam91ci1jYWZl", 3),  # the old 38-character LOY1
    ],
)
def test_smallest_version_at_level_m(payload, version):
    assert qr_version(payload) == version
    assert [r.text for r in zxingcpp.read_barcodes(qr_image(payload, box_size=3))] == [payload]


def test_a_freshly_signed_card_is_alphanumeric_version_6():
    """Whatever the key and the card, the payload keeps its length and character set, so
    every member code prints at the same size."""
    from loyalty.ids import make_card_number
    from loyalty.member_qr import PAYLOAD_LENGTH, new_private_key, sign_card

    for serial in range(1, 20):
        payload = sign_card(make_card_number(123456, serial, 1), new_private_key())
        assert len(payload) == PAYLOAD_LENGTH == 134
        assert qr_version(payload) == 6


def test_empty_payload_is_refused():
    with pytest.raises(ValueError, match="non-empty"):
        qr_image("")
