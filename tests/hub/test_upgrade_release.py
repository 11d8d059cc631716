"""An upgrade from the previous release's schema (0011: the head before the member
sessions, channels, privacy and HQ migrations), on SQLite and PostgreSQL. A hub at 0011
with members, a terminal's stream and a published program is migrated by `pos-hub init`:
it then has exactly the schema of hub/tables.py, keeps every balance and event, answers
ready, and the terminal's next push continues its chain."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect
from sqlalchemy.pool import NullPool

from hub.app import create_app
from hub.context import HubContext
from hub.db import alembic_config
from hub.settings import settings_for
from hub.store.append import event_row
from hub.store.credentials import add_credential
from hub.store.members import new_member_row, snapshot_values
from hub.store.programs import program_from_dict
from hub.tables import events, members, metadata, programs, streams
from loyalty.fold import fold
from tests.hub.conftest import Term, make_hub_key, raw_program, run_cli, serve_app, write_config

PREVIOUS_RELEASE = "0011"


def _as_it_was(conn, table, row: dict) -> None:  # noqa: ANN001
    """Insert `row` keeping only the columns the old table has."""
    have = {c["name"] for c in inspect(conn).get_columns(table.name)}
    conn.execute(table.insert().values({k: v for k, v in row.items() if k in have}))


def test_upgrade_from_the_previous_release(fresh_url: str, tmp_path: Path):
    command.upgrade(alembic_config(fresh_url), PREVIOUS_RELEASE)
    term = Term(None, "S001-T1", "")  # type: ignore[arg-type]
    ann, ledger = term.enrol()
    ledger += term.sale(ann, 2000)
    bob, more = term.enrol()
    ledger += more + term.sale(bob, 990)
    received = datetime.now(UTC).isoformat()
    program = program_from_dict(raw_program())
    engine = create_engine(fresh_url, poolclass=NullPool)
    with engine.begin() as conn:
        _as_it_was(conn, programs, {"version": program.version,
                                    "content": json.dumps(raw_program(), default=str,
                                                          sort_keys=True),
                                    "published_at": received})
        for e in ledger:  # hub_seq 1, 2, ... from the table's own sequence, as the old hub
            _as_it_was(conn, events, event_row(e, received))
        _as_it_was(conn, streams, {"origin": term.origin, "origin_epoch": 1,
                                   "high_seq": ledger[-1].origin_seq,
                                   "chain_hash": ledger[-1].content_hash(),
                                   "updated_at": received})
        for member in (ann, bob):
            mine = [e for e in ledger if e.member_id == member]
            top = max(i for i, e in enumerate(ledger, start=1) if e.member_id == member)
            _as_it_was(conn, members, new_member_row(mine[0], snapshot_values(fold(mine), top,
                                                                              received)))
    engine.dispose()

    key = make_hub_key()
    run_cli(write_config(tmp_path, fresh_url, signing_key_file=key), "init")

    migrated = create_engine(fresh_url, poolclass=NullPool)
    with migrated.connect() as conn:
        assert compare_metadata(MigrationContext.configure(conn), metadata) == []
    migrated.dispose()
    settings = settings_for(fresh_url, raw_program(), signing_key_file=key)
    ctx = HubContext.from_settings(settings)
    with ctx.db.write() as conn:
        token = add_credential(conn, "terminal", term.origin)
        online = add_credential(conn, "channel", "online")
    server, thread, url = serve_app(create_app(settings, ctx))
    try:
        assert httpx.get(f"{url}/readyz").json()["status"] == "ready"
        shop = {"Authorization": f"Bearer {online}"}
        for member in (ann, bob):
            got = httpx.get(f"{url}/v1/online/members", params={"member_id": member},
                            headers=shop).json()
            assert got["balance"] == fold([e for e in ledger if e.member_id == member]).balance
        term.token, term.hub = token, None  # the till's next push continues its chain
        nxt = term.sale(ann, 500)
        r = httpx.post(f"{url}/v1/sync/push", headers={"Authorization": f"Bearer {token}"},
                       json=term.body(nxt))
        assert r.status_code == 200, r.text
        got = httpx.get(f"{url}/v1/online/members", params={"member_id": ann},
                        headers=shop).json()
        assert got["balance"] == fold([e for e in ledger + nxt if e.member_id == ann]).balance
    finally:
        server.should_exit = True
        thread.join(10)
        ctx.close()
