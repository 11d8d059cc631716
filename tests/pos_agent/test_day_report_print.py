"""The printed day report on a 58 mm roll (32 characters a line) and an 80 mm one: every
figure of `pos report day` is on paper, whole, under its own label."""

from __future__ import annotations

import pytest

from tests.pos_agent.conftest import write_config
from tests.pos_agent.test_cli import rows, run


@pytest.mark.parametrize("paper, width", [(58, 32), (80, 48)])
def test_day_report_prints_every_figure_whole(tmp_path, monkeypatch, capsys, paper, width):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("paper_mm = 80", f"paper_mm = {paper}"))
    monkeypatch.setenv("POS_CONFIG", str(config))
    monkeypatch.chdir(tmp_path)
    run(capsys, "init", "--store", "S001", "--terminal", "T1")
    code, ann, _ = run(capsys, "enrol", "--name", "Ann Lee", "--phone", "+33612345678",
                       "--json")
    assert code == 0
    sales = [run(capsys, "sale", "--member", ann["card_number"], "--amount", amount,
                 "--json")[1] for amount in ("123.40", "27.20", "9.90")]
    run(capsys, "void", "--receipt", sales[1]["receipt_no"], "--json")
    code, report, _ = run(capsys, "report", "day", "--print", "--json")
    assert code == 0 and report["printed"] is True
    preview = rows("SELECT text_preview FROM print_jobs WHERE id = ?", report["job_id"])[0][0]
    lines = preview.splitlines()
    assert max(len(line) for line in lines) <= width

    def row(label: str) -> str:
        found = [line for line in lines if line.startswith(label)]
        assert len(found) == 1, (label, preview)
        return found[0][len(label):].strip()

    points = report["points"]
    assert row("Sales") == "3  160.50 EUR"
    assert row("  with a member") == "3"
    assert row("Voids") == "1  -27.20 EUR"
    assert row("Net") == "133.30 EUR"
    assert row("Enrolments") == "1"
    assert row("Stars issued") == str(points["issued"])
    assert row("Stars redeemed") == str(points["redeemed"])
    assert row("Stars reversed") == str(points["reversed"])
    assert points["reversed"] == sales[1]["points_earned"] > 0
