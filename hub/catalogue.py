"""The product catalogue at HQ: imported from a CSV, exported, pulled by the terminals.

    >>> with ctx.db.write() as conn:
    ...     summary = import_products(conn, ctx.db, parse_csv(text, exponent=2))
    >>> summary["added"], summary["changed"], summary["deactivated"]
    (['BEANS', 'LATTE'], [], [])
    >>> with ctx.db.read() as conn:
    ...     export_csv(list_products(conn))

`pos-hub catalog import FILE.csv [--json]` and `pos-hub catalog export [FILE] [--json]`
(`register` adds them to the `pos-hub` parser); `GET /v1/admin/catalog` is the export's
JSON. An import replaces the catalogue in one transaction: a product absent from the file
becomes inactive (never deleted: old receipts keep its name), and every product that
changed is a `product` change in the pull feed (`hub.store.changes`).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from hub.db import Database, bulk_insert, next_counter, now_text
from hub.exceptions import Invalid
from hub.store import changes, programs
from hub.tables import product_barcodes, products
from loyalty.catalogue import (
    BARCODE_SEPARATOR,
    CatalogueError,
    Product,
    export_csv,
    gtin,
    parse_csv,
)
from loyalty.validation import escape_text

KIND = "product"  # the change feed's kind (and the pull change's "type")
LOCK = "catalogue"  # a counter row: one import at a time (taken first, never with members)


def _product(row: Any) -> Product:
    m = row._mapping
    return Product(sku=m["sku"], name=m["name"], category=m["category"], price=int(m["price"]),
                   tax_rate=int(m["tax_rate"]),
                   barcodes=tuple(b for b in m["barcodes"].split(BARCODE_SEPARATOR) if b),
                   active=bool(m["active"]))


def list_products(conn: Connection, *, skus: list[str] | None = None,
                  db: Database | None = None) -> list[Product]:
    """Every product (active or not) by SKU; with `skus` (and `db`), only those."""
    stmt = select(products).order_by(products.c.sku)
    if skus is not None and db is not None:
        stmt = stmt.where(db.among(products.c.sku, skus))
    return [_product(r) for r in conn.execute(stmt)]


def exponent(conn: Connection) -> int:
    """The current program's currency exponent (2 before any program is published)."""
    program = programs.current_program(conn)
    return program.currency_exponent if program is not None else 2


def import_products(conn: Connection, db: Database, new: list[Product]) -> dict[str, Any]:
    """Make `new` the catalogue, in the caller's transaction: added and changed products
    written, active ones absent from `new` made inactive, a barcode claimed by a product
    of `new` taken from the inactive product that had it; the change feed touched last.
    Returns `{"added", "changed", "deactivated"}` (SKU lists), `"unchanged"` and
    `"active"` (counts)."""
    next_counter(conn, db, LOCK)  # concurrent imports take turns (PostgreSQL row lock)
    old = {p.sku: p for p in list_products(conn)}
    wanted = {p.sku: p for p in new}
    claimed = {gtin(code) for p in new for code in p.barcodes}
    result = dict(wanted)
    # An old product that lost a code to the file is touched too, so deleting the codes of
    # the touched products frees every code the file claims before they are inserted.
    for sku, p in old.items():
        if sku in wanted:
            continue
        kept = tuple(c for c in p.barcodes if gtin(c) not in claimed)
        result[sku] = Product(sku=p.sku, name=p.name, category=p.category, price=p.price,
                              tax_rate=p.tax_rate, barcodes=kept, active=False)
    added = sorted(s for s in wanted if s not in old)
    deactivated = sorted(s for s in old if old[s].active and not result[s].active)
    touched = sorted(s for s, p in result.items() if old.get(s) != p)
    changed = sorted(s for s in touched if s in old and s not in deactivated)
    at = now_text()
    if touched:
        conn.execute(product_barcodes.delete().where(
            db.among(product_barcodes.c.sku, touched)))
        rows = [{"sku": s, "name": result[s].name, "category": result[s].category,
                 "price": result[s].price, "tax_rate": result[s].tax_rate,
                 "barcodes": BARCODE_SEPARATOR.join(result[s].barcodes),
                 "active": result[s].active, "created_at": at, "updated_at": at}
                for s in touched]
        bulk_insert(conn, products, rows, conflict=("sku",),
                    update=("name", "category", "price", "tax_rate", "barcodes", "active",
                            "updated_at"))
        bulk_insert(conn, product_barcodes, [
            {"gtin": gtin(code), "code": code, "sku": s}
            for s in touched for code in result[s].barcodes])
        changes.touch(conn, db, KIND, touched)
    return {"added": added, "changed": changed, "deactivated": deactivated,
            "unchanged": len(result) - len(touched),
            "active": sum(1 for p in result.values() if p.active)}


def catalogue_json(conn: Connection) -> dict[str, Any]:
    """The export as JSON (`GET /v1/admin/catalog`, `pos-hub catalog export --json`):
    `{"currency_exponent", "products": [Product.to_dict(), ...]}`, by SKU."""
    return {"currency_exponent": exponent(conn),
            "products": [p.to_dict() for p in list_products(conn)]}


