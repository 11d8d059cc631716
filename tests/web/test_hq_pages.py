"""HQ's back office pages against a real hub on 127.0.0.1, on SQLite and PostgreSQL, with
a client that keeps cookies as a browser does: sign-in, what each role may see and do
(a store manager sees only their store, finance changes nothing, every POST needs its
CSRF field), adjust and flag resolution write the ledger and the audit log, a terminal
added here gets a token that works once shown, and each page shows what its JSON twin
answers.
"""

from __future__ import annotations

import html
import os
import re
import secrets
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from hub.db import now_text
from hub.tables import origins
from hub.web.hq_pages import COOKIE
from hub.web.hq_users import WRONG, add_user
from loyalty.earning import earn_for_sale
from loyalty.fold import MemberState
from loyalty.sale import make_sale
from tests.hub import conftest as hub_tests
from tests.hub.conftest import BIN, PROGRAM, Term, new_terminal, run_cli, write_config

from .conftest import Hub, Member, browser_client, csrf_of, enrolled

pytestmark = pytest.mark.slow
fresh_url = hub_tests.fresh_url  # an empty database per backend (the CLI test)

PASSWORD = "correct horse battery staple"
FIELD = re.compile(r'data-field="([a-z0-9_-]+)"(?: data-value="([^"]*)")?>([^<]*)<',
                   re.IGNORECASE)


def fields(page: httpx.Response) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, value, text in FIELD.findall(page.text):
        out.setdefault(name, []).append(html.unescape(value or text).strip())
    return out


def error_of(page: httpx.Response) -> str:
    found = re.search(r'class="message-error" role="alert">([^<]*)<', page.text)
    assert found, page.text[:3000]
    return html.unescape(found.group(1))


def a_store() -> str:
    return f"Q{secrets.randbelow(10**8):08d}"


def hq_user(hub: Hub, role: str, store: str | None = None) -> str:
    name = f"{role[:5]}-{uuid.uuid4().hex[:8]}"
    with hub.ctx.db.write() as conn:
        add_user(conn, name, role=role, store=store, password=PASSWORD)
    return name


def sign_in(client: httpx.Client, username: str, password: str = PASSWORD) -> httpx.Response:
    token = csrf_of(client.get("/hq"))
    return client.post("/hq/login", data={"username": username, "password": password,
                                          "csrf": token})


@contextmanager
def signed_in(hub: Hub, role: str, store: str | None = None) -> Iterator[httpx.Client]:
    name = hq_user(hub, role, store)
    with browser_client(hub) as client:
        answer = sign_in(client, name)
        assert answer.status_code == 303, answer.text
        assert answer.headers["location"] == "/hq/dashboard"
        yield client


def post(client: httpx.Client, page: str, action: str, **form: str) -> httpx.Response:
    """POST a form of `page` with that page's CSRF field, as the browser does."""
    shown = client.get(page)
    assert shown.status_code == 200, shown.text[:2000]
    return client.post(action, data={**form, "csrf": csrf_of(shown)})


def held_flag(hub: Hub, member: Member, points: int = 5_000) -> dict:
    """A points_held flag for `member`: a till of the member's store asserts `points` for
    a sale of 1.00 that earns 10 (the attack of tests/hub/test_held_points.py)."""
    thief: Term = new_terminal(hub, member.term.origin.split("-")[0])
    drafts = earn_for_sale(PROGRAM, MemberState(member_id=member.member_id),
                           make_sale(total=100), datetime.now(UTC),
                           receipt_no=thief.receipt()).drafts
    # the earn alone (its visit bonus would be a second one today, held too)
    assert thief.push([thief.seal(replace(drafts[0], points=points))]).status_code == 200
    flags = [f for f in hub.rows("flags", member_id=member.member_id)
              if f["kind"] == "points_held" and f["resolved_at"] is None]
    [flag] = flags
    return flag


def audit_rows(hub: Hub, target: str) -> list[dict]:
    return sorted(hub.rows("hq_audit", target=target), key=lambda r: r["id"])


