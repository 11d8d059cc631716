"""ESC/POS rendering: drive any python-escpos printer with the shared receipt layout.

    >>> data = render_escpos_bytes(receipt, paper_mm=58, profile="TM-T20II")
    >>> send(data, settings)            # printers.connections

Rendering into `escpos.printer.Dummy` first and sending the bytes afterwards is the
design: the bytes can be stored in the print queue and re-sent for a reprint, and a
printer that is off does not stop the sale.

Text goes through python-escpos's MagicEncode, which selects a code page (ESC t n) that
the printer profile lists for every accented character. A line with characters that no
code page of the profile holds (emoji, CJK on a Western printer) is printed as a raster
image of the line (`printers.raster_text`, Pillow and the till's fonts), never as '?';
characters no font on the till can draw are replaced by '[not printable]' first. We
check this ourselves because MagicEncode would otherwise send CJK text as GB18030 bytes,
which a Western printer prints as garbage.

The receipt number prints as a Code128 barcode (printer command GS k, function B, m=73):
receipt numbers such as `S001-T1-000042` mix letters, digits and hyphens, which Code128
encodes in full (EAN/ITF hold digits only), at about half the width of Code39, and every
handheld scanner reads it. The trailing serial goes in code set C (two digits a symbol),
so `S001-T1-000042` is 167 modules, 334 dots at 2 dots a module: it fits 58 mm paper's
384. A number too long for the paper at 2 dots (the printer's minimum module) prints as
text only.

The member QR uses the printer's own QR command (GS ( k) when the profile says it has one
or `qr_native=True`; otherwise python-escpos draws it with the qrcode library and sends
a raster image (GS v 0). Both use error correction M, see `printers.member_qr`.
"""

from __future__ import annotations

import contextlib
import io

from escpos.capabilities import NotSupported
from escpos.constants import QR_ECLEVEL_M
from escpos.escpos import Escpos
from escpos.exceptions import Error as EscposError
from escpos.printer import Dummy

from printers import raster_text
from printers.exceptions import PrinterConfigError
from printers.layout import (
    QR,
    Align,
    Barcode,
    Block,
    Columns,
    Cut,
    Feed,
    Rule,
    Text,
    copy_banner,
    layout,
    width_for,
)
from printers.receipt import Receipt

__all__ = [
    "QR_MODULE_DOTS", "code128_data", "make_dummy", "mark_copy", "render_blocks",
    "render_escpos", "render_escpos_bytes", "uses_native_qr",
]

QR_MODULE_DOTS: dict[bool, int] = {False: 6, True: 8}
"""Printer dots per QR module, for the normal and the large (member card) code.

The member code (version 6, 41 modules) at 6 dots is 31 mm wide at 203 dpi (8 dots a
mm), and the enrolment slip's large one at 8 dots 41 mm: comfortable for phone cameras
and handheld scanners, and narrower than 58 mm paper's 48 mm (384-dot) print area even
with the image's 1-module border (43 x 8 = 344 dots).
"""

_IMAGE_IMPLS = ("bitImageRaster", "graphics", "bitImageColumn")

BARCODE_MODULE_DOTS = 2
"""Narrowest Code128 bar in dots (0.25 mm): the printer's minimum, scanners read it."""
BARCODE_HEIGHT_DOTS = 64


def code128_data(text: str) -> tuple[str, int] | None:
    """The GS k function B data for `text` ('{B' set B, '{C' then one byte per digit
    pair) and its width in modules, or None when Code128 set B cannot hold `text`."""
    if not text or any(not 32 <= ord(ch) <= 126 for ch in text):
        return None
    digits = len(text) - len(text.rstrip("0123456789"))
    if digits % 2:
        digits -= 1
    if digits < 4 and digits != len(text):
        digits = 0  # switching to set C for fewer than 4 digits saves nothing
    head, tail = text[: len(text) - digits], text[len(text) - digits :]
    pairs = "".join(chr(int(tail[i : i + 2])) for i in range(0, len(tail), 2))
    data = (f"{{B{head}" if head else "") + (f"{{C{pairs}" if pairs else "")
    symbols = 1 + len(head) + len(pairs) + (1 if head and pairs else 0) + 1  # start, check
    return data, symbols * 11 + 13  # the stop symbol is 13 modules


