"""The member's own pages against a real hub on 127.0.0.1, on SQLite and PostgreSQL, with
a client that keeps cookies as a browser does: sign-in with card or e-mail and PIN, the
page shows what the ledger holds and what its JSON twin answers, wrong PINs are refused
alike for a known and an unknown card and lock out, forms without their CSRF field are
refused, no other member's data is reachable, "log out everywhere" kills old cookies.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import re
import secrets
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import httpx
import orjson
import pytest

from hub.store.members import member_state
from hub.web.sessions import COOKIE, WRONG
from loyalty.events import Kind
from loyalty.ids import make_card_number
from loyalty.reversal import reverse_receipt
from tests.hub.conftest import variant

from .conftest import Hub, Member, browser_client, csrf_of, enrolled, sign_in

pytestmark = pytest.mark.slow

FIELD = re.compile(r'data-field="([a-z_-]+)"(?: data-value="([^"]*)")?>([^<]*)<')


def fields(page: httpx.Response) -> dict[str, list[str]]:
    """Every `data-field` of a page: its data-value if it has one, else its text."""
    out: dict[str, list[str]] = {}
    for name, value, text in FIELD.findall(page.text):
        out.setdefault(name, []).append(html.unescape(value or text).strip())
    return out


def error_of(page: httpx.Response) -> str:
    found = re.search(r'class="message-error" role="alert">([^<]*)<', page.text)
    assert found, page.text[:3000]
    return html.unescape(found.group(1))


def ledger_balance(hub: Hub, member_id: str) -> int:
    return sum(r["points"] for r in hub.rows("events", member_id=member_id))


def unknown_card() -> str:
    """A well-formed card number no member has (a new one each call)."""
    return make_card_number(999_999, 1 + secrets.randbelow(999_998))


@contextmanager
def signed_in(hub: Hub, m: Member, pin: str = "4821") -> Iterator[httpx.Client]:
    with browser_client(hub) as client:
        answer = sign_in(client, m.card, pin)
        assert answer.status_code == 303 and answer.headers["location"] == "/me", answer.text
        yield client


# -- the sign-in page -----------------------------------------------------------------------
def test_the_root_is_the_sign_in_page_with_a_form_and_a_csrf_field(hub: Hub):
    with browser_client(hub) as client:
        page = client.get("/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert '<form class="core" action="/login" method="post"' in page.text
        assert 'name="identifier"' in page.text and 'name="pin"' in page.text
        assert len(csrf_of(page)) >= 20
        cookie = page.headers["set-cookie"].lower()
        assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie
        assert "samesite=lax" in cookie and "secure" not in cookie  # plain http on loopback
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-store"
        css = client.get("/static/site.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
        # not signed in: the pages send the browser to the sign-in page, the API says 401
        assert client.get("/me").headers["location"] == "/"
        refused = client.get("/v1/me")
        assert refused.status_code == 401 and refused.json()["error"] == "not_signed_in"


def test_cookie_is_secure_when_the_request_came_over_https(hub: Hub):
    # what uvicorn reports as the scheme behind a TLS proxy (X-Forwarded-Proto, trusted
    # from 127.0.0.1 by default)
    with browser_client(hub) as client:
        page = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert "secure" in page.headers["set-cookie"].lower()


# -- signing in -----------------------------------------------------------------------------
def test_sign_in_with_the_card_shows_the_balance_the_ledger_holds(hub: Hub):
    m = enrolled(hub, spend=1250)
    with signed_in(hub, m) as client:
        cookie = client.cookies[COOKIE]
        page = client.get("/me")
        assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
        shown = fields(page)
        assert int(shown["balance"][0]) == ledger_balance(hub, m.member_id) == m.balance > 0
        assert shown["card"] == [m.card]
        assert "Ann Martin" in page.text
    # a new session (new nonce) at sign-in: not the anonymous one of the sign-in page
    with browser_client(hub) as other:
        other.get("/")
        assert other.cookies[COOKIE] != cookie


def test_sign_in_with_the_e_mail_in_any_case(hub: Hub):
    email = f"zoe.{uuid.uuid4().hex[:8]}@example.org"
    enrolled(hub, email=email, name="Zoe Dupont")
    for typed in (email, f"  {email.title()} "):
        with browser_client(hub) as client:
            assert sign_in(client, typed, "4821").status_code == 303, typed
            assert "Zoe Dupont" in client.get("/me").text


def test_a_wrong_pin_reads_exactly_like_an_unknown_card(hub: Hub):
    m = enrolled(hub)
    answers = []
    for identifier, pin in ((m.card, "1357"), (unknown_card(), "1357"),
                            (m.email, "1357"), (f"{uuid.uuid4().hex}@example.org", "1357")):
        with browser_client(hub) as client:
            started = time.perf_counter()
            page = sign_in(client, identifier, pin)
            took = time.perf_counter() - started
            assert page.status_code == 401, page.text[:500]
            assert error_of(page) == WRONG
            assert client.get("/me").status_code == 303  # not signed in
            answers.append((page.text.replace(html.escape(identifier), "X").replace(
                csrf_of(page), "T"), took))
    assert len({text for text, _ in answers}) == 1  # byte for byte, but the echoed field
    # both run one argon2 check: an unknown card is not answered measurably faster
    assert min(t for _, t in answers) > 0.01
    # the wrong tries of the member are in their ledger (as a till's would be)
    fails = [r for r in hub.rows("events", member_id=m.member_id, kind="pin")
             if orjson.loads(r["content"])["data"].get("action") == "failed"]
    assert len(fails) == 2 and {r["origin"] for r in fails} == {"hub"}


def test_repeated_wrong_pins_lock_out_known_and_unknown_cards_alike(hub: Hub):
    m = enrolled(hub)
    nobody = unknown_card()
    for identifier in (m.card, nobody):
        with browser_client(hub) as client:
            for _ in range(5):
                assert sign_in(client, identifier, "2468").status_code == 401
            page = sign_in(client, identifier, "4821")  # the right PIN: still locked
            assert page.status_code == 429
            assert error_of(page).startswith("Too many wrong PINs: try again in 1 minute")
            assert client.get("/me").status_code == 303
    with hub.ctx.db.read() as conn:
        state = member_state(conn, m.member_id)
    assert state.pin_failures == 5  # the tills' lockout counts these too once synced
    # another member is not locked by it
    other = enrolled(hub)
    with signed_in(hub, other):
        pass


def test_wrong_pins_from_one_address_are_limited(hub: Hub):
    m = enrolled(hub)
    with variant(hub, auth_failures_per_address=3, auth_failure_window_s=60) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(3):  # malformed PINs are not guesses: not counted
            assert sign_in(client, unknown_card(), "12").status_code == 401
        for _ in range(3):  # three different cards: no member lock, the address counts
            assert sign_in(client, unknown_card(), "2468").status_code == 401
        page = sign_in(client, m.card, "4821")
        assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
        assert "from this connection" in error_of(page)
    with variant(hub, auth_failures_per_address=3, auth_failure_window_s=60) as url, \
            httpx.Client(base_url=url, timeout=30) as client:
        for _ in range(2):
            assert sign_in(client, unknown_card(), "2468").status_code == 401
        for _ in range(5):
            assert sign_in(client, m.card, "12").status_code == 401
        assert sign_in(client, m.card, "4821").status_code == 303


def test_a_pin_that_cannot_be_one_is_refused_without_counting(hub: Hub):
    m = enrolled(hub)
    with browser_client(hub) as client:
        for pin in ("", "12", "abcd", "123456789"):
            page = sign_in(client, m.card, pin)
            assert page.status_code == 401 and "4 to 8 digits" in error_of(page)
    assert hub.count("events", member_id=m.member_id, kind="pin") == 1  # the PIN set only


# -- CSRF -----------------------------------------------------------------------------------
def test_every_post_without_its_csrf_field_is_403(hub: Hub):
    m = enrolled(hub)
    with browser_client(hub) as client:
        client.get("/")
        for data in ({"identifier": m.card, "pin": "4821"},
                     {"identifier": m.card, "pin": "4821", "csrf": "forged"}):
            refused = client.post("/login", data=data)
            assert refused.status_code == 403 and "text/html" in refused.headers["content-type"]
        assert client.get("/me").status_code == 303  # not signed in
    # another visitor's token (a page fetched by the attacker) does not fit this cookie
    with browser_client(hub) as attacker:
        stolen = csrf_of(attacker.get("/"))
    with browser_client(hub) as client:
        client.get("/")
        assert client.post("/login", data={"identifier": m.card, "pin": "4821",
                                           "csrf": stolen}).status_code == 403
    # signed in: logout and logout-all without the field change nothing
    with signed_in(hub, m) as client:
        generation = hub.rows("member_sessions", member_id=m.member_id)
        for path in ("/logout", "/me/logout-all"):
            assert client.post(path).status_code == 403
            assert client.post(path, data={"csrf": stolen}).status_code == 403
        assert client.get("/me").status_code == 200
        assert hub.rows("member_sessions", member_id=m.member_id) == generation
        # and with it, logout works
        token = csrf_of(client.get("/me"))
        bye = client.post("/logout", data={"csrf": token})
        assert bye.status_code == 303 and bye.headers["location"] == "/?bye=one"
        assert client.get("/me").status_code == 303


# -- the JSON twins -------------------------------------------------------------------------
def test_the_json_twins_say_what_the_pages_show(hub: Hub):
    m = enrolled(hub, spend=9000)
    gift = m.term.redeem(m.member_id, "gift-10")  # a 10 EUR gift card voucher
    assert m.term.push([gift]).status_code == 200
    with signed_in(hub, m) as client:
        data = client.get("/v1/me").json()
        shown = fields(client.get("/me"))
        assert int(shown["balance"][0]) == data["balance"] == ledger_balance(hub, m.member_id)
        assert shown["tier"] == [data["tier"]]
        assert int(shown["qualifying_spend"][0]) == data["qualifying_spend"] == 9000
        for stamp in data["stamps"]:
            assert int(shown[f"stamps-{stamp['card_id']}"][0]) == stamp["have"]
        assert shown["card"] == data["card_numbers"] == [m.card]
        assert shown.get("voucher", []) == [v[0] for v in data["vouchers"]]
        code = gift.data["vouchers_issued"][0]["code"]
        assert shown["voucher"] == [v[0] for v in data["vouchers"]] == [code]
        assert data["voucher_details"][0]["value"] == 1000 == int(shown["voucher-value"][0])
        assert "pin_hash" not in str(data) and "$argon2" not in str(data)

        history = client.get("/v1/me/history").json()
        page = client.get("/me/history")
        texts = [html.unescape(t) for t in re.findall(r'<p class="what">([^<]*)</p>',
                                                       page.text)]
        assert texts == [e["text"] for e in history["events"]]
        assert any(t.startswith("Earned ") and f"at store {m.term.origin.split('-')[0]}" in t
                   for t in texts)
        assert texts[-1].startswith("Joined at store")  # newest first

        card = client.get("/v1/me/card").json()
        page = client.get("/me/card")
        assert card["card_number"] == m.card and card["qr_payload"].startswith(f"LOY2:{m.card}:")
        assert fields(page)["card_number"] == [m.card] and "<svg" in page.text


def test_history_in_plain_words(hub: Hub):
    m = enrolled(hub, spend=20_000)
    events = m.term.redeem(m.member_id, "ten-off")
    refund_sale = m.term.sale(m.member_id, 1000, lines=[("CROI", "pastry", 1, 1000)])
    reverse = m.term.seal(reverse_receipt(m.term.states[m.member_id], refund_sale[0].ref))
    assert m.term.push([events, *refund_sale, reverse]).status_code == 200
    assert reverse.kind == Kind.REVERSE
    with browser_client(hub) as client:
        sign_in(client, m.card, "12")  # not a PIN anyone may have: refused, not counted
        sign_in(client, m.card, "9753")  # wrong: recorded
        assert sign_in(client, m.card, "4821").status_code == 303
        texts = [e["text"] for e in client.get("/v1/me/history").json()["events"]]
    store = m.term.origin.split("-")[0]
    assert f"Spent 250 Stars on 10% off your basket at store {store}" in " ".join(texts)
    assert any(t.startswith("Reversed ") and f"at store {store}: receipt "
               f"{refund_sale[0].ref} voided" in t for t in texts)
    assert texts[0] == "A wrong PIN was typed on this website"
    assert any(t.startswith("Welcome bonus: +50 Stars") for t in texts)


# -- nobody else's data ---------------------------------------------------------------------
def _forged(cookie: str, member_id: str, key: bytes) -> str:
    payload = orjson.loads(base64.urlsafe_b64decode(cookie.split(".")[0] + "=="))
    payload["m"] = member_id
    raw = orjson.dumps(payload)
    mac = hmac.new(key, raw, hashlib.sha256).digest()

    def b64(b: bytes) -> str:
        return base64.urlsafe_b64encode(b).decode().rstrip("=")

    return f"{b64(raw)}.{b64(mac)}"


def test_no_page_shows_another_members_data(hub: Hub):
    ann, bob = enrolled(hub, name="Ann Other"), enrolled(hub, name="Bob Other")
    with signed_in(hub, ann) as client:
        for path in ("/me", "/me/history", "/me/card", "/v1/me", "/v1/me/history",
                     "/v1/me/card", "/me/rewards", "/v1/me/rewards", "/me/consent",
                     "/v1/me/consent", "/me/export"):
            for query in ("", f"?member_id={bob.member_id}", f"?card={bob.card}"):
                page = client.get(path + query)
                assert page.status_code == 200
                assert bob.member_id not in page.text and bob.card not in page.text
                assert "Bob Other" not in page.text
        assert client.get(f"/v1/me/{bob.member_id}").status_code == 404
        assert client.get(f"/me/{bob.member_id}").status_code == 404
        cookie = client.cookies[COOKIE]
    # a cookie edited to name Bob: the signature no longer fits (a key guessed wrong)
    for key in (b"", b"guess", hashlib.sha256(b"pos-hub").digest()):
        with browser_client(hub) as thief:
            thief.cookies.set(COOKIE, _forged(cookie, bob.member_id, key))
            assert thief.get("/me").status_code == 303
            assert thief.get("/v1/me").status_code == 401
    # the payload edited without re-signing
    body, mac = cookie.split(".")
    with browser_client(hub) as thief:
        thief.cookies.set(COOKIE, _forged(cookie, bob.member_id, b"x").split(".")[0] + "." + mac)
        assert thief.get("/v1/me").status_code == 401


# -- log out everywhere ---------------------------------------------------------------------
def test_logout_everywhere_invalidates_every_old_cookie(hub: Hub):
    m = enrolled(hub)
    with signed_in(hub, m) as phone, signed_in(hub, m) as laptop:
        copied = laptop.cookies[COOKIE]
        assert phone.get("/me").status_code == 200 and laptop.get("/me").status_code == 200
        bye = phone.post("/me/logout-all", data={"csrf": csrf_of(phone.get("/me"))})
        assert bye.status_code == 303 and bye.headers["location"] == "/?bye=all"
        assert "logged out on every device" in phone.get("/?bye=all").text
        for client in (phone, laptop):
            assert client.get("/me").status_code == 303
            assert client.get("/v1/me").status_code == 401
        with browser_client(hub) as thief:  # the copied cookie is dead too
            thief.cookies.set(COOKIE, copied)
            assert thief.get("/v1/me").status_code == 401
    assert hub.rows("member_sessions", member_id=m.member_id)[0]["generation"] == 1
    # signing in again works, under the new generation
    with signed_in(hub, m) as again:
        assert again.get("/me").status_code == 200


def test_page_time_on_loopback(hub: Hub, capsys: pytest.CaptureFixture):
    m = enrolled(hub)
    with signed_in(hub, m) as client:
        timings = {}
        for path in ("/me", "/me/history", "/me/card", "/v1/me"):
            client.get(path)
            started = time.perf_counter()
            for _ in range(20):
                assert client.get(path).status_code == 200
            timings[path] = (time.perf_counter() - started) / 20 * 1000
        started = time.perf_counter()
        for _ in range(5):
            with browser_client(hub) as fresh:
                assert sign_in(fresh, m.card, "4821").status_code == 303
        timings["sign-in (GET / + POST /login)"] = (time.perf_counter() - started) / 5 * 1000
    with capsys.disabled():
        print(f"\n{hub.backend} page time on loopback (ms): "
              + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    assert timings["/me"] < 250


# -- redeeming online -----------------------------------------------------------------------
def redeem_form(page: httpx.Response, reward_id: str) -> dict[str, str]:
    """The fields of the page's redeem form of `reward_id` (its CSRF and request id)."""
    found = re.search(rf'action="/me/rewards/{re.escape(reward_id)}" method="post">\s*'
                      r'<input type="hidden" name="csrf" value="([^"]+)">\s*'
                      r'<input type="hidden" name="request_id" value="([^"]+)">', page.text)
    assert found, page.text[:4000]
    return {"csrf": found.group(1), "request_id": found.group(2)}