# -- sign-in --------------------------------------------------------------------------------
def test_hq_is_a_sign_in_page_with_a_csrf_field_and_its_own_cookie(hub: Hub):
    with browser_client(hub) as client:
        page = client.get("/hq")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert 'action="/hq/login" method="post"' in page.text
        assert 'name="username"' in page.text and 'name="password"' in page.text
        assert len(csrf_of(page)) >= 20
        cookie = page.headers["set-cookie"].lower()
        assert cookie.startswith(f"{COOKIE}=") and "httponly" in cookie
        assert "samesite=strict" in cookie
        # not signed in: the pages send to the sign-in page, the twins answer 401
        assert client.get("/hq/dashboard").headers["location"] == "/hq"
        twin = client.get("/v1/hq/dashboard")
        assert twin.status_code == 401 and twin.json()["error"] == "not_signed_in"


def test_sign_in_right_and_wrong(hub: Hub):
    name = hq_user(hub, "admin")
    with browser_client(hub) as client:
        wrong = sign_in(client, name, "not the password at all")
        assert wrong.status_code == 401 and error_of(wrong) == WRONG
        nobody = sign_in(client, f"nobody-{uuid.uuid4().hex[:6]}")
        assert nobody.status_code == 401 and error_of(nobody) == WRONG
        assert client.get("/v1/hq/dashboard").status_code == 401
        right = sign_in(client, name)
        assert right.status_code == 303 and right.headers["location"] == "/hq/dashboard"
        page = client.get("/hq/dashboard")
        assert page.status_code == 200 and fields(page)["user"] == [name]
        assert client.get("/hq").headers["location"] == "/hq/dashboard"
        # signed out: the cookie no longer opens anything
        out = post(client, "/hq/dashboard", "/hq/logout")
        assert out.status_code == 303
        assert client.get("/v1/hq/dashboard").status_code == 401


def test_a_member_cookie_is_not_an_hq_cookie(hub: Hub):
    name = hq_user(hub, "admin")
    with browser_client(hub) as client:
        assert sign_in(client, name).status_code == 303
        value = client.cookies[COOKIE]
    with browser_client(hub) as other:
        other.cookies.set("pos_member", value)
        assert other.get("/v1/hq/dashboard").status_code == 401
        assert other.get("/v1/me").status_code == 401


def test_wrong_passwords_lock_the_user_even_for_the_right_one(hub: Hub):
    name = hq_user(hub, "admin")
    with browser_client(hub) as client:
        for _ in range(5):
            assert sign_in(client, name, "wrong password!!").status_code == 401
        locked = sign_in(client, name)
        assert locked.status_code == 429
        assert error_of(locked).startswith("Too many wrong passwords: try again in")
        assert client.get("/v1/hq/dashboard").status_code == 401


def test_a_disabled_user_is_signed_out_at_their_next_request(hub: Hub):
    from hub.web.hq_users import disable_user
    name = hq_user(hub, "finance")
    with browser_client(hub) as client:
        assert sign_in(client, name).status_code == 303
        assert client.get("/v1/hq/dashboard").status_code == 200
        with hub.ctx.db.write() as conn:
            disable_user(conn, name)
        assert client.get("/v1/hq/dashboard").status_code == 401
        assert sign_in(client, name).status_code == 401


