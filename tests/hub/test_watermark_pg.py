"""PostgreSQL: a pull never skips a change whose transaction commits late.

Transaction A takes its change_seq and stays open. A pull meanwhile must serve nothing
past A's change_seq, or a terminal would move its cursor past A's row for ever. A push (B)
arriving meanwhile folds in its own transaction and takes its change_seq after A's, so
it waits for A to commit; a pull never sees B's change before A's.
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
    pages: list = []
    try:
        # A: a change that is not committed yet
        changes.touch(conn, hub.ctx.db, "stock", ["slow-reward"])
        page = _pull(hub, reader.token, cursor)
        assert page["cursor"] == cursor and page["changes"] == []
        # B: a push while A is open waits for A's change_seq to commit
        answers: list = []
        pusher = threading.Thread(target=lambda: answers.append(term.push(events)))
        pusher.start()
        time.sleep(1.0)
        assert not answers
        page = _pull(hub, reader.token, cursor)
        assert page["cursor"] == cursor and page["changes"] == []
    finally:
        conn_cm.__exit__(None, None, None)
    pusher.join(30)
    assert answers and answers[0].status_code == 200
    pages.append(_pull(hub, reader.token, cursor))
    page = pages[0]
    seqs = [c["change_seq"] for c in page["changes"]]
    assert seqs == sorted(seqs) and page["cursor"] == seqs[-1]
    assert any(c.get("member_id") == member for c in page["changes"])
