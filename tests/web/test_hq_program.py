"""HQ's program editor (issue 19) against a real hub on 127.0.0.1, on SQLite and
PostgreSQL: the draft is the published version as TOML; a draft with a bad field is
refused with the field's key and publishes nothing; the preview shows the diff and what a
sample basket earns before and after, exactly as `loyalty.earning.earn_for_sale`
computes it; publish makes the draft the hub's current program (a `program` change the
tills pull), with the admin's name in the history and an audit row; finance and store
managers read and cannot POST; a POST without its CSRF field is refused.

The hub is the session's: every test that publishes puts the steady example program
back as the current version when it ends (`restore`).
"""

from __future__ import annotations

import html
import re
import tomllib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from hub.store.programs import current_program, current_version, publish
from hub.web import hq_data
from loyalty.earning import earn_for_sale
from loyalty.fold import MemberState
from loyalty.program import Program, program_from_dict
from loyalty.sale import SaleLine, make_sale
from tests.hub import conftest as hub_tests
from tests.hub.conftest import PROGRAM, new_terminal, raw_program, run_cli, write_config

from .conftest import Hub, csrf_of
from .test_hq_pages import audit_rows, signed_in

pytestmark = pytest.mark.slow
fresh_url = hub_tests.fresh_url

DRAFT = re.compile(r'<textarea id="draft"[^>]*>(.*?)</textarea>', re.DOTALL)
BASE = re.compile(r'name="base" value="([0-9a-f]+)"')
SAMPLE = "LATTE,coffee,2,3.50\nCROI,pastry,1,1.80"
SAMPLE_LINES = [SaleLine("LATTE", "coffee", 2, 350), SaleLine("CROI", "pastry", 1, 180)]


@pytest.fixture
def restore(hub: Hub) -> Iterator[None]:
    """Whatever a test publishes, the session's hub goes back to the steady program."""
    yield
    with hub.ctx.db.write() as conn:
        publish(conn, hub.ctx.db, raw_program(), by="tests")
    assert version_now(hub) == PROGRAM.version


def version_now(hub: Hub) -> str | None:
    with hub.ctx.db.read() as conn:
        return current_version(conn)


def draft_of(page: httpx.Response) -> str:
    found = DRAFT.search(page.text)
    assert found, page.text[:3000]
    return html.unescape(found.group(1))


def preview(client: httpx.Client, draft: str, *, tier: str = "Silver",
            sample: str = SAMPLE) -> httpx.Response:
    token = csrf_of(client.get("/hq/program"))
    return client.post("/hq/program/preview", data={"draft": draft, "sample": sample,
                                                    "tier": tier, "csrf": token})


def domain_points(program: Program, tier: str) -> tuple[int, int]:
    """(purchase points, all points) of the sample basket for a fresh member of `tier`,
    by the domain's own earning rule."""
    at = datetime.now(UTC)
    state = MemberState(member_id="00000000-0000-4000-8000-000000000001",
                        paid_tier=[tier, at + timedelta(days=1)])
    result = earn_for_sale(program, state, make_sale(SAMPLE_LINES), at, receipt_no="X")
    assert result.tier == tier
    return result.purchase_points, result.points


def field(page: httpx.Response, name: str) -> str:
    found = re.search(rf'data-field="{re.escape(name)}"(?: data-value="([^"]*)")?>([^<]*)<',
                      page.text)
    assert found, (name, page.text[:3000])
    return html.unescape(found.group(1) or found.group(2)).strip()


def test_the_editors_toml_reads_back_to_the_published_program():
    text = hq_data.program_toml(raw_program())
    back = tomllib.loads(text)["program"]
    assert back == hq_data.normalised(raw_program())
    assert program_from_dict(back).version == PROGRAM.version
    draft = hq_data.read_draft(text)
    assert draft.errors == () and draft.program.version == PROGRAM.version
    # names with quotes, backslashes and non-ASCII survive the trip
    raw = {**raw_program(), "name": 'Bean "&" C\\rumb — café\ttab'}
    assert tomllib.loads(hq_data.program_toml(raw))["program"]["name"] == raw["name"]


