"""A bounded schemathesis run against the live OpenAPI document, on SQLite and
PostgreSQL: no 500s, every error JSON. Each operation gets a few generated requests with
an admin, a terminal and the online token in turn (so requests reach past
authentication)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .conftest import Hub, new_terminal

pytestmark = pytest.mark.slow
EXAMPLES = 6


def test_fuzz_openapi_no_server_errors(hub: Hub):
    schema = schemathesis.openapi.from_url(hub.url + "/openapi.json")
    tokens = [hub.admin_token, new_terminal(hub).token, hub.online_token]
    failures: list[str] = []
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        _fuzz(hub, operation, tokens, failures)
    assert failures == []


def _fuzz(hub: Hub, operation: object, tokens: list[str], failures: list[str]) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    def run(case: schemathesis.Case) -> None:
        for token in tokens:
            response = case.call(base_url=hub.url,
                                 headers={"Authorization": f"Bearer {token}"}, timeout=30)
            if response.status_code >= 500:
                failures.append(f"{operation.label}: {response.status_code} "
                                f"{response.text[:200]}")
            if response.status_code >= 400:
                body = response.json()
                assert set(body) >= {"error", "detail"}, (operation.label, body)

    run()
