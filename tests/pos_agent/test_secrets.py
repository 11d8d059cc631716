"""Secrets at the terminal: the hub token never on the command line or in the config
file, the database (token, signing key) and its -wal/-shm files created 0600 with a
warning when they are not, and the LOY1 migration of a terminal from before
migration 11."""

from __future__ import annotations

import io
import os
import sqlite3
import stat
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlite_utils import Database

from loyalty.member_qr import sign_legacy_card
from pos_agent.db.migrations import migrate
from pos_agent.db.schema import MIGRATIONS
from pos_agent.exceptions import ConfigError, MemberNotFound, StoreError
from pos_agent.identity import read_token_file
from pos_agent.keys import is_certified, signing_key
from pos_agent.members import enrol, find_member
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.setup import hub_credentials
from tests.pos_agent.conftest import write_config
from tests.pos_agent.test_cli import run

DB = Path("pos-terminal.db")
INIT = ("init", "--store", "S001", "--terminal", "T1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def umask_022():
    old = os.umask(0o022)  # the usual default: files would come out 0644
    yield
    os.umask(old)


@pytest.mark.parametrize("argv", [("--token", "t_secret"), ("--token=t_secret",), ("--token",)])
def test_a_token_on_the_command_line_is_refused_with_the_ways_that_work(config, capsys, argv):
    code, _, err = run(capsys, *INIT, "--hub", "http://127.0.0.1:9", *argv)
    assert code == 2
    assert "--token is not taken" in err and "`ps`" in err
    assert "--token-stdin" in err and "--token-file" in err and "prompt" in err
    assert not DB.exists()


def test_the_token_comes_from_a_private_file_or_stdin_never_a_guess(config, capsys, tmp_path,
                                                                    monkeypatch):
    token_file = tmp_path / "hub.token"
    token_file.write_text("t_abc\n")
    token_file.chmod(0o644)
    code, _, err = run(capsys, *INIT, "--hub", "http://127.0.0.1:9", "--token-file",
                       str(token_file))
    assert code == 2 and "readable by others: chmod 600" in err and not DB.exists()
    token_file.chmod(0o600)
    code, _, err = run(capsys, *INIT, "--hub", "http://127.0.0.1:9", "--token-file",
                       str(token_file))
    assert code == 2 and "cannot reach the hub" in err  # read, then sent to the hub
    assert read_token_file(token_file) == "t_abc"
    token_file.write_text("\n")
    with pytest.raises(StoreError, match="no hub token there"):
        read_token_file(token_file)
    with pytest.raises(StoreError, match="no token file"):
        read_token_file(tmp_path / "missing")
    # no option and no terminal to prompt on (a pipe): say how, do not hang
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, *INIT, "--hub", "http://127.0.0.1:9")
    assert code == 2 and "no terminal to ask for the hub token" in err
    code, _, err = run(capsys, *INIT, "--token-stdin")
    assert code == 2 and "goes with --hub" in err
    assert not DB.exists()


def test_database_wal_and_shm_are_created_0600(config, capsys, umask_022):
    assert run(capsys, *INIT)[0] == 0
    store = open_store(load_settings(str(config)))
    try:
        member = enrol(store, name="Ann", phone="+33612345678")
        from loyalty.sale import make_sale

        record_sale(store, member.member_id, make_sale([], 1250))
        files = [DB, Path(f"{DB}-wal"), Path(f"{DB}-shm")]
        assert all(p.exists() for p in files)
        assert [mode(p) for p in files] == [0o600] * 3
        assert len(signing_key(store.conn)) == 32 and not is_certified(store.conn)
    finally:
        store.close()


def test_init_warns_when_the_database_is_readable_by_others(config, capsys):
    DB.touch(mode=0o644)  # made by someone else, before `pos init`
    DB.chmod(0o644)
    code, _, err = run(capsys, *INIT)
    assert code == 0
    assert f"{DB.resolve()} is readable by others" in err and "chmod 600" in err
    # SQLite gave the -wal and -shm files the database file's mode: all three are named
    assert "pos-terminal.db-wal is readable" in err and "pos-terminal.db-shm is readable" in err
    for path in (DB, Path(f"{DB}-wal"), Path(f"{DB}-shm")):
        path.chmod(0o600)
    code, _, err = run(capsys, "init", "--new-epoch")
    assert code == 0 and "readable by others" not in err


def test_a_token_in_the_config_file_is_refused_and_token_file_is_used(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = write_config(tmp_path)
    text = config.read_text()
    config.write_text(text.replace('# token = ""', 'token = "t_in_the_config"'))
    with pytest.raises(ConfigError, match="does not belong in the config file"):
        load_settings(str(config))
    secret = tmp_path / "pos-terminal.token"
    secret.write_text("t_from_the_file\n")
    secret.chmod(0o600)
    config.write_text(text.replace('# token_file = "pos-terminal.token"',
                                   'token_file = "pos-terminal.token"'))
    settings = load_settings(str(config))
    store = open_store(settings)
    try:
        from pos_agent.identity import init_terminal

        init_terminal(store.db, "S001", "T1")
        assert hub_credentials(settings, store) == (settings.sync.hub_url, "t_from_the_file")
        secret.chmod(0o640)
        with pytest.raises(StoreError, match="readable by others"):
            hub_credentials(settings, store)
    finally:
        store.close()


def test_a_terminal_from_before_migration_11_gets_a_key_and_reads_loy1_until_the_date(
        tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    old_key = "the-key-whoami-used-to-hand-out"
    db = Database(sqlite3.connect(tmp_path / "pos-terminal.db", isolation_level=None))
    migrate(db, MIGRATIONS[:10])
    now = datetime.now(UTC).isoformat()
    db.execute("INSERT INTO identity (id, origin, store, terminal, epoch, created_at, "
               "epoch_started_at, hub_url, hub_token, qr_key) "
               "VALUES (1, 'S001-T1', 'S001', 'T1', 1, ?, ?, 'http://hub', 't_x', ?)",
               (now, now, old_key))
    db.close()

    def store_with(until: date | None):
        config = write_config(tmp_path)
        if until is not None:
            config.write_text(config.read_text().replace(
                "# legacy_qr_until = 2027-03-31", f"legacy_qr_until = {until.isoformat()}"))
        return open_store(load_settings(str(config)))

    today = datetime.now(UTC).date()
    store = store_with(today)
    try:
        assert len(signing_key(store.conn)) == 32  # made at the first open after upgrade
        ann = enrol(store, name="Ann", phone="+33612345678")
        old_card = sign_legacy_card(ann.card_number, old_key.encode())
        assert find_member(store, old_card).member_id == ann.member_id  # still in the period
        assert find_member(store, ann.qr_payload).member_id == ann.member_id  # LOY2
        with pytest.raises(MemberNotFound, match="forged or altered"):
            find_member(store, sign_legacy_card(ann.card_number, b"demo-qr-signing-key-change-me"))
        # a hub that ran on the public demo key handed that out: it is never a legacy key
        store.db.execute("UPDATE identity SET qr_key = 'demo-qr-signing-key-change-me'")
        with pytest.raises(MemberNotFound, match="no longer accepted"):
            find_member(store, sign_legacy_card(ann.card_number, b"demo-qr-signing-key-change-me"))
        store.db.execute("UPDATE identity SET qr_key = ?", (old_key,))
    finally:
        store.close()
    for until in (today - timedelta(days=1), None):
        store = store_with(until)
        try:
            with pytest.raises(MemberNotFound, match="no longer accepted"):
                find_member(store, old_card)
        finally:
            store.close()
