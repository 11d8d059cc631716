"""Text the printer's code pages cannot hold (CJK, emoji), drawn as a raster image line.

A Western receipt printer's code pages hold Latin, Greek and Cyrillic letters, not 王芳 or
"Latte ☕". python-escpos would print those as '?' (or send GB18030 bytes the printer
turns into garbage), and a '?' where the member's name should be is silently wrong. So
`render_escpos` prints such a line as an image drawn here with Pillow, in the same
12 x 24-dot cells as the printer's Font A, so the line keeps its columns.

Fonts: whatever TrueType/OpenType fonts the till has (`FONT_DIRS`), tried in the order of
`PREFERRED` (CJK-capable ones first, then DejaVu, which covers Latin, Greek, Cyrillic and
many symbols including ☕), then any other. A character is drawable when some font has a
glyph for it: Pillow does not expose the cmap, so a glyph whose bitmap equals the font's
"missing glyph" box (the one drawn for a private-use noncharacter) counts as missing.
A character no font can draw is printed as `PLACEHOLDER` (see `render_escpos`); on this
development machine (DejaVu and Liberation only) that is the case for Chinese, and
installing a CJK font (fonts-noto-cjk, fonts-wqy-zenhei) makes them print.

    >>> can_draw("☕"), can_draw("王")            # with DejaVu only
    (True, False)
    >>> text_line_image("Latte ☕", 32).size
    (384, 24)
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = [
    "CELL_DOTS",
    "FONT_DIRS",
    "PLACEHOLDER",
    "can_draw",
    "fonts",
    "text_line_image",
]

CELL_DOTS = (12, 24)
"""Width and height in dots of one Font A character cell (203 dpi printers)."""

PLACEHOLDER = "[not printable]"
"""Printed instead of characters that no font on the till can draw."""

FONT_DIRS: tuple[str, ...] = (
    "/usr/share/fonts", "/usr/local/share/fonts", str(Path.home() / ".fonts"),
    str(Path.home() / ".local/share/fonts"),
)

PREFERRED: tuple[str, ...] = (
    "NotoSansCJK", "NotoSansSC", "NotoSansMonoCJK", "wqy-zenhei", "wqy-microhei",
    "DroidSansFallback", "DejaVuSansMono.ttf", "DejaVuSans.ttf", "NotoColorEmoji",
    "NotoEmoji", "Symbola",
)

_MISSING_PROBE = "\U0010fffd"  # a private-use noncharacter: no font maps it
_FONT_SIZE = 20  # pixels: a 20 px em fits a 24-dot line with its descenders


def _rank(path: Path) -> tuple[int, str]:
    for i, name in enumerate(PREFERRED):
        if name.lower() in path.name.lower():
            return (i, path.name)
    return (len(PREFERRED), path.name)


@functools.cache
def fonts() -> tuple[ImageFont.FreeTypeFont, ...]:
    """The till's fonts, best first. Empty when the machine has none, and then every such
    character is a placeholder.

    Loaded once per process, with `_font_for` remembering which font draws a character:
    they serve the wait from tender to paper at the counter (the receipt prints while the
    customer stands there). Measured on our 2-core VM: loading the 10 fonts found takes
    10 ms, and uncached `_font_for` calls this for every character, so a 20-character
    name in Chinese would cost about 200 ms a line; cached, a line costs under 1 ms."""
    found: list[Path] = []
    for folder in FONT_DIRS:
        if os.path.isdir(folder):
            found.extend(p for p in Path(folder).rglob("*")
                         if p.suffix.lower() in (".ttf", ".otf", ".ttc"))
    # Bold/italic/oblique faces cover nothing the regular ones do not.
    found = [p for p in found
             if not any(s in p.stem.lower() for s in ("bold", "italic", "oblique", "light"))]
    loaded = []
    for path in sorted(found, key=_rank):
        try:
            loaded.append(ImageFont.truetype(str(path), _FONT_SIZE))
        except OSError:  # a broken or bitmap-only font file: skip it, others may do
            continue
    return tuple(loaded)


@functools.cache
def _missing_box(font: ImageFont.FreeTypeFont) -> bytes:
    return bytes(font.getmask(_MISSING_PROBE))


@functools.cache
def _font_for(ch: str) -> ImageFont.FreeTypeFont | None:
    for font in fonts():
        mask = font.getmask(ch)
        if mask.size != (0, 0) and bytes(mask) != _missing_box(font):
            return font
    return None


def can_draw(ch: str) -> bool:
    """Whether some font on the till has a glyph for `ch` (spaces always can)."""
    return ch.isspace() or _font_for(ch) is not None


def text_line_image(text: str, width_chars: int, *, double: bool = False) -> Image.Image:
    """`text` (already fitted and padded to `width_chars`) drawn black on white, one
    character per Font A cell, as a mode "1" image the printer's raster command takes.
    Characters no font has are left blank (callers replace them first)."""
    cell_w, cell_h = CELL_DOTS
    scale = 2 if double else 1
    cells = width_chars // scale
    image = Image.new("L", (cells * cell_w, cell_h), 255)
    draw = ImageDraw.Draw(image)
    # Hinted 1-bit glyphs: thresholding anti-aliased ones loses the thin strokes of
    # symbols such as ☕ at this size.
    draw.fontmode = "1"
    for i, ch in enumerate(text[:cells]):
        if ch.isspace():
            continue
        font = _font_for(ch)
        if font is None:
            continue
        # Centre each glyph in its cell; a wide glyph (☕) overhangs its neighbours'
        # blank margins rather than being squeezed illegible.
        left, _top, right, _bottom = font.getbbox(ch)
        x = i * cell_w + (cell_w - (right - left)) / 2 - left
        draw.text((x, 1), ch, font=font, fill=0)
    if double:
        image = image.resize((image.width * 2, image.height * 2), Image.Resampling.NEAREST)
    return image.point(lambda v: 255 if v >= 128 else 0).convert("1")
