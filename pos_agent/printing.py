"""The print queue: store rows -> `printers.Receipt` -> ESC/POS bytes -> the printer.

    >>> result = record_sale(store, member_id, sale)      # commits the receipt and its job
    >>> for outcome in print_receipt(store, result.receipt_no):  # after commit
    ...     if not outcome.ok: warn(outcome.error)        # the sale stands; the job is 'failed'
    >>> print_pending(store)                               # every receipt not printed yet
    >>> reprint(store, "S001-T1-000042")                   # the same bytes again
    >>> retry_failed(store)

A receipt's print job (status `queued`, no bytes yet) is written in the receipt's own
transaction (`ledger.Recorder.add_receipt`): a committed receipt is in the queue whatever
happens next, so a receipt committed just before a crash (or made by `pos sale
--no-print`) is printed at the next start, by `pos print retry`, or by the manager's retry.

The bytes are rendered at the first attempt, after the commit: a sale must neither wait
for a QR image to be drawn nor fail because the printer side cannot render. The bytes and
a text preview are kept on the job with its outcome, so a reprint sends exactly what was
printed. A job rendered late (after a crash between commit and print) shows the member's
balance at rendering time.

A reprint sends the first printing's bytes again between two COPY banners
(`printers.render_escpos.mark_copy`); a receipt never rendered yet is rendered with
`Receipt.copy`. Either way the paper says COPY at the top and the bottom.

What a receipt row's `details` JSON may hold for a checkout (all optional; money in integer
minor units, never floats; a receipt without them prints as before, lines from the `lines`
column with the SKU as the description):

- `lines`: list of {"line_no": int, "sku": str, "name": str, "qty": int,
  "unit_price": int, "total": int (after the line's own discount), "discount": int
  (positive, optional), "discount_label": str (optional), "free": bool (optional: a
  free-product reward, the line at 0)}. On a refund: the returned lines and quantities.
- `subtotal`: int, the lines' sum before basket discounts.
- `discounts`: list of {"label": str, "amount": int (positive)}.
- `tax`: list of {"rate": str (percent, "5.5"; an int is accepted), "base": int,
  "tax": int}; `tax_included`: bool, default true ("Prices include tax").
- `tenders`: list of {"kind": "cash" | "card" | "points" | "gift_card" | "store_credit"
  | "voucher", "amount": int, "points": int (kind points), "code_last4": str (gift card,
  store credit)}; `change`: int; `rounding`: int (signed cash rounding of the total).
- `refunds`: on a refund, tender-shaped entries, the amount given back per original tender.
"""

from __future__ import annotations

import dataclasses
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from loyalty.fold import MemberState
from loyalty.program import Program
from loyalty.sale import OTHER_SKU
from loyalty.summary import MemberSummary
from pos_agent.exceptions import ReceiptNotFound
from pos_agent.members import member_view, qr_payload_for
from pos_agent.store import Store
from printers import (
    MemberBlock,
    PrinterError,
    PrinterSettings,
    Receipt,
    ReceiptLine,
    StampLine,
    copy_banner,
    render_for_printer,
    render_text,
    send,
    width_for,
)
from printers.receipt import DiscountLine, TaxLine, TenderLine
from printers.render_text import blocks_to_lines

Sender = Callable[[bytes, PrinterSettings], None]


@dataclass(frozen=True)
class PrintOutcome:
    job_id: int
    receipt_no: str | None
    ok: bool
    error: str | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _zone(store: Store) -> str:
    return store.settings.terminal.timezone or store.active_program().timezone


def member_block(store: Store, member_id: str, state: MemberState | None = None,
                 summary: MemberSummary | None = None) -> MemberBlock | None:
    """The member part of a receipt, from `member_view` (None if the member has no card)."""
    profile = store.conn.execute(
        "SELECT m.name, (SELECT card_number FROM cards c WHERE c.member_id = m.member_id "
        "ORDER BY c.added_at LIMIT 1) FROM members m WHERE m.member_id = ?", (member_id,)
    ).fetchone()
    if profile is None or profile[1] is None:
        return None
    if summary is None:
        state, summary = member_view(store, member_id)
    return MemberBlock(
        name=profile[0], card_number=profile[1], qr_payload=qr_payload_for(store, profile[1]),
        balance=summary.balance, tier=summary.tier, next_tier=summary.next_tier,
        spend_to_next_tier_minor=summary.spend_to_next_tier,
        points_to_next_reward=summary.points_to_next_reward,
        next_reward_name=summary.next_reward,
        stamps=[StampLine(s.name, s.have, s.need) for s in summary.stamps if s.have],
        expiring=list(summary.expiring),
    )


