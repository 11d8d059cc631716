"""Plain-text rendering of a receipt: the preview the terminal app shows and tests read.

    >>> print(render_text(receipt, paper_mm=58))

Each line is at most the paper's width in characters, trailing spaces removed. The QR
code is a placeholder line `[QR: <card number>]` followed by the caption the printer puts
under the real code; the receipt barcode likewise is `[BARCODE: <receipt number>]` and
the number. Bold and double size are not shown. Text the printer's code pages cannot hold
(CJK, emoji) is shown as it is: the printer prints that line as an image of the same text
(`render_escpos`), or, for characters no font on the till can draw, prints
`[not printable]` in their place; the stored preview of a print job is this text.
"""

from __future__ import annotations

from printers.layout import (
    QR,
    Barcode,
    Block,
    Columns,
    Cut,
    Feed,
    Rule,
    Text,
    layout,
    width_for,
)
from printers.receipt import Receipt

__all__ = ["blocks_to_lines", "render_text"]


def blocks_to_lines(blocks: list[Block], width: int) -> list[str]:
    """The preview lines of an already laid-out receipt."""
    lines: list[str] = []
    for block in blocks:
        match block:
            case Text(text=text, align=align):
                if align == "center":
                    lines.append(text.center(width))
                elif align == "right":
                    lines.append(text.rjust(width))
                else:
                    lines.append(text)
            case Rule(char=char):
                lines.append(char * width)
            case Columns():
                lines.append(block.fit(width))
            case QR(caption=caption):
                lines.append(f"[QR: {caption}]".center(width))
                lines.append(caption.center(width))
            case Barcode(data=data):
                lines.append(f"[BARCODE: {data}]".center(width))
                lines.append(data.center(width))
            case Feed(lines=n):
                lines.extend([""] * n)
            case Cut():
                pass
    return [line.rstrip() for line in lines]


def render_text(receipt: Receipt, paper_mm: int = 80, tz: str = "UTC") -> str:
    """The receipt as plain text for `paper_mm` paper (58 or 80), times shown in `tz`."""
    width = width_for(paper_mm)
    return "\n".join(blocks_to_lines(layout(receipt, width, tz), width)) + "\n"
