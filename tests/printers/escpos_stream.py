"""A small, strict ESC/POS stream parser for the printers tests.

It knows exactly the commands the renderer is expected to emit and raises on anything
else, so an unexpected command in the output fails a test instead of being skipped.
Text is decoded with Python's own codecs for the code page the stream selected (ESC t n),
independently of python-escpos's MagicEncode tables.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from escpos.capabilities import CAPABILITIES
from PIL import Image, ImageOps

ESC, GS = 0x1B, 0x1D

# ESC commands with one parameter byte, and ones with none.
_ESC_ONE_ARG = {ord(c) for c in "taE!dM-{3"}
_ESC_NO_ARG = {ord("@"), ord("2")}
# GS h/w/H/f: barcode height, module width, number position, number font.
_GS_ONE_ARG = {ord(c) for c in "!BbhwHf"}


@dataclass(frozen=True)
class Token:
    kind: str  # "text", "lf", "esc", "gs(", "raster", "cut", "barcode"
    data: bytes = b""
    arg: int = 0
    fn: int = 0
    width_bytes: int = 0
    height: int = 0


def tokenize(data: bytes) -> list[Token]:
    tokens: list[Token] = []
    text = bytearray()
    i, n = 0, len(data)

    def flush() -> None:
        if text:
            tokens.append(Token("text", bytes(text)))
            text.clear()

    while i < n:
        b = data[i]
        if b == ESC:
            flush()
            c = data[i + 1]
            if c in _ESC_NO_ARG:
                tokens.append(Token("esc", bytes([c])))
                i += 2
            elif c in _ESC_ONE_ARG:
                tokens.append(Token("esc", bytes([c]), arg=data[i + 2]))
                i += 3
            else:
                raise ValueError(f"unexpected ESC {c:#04x} at offset {i}")
        elif b == GS:
            flush()
            c = data[i + 1]
            if c in _GS_ONE_ARG:
                tokens.append(Token("gs", bytes([c]), arg=data[i + 2]))
                i += 3
            elif c == ord("("):
                fn_class = data[i + 2]
                length = data[i + 3] + 256 * data[i + 4]
                body = data[i + 5 : i + 5 + length]
                assert len(body) == length, "truncated GS ( command"
                tokens.append(Token("gs(", body, fn=fn_class))
                i += 5 + length
            elif c == ord("v"):
                assert data[i + 2] == ord("0"), "only GS v 0 is expected"
                mode = data[i + 3]
                wb = data[i + 4] + 256 * data[i + 5]
                h = data[i + 6] + 256 * data[i + 7]
                body = data[i + 8 : i + 8 + wb * h]
                assert len(body) == wb * h, "truncated raster image"
                tokens.append(Token("raster", body, arg=mode, width_bytes=wb, height=h))
                i += 8 + wb * h
            elif c == ord("k"):
                m = data[i + 2]
                assert m >= 65, "only GS k function B (m >= 65) is expected"
                length = data[i + 3]
                body = data[i + 4 : i + 4 + length]
                assert len(body) == length, "truncated barcode"
                tokens.append(Token("barcode", body, arg=m))
                i += 4 + length
            elif c == ord("V"):
                m = data[i + 2]
                size = 4 if m in (65, 66, 97, 98, 103, 104) else 3
                tokens.append(Token("cut", data[i : i + size], arg=m))
                i += size
            else:
                raise ValueError(f"unexpected GS {c:#04x} at offset {i}")
        elif b == 0x0A:
            flush()
            tokens.append(Token("lf"))
            i += 1
        elif b < 0x20 or b == 0x7F:
            raise ValueError(f"unexpected control byte {b:#04x} at offset {i}")
        else:
            text.append(b)
            i += 1
    flush()
    return tokens


def python_codec(profile: str, page: int) -> str:
    """Python codec name of code page number `page` in a python-escpos profile."""
    name = CAPABILITIES["profiles"][profile]["codePages"][str(page)]
    codec = CAPABILITIES["encodings"][name]["python_encode"]
    codecs.lookup(codec)
    return codec


def qr_store_data(tokens: list[Token]) -> list[bytes]:
    """Data of every `GS ( k pL pH 31 50 30 <data>` (QR: store the data in the symbol area)."""
    out = []
    for t in tokens:
        if t.kind == "gs(" and t.fn == ord("k") and t.data[:3] == b"\x31\x50\x30":
            out.append(t.data[3:])
    return out


def qr_setting(tokens: list[Token], fn: int) -> list[bytes]:
    """Parameters of the QR (cn 49) GS ( k function `fn` (65 model, 67 size, 69 EC level)."""
    return [t.data[2:] for t in tokens if t.kind == "gs(" and t.data[:2] == bytes([0x31, fn])]


def code128_text(data: bytes) -> str:
    """The text of GS k m=73 (Code128) data: '{B' ASCII, '{C' one byte per digit pair."""
    out, code_set, i = [], None, 0
    while i < len(data):
        if data[i] == ord("{"):
            code_set = chr(data[i + 1])
            i += 2
            continue
        assert code_set in ("B", "C"), f"Code128 data outside a code set at {i}"
        out.append(chr(data[i]) if code_set == "B" else f"{data[i]:02d}")
        i += 1
    return "".join(out)


def barcodes(data: bytes) -> list[tuple[int, str]]:
    """(m, decoded text) of every GS k barcode; m = 73 is Code128."""
    return [(t.arg, code128_text(t.data) if t.arg == 73 else t.data.decode("ascii"))
            for t in tokenize(data) if t.kind == "barcode"]


def printed_lines(data: bytes, profile: str = "default") -> list[str]:
    """What the printer prints, as text lines: code pages applied, QR codes as '[QR]',
    raster images as '[IMAGE]', barcodes as '[BARCODE]'. Feeds and cuts (ESC d, GS V)
    produce no lines."""
    lines: list[str] = []
    current = ""
    codec: str | None = None
    for t in tokenize(data):
        if t.kind == "esc" and t.data == b"t":
            codec = python_codec(profile, t.arg)
        elif t.kind == "esc" and t.data == b"@":
            codec = None
        elif t.kind == "text":
            if codec is None:
                assert max(t.data) < 0x80, "non-ASCII text before any code page was selected"
                current += t.data.decode("ascii")
            else:
                current += t.data.decode(codec)
        elif t.kind == "lf":
            lines.append(current)
            current = ""
        elif t.kind == "gs(" and t.data[:3] == b"\x31\x51\x30":  # QR: print the symbol
            if current:
                lines.append(current)
                current = ""
            lines.append("[QR]")
        elif t.kind == "raster":
            if current:
                lines.append(current)
                current = ""
            lines.append("[IMAGE]")
        elif t.kind == "barcode":
            if current:
                lines.append(current)
                current = ""
            lines.append("[BARCODE]")
    if current:
        lines.append(current)
    return lines


def text_runs(data: bytes) -> list[tuple[int | None, bytes]]:
    """(code page number selected by the last ESC t, or None) for every text run."""
    page: int | None = None
    runs = []
    for t in tokenize(data):
        if t.kind == "esc" and t.data == b"t":
            page = t.arg
        elif t.kind == "text":
            runs.append((page, t.data))
    return runs


def raster_images(data: bytes) -> list[Image.Image]:
    """Every GS v 0 raster image, rebuilt as black-on-white 'L' images."""
    images = []
    for t in tokenize(data):
        if t.kind == "raster":
            # Raster rows: MSB = leftmost dot, bit 1 = printed (black). PIL's "1" mode uses
            # the same packing with 1 = white, hence the inversion.
            dots = Image.frombytes("1", (t.width_bytes * 8, t.height), t.data)
            images.append(ImageOps.invert(dots.convert("L")))
    return images


def with_quiet_zone(image: Image.Image, margin: int = 32) -> Image.Image:
    """Paste onto white paper: the printed code's surroundings are blank paper too."""
    canvas = Image.new("L", (image.width + 2 * margin, image.height + 2 * margin), 255)
    canvas.paste(image, (margin, margin))
    return canvas
