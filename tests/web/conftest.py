"""Fixtures for the member pages' tests: the hub tests' real hub on 127.0.0.1 (SQLite,
and PostgreSQL when POS_HUB_TEST_DATABASE_URL is set) and their terminal simulator, so a
member reaches the hub by a real push (tests/hub/conftest.py).

    >>> m = enrolled(hub, pin="4821", email="ann@example.org", spend=1250)
    >>> c = browser_client(hub); sign_in(c, m.card, "4821")
"""

from __future__ import annotations

import re
import secrets
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import httpx
import pytest

from loyalty.earning import enrolment_drafts
from loyalty.ids import make_card_number, new_member_id
from loyalty.pins import hash_pin, pin_set_draft
from tests.hub import conftest as hub_tests
from tests.hub.conftest import PROGRAM, Hub, Term, new_terminal

# the hub tests' fixtures: one hub per backend for the session, `hub` over both
sqlite_hub = hub_tests.sqlite_hub
pg_schema = hub_tests.pg_schema
pg_hub = hub_tests.pg_hub
hub = hub_tests.hub

CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Member:
    member_id: str
    card: str
    email: str
    term: Term

    @property
    def balance(self) -> int:
        """What the till that enrolled the member holds (its own fold of its events)."""
        return self.term.states[self.member_id].balance


def enrolled(hub: Hub, *, pin: str | None = "4821", email: str | None = None,
             spend: int = 1250, store: str | None = None, name: str = "Ann Martin") -> Member:
    """A member enrolled at a new terminal with a card, an e-mail and a PIN, and a sale of
    `spend` (minor units), pushed to the hub like a till's sync."""
    term = new_terminal(hub, store)
    card = make_card_number(900_000 + secrets.randbelow(99_999), 1 + secrets.randbelow(999_998))
    email = email or f"m{uuid.uuid4().hex[:10]}@example.org"
    at = datetime.now(UTC)
    member_id = new_member_id()
    drafts = enrolment_drafts(PROGRAM, member_id, at, receipt_no=term.receipt(),
                              channel=f"store:{term.origin}")
    # the enrolment as a till makes it: the card it hands over and the profile
    drafts[0] = replace(drafts[0], data={
        **drafts[0].data, "card_number": card,
        "profile": {"name": name, "phone": f"+3361{secrets.randbelow(10**8):08d}",
                    "email": email}})
    events = [term.seal(d, at) for d in drafts]
    if pin is not None:
        events.append(term.seal(pin_set_draft(member_id, hash_pin(pin))))
    if spend:
        events += term.sale(member_id, spend, lines=[("LATTE", "coffee", 1, spend)])
    answer = term.push(events)
    assert answer.status_code == 200, answer.text
    return Member(member_id, card, email, term)


def browser_client(hub: Hub) -> httpx.Client:
    """A client that keeps cookies, as a browser does (no token)."""
    return httpx.Client(base_url=hub.url, timeout=30, follow_redirects=False)


def csrf_of(page: httpx.Response) -> str:
    found = CSRF.search(page.text)
    assert found, page.text[:2000]
    return found.group(1)


def sign_in(client: httpx.Client, identifier: str, pin: str) -> httpx.Response:
    """GET / then POST /login with its CSRF field, as the form does."""
    token = csrf_of(client.get("/"))
    return client.post("/login", data={"identifier": identifier, "pin": pin, "csrf": token})


@pytest.fixture
def member(hub: Hub) -> Member:
    return enrolled(hub)
