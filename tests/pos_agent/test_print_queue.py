"""The print queue: an operation commits its receipt and the receipt's print job together;
the job is rendered and sent after the commit. Every way of printing, listing or counting
the queue finds it: in an older epoch, past six-digit serials, from two processes, and in
databases upgraded from schema versions 5 and 7. Receipt numbers are found only as
printed."""

from __future__ import annotations

import pytest

from loyalty.errors import RedemptionError
from loyalty.sale import make_sale
from pos_agent import ledger
from pos_agent.app.widgets.status_bar import printer_text
from pos_agent.db.migrations import current_version
from pos_agent.db.schema import MIGRATIONS
from pos_agent.exceptions import ReceiptNotFound
from pos_agent.identity import init_terminal, new_epoch
from pos_agent.members import enrol
from pos_agent.operations import Authorization, record_sale, redeem_reward, void_receipt
from pos_agent.printing import (
    print_pending,
    print_queue,
    print_receipt,
    reprint,
    retry_failed,
    waiting_count,
)
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import old_version_copy, write_config


class Printer:
    """A sender that keeps what it was sent."""

    def __init__(self) -> None:
        self.jobs: list[bytes] = []

    def __call__(self, data: bytes, settings: object) -> None:
        self.jobs.append(data)

    def receipts(self, *numbers: str) -> list[list[str]]:
        """Which of `numbers` each job printed (a receipt prints its own number)."""
        return [[n for n in numbers if n.encode() in data] for data in self.jobs]


def jobs(store) -> list[tuple]:
    return store.conn.execute(
        "SELECT receipt_no, status FROM print_jobs ORDER BY id").fetchall()


def test_a_sale_commits_its_job_and_is_printed_after(store):
    ann = enrol(store, name="Ann Lee", phone="0611223344")
    sale = record_sale(store, ann.member_id, make_sale(total=1250))
    assert jobs(store) == [(ann.receipt_no, "queued"), (sale.receipt_no, "queued")]
    assert waiting_count(store.conn) == 2  # the enrolment slip and the sale
    assert printer_text(store) == "printer: 2 to print"
    printer = Printer()
    outcomes = print_receipt(store, sale.receipt_no, sender=printer)
    # Only the sale is sent; the slip before it stays queued.
    assert [(o.receipt_no, o.ok) for o in outcomes] == [(sale.receipt_no, True)]
    assert printer.receipts(ann.receipt_no, sale.receipt_no) == [[sale.receipt_no]]
    assert jobs(store) == [(ann.receipt_no, "queued"), (sale.receipt_no, "printed")]
    assert waiting_count(store.conn) == 1
    assert [o.receipt_no for o in print_pending(store, sender=printer)] == [ann.receipt_no]
    assert waiting_count(store.conn) == 0 and printer_text(store) == "printer ok"
    # The bytes sent are kept on the job, and a reprint sends them again, byte for byte,
    # between COPY banners at the top and the bottom (issue 17).
    payload = store.conn.execute("SELECT payload FROM print_jobs WHERE receipt_no = ?",
                                 (sale.receipt_no,)).fetchone()[0]
    assert payload == printer.jobs[0]
    job_id = reprint(store, sale.receipt_no)
    print_pending(store, [job_id], sender=printer)
    cut = b"\x1bd\x06\x1dV\x00"
    assert payload.endswith(cut) and payload[: -len(cut)] in printer.jobs[-1]
    assert printer.jobs[-1].count(b"*** COPY ***") == 2
    assert printer.jobs[-1].rindex(b"*** COPY ***") > printer.jobs[-1].index(payload[:-len(cut)])
    preview = store.conn.execute("SELECT text_preview FROM print_jobs WHERE id = ?",
                                 (job_id,)).fetchone()[0].splitlines()
    assert preview[0].strip() == preview[-1].strip() == "*** COPY ***"


def test_a_failed_print_keeps_its_bytes_for_the_retry(store):
    sale = record_sale(store, None, make_sale(total=300))

    def out_of_paper(data: bytes, settings: object) -> None:
        raise OSError("paper out")

    [outcome] = print_receipt(store, sale.receipt_no, sender=out_of_paper)
    assert not outcome.ok and outcome.error == "paper out"
    status, attempts, payload = store.conn.execute(
        "SELECT status, attempts, payload FROM print_jobs").fetchone()
    assert (status, attempts) == ("failed", 1) and sale.receipt_no.encode() in payload
    assert printer_text(store) == "PRINTER ERROR: paper out"
    assert print_pending(store, sender=Printer()) == []  # failed jobs wait for a retry
    printer = Printer()
    assert [o.ok for o in retry_failed(store, sender=printer)] == [True]
    assert printer.jobs == [payload] and jobs(store) == [(sale.receipt_no, "printed")]


