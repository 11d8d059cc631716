"""The product catalogue: products, their barcodes, and the CSV HQ imports and exports.

    >>> valid_barcode("4006381333931"), barcode_problem("4006381333932")
    (True, 'barcode 4006381333932 has a wrong check digit (expected 1)')
    >>> products = parse_csv("sku,barcodes,name,category,price,tax_rate\\n"
    ...                      "LATTE,4006381333931,Latte,coffee,3.50,5.5\\n", exponent=2)
    >>> products[0].price, products[0].tax_rate
    (350, 550)
    >>> export_csv(products, exponent=2).splitlines()[1]
    'LATTE,4006381333931,Latte,coffee,3.50,5.5'

Pure: no I/O. The hub (`hub.catalogue`) imports and publishes it; terminals pull it
(`pos_agent.catalogue`). Prices are integer minor units, tax-inclusive; tax rates are
hundredths of a percent (550 = 5.5%), so no float ever holds money or a rate.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass

from loyalty.errors import LoyaltyError, MoneyError
from loyalty.money import format_amount, parse_amount
from loyalty.validation import text_problem

HEADER = ("sku", "barcodes", "name", "category", "price", "tax_rate")
"""The CSV columns, in the order export writes them; `active` may follow."""
OPTIONAL = ("active",)
BARCODE_SEPARATOR = "|"
MAX_NAME = 80
MAX_CATEGORY = 40
MAX_TAX_RATE = 10_000  # 100.00 %
# Letters, digits and . _ / - : what till keyboards, scanners and spreadsheets keep intact.
_SKU = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/-]{0,39}", re.ASCII)
_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_KINDS = {8: "EAN-8", 12: "UPC-A", 13: "EAN-13"}
_TRUE = {"", "true", "yes", "1", "y"}
_FALSE = {"false", "no", "0", "n"}


class CatalogueError(LoyaltyError):
    """A catalogue file that cannot be imported. `problems` lists every bad row as
    `(line, field, sentence)`; `str()` is all of them, one line each."""

    def __init__(self, problems: list[tuple[int, str, str]]) -> None:
        self.problems = problems
        head = (f"{len(problems)} problem(s) in the catalogue file; nothing was imported:"
                if len(problems) > 1 else "the catalogue file was not imported:")
        super().__init__("\n".join([head, *(f"line {line}: {text}" if line else text
                                            for line, _, text in problems)]))


@dataclass(frozen=True)
class Product:
    """One product. `price` in minor units, tax included; `tax_rate` in hundredths of a
    percent; `barcodes` as written (EAN-13, UPC-A or EAN-8)."""

    sku: str
    name: str
    category: str
    price: int
    tax_rate: int
    barcodes: tuple[str, ...] = ()
    active: bool = True

    def to_dict(self) -> dict:
        """`{"sku", "name", "category", "price", "tax_rate", "barcodes", "active"}`."""
        return {"sku": self.sku, "name": self.name, "category": self.category,
                "price": self.price, "tax_rate": self.tax_rate,
                "barcodes": list(self.barcodes), "active": self.active}

    @classmethod
    def from_dict(cls, data: dict) -> Product:
        """The inverse of `to_dict` (a pull change, a JSON export)."""
        return cls(sku=str(data["sku"]), name=str(data["name"]),
                   category=str(data["category"]), price=int(data["price"]),
                   tax_rate=int(data["tax_rate"]),
                   barcodes=tuple(str(b) for b in data.get("barcodes") or ()),
                   active=bool(data.get("active", True)))


# -- barcodes -----------------------------------------------------------------------------
def check_digit(body: str) -> int:
    """The GS1 check digit of `body` (the code without its last digit): weights 3 and 1
    from the right, as EAN-13, UPC-A and EAN-8 share. `check_digit("400638133393")` -> 1."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    return (10 - total % 10) % 10


