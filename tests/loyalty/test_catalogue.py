"""The product catalogue's pure rules: check digits, the CSV and its errors, round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loyalty.catalogue import (
    CatalogueError,
    Product,
    barcode_problem,
    check_digit,
    export_csv,
    fold_text,
    format_tax_rate,
    gtin,
    parse_csv,
    valid_barcode,
)

HEAD = "sku,barcodes,name,category,price,tax_rate\n"


@pytest.mark.parametrize("code", ["4006381333931", "5901234123457",  # EAN-13
                                  "036000291452", "084123000109",     # UPC-A
                                  "96385074", "40123455"])             # EAN-8
def test_valid_barcodes(code: str) -> None:
    assert valid_barcode(code) and barcode_problem(code) is None


@pytest.mark.parametrize(("code", "expected"), [
    ("4006381333932", "barcode 4006381333932 has a wrong check digit (expected 1)"),
    ("036000291453", "barcode 036000291453 has a wrong check digit (expected 2)"),
    ("96385075", "barcode 96385075 has a wrong check digit (expected 4)"),
    ("40063813339", "barcode 40063813339 has 11 digits: EAN-13 has 13, UPC-A 12, EAN-8 8"),
    ("40063813339X", "barcode '40063813339X' is not digits only (EAN-13, UPC-A or EAN-8)"),
    ("٤٠٠٦٣٨١٣", "barcode '٤٠٠٦٣٨١٣' is not digits only (EAN-13, UPC-A or EAN-8)"),
])
def test_invalid_barcodes_say_what_is_wrong(code: str, expected: str) -> None:
    assert not valid_barcode(code)
    assert barcode_problem(code) == expected


@given(st.text("0123456789", min_size=7, max_size=12).filter(lambda s: len(s) in (7, 11, 12)))
def test_one_wrong_digit_is_always_caught(body: str) -> None:
    code = body + str(check_digit(body))
    assert valid_barcode(code)
    for wrong in range(10):
        if wrong != int(code[-1]):
            assert not valid_barcode(code[:-1] + str(wrong))


def test_upc_a_and_its_ean_13_form_are_one_key() -> None:
    assert gtin("036000291452") == gtin("0036000291452") == "0036000291452"
    assert gtin("96385074") == "96385074"


def test_parse_and_export_round_trip_exactly() -> None:
    text = (HEAD + "LATTE,4006381333931,Latte,coffee,3.50,10\n"
            "BEANS,5901234123457|036000291452,\"Beans, 1 kg\",retail,20.00,5.5\n"
            "WATER,,Tap water,drinks,0.00,0\n"
            "CREME,96385074,Café crème,coffee,2.80,12.34\n")
    products = parse_csv(text, exponent=2)
    assert products[1] == Product("BEANS", "Beans, 1 kg", "retail", 2000, 550,
                                  ("5901234123457", "036000291452"), True)
    assert [p.tax_rate for p in products] == [1000, 550, 0, 1234]
    assert export_csv(products, exponent=2) == text
    assert parse_csv(export_csv(products)) == products


def test_active_column_and_exponent() -> None:
    products = parse_csv("sku,name,category,price,tax_rate,barcodes,active\n"
                         "OLD,Old blend,retail,950,20,,false\nNEW,New blend,retail,1200,20,,\n",
                         exponent=0)
    assert [(p.price, p.active) for p in products] == [(950, False), (1200, True)]
    text = export_csv(products, exponent=0)
    assert text.splitlines()[0] == HEAD.strip() + ",active"
    assert parse_csv(text, exponent=0) == products


def test_every_bad_row_is_listed_with_its_line_and_field() -> None:
    text = (HEAD + "LATTE,4006381333931,Latte,coffee,3.50,10\n"
            "\n"                                                   # line 3: skipped
            "BAD SKU,,Name,coffee,1.00,10\n"                       # 4: sku
            "MOCHA,4006381333932,Mocha,coffee,3.555,10\n"          # 5: barcode, price
            "latte,,Latte again,coffee,1,10\n"                     # 6: duplicate sku
            "TEA,0036000291452,Tea,\x1btea,2,200\n"                # 7: category, tax
            "CHAI,036000291452|4006381333931,Chai,tea,2,5\n"       # 8: duplicate barcodes
            "SHORT,,Short,tea\n")                                  # 9: fields
    with pytest.raises(CatalogueError) as caught:
        parse_csv(text)
    problems = caught.value.problems
    assert [(line, field) for line, field, _ in problems] == [
        (4, "sku"), (5, "barcodes"), (5, "price"), (6, "sku"), (7, "category"),
        (7, "tax_rate"), (8, "barcodes"), (8, "barcodes"), (9, "row")]
    message = str(caught.value)
    assert message.startswith("9 problem(s) in the catalogue file; nothing was imported:")
    assert "line 5: barcode 4006381333932 has a wrong check digit (expected 1)" in message
    assert "line 6: sku latte is already on line 2" in message
    assert "line 8: barcode 036000291452 is already on line 7 (as 0036000291452)" in message
    assert "line 8: barcode 4006381333931 is already on line 2" in message
    assert "line 7: category holds a control character (U+001B" in message


def test_header_problems() -> None:
    with pytest.raises(CatalogueError, match="the header must be sku,barcodes,name"):
        parse_csv("sku,name,price\nA,B,1\n")
    with pytest.raises(CatalogueError, match="separated by ';'"):
        parse_csv("sku;barcodes;name;category;price;tax_rate\n")
    with pytest.raises(CatalogueError, match="empty"):
        parse_csv("")
    # a spreadsheet's byte order mark and a header in capitals are fine
    assert parse_csv("\ufeffSKU,Barcodes,Name,Category,Price,Tax_Rate\nA,,B,c,1,0\n")


def test_fold_and_tax_text() -> None:
    assert fold_text("Café-Crème  ÉCLAIR Straße") == "cafe creme eclair strasse"
    assert [format_tax_rate(r) for r in (0, 550, 2000, 1234, 5)] == ["0", "5.5", "20",
                                                                       "12.34", "0.05"]
