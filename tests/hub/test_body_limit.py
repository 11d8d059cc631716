"""`[hub] max_body_bytes` holds for a declared Content-Length and for a chunked body (no
length declared, bytes counted as they arrive): 413 with a JSON error, nothing written."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest

from .conftest import Hub, new_terminal, variant

pytestmark = pytest.mark.slow
LIMIT = 4096


def _padded_push(hub: Hub) -> tuple[dict[str, str], bytes, bytes]:
    """A valid push of one enrolment (under the limit), and the same padded over it."""
    term = new_terminal(hub)
    _, events = term.enrol()
    small = json.dumps(term.body(events[:1])).encode()
    assert len(small) < LIMIT
    big = json.dumps({**term.body(events[:1]), "pad": "x" * LIMIT}).encode()
    return {"Authorization": f"Bearer {term.token}",
            "Content-Type": "application/json"}, small, big


def _chunks(body: bytes, size: int = 1000) -> Iterator[bytes]:
    for start in range(0, len(body), size):
        yield body[start:start + size]


def test_declared_length_over_the_limit_is_413(hub: Hub):
    headers, small, big = _padded_push(hub)
    before = hub.counts()
    with variant(hub, max_body_bytes=LIMIT) as url, httpx.Client(base_url=url) as c:
        r = c.post("/v1/sync/push", content=big, headers=headers)
        assert r.request.headers["content-length"] == str(len(big))
        assert r.status_code == 413
        assert r.json() == {"error": "too_large",
                            "detail": f"the body is over {LIMIT} bytes ([hub] max_body_bytes)"}
        assert hub.counts() == before
        ok = c.post("/v1/sync/push", content=small, headers=headers)
        assert ok.status_code == 200, ok.text
        assert hub.count("events") == before["events"] + 1


def test_chunked_body_over_the_limit_is_413(hub: Hub):
    headers, small, big = _padded_push(hub)
    before = hub.counts()
    with variant(hub, max_body_bytes=LIMIT) as url, httpx.Client(base_url=url) as c:
        r = c.post("/v1/sync/push", content=_chunks(big), headers=headers)
        assert r.request.headers["transfer-encoding"] == "chunked"
        assert "content-length" not in r.request.headers
        assert r.status_code == 413, r.text
        assert r.json() == {"error": "too_large",
                            "detail": f"the body is over {LIMIT} bytes ([hub] max_body_bytes)"}
        assert hub.counts() == before
        # the online channel's bodies are parsed by FastAPI: the same answer there
        r = c.post("/v1/online/orders", content=_chunks(b'{"pad": "' + b"y" * LIMIT + b'"}'),
                   headers={"Authorization": f"Bearer {hub.online_token}",
                            "Content-Type": "application/json"})
        assert r.status_code == 413 and r.json()["error"] == "too_large"
        # a chunked body under the limit goes through
        ok = c.post("/v1/sync/push", content=_chunks(small), headers=headers)
        assert ok.request.headers["transfer-encoding"] == "chunked"
        assert ok.status_code == 200, ok.text
        assert [x["status"] for x in ok.json()["results"]] == ["new"]
        assert hub.count("events") == before["events"] + 1
