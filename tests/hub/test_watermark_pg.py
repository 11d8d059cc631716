"""PostgreSQL: a pull never skips a change whose transaction commits late.

Transaction A takes its change_seq and stays open. A pull meanwhile must serve nothing
past A's change_seq, or a terminal would move its cursor past A's row for ever. A push (B)
arriving meanwhile is appended and answered at once (it takes no change_seq); its member
changes are recorded when it is folded, after A's, by whoever folds it: here the next
pull, which therefore waits for A to commit instead of answering without B.
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
        # B: appended and answered while A is open
        assert term.push(events).status_code == 200
        puller = threading.Thread(target=lambda: pages.append(
            _pull(hub, reader.token, cursor)))
        puller.start()
        time.sleep(1.0)
        assert not pages  # folding B takes a change_seq after A's: it waits for A
    finally:
        conn_cm.__exit__(None, None, None)
    puller.join(30)
    page = pages[0]
    seqs = [c["change_seq"] for c in page["changes"]]
    assert seqs == sorted(seqs) and page["cursor"] == seqs[-1]
    assert any(c.get("member_id") == member for c in page["changes"])
