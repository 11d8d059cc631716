"""HQ's back office in a real browser: Debian's Chromium (/usr/bin/chromium), headless,
driven by Playwright, at 1280x900, against a real `pos-hub serve` on 127.0.0.1 with two
real tills (the `pos` store and its sync agent, tests/sync/conftest.py) and a third one
added but never set up.

Shown: an admin made with `pos-hub hq-user add` signs in at /hq, sees the dashboard with
the server-drawn chart of the tills' points and the stores behind on sync (S002 holds
sales it has not pushed, S003 never synced), finds a member and opens their page; a
finance user's POST is refused. The screenshot of the dashboard is saved to
docs/screenshots/hq-dashboard.png.

And the program editor: the admin edits a promotion in the draft, sees the diff and what
the sample basket earns before and after, publishes; a real till syncs and its next sale
earns by the new rule, the points the preview showed.
"""

from __future__ import annotations

import subprocess
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from loyalty.earning import earn_for_sale
from loyalty.fold import MemberState
from loyalty.program import Program, program_from_dict
from pos_agent.members import enrol, member_view
from pos_agent.operations import record_sale, redeem_reward
from pos_agent.sync.local import StoreSync
from tests.sync.conftest import BIN, SALE, HubServer, make_terminal
from tests.web import test_member_browser as member_browser

pytestmark = pytest.mark.slow

served_hub = member_browser.served_hub
chromium = member_browser.chromium
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "hq-dashboard.png"
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "a long HQ password"


def hq_user_add(hub: HubServer, name: str, role: str) -> str:
    done = subprocess.run([str(BIN / "pos-hub"), "hq-user", "add", name, "--role", role,
                           "--password-stdin", "--config", str(hub.config)],
                          input=PASSWORD + "\n", capture_output=True, text=True,
                          cwd=hub.folder, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_an_admin_signs_in_and_sees_the_chart_and_who_is_behind(
        tmp_path: Path, served_hub: HubServer, chromium):
    assert "HQ user ann: admin" in hq_user_add(served_hub, "ann", "admin")
    hq_user_add(served_hub, "fin", "finance")
    one, one_token = make_terminal(tmp_path, served_hub, "S001", "T1")
    two, two_token = make_terminal(tmp_path, served_hub, "S002", "T1")
    served_hub.add_terminal("S003-T1")  # added, never set up
    members = []
    for till, token, n in ((one, one_token, 4), (two, two_token, 2)):
        for i in range(n):
            m = enrol(till.store, name=f"Member {till.origin} {i}",
                      phone=f"+336112233{len(members):02d}")
            record_sale(till.store, m.member_id, SALE)
            members.append(m)
        if till is one:  # a second visit and a free latte: redeemed points on the chart
            record_sale(till.store, members[0].member_id, SALE)
            redeem_reward(till.store, members[0].member_id, "free-latte", found_by="qr")
        assert till.agent(served_hub.url, token).sync_once().error is None
    # S002 rings up three more sales; its next contact is a pull (its pushes fail), which
    # tells the hub how far its own ledger goes
    for m in members[4:]:
        record_sale(two.store, m.member_id, SALE)
    record_sale(two.store, members[4].member_id, SALE)
    high = StoreSync(two.settings).high_seq()
    pulled = httpx.get(served_hub.url + "/v1/sync/pull", params={"cursor": 0, "limit": 1},
                       headers={"Authorization": f"Bearer {two_token}",
                                "X-Origin-High-Seq": str(high)}, timeout=30)
    assert pulled.status_code == 200

    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(served_hub.url + "/hq")
    assert page.title() == "HQ sign-in · HQ"
    page.fill("#username", "ann")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served_hub.url + "/hq/dashboard")

    # the chart: drawn on the server, bars for today's points
    chart = page.locator("svg#issued-redeemed")
    assert chart.is_visible() and chart.bounding_box()["width"] > 900
    assert page.locator("svg#issued-redeemed rect.bar.issued").count() >= 1
    twin = page.request.get(served_hub.url + "/v1/hq/dashboard").json()
    assert twin["chart"]["issued"] > 0 and twin["chart"]["redeemed"] == 150
    assert page.locator("svg#issued-redeemed rect.bar.redeemed").count() == 1
    assert int(page.inner_text('[data-field="chart-issued"]').replace(",", "")) \
        == twin["chart"]["issued"]
    # behind on sync, in words
    behind = page.locator("#behind li").all_inner_texts()
    assert any(t.startswith("S002: last sync just now, 3 events behind") for t in behind), \
        behind
    assert any(t.startswith("S003: never synced") for t in behind), behind
    assert not any(t.startswith("S001") for t in behind)
    assert page.inner_text('[data-field="liability-store-S001"]') != ""
    assert page.evaluate("document.documentElement.scrollWidth") <= DESKTOP["width"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT), full_page=True)

    # find a member by phone, typed as people write it, and open their page
    page.click("nav a[href='/hq/members']")
    page.fill("#q", "06 11 22 33 00")
    page.click("form.search button")
    page.click(f"tr[data-member='{members[0].member_id}'] a")
    page.wait_for_url(served_hub.url + f"/hq/members/{members[0].member_id}")
    _, at_the_till = member_view(one.store, members[0].member_id)  # the till's own balance
    assert int(page.inner_text('[data-field="balance"]').replace(",", "")) \
        == at_the_till.balance > 0

    # a form posted without its CSRF field is refused
    refused = page.request.post(
        served_hub.url + f"/hq/members/{members[0].member_id}/adjust",
        form={"points": "10", "reason": "no token"})
    assert refused.status == 403
    page.click("form[action='/hq/logout'] button")
    page.wait_for_url(served_hub.url + "/hq?bye=1")
    context.close()

    # finance signs in and reads, but its forms are not there and a POST is 403
    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(served_hub.url + "/hq")
    page.fill("#username", "fin")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served_hub.url + "/hq/dashboard")
    page.goto(served_hub.url + f"/hq/members/{members[0].member_id}")
    assert page.locator("form[action$='/adjust']").count() == 0
    page.goto(served_hub.url + "/hq/stores")
    csrf = page.locator("form[action='/hq/logout'] input[name=csrf]").get_attribute("value")
    refused = page.request.post(served_hub.url + "/hq/stores/terminals",
                                form={"terminal": "S009-T1", "csrf": csrf})
    assert refused.status == 403
    context.close()


