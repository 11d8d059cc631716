"""ESC/POS rendering: drive any python-escpos printer with the shared receipt layout.

    >>> data = render_escpos_bytes(receipt, paper_mm=58, profile="TM-T20II")
    >>> send(data, settings)            # printers.connections

Rendering into `escpos.printer.Dummy` first and sending the bytes afterwards is the
design: the bytes can be stored in the print queue and re-sent for a reprint, and a
printer that is off does not stop the sale.

Text goes through python-escpos's MagicEncode, which selects a code page (ESC t n) that
the printer profile lists for every accented character. Characters that no code page of
the profile holds (emoji, CJK on a Western printer) are printed as '?' instead of
raising; we filter them ourselves because MagicEncode would otherwise send CJK text as
GB18030 bytes, which a Western printer prints as garbage.

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

from printers.exceptions import PrinterConfigError
from printers.layout import QR, Align, Columns, Cut, Feed, Rule, Text, layout, width_for
from printers.receipt import Receipt

__all__ = ["QR_MODULE_DOTS", "make_dummy", "render_escpos", "render_escpos_bytes", "uses_native_qr"]

QR_MODULE_DOTS: dict[bool, int] = {False: 6, True: 8}
"""Printer dots per QR module, for the normal and the large (member card) code.

The member code (version 6, 41 modules) at 6 dots is 31 mm wide at 203 dpi (8 dots a
mm), and the enrolment slip's large one at 8 dots 41 mm: comfortable for phone cameras
and handheld scanners, and narrower than 58 mm paper's 48 mm (384-dot) print area even
with the image's 1-module border (43 x 8 = 344 dots).
"""

_IMAGE_IMPLS = ("bitImageRaster", "graphics", "bitImageColumn")

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

    def line(self, text: str) -> None:
        printable = "".join(ch if self._can_print(ch) else "?" for ch in text)
        try:
            self.printer.textln(printable)
        except (EscposError, LookupError, ValueError):
            # A broken code page table in a custom profile must not lose the receipt.
            self.printer._raw(printable.encode("ascii", "replace") + b"\n")

    def qr(self, block: QR) -> None:
        p = self.printer
        self.set_style("center")
        dots = QR_MODULE_DOTS[block.large]
        if self.native_qr:
            p.qr(block.payload, ec=QR_ECLEVEL_M, size=dots, native=True)
        else:
            arguments = {"impl": _image_impl(p), "center": False}
            media = p.profile.profile_data.get("media", {})
            width_known = str(media.get("width", {}).get("pixels", "Unknown")) != "Unknown"
            # python-escpos print()s a warning to stdout when the profile does not know the
            # paper's pixel width; that would scribble over the terminal UI. ESC a 1 (set
            # above) centres the image instead of python-escpos's padding.
            quiet = (
                contextlib.nullcontext()
                if width_known
                else contextlib.redirect_stdout(io.StringIO())
            )
            with quiet:
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
                self.line(text)
            case Rule(char=char):
                self.set_style("left")
                self.line(char * self.width)
            case Columns(bold=bold):
                self.set_style("left", bold)
                self.line(block.fit(self.width))
            case QR():
                self.qr(block)
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
    blocks = layout(receipt, width, tz)
    writer = _Writer(printer, width, uses_native_qr(printer, qr_native))
    writer.start()
    for block in blocks:
        writer.block(block)


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