def pull_changes(conn: Connection, db: Database, skus: list[str]) -> dict[str, dict]:
    """The pull feed's product changes by SKU: `{"type": "product", "sku", "name",
    "category", "price", "tax_rate", "barcodes", "active"}` (change_seq added by the
    caller). Every terminal and channel gets every product."""
    if not skus:
        return {}
    return {p.sku: {"type": KIND, **p.to_dict()}
            for p in list_products(conn, skus=skus, db=db)}


# -- `pos-hub catalog ...` --------------------------------------------------------------------
Emit = Callable[[argparse.Namespace, Any, list[str]], None]

CSV_HELP = """the file (UTF-8; a spreadsheet's "CSV UTF-8, comma-separated"):
  sku,barcodes,name,category,price,tax_rate
  LATTE,4006381333931,Latte,coffee,3.50,5.5
  BEANS-250,5901234123457|036000291452,House beans 250 g,retail,9.90,5.5

  sku        1-40 letters, digits or . _ / -; unique
  barcodes   EAN-13, UPC-A or EAN-8, several separated by |, or empty; the check
             digit is verified; a barcode belongs to one product
  name       what receipts and the till show (at most 80 characters)
  category   as the program's stamp cards and promotions name them (coffee, pastry...)
  price      in currency units, tax included, e.g. 3.50
  tax_rate   a percent, e.g. 5.5 or 20
  active     optional column: false keeps a product without selling it

The file replaces the catalogue: a product missing from it becomes inactive (never
deleted, so old receipts keep its name). Any bad row: nothing is imported, and every
problem is listed with its line number. Terminals get the changes on their next sync."""


def _read(path: str) -> str:
    try:
        data = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        raise Invalid(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Invalid(f"{path} is not UTF-8 text (byte {exc.start + 1}): save it from the "
                      "spreadsheet as \"CSV UTF-8\"") from exc


def register(sub: Any, command: Callable[..., argparse.ArgumentParser],
             config: argparse.ArgumentParser, both: list[argparse.ArgumentParser],
             ctx_for: Callable[[Any], Any], emit: Emit) -> None:
    """Add `pos-hub catalog import|export` to the parser."""

    def run_import(args: argparse.Namespace, settings: Any) -> int:
        text = _read(args.file)
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                places = exponent(conn)
            try:
                new = parse_csv(text, places)
            except CatalogueError as exc:
                data = {"imported": False, "errors": [
                    {"line": line, "field": field, "detail": sentence}
                    for line, field, sentence in exc.problems]}
                if getattr(args, "json", False):
                    emit(args, data, [])
                # the file's own text is in the sentences: shown escaped, never obeyed
                print(escape_text(f"pos-hub: {args.file}: {exc}", keep_newlines=True),
                      file=sys.stderr)
                return 1
            with ctx.db.write() as conn:
                summary = import_products(conn, ctx.db, new)
        finally:
            ctx.close()
        lines = [f"catalogue imported from {args.file}: {len(summary['added'])} added, "
                 f"{len(summary['changed'])} changed, {len(summary['deactivated'])} "
                 f"deactivated, {summary['unchanged']} unchanged; {summary['active']} "
                 "products on sale. Terminals get it on their next sync."]
        for label in ("added", "changed", "deactivated"):
            if summary[label]:
                lines.append(f"  {label}: {', '.join(summary[label])}")
        emit(args, {"imported": True, **summary}, lines)
        return 0

    def run_export(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                data = catalogue_json(conn)
        finally:
            ctx.close()
        if getattr(args, "json", False):
            import json
            text = json.dumps(data, indent=2, ensure_ascii=False) + "\n"
        else:
            text = export_csv([Product.from_dict(p) for p in data["products"]],
                              data["currency_exponent"])
        if args.file in (None, "-"):
            sys.stdout.write(text)
        else:
            try:
                Path(args.file).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise Invalid(f"cannot write {args.file}: {exc.strerror or exc}") from exc
            print(f"{len(data['products'])} products written to {args.file}",
                  file=sys.stderr)
        return 0

    p = command(sub, "catalog", "the product catalogue: import a CSV, export it",
                "The products terminals sell: SKU, barcodes, name, category, price (tax "
                "included) and tax rate. HQ owns it; terminals pull it.", [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "import", "replace the catalogue with a CSV file (all or nothing)",
                "Replace the catalogue with FILE, in one transaction. Prints what was "
                "added, changed and deactivated; or every bad row, imports nothing and "
                "exits 1.", both, epilog=CSV_HELP,
                formatter_class=argparse.RawDescriptionHelpFormatter)
    q.add_argument("file", metavar="FILE", help="the CSV file (- reads stdin)")
    q.set_defaults(func=run_import)
    q = command(ops, "export", "write the catalogue as CSV (or JSON), inactive products too",
                "Write every product, with an `active` column when some are inactive, in "
                "the format `catalog import` reads: edit it and import it back.", both)
    q.add_argument("file", metavar="FILE", nargs="?",
                   help="where to write it (default: the screen / stdout)")
    q.set_defaults(func=run_export)


__all__ = ["KIND", "catalogue_json", "exponent", "import_products", "list_products",
           "pull_changes", "register"]
