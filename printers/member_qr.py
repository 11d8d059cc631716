"""The member QR code as an image (for the screen, e-mail, or printers without native QR).

Policy, shared with the ESC/POS renderer so the printed code and the image agree:

- **Error correction M** (~15 % of the code can be damaged). Thermal receipts get
  scuffed, folded and read off cracked phone screens, so L is too fragile; Q/H would
  push the 134-character payload into a bigger version with smaller modules on 58 mm
  paper, which scans worse than M does.
- **Version: the smallest that fits** (`version=None`, `fit=True`). The payload made by
  `loyalty.member_qr` (`LOY2:<16 digits>:<8 base32>:<103 base32>`, 134 characters, all
  in the QR alphanumeric set, so the encoder picks alphanumeric mode) fits version 6
  (41x41 modules, 154 alphanumeric characters at M); in byte mode it would need
  version 8 (49x49). A printer's own QR command picks the most compact mode itself.
  (The old LOY1 payload, 38 mixed-case characters, was version 3.)
- **Quiet zone 4 modules** (`border=4`), as the QR standard asks; a phone camera needs
  it against a busy background.

    >>> qr_image("LOY1:6012345678901234:3q2-7wXy9Zk").size    # version 3: (29 + 8) * 4
    (148, 148)
    >>> qr_image(sign_card(card, key)).size                    # LOY2, version 6: (41 + 8) * 4
    (196, 196)
"""

from __future__ import annotations

import io

import qrcode
import qrcode.constants
from PIL import Image
from qrcode.image.pil import PilImage

__all__ = ["QR_ERROR_CORRECTION", "qr_image", "qr_png_bytes", "qr_version"]

QR_ERROR_CORRECTION = qrcode.constants.ERROR_CORRECT_M


def _build(payload: str, box_size: int, border: int) -> qrcode.QRCode:
    if not payload:
        raise ValueError("a QR code needs a non-empty payload")
    code = qrcode.QRCode(
        version=None,
        error_correction=QR_ERROR_CORRECTION,
        box_size=box_size,
        border=border,
        image_factory=PilImage,
    )
    code.add_data(payload)
    code.make(fit=True)
    return code


def qr_version(payload: str) -> int:
    """The QR version (1-40) this payload is encoded at under the policy above."""
    return _build(payload, 1, 0).version


def qr_image(payload: str, box_size: int = 4, border: int = 4) -> Image.Image:
    """The QR code of `payload` as a black-on-white greyscale PIL image.

    `box_size` is pixels per module, `border` the quiet zone in modules.
    """
    image = _build(payload, box_size, border).make_image().get_image()
    # Greyscale rather than 1-bit: every consumer (PIL drawing, decoders, printers'
    # image commands) accepts "L", while mode "1" trips some of them.
    return image.convert("L")


def qr_png_bytes(payload: str, box_size: int = 4, border: int = 4) -> bytes:
    """The QR code as a PNG file's bytes (1-bit, a few hundred bytes)."""
    buffer = io.BytesIO()
    qr_image(payload, box_size, border).convert("1").save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()