def test_reprinting_a_receipt_not_printed_yet_prints_it_and_a_copy(store):
    sale = record_sale(store, None, make_sale(total=300))
    copy = reprint(store, sale.receipt_no)
    assert jobs(store) == [(sale.receipt_no, "queued"), (sale.receipt_no, "queued")]
    printer = Printer()
    assert [o.job_id for o in print_pending(store, sender=printer)] == [copy - 1, copy]
    assert printer.receipts(sale.receipt_no) == [[sale.receipt_no]] * 2
    # the first is the original, the second says COPY although it was never printed before
    assert b"COPY" not in printer.jobs[0] and printer.jobs[1].count(b"*** COPY ***") == 2


def test_a_cancelled_redemption_is_never_printed(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    record_sale(store, ann.member_id, make_sale(total=20000))
    with pytest.raises(RedemptionError):
        redeem_reward(store, ann.member_id, "gift-10", found_by="qr",
                      authorizer=lambda e, p: Authorization("unreachable", sent=True))
    cancelled = store.conn.execute(
        "SELECT receipt_no FROM receipts WHERE kind = 'redemption'").fetchall()
    assert cancelled == [("S001-T1-000003",)]
    assert waiting_count(store.conn) == 2
    printer = Printer()
    assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
        "S001-T1-000001", "S001-T1-000002"]
    assert waiting_count(store.conn) == 0
    # The next receipt is found past the cancelled one.
    later = record_sale(store, None, make_sale(total=100))
    assert [o.receipt_no for o in print_pending(store, sender=printer)] == [later.receipt_no]


def test_receipts_left_in_an_older_epoch_are_printed_in_order(store):
    first = record_sale(store, None, make_sale(total=100))
    new_epoch(store.db)
    second = record_sale(store, None, make_sale(total=200))
    assert second.receipt_no == "S001-T1-E2-000002"  # serials go on across epochs
    assert [(j["receipt_no"], j["status"]) for j in print_queue(store)] == [
        (first.receipt_no, "queued"), (second.receipt_no, "queued")]
    printer = Printer()
    assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
        first.receipt_no, second.receipt_no]
    assert printer.receipts(first.receipt_no, second.receipt_no) == [
        [first.receipt_no], [second.receipt_no]]


def test_past_six_digit_serials_receipts_are_numbered_and_printed_in_order(store, config):
    store.conn.execute("UPDATE identity SET receipt_serial = 999998")
    six = record_sale(store, None, make_sale(total=100))
    seven = record_sale(store, None, make_sale(total=200))
    # Text order would put 1000000 before 999999; the queue is in the jobs' order.
    assert (six.receipt_no, seven.receipt_no) == ("S001-T1-999999", "S001-T1-1000000")
    assert waiting_count(store.conn) == 2
    printer = Printer()
    assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
        six.receipt_no, seven.receipt_no]
    # The identity row holds the last serial, for every process.
    assert store.conn.execute("SELECT receipt_serial FROM identity").fetchone() == (1_000_000,)
    other = open_store(load_settings(str(config)))
    try:
        eight = record_sale(other, None, make_sale(total=300))
    finally:
        other.close()
    assert eight.receipt_no == "S001-T1-1000001"
    assert [o.receipt_no for o in print_receipt(store, eight.receipt_no, sender=printer)] \
        == [eight.receipt_no]
    assert printer.receipts(six.receipt_no, seven.receipt_no, eight.receipt_no)[-1] == [
        eight.receipt_no]
    assert waiting_count(store.conn) == 0


def test_two_processes_give_a_receipt_one_job(store, config):
    other = open_store(load_settings(str(config)))
    try:
        sales = [record_sale(s, None, make_sale(total=100)) for s in (store, other, store)]
        assert [r for r, _ in jobs(store)] == [s.receipt_no for s in sales]
        # A receipt made by one process is printed by the other's print_receipt only if
        # asked for: each process prints its own, the job is found whoever made it.
        printer = Printer()
        assert [o.receipt_no for o in print_receipt(store, sales[1].receipt_no,
                                                    sender=printer)] == [sales[1].receipt_no]
    finally:
        other.close()


