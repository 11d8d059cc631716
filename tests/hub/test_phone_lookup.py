"""The hub's online and admin phone lookups read a number in any usual format to E.164
with `[hub] region`, as a till does with `[terminal] region` (issue 17)."""

from __future__ import annotations

import uuid

import httpx
import pytest

from hub.tables import members

from .conftest import Hub, variant

FORMATS = ["0677{0}", "06 77 {1} {2} {3}", "+33 6 77 {1} {2} {3}", "00336 77{0}",
           "+33 (0)6 77 {1} {2} {3}", "06.77.{1}.{2}.{3}"]


def _number() -> tuple[str, list[str]]:
    tail = f"{uuid.uuid4().int % 1_000_000:06d}"
    parts = (tail, tail[:2], tail[2:4], tail[4:])
    return "+33677" + tail, [f.format(*parts) for f in FORMATS]


@pytest.fixture
def fr_hub(hub: Hub):
    with variant(hub, region="FR") as url:
        yield url


def test_online_enrol_stores_e164_and_every_format_finds_it(hub: Hub, fr_hub: str):
    e164, typed = _number()
    headers = {"Authorization": f"Bearer {hub.online_token}"}
    with httpx.Client(base_url=fr_hub, headers=headers, timeout=30) as c:
        r = c.post("/v1/online/members", json={"name": "Léa Web", "phone": typed[1]})
        assert r.status_code == 201, r.text
        member = r.json()["member_id"]
        [row] = hub.rows("members", member_id=member)
        assert row["phone"] == e164
        for phone in typed:
            found = c.get("/v1/online/members", params={"phone": phone})
            assert found.status_code == 200, (phone, found.text)
            assert found.json()["member_id"] == member
        # the same number in another format is the same member: no second enrolment
        again = c.post("/v1/online/members", json={"name": "Léa Again", "phone": typed[0]})
        assert again.status_code == 409 and again.json()["error"] == "already_member"
        bad = c.get("/v1/online/members", params={"phone": "06 12"})
        assert bad.status_code == 422
    admin = {"Authorization": f"Bearer {hub.admin_token}"}
    with httpx.Client(base_url=fr_hub, headers=admin, timeout=30) as c:
        for phone in typed:
            found = c.get("/v1/admin/members", params={"phone": phone})
            assert found.status_code == 200, (phone, found.text)
            assert found.json()["member_id"] == member


def test_without_a_region_only_international_numbers_are_rewritten(hub: Hub):
    e164, typed = _number()
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": "No Region", "phone": typed[2]})
        assert r.status_code == 201, r.text
        assert hub.rows("members", member_id=r.json()["member_id"])[0]["phone"] == e164
        assert c.get("/v1/online/members", params={"phone": typed[3]}).status_code == 200
        # a national number cannot be placed without a region: a different number
        assert c.get("/v1/online/members", params={"phone": typed[0]}).status_code == 404


def test_a_row_stored_before_e164_is_still_found_by_its_digits(hub: Hub, fr_hub: str):
    e164, typed = _number()
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": "Old Row", "phone": typed[2]})
        member = r.json()["member_id"]
    with hub.ctx.db.write() as conn:  # as an older till sent it: national digits
        conn.execute(members.update().where(members.c.member_id == member)
                     .values(phone=typed[0]))
    headers = {"Authorization": f"Bearer {hub.admin_token}"}
    with httpx.Client(base_url=fr_hub, headers=headers, timeout=30) as c:
        found = c.get("/v1/admin/members", params={"phone": typed[1]})
        assert found.status_code == 200 and found.json()["member_id"] == member