def _voucher_reward_name(program: Program, details: dict) -> str:
    reward = program.reward(str(details.get("reward_id", "")))
    return reward.name if reward else "voucher"


def _rate_text(rate: object) -> str:
    # A percent as the checkout stored it ("5.5", 20); Decimal so 5.5 never prints as
    # 5.4999 and "20.0" prints as "20".
    try:
        value = Decimal(str(rate)).normalize()
    except InvalidOperation:
        return str(rate)
    return f"{value:f}"


def _detail_lines(details: dict) -> list[ReceiptLine]:
    return [
        ReceiptLine(
            str(line.get("name") or line.get("sku") or "Item"), int(line["qty"]),
            int(line.get("unit_price", 0)), int(line["total"]),
            discount_minor=int(line["discount"]) if line.get("discount") else None,
            discount_label=line.get("discount_label"), free=bool(line.get("free")),
        )
        for line in sorted(details["lines"], key=lambda x: x.get("line_no", 0))
    ]


def _tenders(entries: list[dict]) -> list[TenderLine]:
    return [
        TenderLine(kind=str(t["kind"]), amount_minor=int(t["amount"]),
                   points=int(t["points"]) if t.get("points") is not None else None,
                   code_last4=str(t["code_last4"]) if t.get("code_last4") else None)
        for t in entries
    ]


def _checkout_fields(details: dict) -> dict:
    """The `Receipt` fields a checkout stores in `details` (see the module docstring)."""
    fields: dict = {
        "discounts": [DiscountLine(str(d["label"]), int(d["amount"]))
                      for d in details.get("discounts", ())],
        "tax": [TaxLine(_rate_text(t["rate"]), int(t["base"]), int(t["tax"]))
                for t in details.get("tax", ())],
        "tax_included": bool(details.get("tax_included", True)),
        "tenders": _tenders(details.get("tenders", [])),
        "refunds": _tenders(details.get("refunds", [])),
    }
    for key, name in (("subtotal", "subtotal_minor"), ("change", "change_minor"),
                      ("rounding", "rounding_minor")):
        if details.get(key) is not None:
            fields[name] = int(details[key])
    return fields


def build_receipt(store: Store, receipt_no: str) -> Receipt:
    """The printable receipt of a `receipts` row."""
    rows = list(store.db.query("SELECT * FROM receipts WHERE receipt_no = ?", [receipt_no]))
    if not rows:
        raise ReceiptNotFound(f"no receipt {receipt_no} on this terminal")
    row = rows[0]
    details = json.loads(row["details"])
    program = store.active_program()
    term = store.settings.terminal
    kind = row["kind"]
    if details.get("lines"):
        lines = _detail_lines(details)
    else:
        lines = [ReceiptLine(sku if sku != OTHER_SKU else "Items", qty, price, qty * price)
                 for sku, _cat, qty, price in json.loads(row["lines"])]
    refund = -row["total"] if kind in ("void", "refund") else None
    member = None
    vouchers: list[tuple[str, str, str | None]] = []
    if row["member_id"]:
        _, summary = member_view(store, row["member_id"])
        member = member_block(store, row["member_id"], summary=summary)
        held = {code: (name, until) for code, name, until in summary.vouchers}
        for code in details.get("vouchers", ()):
            # a voucher used since the sale is no longer held: still print its code
            name, until = held.get(code, (_voucher_reward_name(program, details), None))
            vouchers.append((code, name, until))
    return Receipt(
        kind=kind,
        store_name=term.store_name,
        store_address_lines=term.store_address,
        receipt_no=receipt_no,
        terminal=store.identity.origin,
        printed_at=datetime.fromisoformat(row["created_at"]),
        currency_code=row["currency"] or program.currency,
        currency_exponent=program.currency_exponent,
        points_name=program.points_name,
        lines=lines,
        total_minor=row["total"] if kind == "sale" else None,
        points_earned=row["points_earned"] or None,
        promotions=details.get("promotions", ()),
        bonuses=[(name, points) for name, points in details.get("bonuses", ())],
        points_spent=row["points_spent"] or None,
        reward_name=details.get("reward_name"),
        points_reversed=row["points_reversed"] or None,
        offline_approved=bool(row["approved_offline"]),
        vouchers=vouchers,
        member=member,
        footer_lines=term.receipt_footer,
        voided_receipt_no=row["reverses"],
        refund_minor=refund,
        # a sale's number as a barcode: the return desk scans it to find the receipt
        barcode=kind == "sale",
        **_checkout_fields(details),
    )


