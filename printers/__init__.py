"""Receipts for ESC/POS printers: the receipt model, one layout, two renderings, connections.

    >>> from printers import Receipt, render_text, render_for_printer, send
    >>> print(render_text(receipt, paper_mm=58))          # preview on screen
    >>> data = render_for_printer(receipt, settings)      # bytes for the print queue
    >>> send(data, settings)                              # file, network, serial, usb

Modules: `receipt` (model, money formatting: `loyalty.money.format_money` re-exported),
`layout` (the layout, written once), `render_text`, `render_escpos`, `member_qr` (QR
image), `settings` (`[printer]`), `connections` (opening printers, sending), `exceptions`.

The ESC/POS driver and the QR libraries take about half a second to import, and most
`pos` commands never print (the start-up floor of issue #15: `pos member` went from ~0.9
to ~0.5 s without them, 2026-12-02): the names of `connections`, `render_escpos` and `member_qr`
are imported from their module on first use. (`printers.render_escpos` is the module;
its function of the same name is imported from it.)
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from printers.exceptions import (
    PrinterConfigError,
    PrinterConnectionError,
    PrinterError,
    PrinterTimeoutError,
    PrinterWriteError,
    ReceiptRenderError,
)
from printers.layout import (
    PAPER_WIDTH_CHARS,
    QR,
    Barcode,
    Block,
    Columns,
    Cut,
    Feed,
    Rule,
    Text,
    copy_banner,
    format_card_number,
    layout,
    width_for,
)
from printers.receipt import (
    RECEIPT_KINDS,
    DiscountLine,
    MemberBlock,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    StampLine,
    TaxLine,
    TenderLine,
    format_money,
    format_points,
)
from printers.render_text import render_text
from printers.settings import PrinterSettings, describe_target

_LAZY = {
    "open_printer": "connections",
    "render_for_printer": "connections",
    "send": "connections",
    "render_escpos_bytes": "render_escpos",
    "qr_image": "member_qr",
    "qr_png_bytes": "member_qr",
}

__all__ = [
    "PAPER_WIDTH_CHARS", "QR", "RECEIPT_KINDS", "Barcode", "Block", "Columns", "Cut",
    "DiscountLine", "Feed", "MemberBlock", "PrinterConfigError", "PrinterConnectionError",
    "PrinterError", "PrinterSettings", "PrinterTimeoutError", "PrinterWriteError", "Receipt",
    "ReceiptKind", "ReceiptLine", "ReceiptRenderError", "Rule", "StampLine", "TaxLine",
    "TenderLine", "Text", "copy_banner", "describe_target", "format_card_number",
    "format_money", "format_points", "layout", "render_text", "width_for", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'printers' has no attribute {name!r}")
    value = getattr(import_module(f"printers.{_LAZY[name]}"), name)
    globals()[name] = value
    return value
