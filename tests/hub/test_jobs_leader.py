"""The hub's jobs run in one process at a time among every hub process sharing a
PostgreSQL database (a session advisory lock), and `pos-hub jobs run` says so when
another holds it."""

from __future__ import annotations

import json
from pathlib import Path

from hub.context import HubContext
from hub.jobs import jobs_leader
from tests.hub.conftest import Hub, run_cli, write_config


def test_one_leader_at_a_time_across_processes(pg_hub: Hub, tmp_path):
    other = HubContext.from_settings(pg_hub.ctx.settings)  # a second process's pool
    try:
        with jobs_leader(pg_hub.ctx) as first:
            assert first
            with jobs_leader(other) as second:
                assert not second  # the lock is held on another connection
            key = tmp_path / "hub.key"
            key.write_bytes(Path(pg_hub.ctx.settings.hub.signing_key_file).read_bytes())
            key.chmod(0o600)
            config = write_config(tmp_path, pg_hub.ctx.settings.hub.database_url,
                                  signing_key_file=str(key))
            busy = run_cli(config, "jobs", "run", "all", "--json", ok=False)
            assert json.loads(busy.stdout) == {
                "ran": False, "reason": "another hub process is running the jobs now"}
        with jobs_leader(other) as after:
            assert after  # released with the first run: the next turn can take it
        done = run_cli(config, "jobs", "run", "all", "--json")
        assert set(json.loads(done.stdout)) >= {"expiry", "tiers"}
    finally:
        other.close()


def test_a_single_sqlite_process_is_always_the_leader(sqlite_hub: Hub):
    with jobs_leader(sqlite_hub.ctx) as leader:
        assert leader