def barcode_problem(code: str) -> str | None:
    """What is wrong with `code` as an EAN-13, UPC-A or EAN-8 barcode, as a sentence
    naming it, or None when it is valid."""
    if not _DIGITS.fullmatch(code):
        return f"barcode {code!r} is not digits only (EAN-13, UPC-A or EAN-8)"
    if len(code) not in _KINDS:
        return (f"barcode {code} has {len(code)} digits: EAN-13 has 13, UPC-A 12, "
                "EAN-8 8")
    expected = check_digit(code[:-1])
    if int(code[-1]) != expected:
        return f"barcode {code} has a wrong check digit (expected {expected})"
    return None


def valid_barcode(code: str) -> bool:
    """Whether `code` is an EAN-13, UPC-A or EAN-8 with a right check digit."""
    return barcode_problem(code) is None


def barcode_kind(code: str) -> str:
    """'EAN-13', 'UPC-A' or 'EAN-8' by length (of a valid code)."""
    return _KINDS.get(len(code), "unknown")


def gtin(code: str) -> str:
    """The key a barcode is looked up and kept unique by: a UPC-A is the EAN-13 with a
    leading 0 (scanners send either, depending on their set-up), so `036000291452` and
    `0036000291452` are one product's code. EAN-8 and EAN-13 stay as they are."""
    return "0" + code if len(code) == 12 else code