def test_receipt(store: Store) -> Receipt:
    program = store.active_program()
    term = store.settings.terminal
    return Receipt(kind="test", store_name=term.store_name, receipt_no="TEST",
                   terminal=store.identity.origin, printed_at=datetime.now(UTC),
                   store_address_lines=term.store_address, points_name=program.points_name,
                   currency_code=program.currency, currency_exponent=program.currency_exponent)


def _render(store: Store, receipt: Receipt) -> tuple[bytes, str]:
    printer = store.settings.printer
    zone = _zone(store)
    return (render_for_printer(receipt, printer, tz=zone),
            render_text(receipt, printer.paper_mm, tz=zone))


def queue_report_print(store: Store, title: str, rows: list[tuple[str, str]]) -> int:
    """Queue a printed report (the day report): label/value rows under the store header."""
    program = store.active_program()
    term = store.settings.terminal
    receipt = Receipt(kind="day_report", store_name=term.store_name, receipt_no=title,
                      terminal=store.identity.origin, printed_at=datetime.now(UTC),
                      store_address_lines=term.store_address, points_name=program.points_name,
                      currency_code=program.currency,
                      currency_exponent=program.currency_exponent, report_rows=tuple(rows))
    payload, preview = _render(store, receipt)
    return _insert_job(store, None, "day_report", payload, preview)


def queue_test_print(store: Store) -> int:
    payload, preview = _render(store, test_receipt(store))
    return _insert_job(store, None, "test", payload, preview)


def reprint(store: Store, receipt_no: str) -> int:
    """Queue a reprint: the bytes first printed for this receipt, else a fresh rendering."""
    kind = store.conn.execute(
        "SELECT kind FROM receipts WHERE receipt_no = ?", (receipt_no,)
    ).fetchone()
    if kind is None:
        raise ReceiptNotFound(f"no receipt {receipt_no} on this terminal: check the number")
    # A receipt not printed yet keeps its own job: the reprint is a second copy.
    last = store.conn.execute(
        "SELECT payload, text_preview FROM print_jobs WHERE receipt_no = ? AND payload IS NOT "
        "NULL ORDER BY id LIMIT 1", (receipt_no,)
    ).fetchone()
    if last:
        payload, preview = _mark_copy(store, last[0], last[1])
    else:
        payload, preview = _render(store, dataclasses.replace(
            build_receipt(store, receipt_no), copy=True))
    return _insert_job(store, receipt_no, kind[0], payload, preview)


def _mark_copy(store: Store, payload: bytes, preview: str | None) -> tuple[bytes, str]:
    from printers.render_escpos import mark_copy  # the ESC/POS driver loads only to print

    printer = store.settings.printer
    width = width_for(printer.paper_mm)
    banner = blocks_to_lines(copy_banner(width), width)
    body = (preview or "").rstrip("\n").split("\n")
    text = "\n".join([*banner, *body, "-" * width, *banner]) + "\n"
    return mark_copy(payload, printer.paper_mm, printer.profile), text


def _insert_job(store: Store, receipt_no: str | None, kind: str, payload: bytes | None,
                preview: str | None) -> int:
    cur = store.db.execute(
        "INSERT INTO print_jobs (receipt_no, kind, payload, text_preview, created_at) "
        "VALUES (?, ?, ?, ?, ?)", (receipt_no, kind, payload, preview, _now()),
    )
    return cur.lastrowid