PROMOTION_BEFORE = 'products = ["BLEND-NEW"]'
PROMOTION_AFTER = 'products = ["BLEND-NEW", "LATTE"]'


def sample_points(program: Program) -> int:
    """Purchase points of the preview's default basket (the till's SALE: two lattes and a
    croissant) for a new Green member, by the domain's earning rule."""
    state = MemberState(member_id="00000000-0000-4000-8000-000000000002")
    return earn_for_sale(program, state, SALE, datetime.now(UTC),
                         receipt_no="X").purchase_points


def test_an_admin_edits_a_promotion_publishes_and_a_till_earns_by_it(
        tmp_path: Path, served_hub: HubServer, chromium):
    hq_user_add(served_hub, "ann", "admin")
    till, token = make_terminal(tmp_path, served_hub, "S001", "T1")
    member = enrol(till.store, name="Zoe Till", phone="+33611220099")
    assert till.agent(served_hub.url, token).sync_once().error is None
    published = till.store.active_program()

    context = chromium.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(served_hub.url + "/hq")
    page.fill("#username", "ann")
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(served_hub.url + "/hq/dashboard")
    page.click("nav a[href='/hq/program']")
    page.wait_for_url(served_hub.url + "/hq/program")

    # the launch promotion (x3, exclusive) now also counts lattes
    draft = page.input_value("#draft")
    assert draft.count(PROMOTION_BEFORE) == 1
    edited = draft.replace(PROMOTION_BEFORE, PROMOTION_AFTER)
    new = program_from_dict(tomllib.loads(edited)["program"])
    page.fill("#draft", edited)
    page.select_option("#tier", "Green")
    page.click("#preview-button")
    page.wait_for_url(served_hub.url + "/hq/program/preview")
    removed = page.locator("pre.diff span.remove").all_inner_texts()
    added = page.locator("pre.diff span.add").all_inner_texts()
    assert (removed, added) == (["-" + PROMOTION_BEFORE], ["+" + PROMOTION_AFTER])
    assert page.locator("pre.diff span.add").is_visible()
    before, after = sample_points(published), sample_points(new)
    assert (before, after) == (88, 228)  # 8.80 x 10; the lattes' 7.00 x 10 x 3 + 18
    assert int(page.get_attribute('[data-field="published-purchase-points"]',
                                  "data-value")) == before
    assert int(page.get_attribute('[data-field="draft-purchase-points"]',
                                  "data-value")) == after
    page.click("#publish-button")
    page.wait_for_url(served_hub.url + "/hq/program?done=published")
    assert page.inner_text(f'[data-field="published-by-{new.version}"]') == "ann"
    assert page.locator(f'section.version[data-version="{new.version}"] h3').inner_text() \
        .endswith("current")
    context.close()

    # the till takes the new version on its next sync, and its next sale earns by it
    assert till.agent(served_hub.url, token).sync_once().error is None
    assert till.store.active_program().version == new.version
    sale = record_sale(till.store, member.member_id, SALE)
    assert sale.purchase_points == after
    assert "New blend launch x3" in sale.promotions