# -- roles ----------------------------------------------------------------------------------
def test_a_store_manager_sees_only_their_store_and_an_admin_sees_both(hub: Hub):
    mine, theirs = a_store(), a_store()
    ann = enrolled(hub, store=mine, name="Ann Mine")
    bob = enrolled(hub, store=theirs, name="Bob Theirs")
    my_flag, their_flag = held_flag(hub, ann), held_flag(hub, bob)
    my_till, their_till = ann.term.origin, bob.term.origin

    with signed_in(hub, "store_manager", mine) as manager:
        stores = manager.get("/hq/stores")
        assert stores.status_code == 200
        assert f'data-terminal="{my_till}"' in stores.text
        assert f'data-terminal="{their_till}"' not in stores.text
        listed = {t["origin"] for t in manager.get("/v1/hq/stores").json()["terminals"]}
        assert my_till in listed and their_till not in listed
        assert {t.split("-")[0] for t in listed} == {mine}

        flags = manager.get("/hq/flags")
        assert f'data-flag="{my_flag["id"]}"' in flags.text
        assert f'data-flag="{their_flag["id"]}"' not in flags.text
        ids = {f["id"] for f in manager.get("/v1/hq/flags").json()["flags"]}
        assert my_flag["id"] in ids and their_flag["id"] not in ids

        assert manager.get(f"/hq/members/{ann.member_id}").status_code == 200
        # another store's member, by id in the URL: as if there were none
        for url in (f"/hq/members/{bob.member_id}", f"/v1/hq/members/{bob.member_id}"):
            assert manager.get(url).status_code == 404, url
        assert manager.get(f"/hq/members/{uuid.uuid4()}").status_code == 404
        assert manager.get("/v1/hq/members", params={"q": bob.card}).json()["members"] == []
        assert [m["member_id"] for m in manager.get(
            "/v1/hq/members", params={"q": ann.card}).json()["members"]] == [ann.member_id]

        # nor act there: another store's flag or terminal is 404, adding one 403
        before = hub.count("hq_audit")
        r = post(manager, "/hq/flags", f"/hq/flags/{their_flag['id']}/resolve",
                 note="not mine", held="release")
        assert r.status_code == 404
        r = post(manager, "/hq/stores", f"/hq/stores/terminals/{their_till}/revoke")
        assert r.status_code == 404
        r = post(manager, "/hq/stores", "/hq/stores/terminals", terminal=f"{theirs}-T9")
        assert r.status_code == 403
        r = post(manager, f"/hq/members/{ann.member_id}",
                 f"/hq/members/{bob.member_id}/adjust", points="100", reason="not mine")
        assert r.status_code == 404
        assert hub.count("hq_audit") == before
        assert hub.rows("flags", id=their_flag["id"])[0]["resolved_at"] is None
        assert hub.count("events", member_id=bob.member_id, kind="adjust") == 0
        # the audit log is admin's and finance's
        assert manager.get("/hq/audit").status_code == 403
        assert manager.get("/v1/hq/audit").status_code == 403
        # the dashboard: their store's rows only
        board = manager.get("/v1/hq/dashboard").json()
        assert {s["store"] for s in board["liability"]["stores"]} <= {mine}
        assert board["liability"]["channels"] == []

    with signed_in(hub, "admin") as admin:
        for m in (ann, bob):
            assert admin.get(f"/hq/members/{m.member_id}").status_code == 200
        ids = {f["id"] for f in admin.get("/v1/hq/flags").json()["flags"]}
        assert {my_flag["id"], their_flag["id"]} <= ids
        listed = {t["origin"] for t in admin.get("/v1/hq/stores").json()["terminals"]}
        assert {my_till, their_till} <= listed
        assert admin.get("/hq/audit").status_code == 200


def test_finance_reads_everything_and_every_post_is_403(hub: Hub):
    ann = enrolled(hub, store=a_store())
    flag = held_flag(hub, ann)
    with signed_in(hub, "finance") as finance:
        page = finance.get(f"/hq/members/{ann.member_id}")
        assert page.status_code == 200 and "/adjust" not in page.text  # no form shown
        assert finance.get("/hq/audit").status_code == 200
        events, audit = hub.count("events"), hub.count("hq_audit")
        token = csrf_of(page)
        for action, form in (
                (f"/hq/members/{ann.member_id}/adjust", {"points": "100", "reason": "x"}),
                (f"/hq/flags/{flag['id']}/resolve", {"note": "x", "held": "release"}),
                ("/hq/stores/terminals", {"terminal": f"{a_store()}-T1"}),
                (f"/hq/stores/terminals/{ann.term.origin}/revoke", {})):
            r = finance.post(action, data={**form, "csrf": token})
            assert r.status_code == 403, (action, r.text[:500])
        assert (hub.count("events"), hub.count("hq_audit")) == (events, audit)
        with hub.client(ann.term.token) as till:
            assert till.get("/v1/terminal/whoami").status_code == 200


