"""The member's pages in a real browser: Debian's Chromium (/usr/bin/chromium), headless,
driven by Playwright, on a phone-sized viewport, against a real `pos-hub serve` on
127.0.0.1. The member is enrolled at a real till (the `pos` store and its sync agent,
tests/sync/conftest.py) and reaches the hub by the till's own push.

Shown: after the sync the member signs in on the phone and sees the till's balance; the
QR on /me/card, screenshotted and decoded with zxing-cpp, is exactly the hub-signed
payload, and the till that enrolled the member accepts it as a scanned QR; a form posted
without its CSRF field is refused; log out. The phone-size screenshot of /me is saved
to docs/screenshots/member-page.png. A member redeems a free latte on /me/rewards: its
voucher code (and QR) is applied at the till after the till's next sync, and is used at
the hub after the sync that follows.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.keys import load_key_file
from loyalty.basket import Applied, Basket, add_item
from loyalty.errors import RedemptionError
from loyalty.member_qr import sign_card
from loyalty.tender import cash
from pos_agent.keys import verify_member_payload
from pos_agent.members import enrol, find_member, member_view
from pos_agent.operations import checkout, record_sale
from tests.example_config import write_example_config
from tests.sync.conftest import SALE, HubServer, hub_cli, make_terminal

pytestmark = pytest.mark.slow

CHROMIUM = os.environ.get("POS_TEST_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "docs" / "screenshots" / "member-page.png"
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def served_hub(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[HubServer]:
    """`pos-hub init` and `pos-hub serve` on a SQLite file of their own."""
    folder = tmp_path / "hub"
    folder.mkdir()
    config = write_example_config(folder / "hub.toml")
    monkeypatch.setenv("POS_HUB__DATABASE_URL", f"sqlite:///{folder / 'hub.db'}")
    hub_cli(config, "init")
    server = HubServer(folder, config)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def chromium() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian: apt-get install chromium); "
                    "the browser tests never download one")
    sync_api = pytest.importorskip("playwright.sync_api",
                                   reason="pip install pytest-playwright (the test extra)")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def decode_qr(png: bytes) -> list[str]:
    import zxingcpp
    from PIL import Image

    image = Image.open(io.BytesIO(png)).convert("L")
    return [r.text for r in zxingcpp.read_barcodes(image)]


def test_a_member_enrolled_at_a_till_signs_in_on_a_phone_and_shows_the_qr(
        tmp_path: Path, served_hub: HubServer, chromium):
    till, token = make_terminal(tmp_path, served_hub, "S042", "T1")
    ann = enrol(till.store, name="Ann Lefebvre", phone="+33611223399",
                email="ann.lefebvre@example.org", pin="4821")
    record_sale(till.store, ann.member_id, SALE)
    assert till.agent(served_hub.url, token).sync_once().error is None
    _, at_the_till = member_view(till.store, ann.member_id)
    assert at_the_till.balance > 0

    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                   has_touch=True)
    page = context.new_page()
    page.goto(served_hub.url + "/")
    assert page.title() == "Sign in"
    page.fill("#identifier", ann.card_number)
    page.fill("#pin", "4821")
    page.click("button[type=submit]")
    page.wait_for_url(served_hub.url + "/me")
    assert int(page.inner_text('[data-field="balance"]')) == at_the_till.balance
    assert page.inner_text('[data-field="tier"]') == at_the_till.tier
    # mobile first: nothing wider than the phone
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOT))

    # the card: the QR decodes to exactly the payload the hub signs for this card
    page.click("nav a[href='/me/card']")
    page.wait_for_url(served_hub.url + "/me/card")
    qr = page.locator("#member-qr svg")
    assert qr.bounding_box()["width"] >= 300
    decoded = decode_qr(qr.screenshot())
    expected = sign_card(ann.card_number, load_key_file(served_hub.folder / "pos-hub.key"))
    assert decoded == [expected]
    assert page.request.get(served_hub.url + "/v1/me/card").json()["qr_payload"] == expected
    # ... which the till accepts as a scanned member QR (it verifies the hub's signature)
    assert verify_member_payload(till.store, decoded[0]) == ann.card_number
    found = find_member(till.store, decoded[0])
    assert (found.member_id, found.found_by) == (ann.member_id, "qr")

    # a form posted without its CSRF field (another site's form) is refused
    refused = page.request.post(served_hub.url + "/me/logout-all", form={"x": "1"})
    assert refused.status == 403
    page.reload()
    assert page.url == served_hub.url + "/me/card"  # still signed in

    page.click("form[action='/logout'] button")
    page.wait_for_url(served_hub.url + "/?bye=one")
    assert "You are logged out." in page.inner_text("main")
    page.goto(served_hub.url + "/me")
    assert page.url == served_hub.url + "/"
    context.close()


def test_a_member_redeems_online_and_the_voucher_is_taken_at_the_till_after_its_sync(
        tmp_path: Path, served_hub: HubServer, chromium):
    till, token = make_terminal(tmp_path, served_hub, "S043", "T1")
    bea = enrol(till.store, name="Bea Morel", phone="+33611223400",
                email="bea.morel@example.org", pin="4821")
    for _ in range(2):
        record_sale(till.store, bea.member_id, SALE)
    agent = till.agent(served_hub.url, token)
    assert agent.sync_once().error is None
    _, at_the_till = member_view(till.store, bea.member_id)
    assert at_the_till.balance >= 150  # a free latte

    context = chromium.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True,
                                   has_touch=True)
    page = context.new_page()
    page.goto(served_hub.url + "/")
    page.fill("#identifier", bea.card_number)
    page.fill("#pin", "4821")
    page.click("button[type=submit]")
    page.wait_for_url(served_hub.url + "/me")
    page.click("nav a[href='/me/rewards']")
    page.wait_for_url(served_hub.url + "/me/rewards")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    assert int(page.inner_text('[data-field="spendable"]')) == at_the_till.balance
    # gift cards and paying with points stay at the counter: no button for them
    assert page.locator("form[action='/me/rewards/gift-10']").count() == 0
    page.click("form[action='/me/rewards/free-latte'] button")
    page.wait_for_url(served_hub.url + "/me/rewards/free-latte")
    code = page.inner_text('[data-field="voucher_code"]')
    assert int(page.inner_text('[data-field="balance"]')) == at_the_till.balance - 150
    # its QR decodes to the code a cashier types or scans
    assert decode_qr(page.locator("#voucher-qr svg").screenshot()) == [code]
    vouchers = page.request.get(served_hub.url + "/v1/me").json()["vouchers"]
    assert code in [v[0] for v in vouchers]

    # the till's next sync brings the voucher; a checkout with it takes the latte off
    assert agent.sync_once().error is None
    _, synced = member_view(till.store, bea.member_id)
    assert synced.balance == at_the_till.balance - 150
    basket = add_item(Basket(), sku="LATTE", name="Latte", category="coffee", unit_price=350,
                      tax_rate=1000)
    basket = add_item(basket, sku="CROI", name="Croissant", category="pastry",
                      unit_price=180, tax_rate=550)
    sale = checkout(till.store, bea.member_id, basket, [Applied("", code)], [cash(180)],
                    found_by="qr")
    (discount,) = sale.ticket.discounts
    assert (discount.reward_id, discount.kind, discount.amount, discount.voucher) == \
        ("free-latte", "free_product", 350, code)
    assert sale.ticket.total == 180 and sale.points_spent == 0
    # used once: the till refuses it again
    with pytest.raises(RedemptionError) as refused:
        checkout(till.store, bea.member_id, basket, [Applied("", code)], [cash(180)],
                 found_by="qr")
    assert refused.value.code == "voucher_used"
    # after the till's sync the hub has it used
    assert agent.sync_once().error is None
    exported = page.request.get(served_hub.url + "/me/export").json()
    (voucher,) = [v for v in exported["vouchers"] if v["code"] == code]
    assert voucher["status"] == "used"
    page.goto(served_hub.url + "/me")
    assert code not in page.inner_text("main")
    page.goto(served_hub.url + "/me/history")
    assert f"Used voucher {code} (Free latte) at store S043" in page.inner_text("main")
    context.close()