def _quiet(printer: Escpos) -> contextlib.AbstractContextManager[object]:
    # python-escpos print()s to stdout (an unknown paper width, "Using hardware barcode
    # renderer"); that would scribble over the terminal UI.
    media = printer.profile.profile_data.get("media", {})
    width_known = str(media.get("width", {}).get("pixels", "Unknown")) != "Unknown"
    return contextlib.nullcontext() if width_known else contextlib.redirect_stdout(io.StringIO())

# (align, bold, double) right after ESC @.
_RESET_STYLE: tuple[Align, bool, bool] = ("left", False, False)


def uses_native_qr(printer: Escpos, qr_native: bool | None = None) -> bool:
    """Whether the QR is sent as the printer's QR command (else as an image)."""
    if qr_native is not None:
        return qr_native
    return bool(printer.profile.supports("qrCode"))


def _image_impl(printer: Escpos) -> str:
    for impl in _IMAGE_IMPLS:
        if printer.profile.supports(impl):
            return impl
    return _IMAGE_IMPLS[0]


class _Writer:
    """Sends blocks to one printer, emitting style commands only when the style changes."""

    def __init__(self, printer: Escpos, width: int, native_qr: bool) -> None:
        self.printer = printer
        self.width = width
        self.native_qr = native_qr
        self.style = _RESET_STYLE
        self._encodable: dict[str, bool] = {}

    def start(self) -> None:
        p = self.printer
        # ESC @ so a reprint never inherits bold or a code page from the last job. It resets
        # the printer's code page too, so MagicEncode must forget which one it selected.
        p.hw("INIT")
        forced = p.magic.encoding if p.magic.disabled else None
        p.magic.encoding = None
        if forced:
            p.magic.write_with_encoding(forced, None)
        self.style = _RESET_STYLE

    def set_style(self, align: Align, bold: bool = False, double: bool = False) -> None:
        old_align, old_bold, old_double = self.style
        resize = double != old_double
        # Only what changed is sent, except that the size command (ESC !) also clears bold
        # on Epson-compatible printers, so bold is re-sent after every size change.
        self.printer.set(
            align=align if align != old_align else None,
            bold=bold if (bold != old_bold or resize) else None,
            double_width=double if resize else None,
            double_height=double if resize else None,
            normal_textsize=(not double) if resize else None,
        )
        self.style = (align, bold, double)

    def _can_print(self, ch: str) -> bool:
        if ord(ch) < 128:
            return True
        if ch not in self._encodable:
            magic = self.printer.magic
            encoder = magic.encoder
            pages = [magic.encoding] if magic.disabled else list(encoder.codepages)
            self._encodable[ch] = any(encoder.can_encode(page, ch) for page in pages)
        return self._encodable[ch]

    def printable(self, text: str) -> str:
        """`text` with each run of characters neither a code page nor a font can hold
        replaced by the placeholder, so nothing is silently dropped or '?'."""
        out: list[str] = []
        for ch in text:
            if self._can_print(ch) or raster_text.can_draw(ch):
                out.append(ch)
            elif not out or out[-1] != raster_text.PLACEHOLDER:
                out.append(raster_text.PLACEHOLDER)
        return "".join(out)

    def line(self, text: str, *, align: Align = "left", double: bool = False) -> None:
        if not all(self._can_print(ch) for ch in text):
            self.image_line(text, align, double)
            return
        try:
            self.printer.textln(text)
        except (EscposError, LookupError, ValueError):
            # A broken code page table in a custom profile must not lose the receipt.
            self.printer._raw(text.encode("ascii", "replace") + b"\n")

    def image_line(self, text: str, align: Align, double: bool) -> None:
        # The image spans the whole line, so alignment is done by padding the text, the
        # same way the preview pads it.
        cells = self.width // 2 if double else self.width
        padded = {"center": text.center, "right": text.rjust}.get(align, text.ljust)(cells)
        image = raster_text.text_line_image(padded, self.width, double=double)
        p = self.printer
        with _quiet(p):
            p.image(image, impl=_image_impl(p), center=False)

    def barcode(self, block: Barcode) -> None:
        self.set_style("center")
        encoded = code128_data(block.data)
        fits = encoded is not None and (
            encoded[1] * BARCODE_MODULE_DOTS <= self.width * raster_text.CELL_DOTS[0])
        if encoded is not None and fits and self.printer.profile.supports("barcodeB"):
            with _quiet(self.printer):
                self.printer.barcode(
                    encoded[0], "CODE128", height=BARCODE_HEIGHT_DOTS,
                    width=BARCODE_MODULE_DOTS, pos="OFF", function_type="B",
                    align_ct=False, check=False,
                )
        # The number under the bars is printed as text, so the preview shows it too and a
        # cashier can type it when the scan fails.
        self.line(block.data)

    def qr(self, block: QR) -> None:
        p = self.printer
        self.set_style("center")
        dots = QR_MODULE_DOTS[block.large]
        if self.native_qr:
            p.qr(block.payload, ec=QR_ECLEVEL_M, size=dots, native=True)
        else:
            arguments = {"impl": _image_impl(p), "center": False}
            # ESC a 1 (set above) centres the image instead of python-escpos's padding.
            with _quiet(p):
                p.qr(
                    block.payload,
                    ec=QR_ECLEVEL_M,
                    size=dots,
                    native=False,
                    image_arguments=arguments,
                )
        self.line(block.caption)

    def block(self, block: object) -> None:
        match block:
            case Text(text=text, align=align, bold=bold, double=double):
                self.set_style(align, bold, double)
                room = self.width // 2 if double else self.width
                self.line(self.printable(text)[:room], align=align, double=double)
            case Rule(char=char):
                self.set_style("left")
                self.line(char * self.width)
            case Columns(left=left, right=right, bold=bold):
                self.set_style("left", bold)
                fitted = Columns(self.printable(left), self.printable(right), bold)
                self.line(fitted.fit(self.width))
            case QR():
                self.qr(block)
            case Barcode():
                self.barcode(block)
            case Feed(lines=n):
                self.printer.ln(n)
            case Cut():
                self.set_style("left")
                self.printer.cut()
            case _:
                raise TypeError(f"unknown layout block {block!r}")


