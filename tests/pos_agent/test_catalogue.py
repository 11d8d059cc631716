"""The catalogue at the till, without a hub: pull changes applied with their cursor,
look-up by barcode or SKU, word-prefix search without accents, and the look-up's speed."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loyalty.catalogue import check_digit
from pos_agent.catalogue import ProductNotFound, product_by_code, product_by_sku, search_products
from pos_agent.hubdata import apply_pull_page, pull_cursor
from pos_agent.store import Store


def change(seq: int, sku: str, name: str, *codes: str, active: bool = True,
           category: str = "coffee", price: int = 350) -> dict:
    return {"type": "product", "change_seq": seq, "sku": sku, "name": name,
            "category": category, "price": price, "tax_rate": 1000,
            "barcodes": list(codes), "active": active}


def ean(n: int) -> str:
    body = f"376{n:09d}"
    return body + str(check_digit(body))


def test_lookup_search_and_deactivation(store: Store) -> None:
    apply_pull_page(store, [change(1, "CREME", "Café crème", "4006381333931"),
                            change(2, "ECLAIR", "Éclair au café", "036000291452",
                                   category="pastry"),
                            change(3, "LATTE", "Latte", "96385074")], cursor=3)
    assert pull_cursor(store) == 3
    assert product_by_code(store, "4006381333931").name == "Café crème"
    assert product_by_code(store, " 0036000291452 ").sku == "ECLAIR"  # UPC-A as EAN-13
    assert product_by_code(store, "latte").sku == "LATTE"              # a typed SKU
    with pytest.raises(ProductNotFound, match=r"^barcode 4006381333932 has a wrong check "
                       r"digit \(expected 1\): scan it again"):
        product_by_code(store, "4006381333932")
    with pytest.raises(ProductNotFound, match="no product has barcode 5901234123457"):
        product_by_code(store, "5901234123457")
    with pytest.raises(ProductNotFound, match="no product with SKU or barcode 'TEA'"):
        product_by_code(store, "TEA")
    assert [p.sku for p in search_products(store, "CAFE")] == ["CREME", "ECLAIR"]
    assert [p.sku for p in search_products(store, "crè")] == ["CREME"]
    assert [p.sku for p in search_products(store, "au caf")] == ["ECLAIR"]
    assert search_products(store, "afe") == []  # a word's start, not its middle
    assert len(search_products(store, "", limit=2)) == 2

    # HQ took LATTE out: it stays for old receipts and returns, and is not sold
    apply_pull_page(store, [change(4, "LATTE", "Latte", "96385074", active=False)], cursor=4)
    with pytest.raises(ProductNotFound, match=r"LATTE \(Latte\) is no longer sold") as out:
        product_by_code(store, "96385074")
    assert out.value.product is not None and out.value.product.active is False
    assert product_by_code(store, "96385074", include_inactive=True).name == "Latte"
    assert product_by_sku(store, "LATTE").name == "Latte"
    assert search_products(store, "latte") == []
    assert [p.sku for p in search_products(store, "latte", include_inactive=True)] == ["LATTE"]

    # a barcode moved to another product: the newer change owns it
    apply_pull_page(store, [change(5, "MOCHA", "Mocha", "96385074")], cursor=5)
    assert product_by_code(store, "96385074").sku == "MOCHA"


def test_a_bad_page_applies_nothing(store: Store) -> None:
    with pytest.raises(Exception, match="cannot read"):
        apply_pull_page(store, [change(1, "A", "A"), {"type": "product", "sku": "B"}], 2)
    assert pull_cursor(store) == 0 and product_by_sku(store, "A") is None


def test_barcode_lookup_is_fast_at_5000_products(store: Store) -> None:
    apply_pull_page(store, [change(i, f"SKU{i}", f"Product number {i}", ean(i))
                            for i in range(1, 5001)], cursor=5000)
    codes = [ean(i) for i in range(1, 5001, 7)]
    start = time.perf_counter()
    for code in codes:
        product_by_code(store, code)
    per_lookup = (time.perf_counter() - start) / len(codes)
    assert per_lookup < 0.0005, f"{per_lookup * 1e3:.3f} ms a look-up"  # floor: 2 ms
    start = time.perf_counter()
    found = search_products(store, "number 4999")
    assert (time.perf_counter() - start) < 0.05 and found[0].sku == "SKU4999"


def test_pos_products_command(store: Store, config: Path) -> None:
    apply_pull_page(store, [change(1, "CREME", "Café crème", "4006381333931")], cursor=1)
    pos = str(Path(sys.executable).parent / "pos")
    done = subprocess.run([pos, "products", "--search", "CREME", "--json", "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    body = json.loads(done.stdout)
    assert body["products"][0]["sku"] == "CREME" and body["active"] == 1
    done = subprocess.run([pos, "products", "--code", "4006381333932", "--config",
                           str(config)], capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert "wrong check digit (expected 1)" in done.stderr