def test_the_draft_is_the_published_version_and_a_bad_field_is_refused(hub: Hub):
    assert PROGRAM.rewards[2].id == "free-latte" and PROGRAM.rewards[2].cost == 150
    with signed_in(hub, "admin") as admin:
        page = admin.get("/hq/program")
        assert page.status_code == 200
        draft = draft_of(page)
        twin = admin.get("/v1/hq/program").json()
        assert twin["draft"] == draft and twin["can_edit"] is True
        assert twin["current"] == PROGRAM.version
        assert hq_data.read_draft(draft).program.version == PROGRAM.version

        versions, audit = hub.count("programs"), hub.count("hq_audit")
        bad = draft.replace("cost = 150\n", "cost = -5\n", 1)
        bad = bad.replace("stamps_to_complete = 10\n", "stamps_to_complete = 1\n", 1)
        assert bad.count("-5") == 1
        r = preview(admin, bad)
        assert r.status_code == 422
        keys = re.findall(r'data-error-key="([^"]*)"', r.text)
        assert keys == ["program.stamp_cards[0].stamps_to_complete",
                        "program.rewards[2].cost"]  # every field that is wrong
        [li] = re.findall(r'<li data-error-key="program\.rewards\[2\]\.cost">(.*?)</li>',
                          r.text, re.DOTALL)
        assert "greater than or equal to 0" in li
        assert 'id="publish-button"' not in r.text
        assert draft_of(r) == bad  # the draft as typed, to fix
        # published anyway: refused, nothing written
        token = csrf_of(r)
        r = admin.post("/hq/program/publish", data={"draft": bad, "csrf": token})
        assert r.status_code == 422 and "program.rewards[2].cost" in r.text
        not_toml = admin.post("/hq/program/publish",
                              data={"draft": "[program\nname = 1", "csrf": token})
        assert not_toml.status_code == 422 and "not valid TOML" in not_toml.text
        # a domain rule, not a pydantic one: the key still names the field
        r = preview(admin, draft.replace("threshold = 300\n", "threshold = 0\n", 1))
        assert r.status_code == 422
        assert 'data-error-key="program.tiers[1].threshold"' in r.text
        assert (hub.count("programs"), hub.count("hq_audit")) == (versions, audit)
        assert version_now(hub) == PROGRAM.version


def test_the_preview_shows_the_diff_and_the_sample_before_and_after(hub: Hub):
    with signed_in(hub, "admin") as admin:
        draft = draft_of(admin.get("/hq/program"))
        assert "\nearn_rate = 10\n" in draft
        changed = draft.replace("\nearn_rate = 10\n", "\nearn_rate = 25\n", 1)
        r = preview(admin, changed, tier="Silver")
        assert r.status_code == 200, r.text[:2000]
        assert '<span class="remove">-earn_rate = 10</span>' in r.text
        assert '<span class="add">+earn_rate = 25</span>' in r.text
        # only the changed line is added or removed
        assert len(re.findall(r'<span class="(?:add|remove)">[+-](?![+-])', r.text)) == 2
        after_program = program_from_dict(tomllib.loads(changed)["program"])
        assert field(r, "draft-version") == after_program.version
        before = domain_points(PROGRAM, "Silver")
        after = domain_points(after_program, "Silver")
        assert (int(field(r, "published-purchase-points")),
                int(field(r, "published-points"))) == before
        assert (int(field(r, "draft-purchase-points")), int(field(r, "draft-points"))) \
            == after
        assert before[0] == 132 and after[0] == 330  # 8.80 x rate x 1.5 (Silver)
        assert 'id="publish-button"' in r.text and BASE.search(r.text)
        # the same draft: nothing changed, nothing to publish
        same = preview(admin, draft)
        assert same.status_code == 200 and 'id="unchanged"' in same.text
        assert 'id="publish-button"' not in same.text
        # a bad sample line is said, the diff still shown
        r = preview(admin, changed, sample="LATTE,coffee,two,3.50")
        assert "sample basket, line 1" in field(r, "sample-error")
        assert '+earn_rate = 25' in r.text
    assert version_now(hub) == PROGRAM.version  # a preview publishes nothing