def test_a_post_without_its_csrf_field_is_refused(hub: Hub):
    ann = enrolled(hub, store=a_store())
    with signed_in(hub, "admin") as admin:
        before = hub.count("events", member_id=ann.member_id)
        for data in ({}, {"csrf": "forged"}):
            r = admin.post(f"/hq/members/{ann.member_id}/adjust",
                           data={"points": "100", "reason": "no token", **data})
            assert r.status_code == 403 and "Form expired" in r.text
        assert hub.count("events", member_id=ann.member_id) == before
    with browser_client(hub) as client:  # the sign-in form too
        client.get("/hq")
        assert client.post("/hq/login", data={"username": "x", "password": "y" * 10}
                           ).status_code == 403


# -- what the POSTs do ----------------------------------------------------------------------
def test_adjust_writes_an_adjust_event_with_the_reason_and_an_audit_row(hub: Hub):
    ann = enrolled(hub, store=a_store())
    with signed_in(hub, "admin") as admin:
        page = f"/hq/members/{ann.member_id}"
        start = admin.get(f"/v1{page}").json()["balance"]
        assert start == ann.balance
        r = post(admin, page, f"{page}/adjust", points="150", reason="goodwill: late order")
        assert r.status_code == 303 and r.headers["location"] == f"{page}?done=adjusted"
        [event] = hub.rows("events", member_id=ann.member_id, kind="adjust")
        assert (event["origin"], event["points"]) == ("hub", 150)
        data = orjson.loads(event["content"])["data"]
        assert data["reason"] == "goodwill: late order" and data["by"]
        [row] = audit_rows(hub, ann.member_id)
        assert row["action"] == "adjust" and row["username"].startswith("admin")
        before, after = orjson.loads(row["before"]), orjson.loads(row["after"])
        assert (before["balance"], after["balance"]) == (start, start + 150)
        assert after["reason"] == "goodwill: late order"
        assert admin.get(f"/v1{page}").json()["balance"] == start + 150
        shown = admin.get(page)
        assert fields(shown)["balance"] == [str(start + 150)]
        assert "goodwill: late order" in shown.text
        # no reason, zero or words: refused, nothing written
        for form in ({"points": "10", "reason": " "}, {"points": "0", "reason": "r"},
                     {"points": "ten", "reason": "r"},
                     {"points": f"-{start + 1_000}", "reason": "more than they have"}):
            assert post(admin, page, f"{page}/adjust", **form).status_code == 422, form
        assert len(audit_rows(hub, ann.member_id)) == 1
        audit = admin.get("/v1/hq/audit").json()["entries"]
        assert any(a["target"] == ann.member_id and a["action"] == "adjust" for a in audit)


def test_resolving_a_held_flag_with_release_makes_the_points_spendable(hub: Hub):
    ann = enrolled(hub, store=a_store())
    flag = held_flag(hub, ann)
    with signed_in(hub, "store_manager", ann.term.origin.split("-")[0]) as manager:
        page = f"/v1/hq/members/{ann.member_id}"
        before = manager.get(page).json()
        assert before["held"] == 4_990 and before["spendable"] == before["balance"] - 4_990
        # a held flag needs release or cancel
        r = post(manager, "/hq/flags", f"/hq/flags/{flag['id']}/resolve", note="seen")
        assert r.status_code == 422
        r = post(manager, "/hq/flags", f"/hq/flags/{flag['id']}/resolve",
                 note="checked the till roll", held="release")
        assert r.status_code == 303, r.text[:1000]
        after = manager.get(page).json()
        assert after["held"] == 0 and after["balance"] == before["balance"]
        assert after["spendable"] == before["spendable"] + 4_990
        assert flag["id"] not in {f["id"] for f in manager.get("/v1/hq/flags").json()["flags"]}
        [done] = hub.rows("flags", id=flag["id"])
        assert done["resolved_at"] and done["release_event_id"]
        assert "checked the till roll" in done["resolution_note"]
        [row] = audit_rows(hub, str(flag["id"]))
        b, a = orjson.loads(row["before"]), orjson.loads(row["after"])
        assert (b["status"], a["status"], a["outcome"]) == ("open", "resolved", "released")
        assert (b["spendable"] + 4_990, b["held"], a["held"]) == (a["spendable"], 4_990, 0)
        # again: refused
        r = post(manager, "/hq/flags", f"/hq/flags/{flag['id']}/resolve", note="again",
                 held="release")
        assert r.status_code in (404, 409)


