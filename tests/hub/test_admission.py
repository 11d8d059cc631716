"""Admission control (issue 20): a saturated hub defers sync requests with 503 and
Retry-After at once, never the web shop's reads; the till's client and agent honour it."""

from __future__ import annotations

import asyncio

import httpx
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from hub.api.admission import Admission
from pos_agent.exceptions import HubBusy
from pos_agent.sync.client import HubClient
from tests.hub.conftest import Hub, new_terminal, variant


def test_a_full_hub_defers_pushes_and_pulls_but_not_reads(hub: Hub):
    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    before = hub.counts()
    more = term.sale(member, 1250)
    with variant(hub, max_sync_in_flight=0) as url:  # every sync request deferred
        headers = {"Authorization": f"Bearer {term.token}"}
        with httpx.Client(base_url=url, headers=headers, timeout=10) as c:
            pushed = c.post("/v1/sync/push", json=term.body(more))
            pulled = c.get("/v1/sync/pull", params={"cursor": 0})
            me = c.get("/v1/terminal/whoami")
        with httpx.Client(base_url=url, timeout=10,
                          headers={"Authorization": f"Bearer {hub.online_token}"}) as c:
            read = c.get("/v1/online/members", params={"member_id": member})
        with HubClient(url, term.token) as client:
            try:
                client.push(term.origin, term.epoch, [e.to_dict() for e in more])
            except HubBusy as exc:
                busy = exc
    for r in (pushed, pulled):
        assert r.status_code == 503 and r.json()["error"] == "busy"
        wait = int(r.headers["Retry-After"])
        assert 1 <= wait <= 30 and r.json()["retry_after"] == wait
    assert hub.counts() == before  # deferred: nothing of the push was kept
    assert me.status_code == 200 and read.status_code == 200
    assert read.json()["balance"] == sum(e.points for e in events)
    assert busy.retry_after >= 1 and not busy.request_sent


def test_only_the_limit_runs_at_once_and_a_short_line_waits(monkeypatch):
    """A process that takes one push at a time: a second push waits in line while the
    first is worked on and runs when it ends; a third finding the line too long for the
    queue time is deferred with Retry-After; a read goes through meanwhile."""
    from hub.api import admission

    monkeypatch.setattr(admission, "QUEUE_S", 0.3)
    started, release = asyncio.Event(), asyncio.Event()
    order: list[str] = []

    async def slow_push(request):  # noqa: ANN001
        order.append(request.query_params["n"])
        started.set()
        await release.wait()
        return JSONResponse({"ok": True})

    async def read(request):  # noqa: ANN001
        return JSONResponse({"balance": 5})

    app = Admission(Starlette(routes=[Route("/v1/sync/push", slow_push, methods=["POST"]),
                                      Route("/v1/online/members", read)]), limit=1)

    async def run() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hub") as c:
            first = asyncio.create_task(c.post("/v1/sync/push?n=1"))
            await started.wait()
            third = await c.post("/v1/sync/push?n=3")  # waits 0.3 s, then deferred
            during = await c.get("/v1/online/members")
            second = asyncio.create_task(c.post("/v1/sync/push?n=2"))
            await asyncio.sleep(0.05)
            assert app.waiting == 1 and app.in_flight == 1
            release.set()  # the first ends: the second takes its slot
            return [await first, await second, third, during]

    first, second, third, during = asyncio.run(run())
    assert first.status_code == 200 and second.status_code == 200
    assert third.status_code == 503 and third.json()["error"] == "busy"
    assert 1 <= int(third.headers["Retry-After"]) <= 30
    assert during.json() == {"balance": 5} and order == ["1", "2"]
    assert app.in_flight == 0 and app.waiting == 0


def test_the_agent_waits_as_long_as_the_hub_asked():
    from pos_agent.sync.agent import SyncAgent, SyncStatus

    agent = SyncAgent.__new__(SyncAgent)  # only the scheduling arithmetic
    agent.status = SyncStatus(failures=3, retry_after=12.0)
    agent.interval_s, agent.max_backoff_s = 60.0, 600.0
    delays = [agent.next_delay() for _ in range(200)]
    assert all(12.0 <= d <= 18.0 for d in delays) and len(set(delays)) > 100
    agent.status.retry_after = None  # an outage: exponential backoff, full jitter
    assert all(1.0 <= agent.next_delay() <= 480.0 for _ in range(200))
