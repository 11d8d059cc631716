"""`pos-hub` when the machine lets it down (issue 16, part 6): a read-only database, a full
disk and a damaged row each give one sentence and exit 1, never a traceback; text from
tills and the web shop is shown escaped in the command's tables."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import update

from hub.context import HubContext
from hub.settings import load_settings
from hub.tables import events, members

from .conftest import run_cli, write_config

pytestmark = pytest.mark.slow


def _read_only(url: str) -> str:
    if url.startswith("sqlite:///"):
        return f"sqlite:///file:{url.removeprefix('sqlite:///')}?mode=ro&uri=true"
    # PostgreSQL: the session refuses every write (SQLSTATE 25006), as a standby would
    return url.replace("options=", "options=-cdefault_transaction_read_only%3Don%20", 1)


def _one_member(config: Path, name: str = "Ann Lee") -> str:
    from hub import online

    ctx = HubContext.from_settings(load_settings(str(config)))
    try:
        return online.enrol(ctx, name=name, phone="+33612345678", email=None, birthday=None,
                            referrer_card=None, consent_email=False,
                            consent_sms=False)["member_id"]
    finally:
        ctx.close()


def _write(config: Path, stmt) -> None:
    ctx = HubContext.from_settings(load_settings(str(config)))
    try:
        with ctx.db.write() as conn:
            conn.execute(stmt)
    finally:
        ctx.close()


def test_a_read_only_database_is_one_sentence(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    ro = tmp_path / "ro"
    ro.mkdir()
    read_only = write_config(ro, _read_only(fresh_url))
    (ro / "pos-hub.key").write_bytes((tmp_path / "pos-hub.key").read_bytes())
    done = run_cli(read_only, "terminal", "add", "S001-T1", ok=False)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        "pos-hub: the hub's database is read-only (the file's or its folder's permissions, "
        "a read-only disk or a standby server): nothing was saved ("), done.stderr
    assert "S001-T1" not in run_cli(config, "terminal", "list").stdout


def test_a_full_disk_is_one_sentence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture):
    from sqlalchemy.exc import OperationalError

    import hub.store.credentials
    from hub.cli import main

    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    run_cli(config, "init")

    def full(*_a, **_k):
        raise OperationalError("INSERT INTO credentials ...", {},
                               sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(hub.store.credentials, "add_credential", full)
    assert main(["terminal", "add", "S001-T1", "--config", str(config)]) == 1
    err = capsys.readouterr().err
    assert err == ("pos-hub: the disk holding the hub's database is full, so nothing was "
                   "saved: free some space, then run the command again (database or disk is "
                   "full)\n")


def test_a_damaged_snapshot_is_found_and_rebuilt(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    member_id = _one_member(config)
    _write(config, update(members).where(members.c.member_id == member_id)
           .values(state="{not json"))
    done = run_cli(config, "rebuild", "--check", ok=False)
    assert member_id in done.stdout and "Traceback" not in done.stderr
    run_cli(config, "rebuild")
    run_cli(config, "rebuild", "--check")


def test_a_damaged_event_is_one_sentence(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    member_id = _one_member(config)
    _write(config, update(events).where(events.c.member_id == member_id)
           .values(content="[1, 2"))
    done = run_cli(config, "rebuild", "--check", ok=False)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr == ("pos-hub: an event of the hub's ledger does not decode (invalid "
                           "JSON): it was edited or damaged; restore the database from the "
                           "backup\n")


def test_names_holding_control_characters_are_shown_escaped(fresh_url: str, tmp_path: Path):
    # as an older terminal could have sent it: stored as a fact, shown, never obeyed
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    member_id = _one_member(config)
    _write(config, update(members).where(members.c.member_id == member_id)
           .values(name="Ann\x1b[2J\u202eeeL"))
    out = run_cli(config, "report", "balances").stdout
    assert "Ann\\x1b[2J\\u202eeeL" in out
    assert "\x1b" not in out and "\u202e" not in out


@pytest.mark.parametrize("argv", [["flags", "resolve", "\u0661\u0662", "--note", "n"],
                                  ["flags", "resolve", "1", "--note", "n", "--points",
                                   "\u0665\u0660\u0660"],
                                  ["serve", "--port", "\uff18\uff17\uff15\uff10"]])
def test_integer_arguments_take_ascii_digits_only(argv: list[str],
                                                  capsys: pytest.CaptureFixture):
    from hub.cli import main

    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    assert "invalid integer value: '" in capsys.readouterr().err
