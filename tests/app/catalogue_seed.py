"""The demo cafe catalogue (pos_agent/data/demo_catalogue.csv) put into a test till as a
pull from the hub would (`product` changes), for the app's basket tests."""

from __future__ import annotations

from dataclasses import asdict

from loyalty.catalogue import parse_csv
from pos_agent.demo import DEMO_CATALOGUE
from pos_agent.hubdata import apply_pull_page


def seed_catalogue(store, extra: int = 0) -> dict[str, str]:  # noqa: ANN001
    """Pull the demo catalogue (and `extra` generated products) into `store`; returns
    {sku: first barcode}."""
    products = parse_csv(DEMO_CATALOGUE.read_text())
    changes = [{"type": "product", "change_seq": i + 1, **asdict(p),
                "barcodes": list(p.barcodes)} for i, p in enumerate(products)]
    for n in range(extra):
        changes.append({"type": "product", "change_seq": len(changes) + 1,
                        "sku": f"GEN{n:05d}", "name": f"Generated product {n}",
                        "category": "retail", "price": 100 + n % 900, "tax_rate": 2000,
                        "barcodes": [], "active": True})
    apply_pull_page(store, changes, len(changes))
    return {p.sku: p.barcodes[0] for p in products if p.barcodes}
