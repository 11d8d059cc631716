"""Operations endpoints on a real hub (SQLite and PostgreSQL): liveness, readiness against
the schema, and Prometheus metrics that move with the pushes they count."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from tests.hub.conftest import Hub, new_terminal


def samples(text: str) -> dict[tuple[str, tuple], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_healthz_and_readyz_need_no_token(hub: Hub):
    with hub.client(None) as c:
        assert c.get("/healthz").json() == {"status": "ok"}
        ready = c.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    from hub.api.ops import head_revision

    assert ready.json()["schema"] == head_revision() != ""


def test_metrics_need_the_admin_token_and_count_pushes(hub: Hub):
    term = new_terminal(hub)
    with hub.client(None) as c:
        assert c.get("/metrics").status_code == 401
    with hub.client(term.token) as c:
        assert c.get("/metrics").status_code == 403
    with hub.admin() as c:
        before = samples(c.get("/metrics").text)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    sale = term.sale(member, 1250)
    assert term.push(sale).status_code == 200
    with hub.admin() as c:
        r = c.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    after = samples(r.text)
    pushed = ("pos_hub_events_pushed_total", ())
    assert after[pushed] - before.get(pushed, 0) == len(events) + len(sale)
    ok = ("pos_hub_requests_total", (("method", "POST"), ("route", "/v1/sync/push"),
                                     ("status", "200")))
    assert after[ok] - before.get(ok, 0) == 2
    timed = ("pos_hub_request_seconds_count", (("route", "/v1/sync/push"),))
    assert after[timed] - before.get(timed, 0) == 2
    # read from the ledger at scrape time: the till's store holds its points now
    store = term.origin.split("-")[0]
    points = sum(e.points for e in [*events, *sale])
    assert after[("pos_hub_liability_points", (("store", store),))] == points
    assert ("pos_hub_flags_open", ()) in after and ("pos_hub_points_held", ()) in after
    assert after[("pos_hub_last_push_age_seconds", (("origin", term.origin),))] >= 0