def test_a_terminal_added_here_shows_its_token_once_and_the_token_works(hub: Hub):
    store = a_store()
    origin = f"{store}-T1"
    with signed_in(hub, "store_manager", store) as manager:
        r = post(manager, "/hq/stores", "/hq/stores/terminals", terminal=origin)
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
        [token] = fields(r)["token"]
        assert token.startswith("t_")
        # shown once: not on the stores page, nor in the twin, nor in the audit
        stores = manager.get("/hq/stores")
        assert token not in stores.text and f'data-terminal="{origin}"' in stores.text
        assert token not in manager.get("/v1/hq/stores").text
        [row] = audit_rows(hub, origin)
        assert row["action"] == "add_terminal" and token not in row["after"]
        # the same terminal again: refused while its token is live
        again = post(manager, "/hq/stores", "/hq/stores/terminals", terminal=origin)
        assert again.status_code == 409
        with hub.client(token) as till:
            who = till.get("/v1/terminal/whoami")
            assert who.status_code == 200 and origin in who.text
            term = Term(hub, origin, token)
            member_id, events = term.enrol()
            assert term.push(events).status_code == 200
            assert hub.count("events", member_id=member_id) == len(events)
        r = post(manager, "/hq/stores", f"/hq/stores/terminals/{origin}/revoke")
        assert r.status_code == 303
        with hub.client(token) as till:
            assert till.get("/v1/terminal/whoami").status_code == 401
        assert [r["action"] for r in audit_rows(hub, origin)] == ["add_terminal",
                                                                  "revoke_terminal"]


# -- the pages and their twins --------------------------------------------------------------
def test_the_dashboard_shows_what_its_twin_answers_and_who_is_behind(hub: Hub):
    store = a_store()
    ann = enrolled(hub, store=store)
    held_flag(hub, ann)
    # the till says it holds 120 more events than it pushed, and was last heard 3 hours ago
    with hub.client(ann.term.token) as till:
        r = till.get("/v1/sync/pull", params={"cursor": 0, "limit": 1},
                     headers={"X-Origin-High-Seq": str(ann.term.seq + 120)})
        assert r.status_code == 200
    long_ago = now_text(datetime.now(UTC) - timedelta(hours=3, minutes=5))
    with hub.ctx.db.write() as conn:
        conn.execute(origins.update().where(origins.c.origin == ann.term.origin)
                     .values(last_push_at=long_ago, last_pull_at=long_ago))
    with signed_in(hub, "admin") as admin:
        page, twin = admin.get("/hq/dashboard"), admin.get("/v1/hq/dashboard").json()
        shown = fields(page)
        assert shown["open_flags"] == [str(twin["open_flags"])] and twin["open_flags"] >= 1
        assert shown["liability-total"] == [str(twin["liability"]["total"])]
        assert shown["chart-issued"] == [str(twin["chart"]["issued"])]
        assert shown["chart-redeemed"] == [str(twin["chart"]["redeemed"])]
        assert len(twin["chart"]["days"]) == 30
        today = twin["chart"]["days"][-1]
        assert today["day"] == datetime.now(UTC).date().isoformat() and today["issued"] > 0
        for s in twin["liability"]["stores"]:
            assert shown[f"liability-store-{s['store']}"] == [str(s["points"])]
        [mine] = [b for b in twin["behind"] if b["store"] == store]
        assert mine["text"] == f"{store}: last sync 3 hours ago, 120 events behind"
        assert mine["text"] in shown["behind-text"]
        assert '<svg class="chart"' in page.text and 'class="bar issued"' in page.text
    with signed_in(hub, "store_manager", store) as manager:
        twin = manager.get("/v1/hq/dashboard").json()
        assert [b["store"] for b in twin["behind"]] == [store]
        assert [s["store"] for s in twin["liability"]["stores"]] == [store]
        shown = fields(manager.get("/hq/dashboard"))
        assert shown["liability-total"] == [str(twin["liability"]["total"])]
        assert shown["open_flags"] == ["1"] == [str(twin["open_flags"])]