def redeem_events(hub: Hub, member_id: str) -> list[dict]:
    return [r for r in hub.rows("events", member_id=member_id, kind="redeem")]


def test_redeem_a_basket_reward_online_gives_a_voucher_for_the_tills(hub: Hub):
    m = enrolled(hub, spend=20_000)
    with signed_in(hub, m) as client:
        before = client.get("/v1/me").json()
        listed = client.get("/v1/me/rewards").json()
        page = client.get("/me/rewards")
        by_id = {r["reward_id"]: r for r in listed["rewards"]}
        # the page lists what its twin says; only basket rewards are redeemable online
        assert listed["spendable"] == before["spendable"] == int(fields(page)["spendable"][0])
        assert [r.group(1) for r in re.finditer(r'data-reward="([^"]+)"', page.text)] \
            == list(by_id)
        assert by_id["ten-off"]["redeemable"] and by_id["ten-off"]["cost"] == 250
        assert not by_id["gift-10"]["online"] and not by_id["pay"]["online"] \
            if "pay" in by_id else True
        assert "gold-mug" not in by_id  # Gold members only (the till's rule)
        assert "free-coffee" not in by_id  # a stamp card's reward
        assert 'action="/me/rewards/gift-10"' not in page.text

        form = redeem_form(page, "ten-off")
        answer = client.post("/me/rewards/ten-off", data=form)
        assert answer.status_code == 200, answer.text[:2000]
        code = fields(answer)["voucher_code"][0]
        assert "<svg" in answer.text
        after = client.get("/v1/me").json()
        assert after["balance"] == before["balance"] - 250 == ledger_balance(hub, m.member_id)
        assert code in [v[0] for v in after["vouchers"]]
        assert code in fields(client.get("/me"))["voucher"]
        (event,) = redeem_events(hub, m.member_id)
        assert event["origin"] == "online"
        issued = orjson.loads(event["content"])["data"]["vouchers_issued"]
        assert [(v["code"], v["reward_id"]) for v in issued] == [(code, "ten-off")]
        texts = [e["text"] for e in client.get("/v1/me/history").json()["events"]]
        assert texts[0].startswith("Spent 250 Stars on 10% off your basket online")