def test_a_version_5_database_keeps_its_printed_receipts_printed(tmp_path):
    settings = load_settings(str(write_config(tmp_path)))
    new = open_store(settings, path=tmp_path / "new.db")
    init_terminal(new.db, "S001", "T1")
    ann = enrol(new, name="Ann", phone="0611223344")
    sales = [record_sale(new, ann.member_id, make_sale(total=1000)) for _ in range(3)]
    new.close()
    # The same rows in a version 5 database, where every receipt got its job with it:
    # all printed but the last one, still queued.
    path = tmp_path / "old.db"
    old = old_version_copy(tmp_path / "new.db", path, 5, (
        "identity", "members", "cards", "member_balances", "receipts"),
        f"event_key, {ledger._EVENT_COLUMNS}, content_hash")
    conn = old.conn
    conn.execute("INSERT INTO print_jobs (receipt_no, kind, status, created_at) "
                 "SELECT receipt_no, kind, 'printed', created_at FROM receipts "
                 "ORDER BY receipt_no")
    conn.execute("UPDATE print_jobs SET status = 'queued' WHERE receipt_no = ?",
                 (sales[-1].receipt_no,))
    old.close()

    store = open_store(settings, path=path)
    try:
        assert current_version(store.db) == max(m.version for m in MIGRATIONS)
        indexes = {r[0] for r in store.conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert "print_jobs_by_receipt" in indexes and "receipts_by_day" not in indexes
        assert waiting_count(store.conn) == 1  # the queued job; the printed stay printed
        printer = Printer()
        assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
            sales[-1].receipt_no]
        after = record_sale(store, ann.member_id, make_sale(total=500))
        assert after.receipt_no == "S001-T1-000005"
        assert waiting_count(store.conn) == 1
        assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
            after.receipt_no]
        assert store.conn.execute("SELECT COUNT(*) FROM print_jobs").fetchone()[0] == 5
    finally:
        store.close()


def test_a_version_7_database_keeps_its_receipts_and_print_jobs(tmp_path):
    settings = load_settings(str(write_config(tmp_path)))
    new = open_store(settings, path=tmp_path / "new.db")
    init_terminal(new.db, "S001", "T1")
    ann = enrol(new, name="Ann", phone="0611223344")
    first = record_sale(new, ann.member_id, make_sale(total=1000))
    new_epoch(new.db)
    second = record_sale(new, ann.member_id, make_sale(total=2000))
    new.close()
    path = tmp_path / "old.db"
    old = old_version_copy(tmp_path / "new.db", path, 7, (
        "identity", "members", "cards", "member_balances", "receipts"),
        f"event_key, {ledger._EVENT_COLUMNS}, content_hash")
    conn = old.conn
    conn.execute("INSERT INTO print_jobs (receipt_no, kind, payload, status, created_at) "
                 "SELECT receipt_no, kind, CAST('bytes of ' || receipt_no AS BLOB), "
                 "'printed', created_at FROM receipts ORDER BY created_at, receipt_no")
    conn.execute("INSERT INTO print_marks VALUES (1, 2), (2, 3) ON CONFLICT DO UPDATE SET "
                 "queued_serial = excluded.queued_serial")
    old.close()

    store = open_store(settings, path=path)
    try:
        conn = store.conn
        assert conn.execute("SELECT receipt_no FROM receipts ORDER BY rowid").fetchall() == [
            (ann.receipt_no,), (first.receipt_no,), (second.receipt_no,)]
        assert conn.execute("PRAGMA foreign_key_list(print_jobs)").fetchall() == []
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("SELECT id, receipt_no, status FROM print_jobs ORDER BY id"
                            ).fetchall() == [(1, ann.receipt_no, "printed"),
                                             (2, first.receipt_no, "printed"),
                                             (3, second.receipt_no, "printed")]
        # A reprint sends the stored bytes, a void finds its receipt, numbering goes on.
        printer = Printer()
        print_pending(store, [reprint(store, first.receipt_no)], sender=printer)
        # (marked COPY: these fake bytes end with no cut, so only the top banner is added)
        assert len(printer.jobs) == 1 and printer.jobs[0].endswith(
            f"*** COPY ***\nbytes of {first.receipt_no}".encode())
        void = void_receipt(store, second.receipt_no)
        assert void.receipt_no == "S001-T1-E2-000004"
        assert conn.execute("SELECT voided_by FROM receipts WHERE receipt_no = ?",
                            (second.receipt_no,)).fetchone() == (void.receipt_no,)
        assert [o.receipt_no for o in print_pending(store, sender=printer)] == [
            void.receipt_no]
    finally:
        store.close()


def test_a_receipt_number_written_otherwise_is_not_found(store):
    sale = record_sale(store, None, make_sale(total=500))
    assert sale.receipt_no == "S001-T1-000001"
    for text in ("S001-T1-1", "s001-t1-000001", "S001-T1-000002"):
        with pytest.raises(ReceiptNotFound):
            void_receipt(store, text)
        with pytest.raises(ReceiptNotFound):
            reprint(store, text)
    assert void_receipt(store, sale.receipt_no).original == sale.receipt_no
