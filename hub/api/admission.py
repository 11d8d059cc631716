"""Admission control: a hub process works on at most `[hub] max_sync_in_flight` terminal
pushes and pulls at once. The next ones wait for a free slot up to `QUEUE_S`; one that
still has none is answered

    503 {"error": "busy", "detail": "...", "retry_after": 4}   Retry-After: 4

and the till comes back after that many seconds (pos_agent.sync.client: `HubBusy`; the
agent waits that long plus up to half again). Serves the storm floor of issue 20: a push
is answered or deferred within seconds instead of waiting in line for 14 s, while the
slots stay busy (a short line keeps them filled as pushes finish), and the web shop's
and member pages' reads are not in that line: they, redemption authorisations (a till
waits for those with a short timeout, then its offline rules decide) and every other
request are never held here.

Retry-After grows with the line: between 1 and (requests waiting / slots) + 1 seconds,
capped at 30, drawn at random so tills told to wait do not all come back at one second.
"""

from __future__ import annotations

import asyncio
import random

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

ADMITTED = ("/v1/sync/push", "/v1/sync/pull")
QUEUE_S = 2.0
"""How long a sync request may wait for a slot before it is deferred."""


class Admission:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit
        self.in_flight = 0
        self.waiting = 0
        self._slots: asyncio.Semaphore | None = None  # made in the server's event loop

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] not in ADMITTED:
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            await self._defer(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            assert self._slots is not None
            self._slots.release()

    async def _admit(self) -> bool:
        if self.limit <= 0:
            return False
        if self._slots is None:
            self._slots = asyncio.Semaphore(self.limit)
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), QUEUE_S)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1

    async def _defer(self, scope: Scope, receive: Receive, send: Send) -> None:
        wait = random.randint(1, min(30, 1 + self.waiting // max(self.limit, 1)))
        response = JSONResponse(
            {"error": "busy", "retry_after": wait,
             "detail": f"the hub is working on {self.in_flight} sync requests with "
                       f"{self.waiting} waiting: come back in {wait} s"},
            status_code=503, headers={"Retry-After": str(wait)})
        await response(scope, receive, send)