def test_a_double_submitted_redeem_form_redeems_once(hub: Hub):
    m = enrolled(hub, spend=20_000)
    with signed_in(hub, m) as client:
        balance = client.get("/v1/me").json()["balance"]
        form = redeem_form(client.get("/me/rewards"), "ten-off")
        first = client.post("/me/rewards/ten-off", data=form)
        again = client.post("/me/rewards/ten-off", data=form)
        assert first.status_code == again.status_code == 200
        assert fields(first)["voucher_code"] == fields(again)["voucher_code"]
        assert "not charged twice" in again.text and "not charged twice" not in first.text
        assert client.get("/v1/me").json()["balance"] == balance - 250
        assert len(redeem_events(hub, m.member_id)) == 1
        # two sent at once (a double tap): still one
        form = redeem_form(client.get("/me/rewards"), "ten-off")
        cookies = dict(client.cookies)

        def post() -> httpx.Response:
            with browser_client(hub) as tap:
                tap.cookies.update(cookies)
                return tap.post("/me/rewards/ten-off", data=form)

        with ThreadPoolExecutor(2) as pool:
            taps = list(pool.map(lambda _: post(), range(2)))
        assert [t.status_code for t in taps] == [200, 200]
        assert len({fields(t)["voucher_code"][0] for t in taps}) == 1
        assert len(redeem_events(hub, m.member_id)) == 2
        assert client.get("/v1/me").json()["balance"] == balance - 500