def test_the_member_page_shows_what_its_twin_answers_and_search_finds_them(hub: Hub):
    name = f"Zoé Quintal {uuid.uuid4().hex[:6]}"
    ann = enrolled(hub, store=a_store(), name=name, email=f"z{uuid.uuid4().hex[:8]}@ex.org")
    held_flag(hub, ann)
    with signed_in(hub, "admin") as admin:
        url = f"/hq/members/{ann.member_id}"
        page, twin = admin.get(url), admin.get(f"/v1{url}").json()
        shown = fields(page)
        for key in ("balance", "spendable", "held"):
            assert shown[key] == [str(twin[key])], key
        assert twin["balance"] == ann.balance + 5_000 and twin["held"] == 4_990
        kinds = [e["kind"] for e in twin["ledger"]]
        assert kinds[-1] == "enrol" and "hold" in kinds  # newest first
        assert [f["kind"] for f in twin["flags"]] == ["points_held"]
        phone = twin["phone"]
        assert phone and phone.startswith("+33")
        for q in (ann.card, ann.email.upper(), name.split()[-1], "zoé quintal", phone):
            found = admin.get("/v1/hq/members", params={"q": q}).json()["members"]
            assert ann.member_id in [m["member_id"] for m in found], q
            listed = admin.get("/hq/members", params={"q": q})
            assert f'data-member="{ann.member_id}"' in listed.text
        # names come from tills: shown escaped, never as markup
        eve = enrolled(hub, store=a_store(), name="Eve <script>alert(1)</script>")
        listed = admin.get("/hq/members", params={"q": "<script>"})
        assert f'data-member="{eve.member_id}"' in listed.text
        assert "&lt;script&gt;alert(1)" in listed.text and "<script>" not in listed.text
        assert "<script>" not in admin.get(f"/hq/members/{eve.member_id}").text
        # LIKE's wildcards are searched as themselves
        assert admin.get("/v1/hq/members", params={"q": "%"}).json()["members"] == []


def test_the_program_page_lists_the_published_versions_read_only(hub: Hub):
    with signed_in(hub, "store_manager", a_store()) as manager:
        twin = manager.get("/v1/hq/program").json()["versions"]
        assert twin[0]["current"] and twin[0]["version"] == PROGRAM.version
        assert twin[0]["points_name"] == PROGRAM.points_name
        page = manager.get("/hq/program")
        assert page.status_code == 200 and f'data-version="{PROGRAM.version}"' in page.text
        assert "<form" not in page.text.split("</nav>")[1]  # nothing to post


def test_sign_in_and_out_are_in_the_audit_log(hub: Hub):
    name = hq_user(hub, "admin")
    with browser_client(hub) as client:
        assert sign_in(client, name).status_code == 303
        assert post(client, "/hq/dashboard", "/hq/logout").status_code == 303
    assert [r["action"] for r in audit_rows(hub, name)] == ["sign_in", "sign_out"]


def test_hq_user_commands(tmp_path: Path, fresh_url: str):
    config = write_config(tmp_path, fresh_url)
    run_cli(config, "init")

    def add(*args: str, password: str = PASSWORD) -> subprocess.CompletedProcess:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POS_HUB")}
        return subprocess.run([str(BIN), "hq-user", "add", *args, "--password-stdin",
                               "--config", str(config)], input=password + "\n", text=True,
                              capture_output=True, env=env, cwd=tmp_path, timeout=120)

    assert add("ann", "--role", "admin").returncode == 0
    assert "store S001" in add("sam", "--role", "store_manager", "--store", "S001").stdout
    refused = add("bo", "--role", "store_manager")
    assert refused.returncode != 0 and "needs --store" in refused.stderr
    assert add("cy", "--role", "finance", password="short").returncode != 0
    assert add("ann", "--role", "finance").returncode != 0  # taken
    listed = orjson.loads(run_cli(config, "hq-user", "list", "--json").stdout)["users"]
    assert [(u["username"], u["role"], u["store"], u["active"]) for u in listed] == [
        ("ann", "admin", None, True), ("sam", "store_manager", "S001", True)]
    assert "hash" not in str(listed)
    run_cli(config, "hq-user", "disable", "sam")
    listed = orjson.loads(run_cli(config, "hq-user", "list", "--json").stdout)["users"]
    assert [u["active"] for u in listed] == [True, False]
