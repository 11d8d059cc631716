"""The product catalogue at the till: pulled from the hub, found by barcode, SKU or name.

    >>> product_by_code(store, "4006381333931").name          # a scan, or a typed SKU
    'Latte'
    >>> product_by_code(store, "4006381333932")
    Traceback (most recent call last):
    ProductNotFound: barcode 4006381333932 has a wrong check digit (expected 1): scan it again
    >>> [p.sku for p in search_products(store, "crem")]       # "Café crème", any word's start
    ['CREME']

HQ owns the catalogue (`pos-hub catalog import`); each `product` change of the pull feed
replaces one product here (`apply_product_change`, in the page's transaction with the
cursor). A product the hub deactivated stays, inactive: `product_by_sku` and
`product_by_code(..., include_inactive=True)` still find it for old receipts and returns,
while `product_by_code` and `search_products` (what a sale uses) refuse or skip it.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING

from loyalty.catalogue import BARCODE_SEPARATOR, Product, barcode_problem, fold_text, gtin
from loyalty.validation import escape_text
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from pos_agent.store import Store

_BARCODE_LENGTHS = (8, 12, 13)
_COLUMNS = "sku, name, category, price, tax_rate, barcodes, active"


class ProductNotFound(StoreError):
    """No product to sell for what was scanned or typed; the message says why (a wrong
    check digit, an unknown code, a product no longer sold). `product` is the inactive
    product when that is the reason."""

    def __init__(self, message: str, product: Product | None = None) -> None:
        super().__init__(message)
        self.product = product


def _folded(name: str) -> str:
    # A leading space before every word: " cafe creme". instr(name_folded, ' ' || prefix)
    # then matches the start of any word, and nothing in the middle of one.
    return "".join(" " + word for word in fold_text(name).split())


def apply_product_change(conn: sqlite3.Connection, change: dict, now_text: str) -> None:
    """Apply one `product` change of the pull feed (`hub.catalogue.pull_changes`) inside
    the caller's transaction: the product and its barcodes replaced by the hub's."""
    product = Product.from_dict(change)
    conn.execute(
        "INSERT INTO products (sku, name, name_folded, category, price, tax_rate, barcodes, "
        "active, change_seq, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sku) DO UPDATE SET name = excluded.name, "
        "name_folded = excluded.name_folded, category = excluded.category, "
        "price = excluded.price, tax_rate = excluded.tax_rate, barcodes = excluded.barcodes, "
        "active = excluded.active, change_seq = excluded.change_seq, "
        "updated_at = excluded.updated_at",
        (product.sku, product.name, _folded(product.name), product.category, product.price,
         product.tax_rate, BARCODE_SEPARATOR.join(product.barcodes), int(product.active),
         change.get("change_seq"), now_text))
    conn.execute("DELETE FROM product_barcodes WHERE sku = ?", (product.sku,))
    # The hub moves a code from one product to another in one import, but the two changes
    # may arrive in different pages: the newer owner wins here at once.
    conn.executemany(
        "INSERT INTO product_barcodes (gtin, code, sku) VALUES (?, ?, ?) "
        "ON CONFLICT (gtin) DO UPDATE SET code = excluded.code, sku = excluded.sku",
        [(gtin(code), code, product.sku) for code in product.barcodes])


def _row(row: sqlite3.Row | tuple) -> Product:
    sku, name, category, price, tax_rate, barcodes, active = tuple(row)
    return Product(sku=sku, name=name, category=category, price=int(price),
                   tax_rate=int(tax_rate),
                   barcodes=tuple(b for b in barcodes.split(BARCODE_SEPARATOR) if b),
                   active=bool(active))


def product_by_sku(store: Store, sku: str) -> Product | None:
    """The product with this SKU, active or not (old receipts, returns), or None. Exact
    first, then ignoring case."""
    conn = store.conn
    row = conn.execute(f"SELECT {_COLUMNS} FROM products WHERE sku = ?", (sku,)).fetchone()
    if row is None:
        row = conn.execute(f"SELECT {_COLUMNS} FROM products WHERE sku = ? COLLATE NOCASE "
                           "ORDER BY active DESC, sku LIMIT 1", (sku,)).fetchone()
    return _row(row) if row is not None else None


def product_by_code(store: Store, text: str, *, include_inactive: bool = False) -> Product:
    """The product a scanned barcode (EAN-13, UPC-A or EAN-8; a UPC-A matches its 13-digit
    form too) or a typed SKU names. Raises ProductNotFound with a sentence for the cashier:
    a barcode-length number with a wrong check digit, an unknown code, or (unless
    `include_inactive`) a product the hub no longer sells."""
    code = text.strip()
    conn = store.conn
    product: Product | None = None
    digits = code.isascii() and code.isdigit()
    if digits and len(code) in _BARCODE_LENGTHS and barcode_problem(code) is None:
        # By GTIN: a UPC-A and its 13-digit EAN form (0 + the 12 digits) are one key,
        # whichever of the two the scanner is set up to send.
        row = conn.execute(
            f"SELECT {', '.join('p.' + c for c in _COLUMNS.split(', '))} FROM "
            "product_barcodes b JOIN products p ON p.sku = b.sku WHERE b.gtin = ?",
            (gtin(code),)).fetchone()
        if row is not None:
            product = _row(row)
    if product is None:
        product = product_by_sku(store, code)
    if product is None:
        shown = escape_text(code)
        if digits and len(code) in _BARCODE_LENGTHS:
            wrong = barcode_problem(code)
            if wrong:
                raise ProductNotFound(f"{wrong}: scan it again, or type the SKU")
            raise ProductNotFound(f"no product has barcode {shown}: check the catalogue "
                                  "at HQ, or type the SKU or search the name")
        raise ProductNotFound(f"no product with SKU or barcode {shown!r}: search the name "
                              "instead")
    if not product.active and not include_inactive:
        raise ProductNotFound(f"{product.sku} ({escape_text(product.name)}) is no longer "
                              "sold: HQ took it out of the catalogue", product)
    return product


def search_products(store: Store, text: str, limit: int = 20, *,
                    include_inactive: bool = False) -> list[Product]:
    """Products whose name has a word starting with each word of `text`, ignoring case
    and accents ("crem" and "CAFÉ" find "Café crème"), by name; active only unless
    `include_inactive`. Empty `text` lists the catalogue."""
    words = fold_text(text).split()[:8]
    where = ["instr(name_folded, ?) > 0" for _ in words]
    if not include_inactive:
        where.append("active = 1")
    sql = (f"SELECT {_COLUMNS} FROM products"
           + (f" WHERE {' AND '.join(where)}" if where else "")
           + " ORDER BY active DESC, name_folded, sku LIMIT ?")
    rows = store.conn.execute(sql, (*(" " + w for w in words), max(1, int(limit))))
    return [_row(r) for r in rows]


def catalogue_size(store: Store) -> tuple[int, int]:
    """(active products, all products) at this till."""
    active, total = store.conn.execute(
        "SELECT COALESCE(SUM(active), 0), COUNT(*) FROM products").fetchone()
    return int(active), int(total)


__all__ = ["ProductNotFound", "apply_product_change", "catalogue_size", "product_by_code",
           "product_by_sku", "search_products"]