def test_redeeming_is_refused_without_csrf_or_points_or_online(hub: Hub):
    m = enrolled(hub, spend=1250)
    with signed_in(hub, m) as client:
        balance = client.get("/v1/me").json()["balance"]
        assert balance < 250
        page = client.get("/me/rewards")
        assert 'action="/me/rewards/ten-off"' not in page.text  # not enough points
        request_id = uuid.uuid4().hex
        for data in ({"request_id": request_id}, {"request_id": request_id, "csrf": "x"}):
            assert client.post("/me/rewards/ten-off", data=data).status_code == 403
        token = csrf_of(page)
        short = client.post("/me/rewards/ten-off", data={"csrf": token,
                                                         "request_id": request_id})
        assert short.status_code == 409 and "needs 250 Stars; you have" in error_of(short)
        counter = client.post("/me/rewards/gift-10", data={"csrf": token,
                                                           "request_id": request_id})
        assert counter.status_code == 404 and "at the counter" in error_of(counter)
        assert client.post("/me/rewards/ten-off", data={"csrf": token, "request_id": "1"}
                           ).status_code == 400
        assert redeem_events(hub, m.member_id) == []
        assert client.get("/v1/me").json()["balance"] == balance
    with browser_client(hub) as anonymous:  # not signed in: to the sign-in page
        token = csrf_of(anonymous.get("/"))
        answer = anonymous.post("/me/rewards/ten-off", data={"csrf": token,
                                                             "request_id": request_id})
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert anonymous.get("/v1/me/rewards").status_code == 401


