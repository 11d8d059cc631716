"""Money as integer minor units. Never a float.

    >>> parse_amount("12.50", exponent=2)
    1250
    >>> format_amount(1250, exponent=2)       # for input fields and messages: no separator
    '12.50'
    >>> format_money(123450, 2, "EUR")        # for people: receipts, screens
    '1,234.50 EUR'
"""

from __future__ import annotations

import re

from loyalty.errors import MoneyError

# ASCII digits only: `\d` and int() also read Arabic-Indic, Devanagari or full-width digits,
# so "١٢.٥٠" recorded a 12.50 sale that the receipt then printed in digits nobody typed.
_AMOUNT = re.compile(r"^(?P<int>[0-9]+)(?:[.,](?P<frac>[0-9]+))?$")
# No single sale reaches ten million (in minor units 10**9): above is a typo or an attack.
# Stores set their own, lower, limit: [terminal] max_sale.
MAX_SALE_MINOR = 10**9


def parse_amount(text: str, exponent: int = 2) -> int:
    """Parse a decimal string such as "12.50" into minor units (1250 for exponent 2)."""
    cleaned = str(text).strip()
    match = _AMOUNT.fullmatch(cleaned)
    if not match:
        raise MoneyError(
            f"'{text}' is not an amount: type digits with at most {exponent} decimals, e.g. 12.50"
        )
    frac = match.group("frac") or ""
    if len(frac) > exponent:
        raise MoneyError(f"'{text}' has more than {exponent} decimals")
    minor = int(match.group("int")) * 10**exponent + int(frac.ljust(exponent, "0") or 0)
    if minor > MAX_SALE_MINOR:
        raise MoneyError(f"'{text}' is larger than any single sale this system accepts "
                         f"({format_amount(MAX_SALE_MINOR, exponent)}): check the amount")
    return minor


def format_amount(minor: int, exponent: int = 2) -> str:
    """Format minor units as a decimal string; negative amounts keep their sign."""
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(int(minor)), 10**exponent)
    if exponent == 0:
        return f"{sign}{whole}"
    return f"{sign}{whole}.{frac:0{exponent}d}"


def format_money(minor: int, exponent: int = 2, currency: str = "") -> str:
    """Integer minor units as people read them: `format_money(123450, 2, "EUR")` ->
    '1,234.50 EUR'; without `currency` only the amount ('1,234.50'). Negative amounts keep
    their sign. Floats (and bools) are refused: they cannot hold cents exactly, and one
    here is always a bug upstream."""
    if not isinstance(minor, int) or isinstance(minor, bool):
        raise TypeError(f"money must be integer minor units, not {type(minor).__name__}")
    if not isinstance(exponent, int) or isinstance(exponent, bool) or exponent < 0:
        raise ValueError(f"currency exponent must be an integer >= 0, not {exponent!r}")
    sign = "-" if minor < 0 else ""
    whole, frac = divmod(abs(minor), 10**exponent)
    amount = f"{sign}{whole:,}" if exponent == 0 else f"{sign}{whole:,}.{frac:0{exponent}d}"
    return f"{amount} {currency}" if currency else amount
