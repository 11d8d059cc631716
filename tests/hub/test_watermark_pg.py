"""PostgreSQL: a pull never skips a change whose transaction commits late.

Transaction A takes its change_seq and stays open; meanwhile a push (B) arrives over HTTP.
B must not become visible with a change_seq above A's while A is still open, or a terminal
pulling now would move its cursor past A's row for ever.
"""

from __future__ import annotations

import threading
import time

import pytest

from hub.store import changes

from .conftest import Hub, new_terminal

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def _pull(hub: Hub, token: str, cursor: int) -> dict:
    with hub.client(token) as c:
        return c.get("/v1/sync/pull", params={"cursor": cursor, "limit": 1000}).json()


def test_pull_does_not_skip_a_slow_commit(pg_hub: Hub):
    hub = pg_hub
    term, reader = new_terminal(hub), new_terminal(hub)
    cursor = _pull(hub, reader.token, 0)["cursor"]
    member, events = term.enrol()
    conn_cm = hub.ctx.db.write()
    conn = conn_cm.__enter__()
    try:
        # A: a change that is not committed yet
        changes.touch(conn, hub.ctx.db, "stock", ["slow-reward"])
        answer: list = []
        pusher = threading.Thread(target=lambda: answer.append(term.push(events)))
        pusher.start()
        time.sleep(1.0)
        page = _pull(hub, reader.token, cursor)
        # nothing of B may be served while A (lower change_seq) is open
        assert [c for c in page["changes"] if c.get("member_id") == member] == []
        assert page["cursor"] == cursor
        assert not answer  # B waits for A's commit at the change counter
    finally:
        conn_cm.__exit__(None, None, None)
    pusher.join(30)
    assert answer and answer[0].status_code == 200
    page = _pull(hub, reader.token, cursor)
    seqs = [c["change_seq"] for c in page["changes"]]
    assert seqs == sorted(seqs) and page["cursor"] == seqs[-1]
    assert any(c.get("member_id") == member for c in page["changes"])