# -- the PIN --------------------------------------------------------------------------------
def test_change_the_pin_with_the_current_one(hub: Hub):
    m = enrolled(hub)
    with signed_in(hub, m) as client:
        token = csrf_of(client.get("/me/consent"))
        assert client.post("/me/pin", data={"current": "4821", "pin": "7319",
                                            "again": "7319"}).status_code == 403
        wrong = client.post("/me/pin", data={"current": "1111", "pin": "7319",
                                             "again": "7319", "csrf": token})
        assert wrong.status_code == 401 and error_of(wrong) == "The current PIN is wrong."
        differ = client.post("/me/pin", data={"current": "4821", "pin": "7319",
                                              "again": "7391", "csrf": token})
        assert differ.status_code == 422
        with browser_client(hub) as other:
            assert sign_in(other, m.card, "7319").status_code == 401  # not changed
        # the wrong current PIN counted as a wrong try, as at sign-in
        with hub.ctx.db.read() as conn:
            # (and the sign-in with the new PIN before it was set)
            assert member_state(conn, m.member_id).pin_failures == 2
        right = client.post("/me/pin", data={"current": "4821", "pin": "7319",
                                             "again": "7319", "csrf": token})
        assert right.status_code == 200 and "Your PIN is changed" in right.text
    with browser_client(hub) as client:
        assert sign_in(client, m.card, "4821").status_code == 401
    with browser_client(hub) as client:
        assert sign_in(client, m.card, "7319").status_code == 303
    sets = [orjson.loads(r["content"])["data"] for r in
            hub.rows("events", member_id=m.member_id, kind="pin")]
    assert [d["action"] for d in sets].count("set") == 2
    assert "7319" not in str(sets)