# -- names --------------------------------------------------------------------------------
def fold_text(text: str) -> str:
    """`text` for matching: accents dropped (NFKD without combining marks), casefolded,
    anything but letters and digits as single spaces. `fold_text("Café-Crème")` ->
    'cafe creme'."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch)).casefold()
    return " ".join("".join(ch if ch.isalnum() else " " for ch in bare).split())


# -- CSV ----------------------------------------------------------------------------------
def format_tax_rate(rate: int) -> str:
    """550 -> '5.5', 2000 -> '20', 1234 -> '12.34' (as a percent, shortest form)."""
    whole, frac = divmod(rate, 100)
    return f"{whole}" if frac == 0 else f"{whole}.{frac:02d}".rstrip("0")


def _row_products(rows: Iterable[tuple[int, dict[str, str]]], exponent: int,
                  problems: list[tuple[int, str, str]]) -> list[Product]:
    out: list[Product] = []
    skus: dict[str, int] = {}
    codes: dict[str, tuple[int, str]] = {}
    for line, row in rows:
        bad = len(problems)

        def problem(field: str, text: str, line: int = line) -> None:
            problems.append((line, field, text))

        sku = (row.get("sku") or "").strip()
        if not _SKU.fullmatch(sku):
            problem("sku", f"sku {sku!r} is not 1-40 letters, digits or . _ / - "
                    "(starting with a letter or digit)")
        elif sku.casefold() in skus:
            problem("sku", f"sku {sku} is already on line {skus[sku.casefold()]}")
        else:
            skus[sku.casefold()] = line
        barcodes = tuple(b.strip() for b in (row.get("barcodes") or "").split(
            BARCODE_SEPARATOR) if b.strip())
        for code in barcodes:
            wrong = barcode_problem(code)
            if wrong:
                problem("barcodes", wrong)
                continue
            key = gtin(code)
            if key in codes:
                first_line, first_code = codes[key]
                same = "" if first_code == code else f" (as {first_code})"
                problem("barcodes", f"barcode {code} is already on line {first_line}{same}")
            else:
                codes[key] = (line, code)
        name = (row.get("name") or "").strip()
        category = (row.get("category") or "").strip()
        for field, value, most in (("name", name, MAX_NAME),
                                   ("category", category, MAX_CATEGORY)):
            if not value:
                problem(field, f"{field} is empty")
            elif len(value) > most:
                problem(field, f"{field} is {len(value)} characters long; at most {most}")
            elif (wrong := text_problem(value)) is not None:
                problem(field, f"{field} {wrong}")
        price = 0
        try:
            price = parse_amount(row.get("price") or "", exponent)
        except MoneyError as exc:
            problem("price", f"price {exc}")
        tax_rate = 0
        raw_tax = (row.get("tax_rate") or "").strip().removesuffix("%").strip()
        try:
            tax_rate = parse_amount(raw_tax, 2)
            if tax_rate > MAX_TAX_RATE:
                problem("tax_rate", f"tax_rate {raw_tax} is over 100 (a percent)")
        except MoneyError:
            problem("tax_rate", f"tax_rate {raw_tax!r} is not a percent like 5.5 (at most "
                    "2 decimals)")
        active_text = (row.get("active") or "").strip().casefold()
        if active_text not in _TRUE | _FALSE:
            problem("active", f"active {row.get('active')!r} is not true or false")
        if len(problems) == bad:
            out.append(Product(sku=sku, name=name, category=category, price=price,
                               tax_rate=tax_rate, barcodes=barcodes,
                               active=active_text not in _FALSE))
    return out


def parse_csv(text: str, exponent: int = 2) -> list[Product]:
    """Every product of a catalogue CSV (header `sku,barcodes,name,category,price,tax_rate`
    in any order, optional `active`; barcodes separated by `|`; price in currency units
    like 3.50 with `exponent` decimals at most; tax_rate a percent like 5.5), in file
    order. Raises CatalogueError listing every bad row with its line number and field;
    duplicated SKUs (case-insensitive) or barcodes (a UPC-A equals its EAN-13) are errors."""
    text = text.removeprefix("\ufeff")  # spreadsheets save UTF-8 with a byte order mark
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        raise CatalogueError([(0, "header", "the file is empty: its first line must be "
                               "the header " + ",".join(HEADER))])
    names = [h.strip().casefold() for h in header]
    missing = [h for h in HEADER if h not in names]
    unknown = [h for h in names if h not in HEADER + OPTIONAL]
    if missing or unknown or len(set(names)) != len(names):
        hint = (" (the file looks separated by ';': save it as comma-separated CSV)"
                if len(header) == 1 and ";" in header[0] else "")
        raise CatalogueError([(1, "header", f"the header must be {','.join(HEADER)} "
                               f"(optional: active); this one has {','.join(names)}{hint}")])
    problems: list[tuple[int, str, str]] = []
    rows: list[tuple[int, dict[str, str]]] = []
    line = reader.line_num + 1
    for record in reader:
        start, line = line, reader.line_num + 1  # a quoted field may span lines
        if not any(cell.strip() for cell in record):
            continue
        if len(record) != len(names):
            problems.append((start, "row", f"has {len(record)} fields; the header has "
                             f"{len(names)} (a comma in a name needs \"quotes\")"))
            continue
        rows.append((start, dict(zip(names, record, strict=True))))
    products = _row_products(rows, exponent, problems)
    if problems:
        raise CatalogueError(sorted(problems, key=lambda p: p[0]))
    return products


def export_csv(products: Iterable[Product], exponent: int = 2,
               active_column: bool | None = None) -> str:
    """The catalogue as CSV with `parse_csv`'s header, one row per product in the order
    given; `parse_csv(export_csv(p)) == p`. The `active` column is written when
    `active_column` is true, or (None) when some product is inactive, so a file with only
    active products exports to the same text it was imported from."""
    products = list(products)
    if active_column is None:
        active_column = any(not p.active for p in products)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER + (OPTIONAL if active_column else ()))
    for p in products:
        row = [p.sku, BARCODE_SEPARATOR.join(p.barcodes), p.name, p.category,
               format_amount(p.price, exponent), format_tax_rate(p.tax_rate)]
        writer.writerow(row + (["true" if p.active else "false"] if active_column else []))
    return out.getvalue()


__all__ = ["HEADER", "CatalogueError", "Product", "barcode_kind", "barcode_problem",
           "check_digit", "export_csv", "fold_text", "format_tax_rate", "gtin",
           "parse_csv", "valid_barcode"]