def test_publish_makes_the_draft_current_with_who_and_an_audit_row(hub: Hub, restore):
    with signed_in(hub, "admin") as admin:
        name = field(admin.get("/hq/program"), "user")
        draft = draft_of(admin.get("/hq/program"))
        changed = draft.replace("\nearn_rate = 10\n", "\nearn_rate = 20\n", 1)
        shown = preview(admin, changed)
        base = BASE.search(shown.text).group(1)
        assert base == PROGRAM.version
        new = program_from_dict(tomllib.loads(changed)["program"])
        r = admin.post("/hq/program/publish", data={"draft": changed, "base": base,
                                                    "sample": SAMPLE, "tier": "Silver",
                                                    "csrf": csrf_of(shown)})
        assert r.status_code == 303, r.text[:2000]
        assert r.headers["location"] == "/hq/program?done=published"
        # the hub's current program is the draft
        assert version_now(hub) == new.version != PROGRAM.version
        with hub.ctx.db.read() as conn:
            assert current_program(conn).earn_rate == 20
        [row] = hub.rows("programs", version=new.version)
        assert row["published_by"] == name
        # the history: newest first, who published each
        twin = admin.get("/v1/hq/program").json()
        assert twin["current"] == new.version
        assert (twin["versions"][0]["version"], twin["versions"][0]["published_by"],
                twin["versions"][0]["current"]) == (new.version, name, True)
        assert twin["versions"][1]["version"] == PROGRAM.version
        page = admin.get("/hq/program?done=published")
        assert field(page, f"published-by-{new.version}") == name
        assert "The new version is published" in page.text
        assert "\nearn_rate = 20\n" in draft_of(page)  # the next draft starts from it
        [audit] = [a for a in audit_rows(hub, new.version) if a["action"] == "publish_program"]
        assert audit["username"] == name
        assert orjson.loads(audit["before"]) == {"version": PROGRAM.version}
        assert orjson.loads(audit["after"])["version"] == new.version
        # the tills get it on their next pull: a `program` change, the version they see
        assert hub.count("changes", kind="program", key=new.version) == 1
        with hub.client(new_terminal(hub).token) as till:
            assert till.get("/v1/terminal/whoami").json()["program_version"] == new.version
        # again, or from a preview of the version before: refused, nothing written
        count = hub.count("hq_audit")
        token = csrf_of(page)
        again = admin.post("/hq/program/publish", data={"draft": changed, "csrf": token})
        assert again.status_code == 409
        stale = admin.post("/hq/program/publish", data={
            "draft": changed.replace("earn_rate = 20", "earn_rate = 30"), "base": base,
            "csrf": token})
        assert stale.status_code == 409 and "preview the draft again" in stale.text
        assert hub.count("hq_audit") == count and version_now(hub) == new.version


def test_finance_and_store_managers_read_the_program_and_cannot_post(hub: Hub):
    draft = hq_data.program_toml(raw_program()).replace("earn_rate = 10", "earn_rate = 40")
    for role, store in (("finance", None), ("store_manager", "Q1234")):
        with signed_in(hub, role, store) as reader:
            page = reader.get("/hq/program")
            assert page.status_code == 200
            assert f'data-version="{PROGRAM.version}"' in page.text
            assert "<textarea" not in page.text and "/hq/program/publish" not in page.text
            assert reader.get("/v1/hq/program").json()["can_edit"] is False
            audit = hub.count("hq_audit")
            token = csrf_of(page)
            for action in ("/hq/program/preview", "/hq/program/publish"):
                r = reader.post(action, data={"draft": draft, "csrf": token})
                assert r.status_code == 403, (role, action, r.text[:500])
            assert hub.count("hq_audit") == audit
    assert version_now(hub) == PROGRAM.version


def test_a_program_post_without_its_csrf_field_is_refused(hub: Hub):
    draft = hq_data.program_toml(raw_program()).replace("earn_rate = 10", "earn_rate = 40")
    with signed_in(hub, "admin") as admin:
        for data in ({}, {"csrf": "forged"}):
            for action in ("/hq/program/preview", "/hq/program/publish"):
                r = admin.post(action, data={"draft": draft, **data})
                assert r.status_code == 403 and "Form expired" in r.text, action
    assert version_now(hub) == PROGRAM.version


def test_pos_hub_program_publish_records_cli_as_the_publisher(tmp_path: Path,
                                                               fresh_url: str):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")
    run_cli(config, "program", "publish")
    from sqlalchemy import create_engine, select
    from sqlalchemy.pool import NullPool

    from hub.tables import programs
    engine = create_engine(fresh_url, poolclass=NullPool)
    with engine.connect() as conn:
        rows = list(conn.execute(select(programs.c.version, programs.c.published_by)))
    engine.dispose()
    assert rows == [(PROGRAM.version, "cli")]