# -- consent --------------------------------------------------------------------------------
def test_consent_change_is_in_the_member_row_its_twin_and_the_tills_feed(hub: Hub):
    m = enrolled(hub)
    with signed_in(hub, m) as client:
        data = client.get("/v1/me/consent").json()
        assert {c: v["granted"] for c, v in data["channels"].items()} == \
            {"email": False, "sms": False} == client.get("/v1/me").json()["consent"]
        assert data["channels"]["email"]["changed_at"] is None
        token = csrf_of(client.get("/me/consent"))
        assert client.post("/me/consent", data={"email": "yes"}).status_code == 403
        assert hub.rows("members", member_id=m.member_id)[0]["consent_email"] in (False, 0)
        seq = hub.rows("changes", kind="member", key=m.member_id)[0]["change_seq"]
        saved = client.post("/me/consent", data={"email": "yes", "csrf": token})
        assert saved.status_code == 200 and "saved" in saved.text
        assert fields(saved)["consent-email"] == ["yes"]
        assert fields(saved)["consent-sms"] == ["no"]
        data = client.get("/v1/me/consent").json()["channels"]
        assert data["email"]["granted"] and not data["sms"]["granted"]
        assert data["email"]["source"] == "web" and data["email"]["changed_at"]
        assert data["sms"]["changed_at"] is None  # not changed
        assert client.get("/v1/me").json()["consent"] == {"email": True, "sms": False}
        row = hub.rows("members", member_id=m.member_id)[0]
        assert bool(row["consent_email"]) and not bool(row["consent_sms"])
        (kept,) = hub.rows("consents", member_id=m.member_id)
        assert (kept["channel"], bool(kept["granted"]), kept["source"]) == ("email", True, "web")
        # the tills pull a member change for it
        assert hub.rows("changes", kind="member", key=m.member_id)[0]["change_seq"] > seq
        # and HQ's export says the same
        exported = client.get("/me/export").json()
        assert exported["consents"] == {"email": True, "sms": False}
        assert [(c["channel"], c["granted"], c["source"]) for c in
                exported["consent_changes"]] == [("email", True, "web")]
        client.post("/me/consent", data={"sms": "yes", "csrf": token})
        data = client.get("/v1/me/consent").json()["channels"]
        assert not data["email"]["granted"] and data["sms"]["granted"]
        assert len(hub.rows("consents", member_id=m.member_id)) == 2


# -- export ---------------------------------------------------------------------------------
def test_export_downloads_the_members_own_data(hub: Hub):
    m = enrolled(hub, spend=3000)
    with signed_in(hub, m) as client:
        answer = client.get("/me/export")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/json")
        assert "attachment" in answer.headers["content-disposition"]
        assert answer.headers["cache-control"] == "no-store"
        data = answer.json()
        assert data["member_id"] == m.member_id
        assert [e["event_id"] for e in data["events"]] == \
            [r["event_id"] for r in sorted(hub.rows("events", member_id=m.member_id),
                                           key=lambda r: r["hub_seq"])]
        assert data["balances"]["points"] == ledger_balance(hub, m.member_id)
        assert [c["card_number"] for c in data["cards"]] == [m.card]
        # the PIN hash is left out (4 to 8 digits: the hash would give the PIN away)
        assert "$argon2" not in answer.text and data["pin_set"] is True
        pins = [e for e in data["events"] if e["kind"] == "pin"]
        assert [e["data"] for e in pins] == [{"action": "set"}]
        assert 'href="/me/export"' in client.get("/me/consent").text
    with browser_client(hub) as anonymous:
        assert anonymous.get("/me/export").status_code == 303
