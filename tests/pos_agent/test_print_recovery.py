"""A printer that is off when the sale is made: the sale stays, the job fails with the
reason, and once the printer is back `pos print retry` delivers the whole receipt."""

from __future__ import annotations

from tests.pos_agent.conftest import write_config
from tests.pos_agent.test_cli import rows, run
from tests.printers.network_printer import NetworkPrinter, switched_off_port


def test_refused_printer_then_retry_delivers_the_receipt(tmp_path, monkeypatch, capsys):
    dead_port = switched_off_port()
    config = write_config(tmp_path, printer='kind = "network"\nhost = "127.0.0.1"')
    config.write_text(config.read_text().replace("port = 9100", f"port = {dead_port}"))
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, out, err = run(capsys, "sale", "--amount", "12.50", "--json")
    assert code == 0 and out["printed"] is False
    assert "refused" in err
    receipt_no = out["receipt_no"]
    assert rows("SELECT COUNT(*) FROM receipts WHERE receipt_no = ?", receipt_no) == [(1,)]
    status, error = rows("SELECT status, last_error FROM print_jobs")[0]
    assert status == "failed" and str(dead_port) in error

    printer = NetworkPrinter()
    try:
        config.write_text(config.read_text().replace(f"port = {dead_port}",
                                                     f"port = {printer.port}"))
        code, out, _ = run(capsys, "print", "retry", "--json")
        assert code == 0
        assert rows("SELECT status FROM print_jobs") == [("printed",)]
    finally:
        printer.close()
    payload = rows("SELECT payload FROM print_jobs")[0][0]
    assert printer.jobs == [payload]
    assert receipt_no.encode() in payload


def test_day_report_prints(tmp_path, monkeypatch, capsys):
    config = write_config(tmp_path)
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    run(capsys, "sale", "--amount", "7.20", "--json")
    code, out, _ = run(capsys, "report", "day", "--print", "--json")
    assert code == 0 and out["printed"] is True and out["sales"]["count"] == 1
    kind, status, payload, preview = rows(
        "SELECT kind, status, payload, text_preview FROM print_jobs WHERE id = ?", out["job_id"]
    )[0]
    assert (kind, status) == ("day_report", "printed")
    assert b"DAY REPORT" in payload and "7.20 EUR" in preview
