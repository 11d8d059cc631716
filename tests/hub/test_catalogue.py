"""The catalogue at the hub: `pos-hub catalog import|export` (all or nothing, replace
semantics), `GET /v1/admin/catalog`, and the `product` changes of the pull feed."""

from __future__ import annotations

import json
from pathlib import Path

from hub.catalogue import import_products
from loyalty.catalogue import parse_csv
from tests.hub.conftest import run_cli, start_hub, write_config

HEAD = "sku,barcodes,name,category,price,tax_rate\n"
FIRST = (HEAD + "BEANS,5901234123457|036000291452,\"Beans, 1 kg\",retail,20.00,5.5\n"
         "CREME,4006381333931,Café crème,coffee,2.80,10\n"
         "LATTE,96385074,Latte,coffee,3.50,10\n")
# LATTE gone (deactivated), CREME dearer, MOCHA new with the UPC-A BEANS had (in its
# EAN-13 form): BEANS changes too.
SECOND = (HEAD + "BEANS,5901234123457,\"Beans, 1 kg\",retail,20.00,5.5\n"
          "CREME,4006381333931,Café crème,coffee,2.90,10\n"
          "MOCHA,0036000291452,Mocha,coffee,3.90,10\n")


def test_import_export_replace_and_errors(fresh_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    (tmp_path / "first.csv").write_text(FIRST)
    done = run_cli(config, "catalog", "import", "first.csv")
    assert "3 added, 0 changed, 0 deactivated, 0 unchanged; 3 products on sale" in done.stdout
    assert run_cli(config, "catalog", "export").stdout == FIRST  # exact round trip

    # every bad row listed, nothing imported (the good rows neither), exit 1
    (tmp_path / "bad.csv").write_text(SECOND + "TEA,4006381333932,Tea,tea,2.00,5.5\n"
                                      "CHAI,,Chai,tea,two,5.5\n")
    bad = run_cli(config, "catalog", "import", "bad.csv", ok=False)
    assert "line 5: barcode 4006381333932 has a wrong check digit (expected 1)" in bad.stderr
    assert "line 6: price 'two' is not an amount" in bad.stderr
    as_json = json.loads(run_cli(config, "catalog", "import", "bad.csv", "--json",
                                 ok=False).stdout)
    assert as_json["imported"] is False
    assert [(e["line"], e["field"]) for e in as_json["errors"]] == [(5, "barcodes"),
                                                                    (6, "price")]
    assert run_cli(config, "catalog", "export").stdout == FIRST

    (tmp_path / "second.csv").write_text(SECOND)
    summary = json.loads(run_cli(config, "catalog", "import", "second.csv", "--json").stdout)
    assert summary == {"imported": True, "added": ["MOCHA"], "changed": ["BEANS", "CREME"],
                       "deactivated": ["LATTE"], "unchanged": 0, "active": 3}
    exported = run_cli(config, "catalog", "export", "out.csv")
    assert "4 products written to out.csv" in exported.stderr
    text = (tmp_path / "out.csv").read_text()
    assert text.splitlines() == [
        HEAD.strip() + ",active", "BEANS,5901234123457,\"Beans, 1 kg\",retail,20.00,5.5,true",
        "CREME,4006381333931,Café crème,coffee,2.90,10,true",
        "LATTE,96385074,Latte,coffee,3.50,10,false",  # kept, with its name, for old receipts
        "MOCHA,0036000291452,Mocha,coffee,3.90,10,true"]
    # the same file again changes nothing; its export imports back to the same catalogue
    again = run_cli(config, "catalog", "import", "out.csv")
    assert "0 added, 0 changed, 0 deactivated, 4 unchanged" in again.stdout
    products = json.loads(run_cli(config, "catalog", "export", "--json").stdout)
    assert products["currency_exponent"] == 2
    assert products["products"][2] == {"sku": "LATTE", "name": "Latte", "category": "coffee",
                                       "price": 350, "tax_rate": 1000,
                                       "barcodes": ["96385074"], "active": False}


def test_admin_catalog_and_the_pull_feed(fresh_url: str) -> None:
    backend = "sqlite" if fresh_url.startswith("sqlite") else "postgres"
    hub = start_hub(fresh_url, backend)
    try:
        with hub.ctx.db.write() as conn:
            import_products(conn, hub.ctx.db, parse_csv(FIRST))
        with hub.admin() as admin:
            body = admin.get("/v1/admin/catalog").json()
        assert [p["sku"] for p in body["products"]] == ["BEANS", "CREME", "LATTE"]
        assert body["products"][1]["name"] == "Café crème"
        with hub.client(None) as anonymous:
            assert anonymous.get("/v1/admin/catalog").status_code == 401
        token = hub.token("terminal", "S001-T1")
        with hub.client(token) as till:
            assert till.get("/v1/admin/catalog").status_code == 403
            page = till.get("/v1/sync/pull", params={"cursor": 0, "limit": 500}).json()
            products = {c["sku"]: c for c in page["changes"] if c["type"] == "product"}
            assert products["BEANS"]["barcodes"] == ["5901234123457", "036000291452"]
            assert products["LATTE"] == {"type": "product", "sku": "LATTE", "name": "Latte",
                                         "category": "coffee", "price": 350, "tax_rate": 1000,
                                         "barcodes": ["96385074"], "active": True,
                                         "change_seq": products["LATTE"]["change_seq"]}
            with hub.ctx.db.write() as conn:
                import_products(conn, hub.ctx.db, parse_csv(SECOND))
            later = till.get("/v1/sync/pull", params={"cursor": page["cursor"]}).json()
        changed = {c["sku"]: c for c in later["changes"] if c["type"] == "product"}
        assert sorted(changed) == ["BEANS", "CREME", "LATTE", "MOCHA"]
        assert changed["LATTE"]["active"] is False and changed["CREME"]["price"] == 290
        assert hub.count("product_barcodes", sku="MOCHA") == 1
    finally:
        hub.stop()