def render_escpos(
    receipt: Receipt,
    printer: Escpos,
    paper_mm: int = 80,
    qr_native: bool | None = None,
    tz: str = "UTC",
) -> None:
    """Print `receipt` on `printer` (Dummy, File, Network, Serial, Usb...).

    `qr_native=None` uses the printer's QR command when its profile supports one, else an
    image; True/False force either. Times are shown in the time zone `tz`.
    """
    width = width_for(paper_mm)
    render_blocks(layout(receipt, width, tz), printer, width, qr_native)


def render_blocks(
    blocks: list[Block], printer: Escpos, width: int, qr_native: bool | None = None
) -> None:
    """Print already laid-out blocks (a receipt, or the COPY banner) on `printer`."""
    writer = _Writer(printer, width, uses_native_qr(printer, qr_native))
    writer.start()
    for block in blocks:
        writer.block(block)


def mark_copy(payload: bytes, paper_mm: int = 80, profile: str = "default") -> bytes:
    """Bytes printed before, marked COPY at the top and the bottom: a reprint sends the
    original bytes (the balance as it was then), not a new rendering."""
    width = width_for(paper_mm)
    banner = make_dummy(profile)
    render_blocks(copy_banner(width), banner, width)
    cutter = make_dummy(profile)
    render_blocks([Cut()], cutter, width)
    cut = cutter.output[len(b"\x1b@") :]
    if payload.endswith(cut):
        # Bottom banner before the cut; the banner's own ESC @ resets the styles the
        # original left set.
        return banner.output + payload[: -len(cut)] + banner.output + cut
    # Bytes cut by another profile's command: the top banner still says COPY.
    return banner.output + payload


def make_dummy(profile: str = "default") -> Dummy:
    """A python-escpos Dummy printer with the named capabilities profile."""
    try:
        return Dummy(profile=profile)
    except (KeyError, NotSupported) as exc:
        raise PrinterConfigError(
            f"unknown printer profile {profile!r}: use a python-escpos profile name "
            "such as default, TM-T20II or TM-T88V"
        ) from exc


def render_escpos_bytes(
    receipt: Receipt,
    paper_mm: int = 80,
    profile: str = "default",
    qr_native: bool | None = None,
    tz: str = "UTC",
) -> bytes:
    """The ESC/POS bytes of `receipt` for a printer with the given profile."""
    printer = make_dummy(profile)
    render_escpos(receipt, printer, paper_mm=paper_mm, qr_native=qr_native, tz=tz)
    return printer.output
