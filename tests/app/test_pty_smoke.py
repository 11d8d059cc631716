"""`pos app` in a real pseudo-terminal: type a card number and a sale, quit, and find the
sale in the database."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import sqlite3
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest

from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.example_config import write_example_config

ROOT = Path(__file__).resolve().parents[2]


def drain(fd: int, seconds: float) -> bytes:
    out = b""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        ready, _, _ = select.select([fd], [], [], 0.05)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:
                break
    return out


@pytest.mark.slow
def test_pos_app_in_a_pty(tmp_path: Path):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    card = enrol(store, name="Ann Lee", phone="+33612345678").card_number
    store.close()

    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = {**os.environ, "TERM": "xterm-256color", "POS_CONFIG": str(config)}
    env.pop("TEXTUAL", None)
    proc = subprocess.Popen([str(Path(sys.executable).parent / "pos"), "app"], stdin=slave,
                            stdout=slave, stderr=slave, cwd=tmp_path, env=env,
                            start_new_session=True)
    os.close(slave)
    try:
        screen = drain(master, 6.0)
        assert b"Member: scan their QR" in screen
        for chunk in (card.encode(), b"\r"):
            os.write(master, chunk)
            drain(master, 0.5)
        os.write(master, b"12.50")
        drain(master, 0.5)
        os.write(master, b"\r")  # the item goes in the basket
        drain(master, 0.5)
        os.write(master, b"\x1b[21~")  # F10: payment
        drain(master, 0.5)
        os.write(master, b"\r")  # the exact cash: the sale is recorded
        screen = drain(master, 2.0)
        os.write(master, b"\x11")  # Ctrl+Q
        proc.wait(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    db = sqlite3.connect(tmp_path / "pos-terminal.db")
    assert db.execute("SELECT kind, total FROM receipts WHERE kind = 'sale'").fetchall() == [
        ("sale", 1250)]
    assert db.execute("SELECT points FROM events WHERE kind = 'earn'").fetchall() == [(125,)]
