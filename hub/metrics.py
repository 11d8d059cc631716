"""The hub's Prometheus metrics (prometheus-client), one registry per app.

    >>> metrics = HubMetrics(ctx)              # create_app keeps it in app.state.metrics
    >>> metrics.events_pushed.inc(500)
    >>> body, content_type = metrics.exposition()

Measured in the process, per request (`RequestMetrics` middleware): requests by route,
method and status (`pos_hub_requests_total`) and their latency
(`pos_hub_request_seconds`, per route; push, pull, authorize and the online reads are
routes), and the events pushes brought (`pos_hub_events_pushed_total`). Read from the
database at each scrape (`LedgerCollector`): per origin the events recorded at the till
not at the hub yet and the time since its last push, the points held for review, the open
flags, and the points outstanding per store. With `--workers N` each process keeps its
own counters (a scrape reaches one of them; sum over the instances); the ledger gauges
are the same from any process.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from hub.context import HubContext
from hub.store import flags as flag_store
from hub.store import reports

# From a member page read (~3 ms) to a storm's slowest push (seconds).
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class HubMetrics:
    def __init__(self, ctx: HubContext) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("pos_hub_requests", "HTTP requests answered",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("pos_hub_request_seconds", "Time to answer a request",
                                 ["route"], buckets=BUCKETS, registry=self.registry)
        self.events_pushed = Counter("pos_hub_events_pushed",
                                     "Events received in terminal pushes (new or repeated)",
                                     registry=self.registry)
        self.registry.register(LedgerCollector(ctx))

    def exposition(self) -> tuple[bytes, str]:
        return generate_latest(self.registry), CONTENT_TYPE_LATEST


class LedgerCollector(Collector):
    """Gauges read from the database at scrape time (the same from every hub process)."""

    def __init__(self, ctx: HubContext) -> None:
        self.ctx = ctx

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        with self.ctx.db.read() as conn:
            health = reports.sync_health(conn)
            liability = reports.liability(conn)
            open_flags = flag_store.count_open(conn)
        behind = GaugeMetricFamily("pos_hub_events_behind",
                                   "Events recorded at the origin not at the hub yet "
                                   "(as the terminal last reported)", labels=["origin"])
        since = GaugeMetricFamily("pos_hub_last_push_age_seconds",
                                  "Seconds since the origin's last push", labels=["origin"])
        for row in health:
            if row.get("events_behind") is not None:
                behind.add_metric([row["origin"]], row["events_behind"])
            if row.get("last_push_at"):
                pushed = datetime.fromisoformat(row["last_push_at"])
                since.add_metric([row["origin"]], (now - pushed).total_seconds())
        outstanding = GaugeMetricFamily("pos_hub_liability_points",
                                        "Points outstanding per store", labels=["store"])
        for row in liability["stores"]:
            outstanding.add_metric([row["store"]], row["points"])
        outstanding.add_metric(["online"], liability["online"])
        yield behind
        yield since
        yield outstanding
        yield GaugeMetricFamily("pos_hub_points_held", "Points held for HQ review",
                                value=liability["held"])
        yield GaugeMetricFamily("pos_hub_flags_open", "Flags waiting for HQ review",
                                value=open_flags)


class RequestMetrics:
    """Counts and times every HTTP request by the route that served it (its path
    template, so member ids do not become labels); a request answered before routing (a
    wrong token, a body too large, an unknown path) counts as `unrouted`."""

    def __init__(self, app: ASGIApp, metrics: HubMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            # the router puts the route it chose in the scope
            route = getattr(scope.get("route"), "path", "unrouted")
            self.metrics.requests.labels(route, scope["method"], str(status["code"])).inc()
            self.metrics.latency.labels(route).observe(time.perf_counter() - started)
