"""Receipts for ESC/POS printers: the receipt model, one layout, two renderings, connections.

    >>> from printers import Receipt, render_text, render_for_printer, send
    >>> print(render_text(receipt, paper_mm=58))          # preview on screen
    >>> data = render_for_printer(receipt, settings)      # bytes for the print queue
    >>> send(data, settings)                              # file, network, serial, usb

Modules: `receipt` (model, money formatting: `loyalty.money.format_money` re-exported),
`layout` (the layout, written once), `render_text`, `render_escpos`, `member_qr` (QR
image), `connections` (settings, opening printers, sending), `exceptions`.
"""

from printers.connections import (
    PrinterSettings,
    describe_target,
    open_printer,
    render_for_printer,
    send,
)
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
    Block,
    Columns,
    Cut,
    Feed,
    Rule,
    Text,
    format_card_number,
    layout,
    width_for,
)
from printers.member_qr import qr_image, qr_png_bytes
from printers.receipt import (
    RECEIPT_KINDS,
    MemberBlock,
    Receipt,
    ReceiptKind,
    ReceiptLine,
    StampLine,
    format_money,
    format_points,
)
from printers.render_escpos import render_escpos, render_escpos_bytes
from printers.render_text import render_text

__all__ = [
    "PAPER_WIDTH_CHARS",
    "QR",
    "RECEIPT_KINDS",
    "Block",
    "Columns",
    "Cut",
    "Feed",
    "MemberBlock",
    "PrinterConfigError",
    "PrinterConnectionError",
    "PrinterError",
    "PrinterSettings",
    "PrinterTimeoutError",
    "PrinterWriteError",
    "Receipt",
    "ReceiptKind",
    "ReceiptLine",
    "ReceiptRenderError",
    "Rule",
    "StampLine",
    "Text",
    "describe_target",
    "format_card_number",
    "format_money",
    "format_points",
    "layout",
    "open_printer",
    "qr_image",
    "qr_png_bytes",
    "render_escpos",
    "render_escpos_bytes",
    "render_for_printer",
    "render_text",
    "send",
    "width_for",
]
