"""The README's demo command does real work: earning, a stamp card, a tier crossing, a
redemption, a void, and the terminal's numbers match a fresh fold of its ledger."""

from __future__ import annotations

import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.slow
def test_demo_walk_through(tmp_path: Path):
    pos = Path(sys.executable).parent / "pos"
    done = subprocess.run([str(pos), "demo", "--no-app", "--dir", str(tmp_path / "demo")],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert "1. Enrolled Camille" in out
    assert "coffee card complete, voucher V" in out
    assert "tier crossed: now" in out and "tier Silver" in out
    assert "Redeemed 'Free latte' for 150 Stars" in out
    # the void takes back exactly what sale 5 earned (300 at Silver's 1.5x; more on a
    # double-points day)
    earned = re.search(r"^5\. Sale (\S+): 20\.00 EUR -> \+(\d+) Stars", out, re.M)
    voided = re.search(r"^7\. Voided (\S+): (\d+) Stars taken back", out, re.M)
    assert earned and voided and earned.groups() == voided.groups()
    assert int(earned.group(2)) >= 300
    assert "-> MATCH" in out
    assert "authorised online by the hub" in out
    assert "0 still queued" in out and "-> SAME" in out
    # the hub's member page, and a sign-in that works there (her PIN reached the hub)
    assert re.search(r"^Member page: http://127\.0\.0\.1:\d+/  \(sign in with card \d{16}, "
                     r"PIN 4821;", out, re.M), out
    assert re.search(r"^HQ back office: http://127\.0\.0\.1:\d+/hq  \(user hq, password "
                     r"demo-hq-password\)", out, re.M), out
    db = sqlite3.connect(tmp_path / "demo" / "pos-terminal.db")
    kinds = dict(db.execute("SELECT kind, COUNT(*) FROM events GROUP BY kind").fetchall())
    # the basket (7b: a reward, a split tender) and its line return (7c) add a redeem, an
    # earn and a reverse, and two receipts
    assert re.search(r"^7b\. Basket \S+: 3 lines 13\.80 EUR, 10% off your basket -1\.38 EUR "
                     r"-> 12\.42 EUR; card 5\.00 \+ cash 10\.00, change 2\.58 EUR", out, re.M)
    assert re.search(r"^7c\. Returned the madeleines \(\S+\): card \S+ EUR \+ cash", out,
                     re.M)
    assert kinds["earn"] == 5 and kinds["redeem"] == 2 and kinds["reverse"] == 2
    assert kinds["stamp"] == 1 and kinds["enrol"] == 2 and kinds["pin"] == 1
    # every slip and receipt the walk-through made went to the file printer, each cut
    jobs = db.execute("SELECT status, COUNT(*) FROM print_jobs GROUP BY status").fetchall()
    assert jobs == [("printed", 10)]
    assert (tmp_path / "demo" / "receipts.escpos").read_bytes().count(b"\x1dV") == 10
