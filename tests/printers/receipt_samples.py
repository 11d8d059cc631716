"""Realistic receipts shared by the printers tests."""

from __future__ import annotations

from datetime import UTC, date, datetime

from printers import MemberBlock, Receipt, ReceiptLine, StampLine

# A real LOY2 payload (loyalty.member_qr.sign_card with the private key bytes 0..31).
PAYLOAD = ("LOY2:6012345678901234:KZDVVJ2U:YIBYGNYFFUBMNIVTAM2ZHF7MYFSTSL2X6QD47JCMX3WJ5FVDI7"
           "4OOGJ6FZPL7MWHRCM6NBBXDQO3O45ZNEKZYZBLQUGTLSS72Z4WGDY")
PRINTED_AT = datetime(2026, 3, 10, 14, 5, tzinfo=UTC)
STORE = {
    "store_name": "Café Étoile",
    "store_address_lines": ("12 Rue de la Paix", "75002 Paris"),
    "terminal": "S001-T1",
    "printed_at": PRINTED_AT,
    "points_name": "Stars",
}


def member(**changes) -> MemberBlock:
    fields = {
        "name": "José Müller",
        "card_number": "6012345678901234",
        "qr_payload": PAYLOAD,
        "balance": 1234,
        "tier": "Silver",
        "next_tier": "Gold",
        "spend_to_next_tier_minor": 4500,
        "points_to_next_reward": 80,
        "next_reward_name": "Free Latte",
        "stamps": (StampLine("Coffee card", 7, 10),),
        "expiring": ((120, date(2026, 12, 31)),),
    }
    fields.update(changes)
    return MemberBlock(**fields)


def sale(**changes) -> Receipt:
    fields = {
        **STORE,
        "kind": "sale",
        "receipt_no": "000123",
        "lines": (
            ReceiptLine("Latte", 2, 350, 700),
            ReceiptLine("Blueberry muffin with crumble", 1, 320, 320),
            ReceiptLine("Croissant", 3, 140, 420),
        ),
        "total_minor": 1440,
        "points_earned": 33,
        "promotions": ("Double Stars Tuesday x2",),
        "bonuses": (("Store visit", 5),),
        "offline_approved": True,
        "member": member(),
        "footer_lines": ("Thank you for your visit!",),
    }
    fields.update(changes)
    return Receipt(**fields)


def enrolment(**changes) -> Receipt:
    fields = {
        **STORE,
        "kind": "enrolment",
        "receipt_no": "000124",
        "points_earned": 50,
        "bonuses": (("Welcome bonus", 50),),
        "member": member(
            balance=50,
            tier="Bronze",
            next_tier="Silver",
            spend_to_next_tier_minor=10000,
            points_to_next_reward=100,
            stamps=(),
            expiring=(),
        ),
        "footer_lines": ("Welcome to the club!",),
    }
    fields.update(changes)
    return Receipt(**fields)


def day_report(**changes) -> Receipt:
    fields = {
        **STORE,
        "kind": "day_report",
        "receipt_no": "Z-2026-03-10",
        "printed_at": datetime(2026, 3, 10, 21, 30, tzinfo=UTC),
        "report_rows": (
            ("Sales", "42"),
            ("Sales total", "1,234.50 EUR"),
            ("Voids", "1"),
            ("Refunds", "2 (12.00 EUR)"),
            ("Stars earned", "3,120"),
            ("Stars redeemed", "900"),
            ("New members", "3"),
            ("Offline approvals", "1"),
            ("Events waiting for sync", "0"),
        ),
    }
    fields.update(changes)
    return Receipt(**fields)