def waiting_count(conn: sqlite3.Connection) -> int:
    """Receipts and pages queued to print (read only, for the status bar)."""
    return conn.execute(
        # `status <> 'printed'` lets SQLite use the not-printed partial index.
        "SELECT COUNT(*) FROM print_jobs WHERE status <> 'printed' AND status = 'queued'"
    ).fetchone()[0]


def print_receipt(store: Store, receipt_no: str, sender: Sender = send) -> list[PrintOutcome]:
    """Send a receipt just made. Never raises for a printer problem: the outcome says what
    went wrong."""
    return print_pending(store, jobs_for_receipt(store, receipt_no), sender=sender)


def print_pending(
    store: Store, job_ids: list[int] | None = None, *, include_failed: bool = False,
    sender: Sender = send,
) -> list[PrintOutcome]:
    """Render (if needed) and send queued jobs (only `job_ids`, if given), oldest first;
    mark each printed or failed. Never raises for a printer problem: the outcome says what
    went wrong."""
    statuses = ("queued", "failed") if include_failed else ("queued",)
    rows = store.conn.execute(
        f"SELECT id, receipt_no, payload FROM print_jobs WHERE status <> 'printed' AND status "
        f"IN ({','.join('?' * len(statuses))}) ORDER BY id", statuses,
    ).fetchall()
    outcomes = []
    for job_id, receipt_no, payload in rows:
        if job_ids is not None and job_id not in job_ids:
            continue
        outcomes.append(_print_one(store, job_id, receipt_no, payload, sender))
    return outcomes


def retry_failed(store: Store, sender: Sender = send) -> list[PrintOutcome]:
    return print_pending(store, include_failed=True, sender=sender)


def _print_one(store: Store, job_id: int, receipt_no: str | None, payload: bytes | None,
               sender: Sender) -> PrintOutcome:
    # The rendering is stored with the outcome, one commit for both: a job rendered but
    # not recorded (a crash while sending) stays queued and is rendered again.
    preview = None
    try:
        if payload is None:
            payload, preview = _render(store, build_receipt(store, receipt_no or ""))
        sender(payload, store.settings.printer)
    except (PrinterError, ReceiptNotFound, OSError) as exc:
        store.db.execute(
            "UPDATE print_jobs SET status = 'failed', attempts = attempts + 1, last_error = ?, "
            "payload = COALESCE(payload, ?), text_preview = COALESCE(text_preview, ?) "
            "WHERE id = ?", (str(exc), payload, preview, job_id),
        )
        return PrintOutcome(job_id, receipt_no, False, str(exc))
    store.db.execute(
        "UPDATE print_jobs SET status = 'printed', attempts = attempts + 1, last_error = NULL, "
        "printed_at = ?, payload = COALESCE(payload, ?), "
        "text_preview = COALESCE(text_preview, ?) WHERE id = ?",
        (_now(), payload, preview, job_id),
    )
    return PrintOutcome(job_id, receipt_no, True)


def jobs_for_receipt(store: Store, receipt_no: str) -> list[int]:
    return [r[0] for r in store.conn.execute(
        "SELECT id FROM print_jobs WHERE receipt_no = ? ORDER BY id", (receipt_no,))]


def print_queue(store: Store, *, all_jobs: bool = False, limit: int = 50) -> list[dict]:
    """Jobs not printed yet (or the latest `limit` jobs with `all_jobs`), newest last.
    Read only: the manager screen lists the queue without waiting for the write lock."""
    where = "" if all_jobs else "WHERE status <> 'printed'"
    rows = list(store.db.query(
        f"SELECT id, receipt_no, kind, status, attempts, last_error, created_at, printed_at "
        f"FROM print_jobs {where} ORDER BY id DESC LIMIT ?", [limit],
    ))
    rows.reverse()
    return rows


def job_preview(store: Store, job_id: int) -> str | None:
    row = store.conn.execute("SELECT text_preview FROM print_jobs WHERE id = ?", (job_id,))
    found = row.fetchone()
    return found[0] if found else None


__all__ = ["PrintOutcome", "build_receipt", "job_preview", "jobs_for_receipt",
           "member_block", "print_pending", "print_queue", "print_receipt",
           "queue_report_print", "queue_test_print", "reprint", "retry_failed",
           "test_receipt", "waiting_count"]
