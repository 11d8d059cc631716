"""HQ's catalogue reaches the till through the real hub on loopback: `pos-hub catalog
import` (the demo's cafe CSV), a sync, then a scan and a name search at the terminal; a
product taken out at HQ is still found for old receipts and no longer sold."""

from __future__ import annotations

from pathlib import Path

import pytest

from loyalty.catalogue import parse_csv
from pos_agent.catalogue import ProductNotFound, product_by_code, product_by_sku, search_products
from pos_agent.demo import DEMO_CATALOGUE
from tests.sync.conftest import HubServer, Terminal, hub_cli


def test_import_pull_scan_search(hub: HubServer, terminal: tuple[Terminal, str],
                                 tmp_path: Path) -> None:
    t, token = terminal
    out = hub_cli(hub.config, "catalog", "import", str(DEMO_CATALOGUE))
    assert "15 added" in out
    agent = t.agent(hub.url, token)
    report = agent.sync_once()
    assert report.error is None
    store = t.store
    assert product_by_code(store, "3760123450034").name == "Latte"         # EAN-13
    assert product_by_code(store, "084123000109").sku == "BEANS"           # UPC-A
    assert product_by_code(store, "0084123000109").sku == "BEANS"          # ... as EAN-13
    assert product_by_code(store, "40123455").sku == "TEA-EARL"            # EAN-8
    with pytest.raises(ProductNotFound, match="wrong check digit"):
        product_by_code(store, "3760123450035")
    names = [p.name for p in search_products(store, "CAFE")]
    assert names == ["Café crème", "Café mug", "Éclair au café"]
    assert [p.sku for p in search_products(store, "thé menthe")] == ["TEA-MINT"]

    # HQ drops the espresso; the till learns it at its next sync
    text = DEMO_CATALOGUE.read_text()
    kept = "".join(line for line in text.splitlines(keepends=True)
                   if not line.startswith("ESPRESSO,"))
    assert len(parse_csv(kept)) == 14
    (tmp_path / "less.csv").write_text(kept)
    assert "1 deactivated" in hub_cli(hub.config, "catalog", "import", str(tmp_path / "less.csv"))
    assert agent.sync_once().error is None
    agent.client.close()
    with pytest.raises(ProductNotFound, match="no longer sold"):
        product_by_code(store, "3760123450027")
    assert product_by_sku(store, "ESPRESSO").name == "Espresso"  # old receipts keep it
    assert search_products(store, "espresso") == []
