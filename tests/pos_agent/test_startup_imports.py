"""What `pos member CARD` must not import: the start-up floor of issue #15 (`pos member` at
most 3x a bare `python -c pass`) is kept by importing signing, phone parsing, printing,
the hub client and the app only in the code that uses them. Timing is measured by
bench/bench_startup.py; these tests catch a module-level import that brings one back.

Each check runs in a fresh interpreter: this test process has imported everything."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from pos_agent.members import enrol
from pos_agent.store import Store

NEVER_FOR_A_LOOKUP = ("cryptography", "httpx", "textual", "escpos", "qrcode", "PIL",
                      "argon2", "printers.connections", "printers.render_escpos",
                      "pos_agent.sync", "pos_agent.operations")
"""Modules `pos member CARD` never needs, whatever the config says."""
NOT_AT_IMPORT = ("phonenumbers",)
"""Needed only once a phone number or a region is read, not to import the command."""


def _run(script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=cwd,
                          capture_output=True, text=True, env={**os.environ},
                          timeout=60, check=False)


def test_member_command_imports_stay_out(tmp_path: Path) -> None:
    done = _run(f"""
        import sys
        import pos_agent.cli, pos_agent.commands.members, pos_agent.members
        import pos_agent.pins, pos_agent.settings, pos_agent.store
        loaded = [m for m in {NEVER_FOR_A_LOOKUP + NOT_AT_IMPORT!r} if m in sys.modules]
        assert not loaded, loaded
        """, tmp_path)
    assert done.returncode == 0, done.stderr


def test_member_lookup_by_card_imports_stay_out(store: Store, config: Path) -> None:
    card = enrol(store, name="Ann Lee", phone="0611223344").card_number
    done = _run(f"""
        import sys
        from pos_agent.cli import main
        code = main(["member", {card!r}, "--json"])
        loaded = [m for m in {NEVER_FOR_A_LOOKUP!r} if m in sys.modules]
        assert code == 0 and not loaded, (code, loaded)
        """, config.parent)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["cards"] == [card]
