"""Turn a pydantic ValidationError into one sentence that names the key.

    >>> describe(exc, prefix="terminal")
    'terminal.manager_pin: String should have at least 4 characters'
"""

from __future__ import annotations

import re
import unicodedata
from typing import TYPE_CHECKING, Any

from loyalty.errors import TextError

if TYPE_CHECKING:  # the domain's text rules need no pydantic at import
    from pydantic import ValidationError


def dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-", "literal[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    if err["type"] == "extra_forbidden":
        problem = "unknown key (check its spelling against config.example.toml)"
    elif err["type"] == "missing":
        problem = "is required"
    else:
        problem = err["msg"].removeprefix("Value error, ")
    return f"{dotted(err['loc'], prefix)}: {problem}"


# -- what the edges accept (issue 16 part 6) --------------------------------------------------
# One rule for every input edge (the `pos` command, the app, the hub's request models) and
# every text output (command tables, error lines; receipts clean it in printers.layout).
#
# Refused in names and free text: C0 and C1 controls and DEL (a stray ESC is a terminal or
# printer command), the line and paragraph separators, lone surrogates (undecodable bytes in
# an argument; sqlite cannot store them) and the bidirectional overrides and isolates, which
# make "abc\u202edcba" display as something else than what is stored. Joiners (U+200C/D)
# stay: some scripts and emoji need them.
_BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_REFUSED = [(0x00, 0x1F), (0x7F, 0x9F), (0x2028, 0x2029), *((ord(c), ord(c)) for c in _BIDI)]


def _regex_class(ranges: list[tuple[int, int]]) -> str:
    def esc(code: int) -> str:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return "".join(esc(a) if a == b else f"{esc(a)}-{esc(b)}" for a, b in ranges)


CONTROL_CLASS = _regex_class(_REFUSED)
"""The refused characters as the inside of a regex character class."""
NO_CONTROL = f"^[^{CONTROL_CLASS}]*$"
"""A regex (Python, Rust and ECMA syntax alike: request models, OpenAPI) matching text
without any refused character (surrogates cannot be written in it: JSON decoding refuses
lone ones)."""
NO_CONTROL_MULTILINE = f"^[^{_regex_class([(0x00, 0x09), (0x0B, 0x1F), *_REFUSED[1:]])}]*$"
"""The same, for free text that may span lines: LF is allowed, nothing else."""
_BIDI_SET = frozenset(_BIDI)


def is_control(ch: str) -> bool:
    """Whether `ch` is a character names and free text may not hold (see above)."""
    return unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp") or ch in _BIDI_SET


def text_problem(text: str, *, multiline: bool = False) -> str | None:
    """What is wrong with `text` as a name or free text, or None."""
    for i, ch in enumerate(text):
        if is_control(ch) and not (multiline and ch == "\n"):
            return (f"holds a control character ({_codepoint(ch)}, position {i + 1}); "
                    "type it again without it")
    return None


def check_text(text: str, what: str, *, multiline: bool = False) -> str:
    """`text` unchanged, or TextError naming `what` (e.g. "the name")."""
    problem = text_problem(text, multiline=multiline)
    if problem:
        raise TextError(f"{what} {problem}")
    return text


def escape_text(text: str, *, keep_newlines: bool = False) -> str:
    """`text` with every refused character written as a visible escape (`\\x1b`,
    `\\u202e`), for output to a terminal: what is stored is shown, never obeyed."""
    if text.isascii() and text.isprintable():
        return text  # the common case, at C speed
    return "".join(_escape(ch) if is_control(ch) and not (keep_newlines and ch == "\n")
                   else ch for ch in text)


def escape_json(text: str) -> str:
    """JSON text (from json.dumps(..., ensure_ascii=False)) with the refused characters
    json leaves raw (C1, bidi overrides, U+2028, lone surrogates) written as `\\uXXXX`:
    the same JSON value, safe on a terminal."""
    if text.isascii():
        return text
    return "".join(f"\\u{ord(ch):04x}" if is_control(ch) else ch for ch in text)


def _escape(ch: str) -> str:
    code = ord(ch)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def _codepoint(ch: str) -> str:
    return f"U+{ord(ch):04X}"


_ASCII_INT = re.compile(r"[+-]?[0-9]+", re.ASCII)


def ascii_int(text: str) -> int:
    """An integer written in ASCII digits (an optional sign, no spaces inside). Python's
    int() also reads Arabic-Indic, Devanagari, full-width... digits ("١٢" is 12): a till
    must record only what the cashier can read back on the receipt."""
    cleaned = str(text).strip()
    if not _ASCII_INT.fullmatch(cleaned):
        raise ValueError(f"'{text}' is not a whole number: type the digits 0-9")
    return int(cleaned)


def integer(text: str) -> int:
    """An argparse `type` (`pos`, `pos-hub`): `ascii_int`, named so that argparse says
    "invalid integer value: '١٢'" (`type=int` would take it as 12)."""
    return ascii_int(text)


def is_ascii_digits(text: str) -> bool:
    """`text` is one or more of 0-9 and nothing else (str.isdigit also takes "١٢", "²")."""
    return text.isascii() and text.isdigit()
