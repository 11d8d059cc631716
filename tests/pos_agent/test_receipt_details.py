"""pos_agent.printing maps the checkout keys of a receipt row's `details` JSON (issue 17)
to the printed receipt, and a reprint of a receipt never printed is marked COPY."""

from __future__ import annotations

import json

from printers import DiscountLine, TaxLine, render_text
from printers.layout import COPY_BANNER


def test_details_json_maps_to_the_model(store):
    from loyalty.sale import make_sale
    from pos_agent.operations import record_sale
    from pos_agent.printing import build_receipt, reprint

    result = record_sale(store, None, make_sale(total=1351))
    details = {
        "lines": [
            {"line_no": 2, "sku": "BEANS", "name": "Coffee beans", "qty": 1,
             "unit_price": 890, "total": 801, "discount": 89, "discount_label": "Beans -10%"},
            {"line_no": 1, "sku": "LATTE", "name": "Latte", "qty": 2, "unit_price": 350,
             "total": 700},
            {"line_no": 3, "sku": "CRS", "name": "", "qty": 1, "unit_price": 140, "total": 0,
             "free": True, "discount_label": "Free croissant"},
        ],
        "subtotal": 1501,
        "discounts": [{"label": "10% off your basket", "amount": 150}],
        "tax": [{"rate": "5.5", "base": 1191, "tax": 66}, {"rate": 20, "base": 83, "tax": 17}],
        "tenders": [{"kind": "cash", "amount": 2000},
                    {"kind": "points", "amount": 300, "points": 300},
                    {"kind": "gift_card", "amount": 0, "code_last4": "1234"}],
        "change": 949,
        "rounding": -1,
    }
    store.conn.execute("UPDATE receipts SET details = ? WHERE receipt_no = ?",
                       (json.dumps(details), result.receipt_no))
    receipt = build_receipt(store, result.receipt_no)
    assert [(line.description, line.qty, line.total_minor) for line in receipt.lines] == [
        ("Latte", 2, 700), ("Coffee beans", 1, 801), ("CRS", 1, 0)]
    assert receipt.lines[1].discount_minor == 89 and receipt.lines[2].free
    assert receipt.discounts == (DiscountLine("10% off your basket", 150),)
    assert receipt.tax == (TaxLine("5.5", 1191, 66), TaxLine("20", 83, 17))
    assert [t.kind for t in receipt.tenders] == ["cash", "points", "gift_card"]
    assert receipt.tenders[1].points == 300 and receipt.tenders[2].code_last4 == "1234"
    assert (receipt.change_minor, receipt.rounding_minor, receipt.subtotal_minor) == (
        949, -1, 1501)
    assert receipt.barcode and not receipt.copy
    text = render_text(receipt, 58)
    assert "CHANGE" in text and f"[BARCODE: {result.receipt_no}]" in text
    # A receipt never printed yet: the reprint is rendered fresh, marked COPY.
    job = reprint(store, result.receipt_no)
    preview = store.conn.execute("SELECT text_preview FROM print_jobs WHERE id = ?",
                                 (job,)).fetchone()[0].splitlines()
    assert preview[0].strip() == preview[-1].strip() == COPY_BANNER
