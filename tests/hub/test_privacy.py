"""Privacy through HQ (issue 18): export a member's data, erase a member (profile
pseudonymised, personal data blanked in the ledger's events, amounts kept, chains still
verified) at the hub and, through the pull feed, at a real terminal; possible duplicates.

Everything goes through a real hub on 127.0.0.1 (SQLite and PostgreSQL): its HTTP API and
the `pos-hub` CLI against the same database.
"""

from __future__ import annotations

import json
import random
import subprocess
import uuid
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from hub.privacy import check_chains
from hub.store.members import rebuild_member
from hub.tables import events as events_table
from hub.tables import members as members_table
from loyalty.earning import enrolment_drafts
from loyalty.erasure import pseudonym
from loyalty.events import Event
from loyalty.ids import make_card_number, new_member_id
from loyalty.sale import SaleLine, make_sale
from pos_agent.exceptions import MemberNotFound
from pos_agent.ledger import unacknowledge_from, verify_ledger
from pos_agent.members import enrol as till_enrol
from pos_agent.members import find_member
from pos_agent.operations import record_sale
from pos_agent.printing import print_pending
from tests.sync.conftest import BIN as POS_BIN
from tests.sync.conftest import make_terminal

from .conftest import PROGRAM, Hub, Term, new_terminal, run_cli, start_hub, write_config


def _card() -> str:
    return make_card_number(random.randrange(900_000, 999_999), random.randrange(1, 999_999))


def enrol(t: Term, *, name: str, phone: str | None, email: str | None,
          birthday: str | None = "1990-04-02") -> tuple[str, str, list[Event]]:
    """A member enrolled at the simulated till with a full profile: (member_id, card,
    events)."""
    at = datetime.now(UTC)
    member_id, card = new_member_id(), _card()
    drafts = enrolment_drafts(PROGRAM, member_id, at, receipt_no=t.receipt(),
                              channel=f"store:{t.origin}")
    drafts[0] = replace(drafts[0], data={**drafts[0].data, "card_number": card, "profile": {
        "name": name, "phone": phone, "email": email, "birthday": birthday,
        "consent_email": True, "consent_sms": False}})
    return member_id, card, [t.seal(d, at) for d in drafts]


def member_contents(hub: Hub, member_id: str) -> list[str]:
    with hub.ctx.db.read() as conn:
        return list(conn.execute(select(events_table.c.content)
                                 .where(events_table.c.member_id == member_id)).scalars())


def config_for(hub: Hub, folder: Path) -> Path:
    return write_config(folder, hub.ctx.settings.hub.database_url)


# -- export, erase, at the hub ---------------------------------------------------------------
def test_export_then_erase_keeps_every_number(hub: Hub, tmp_path: Path) -> None:
    t = new_terminal(hub)
    email = f"ann.{uuid.uuid4().hex[:8]}@example.com"
    phone = f"+3361{random.randrange(10**8):08d}"
    member_id, card, evs = enrol(t, name="Ann Privacy", phone=phone, email=email)
    evs += t.sale(member_id, 4200)
    evs += t.sale(member_id, 1800)
    assert t.push(evs).status_code == 200
    config = config_for(hub, tmp_path)

    with hub.admin() as admin:
        export = admin.get(f"/v1/admin/members/{member_id}/export")
        assert export.status_code == 200, export.text
        data = export.json()
        assert data["profile"]["name"] == "Ann Privacy"
        assert (data["profile"]["phone"], data["profile"]["email"]) == (phone, email)
        assert data["profile"]["birthday"] == "1990-04-02"
        assert data["consents"] == {"email": True, "sms": False}
        assert [c["card_number"] for c in data["cards"]] == [card]
        assert [e["event_id"] for e in data["events"]] == [e.event_id for e in evs]
        assert data["events"][0]["data"]["profile"]["email"] == email  # plain fields
        assert data["balances"]["points"] == sum(e.points for e in evs)
        assert {r["ref"] for r in data["receipts"]} == {e.ref for e in evs}
        assert data["erasure"] is None and "pin" not in json.dumps(data["balances"])
        # the CLI's export, by card, is the same data
        out = tmp_path / "ann.json"
        run_cli(config, "member", "export", card, "--output", str(out))
        written = json.loads(out.read_text())
        assert [e["event_id"] for e in written["events"]] == [e.event_id for e in evs]
        assert written["profile"] == data["profile"]

        before_member = admin.get(f"/v1/admin/members/{member_id}").json()
        before_liability = admin.get("/v1/admin/reports/liability").json()

        # no confirmation, nothing erased
        refused = run_cli(config, "member", "erase", card, "--reason", "ticket 1", ok=False)
        assert "nothing erased" in refused.stderr
        assert hub.count("erasures", member_id=member_id) == 0
        assert any(email in c for c in member_contents(hub, member_id))

        done = run_cli(config, "member", "erase", member_id, "--reason", "GDPR ticket 118",
                       "--yes", "--json")
        erased = json.loads(done.stdout)
        assert erased["pseudonym"] == pseudonym(member_id)
        assert erased["event_ids"] == [evs[0].event_id]  # the enrolment held the profile

        # the member row and the ledger hold no name, phone, e-mail or birthday
        row = hub.rows("members", member_id=member_id)[0]
        assert (row["name"], row["phone"], row["email"], row["birthday"]) == (
            pseudonym(member_id), None, None, None)
        assert not row["consent_email"]
        for content in member_contents(hub, member_id):
            for secret in ("Ann Privacy", phone, email, "1990-04-02"):
                assert secret not in content
        # every number is the same: the member, the liability report, a refold
        after_member = admin.get(f"/v1/admin/members/{member_id}").json()
        for key in ("balance", "debt", "held_points", "spendable", "stamps", "tier"):
            assert after_member[key] == before_member[key], key
        assert after_member["summary"] == before_member["summary"]
        exported_after = admin.get(f"/v1/admin/members/{member_id}/export").json()
        assert exported_after["balances"] == data["balances"]  # lots, stamps, tier...
        assert exported_after["vouchers"] == data["vouchers"]
        assert admin.get("/v1/admin/reports/liability").json() == before_liability
        with hub.ctx.db.read() as conn:
            stored = conn.execute(select(members_table.c.state)
                                  .where(members_table.c.member_id == member_id)).scalar()
            assert rebuild_member(conn, member_id).to_dict() == json.loads(stored)
            assert check_chains(conn, [t.origin])["problems"] == []

        # the terminal's chain goes on from the erased event; a re-send of the original
        # (an answer lost before the erasure) is the same event, not a conflict
        more = t.sale(member_id, 900)
        assert t.push(more).status_code == 200
        again = t.push(evs[:1])
        assert again.status_code == 200, again.text
        assert again.json()["results"][0]["status"] == "duplicate"
        with hub.ctx.db.read() as conn:
            assert check_chains(conn, [t.origin]) == {"streams": 1, "events": len(evs) + 1,
                                                      "erased": 1, "problems": []}

        # the card still finds the pseudonymous account; the phone and e-mail do not
        found = admin.get("/v1/admin/members", params={"card": card})
        assert found.status_code == 200 and found.json()["name"] == pseudonym(member_id)
        assert admin.get("/v1/admin/members", params={"email": email}).status_code == 404

        # erased once only: the API and the CLI refuse clearly
        twice = admin.post(f"/v1/admin/members/{member_id}/erase", json={"reason": "again"})
        assert twice.status_code == 409 and twice.json()["error"] == "already_erased"
        cli_twice = run_cli(config, "member", "erase", card, "--reason", "x", "--yes",
                            ok=False)
        assert "already erased" in cli_twice.stderr

        # the export after: the pseudonym, the record, every event, no personal data
        later = admin.get(f"/v1/admin/members/{member_id}/export").json()
        assert later["profile"]["name"] == pseudonym(member_id)
        assert later["erasure"]["reason"] == "GDPR ticket 118"
        assert len(later["events"]) == len(evs) + 1
        assert email not in json.dumps(later) and phone not in json.dumps(later)

    # admin only
    with hub.client(t.token) as till:
        assert till.get(f"/v1/admin/members/{member_id}/export").status_code == 403
        assert till.post(f"/v1/admin/members/{member_id}/erase",
                         json={"reason": "x"}).status_code == 403


def test_erase_api_refuses_unknown_members_and_empty_reasons(hub: Hub) -> None:
    t = new_terminal(hub)
    member_id, _, evs = enrol(t, name="Bo", phone=None, email=None)
    assert t.push(evs).status_code == 200
    with hub.admin() as admin:
        unknown = admin.post(f"/v1/admin/members/{new_member_id()}/erase",
                             json={"reason": "x"})
        assert unknown.status_code == 404
        assert admin.post(f"/v1/admin/members/{member_id}/erase",
                          json={"reason": ""}).status_code == 422
        assert hub.count("erasures", member_id=member_id) == 0
        assert admin.get(f"/v1/admin/members/{new_member_id()}/export").status_code == 404


# -- a real terminal follows the erasure on its next pull -----------------------------------
def hub_event_ids(hub: Hub, origin: str) -> list[str]:
    with hub.ctx.db.read() as conn:
        return list(conn.execute(select(events_table.c.event_id)
                                 .where(events_table.c.origin == origin)).scalars())


@dataclass
class _HubForTill:
    """What `tests.sync.conftest.make_terminal` needs of a hub."""

    hub: Hub

    @property
    def url(self) -> str:
        return self.hub.url

    def add_terminal(self, origin: str) -> str:
        return self.hub.token("terminal", origin)


SALE = make_sale([SaleLine("LATTE", "coffee", 2, 350), SaleLine("CROI", "pastry", 1, 180)])


def till_rows(store: Any, member_id: str) -> tuple[tuple, list[str]]:
    member = store.conn.execute(
        "SELECT name, phone, email, birthday, consent_email FROM members WHERE member_id = ?",
        (member_id,)).fetchone()
    data = [r[0] for r in store.conn.execute(
        "SELECT data FROM events WHERE member_id = ?", (member_id,))]
    return tuple(member), data


def test_terminal_pseudonymises_its_copy_on_pull(hub: Hub, tmp_path: Path) -> None:
    store_id = f"P{random.randrange(10**6):06d}"
    till, token = make_terminal(tmp_path, _HubForTill(hub), store_id, "T1")
    email = f"zoe.{uuid.uuid4().hex[:8]}@example.com"
    phone = f"+3361{random.randrange(10**8):08d}"
    member = till_enrol(till.store, name="Zoé Erasable", phone=phone, email=email,
                        birthday=date(1991, 5, 6), consent_email=True)
    member_id, card = member.member_id, member.card_number
    record_sale(till.store, member_id, SALE)
    agent = till.agent(hub.url, token)
    report = agent.sync_once()
    assert report.error is None, report.error
    before = find_member(till.store, card)
    balance_before = till.store.conn.execute(
        "SELECT balance FROM member_balances WHERE member_id = ?", (member_id,)).fetchone()
    assert any(email in d for d in till_rows(till.store, member_id)[1])
    print_pending(till.store)  # the dummy printer: renderings kept for reprints
    assert till.store.conn.execute(
        "SELECT COUNT(*) FROM print_jobs WHERE text_preview LIKE '%Erasable%'").fetchone()[0]

    # the hub's answers "were lost": the till sends everything again on its next sync
    unacknowledge_from(till.store.conn, 1, 1)
    with hub.admin() as admin:
        erased = admin.post(f"/v1/admin/members/{member_id}/erase",
                            json={"reason": "asked at the counter"})
        assert erased.status_code == 200, erased.text
        assert erased.json()["events_erased"] == 1

    # push (the originals: the hub knows them by the hashes it kept), then pull (erase)
    report = agent.sync_once()
    assert report.error is None, report.error
    assert (report.pushed, report.duplicates) == (0, len(hub_event_ids(hub, till.origin)))
    # and the erased copies sent again are the hub's erased events, byte for byte
    unacknowledge_from(till.store.conn, 1, 1)
    report = agent.sync_once()
    assert report.error is None, report.error
    assert report.duplicates == len(hub_event_ids(hub, till.origin))
    profile, datas = till_rows(till.store, member_id)
    assert profile == (pseudonym(member_id), None, None, None, 0)
    for data in datas:
        for secret in ("Zoé", "Erasable", phone, email, "1991-05-06"):
            assert secret not in data
    jobs = till.store.conn.execute(
        "SELECT COUNT(*), COUNT(text_preview) FROM print_jobs WHERE receipt_no IN "
        "(SELECT receipt_no FROM receipts WHERE member_id = ?)", (member_id,)).fetchone()
    assert jobs[0] > 0 and jobs[1] == 0  # reprints are rendered again, with the pseudonym
    assert verify_ledger(till.store.conn) == []
    done = subprocess.run([str(POS_BIN / "pos"), "check", "--json", "--config",
                           str(tmp_path / f"{store_id}-T1" / "pos.toml")],
                          capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert json.loads(done.stdout)["ok"] is True

    # the card still finds the member (same balance); the phone and the name do not
    after = find_member(till.store, card)
    assert after.member_id == before.member_id == member_id
    assert till.store.conn.execute(
        "SELECT balance FROM member_balances WHERE member_id = ?",
        (member_id,)).fetchone() == balance_before
    for gone in (phone, "Erasable"):
        with pytest.raises(MemberNotFound):
            find_member(till.store, gone)

    # the till's chain goes on after its erased event: the hub takes the next sale
    record_sale(till.store, member_id, SALE)
    report = agent.sync_once()
    assert report.error is None, report.error
    assert till.store.conn.execute(
        "SELECT COUNT(*) FROM events WHERE acked_hub_seq IS NULL").fetchone()[0] == 0
    assert verify_ledger(till.store.conn) == []
    with hub.ctx.db.read() as conn:
        assert check_chains(conn, [till.origin])["problems"] == []
    assert hub.count("flags", origin=till.origin) == 0
    till.store.close()


# -- a whole database: duplicates, `pos-hub check`, `pos-hub rebuild --check` -------------------
def test_duplicates_and_whole_ledger_checks(fresh_url: str, tmp_path: Path) -> None:
    backend = "postgres" if fresh_url.startswith("postgresql") else "sqlite"
    server = start_hub(fresh_url, backend)
    try:
        t = new_terminal(server)
        a, _, ea = enrol(t, name="Ann A", phone="+33611111111", email="ann@example.com")
        b, _, eb = enrol(t, name="Ann B", phone="+33611111111", email="other@example.com")
        c, _, ec = enrol(t, name="Ann C", phone="+33622222222", email="ANN@Example.com")
        d, _, ed = enrol(t, name="Dan", phone="+33633333333", email="dan@example.com")
        e, _, ee = enrol(t, name="Eve", phone=None, email=None)
        assert t.push(ea + eb + ec + ed + ee).status_code == 200
        config = write_config(tmp_path, fresh_url)

        with server.admin() as admin:
            listed = admin.get("/v1/admin/members/duplicates")
            assert listed.status_code == 200, listed.text
        groups = {(g["by"], g["value"]): sorted(m["member_id"] for m in g["members"])
                  for g in listed.json()["groups"]}
        assert groups == {("phone", "+33611111111"): sorted([a, b]),
                          ("email", "ann@example.com"): sorted([a, c])}
        cli = json.loads(run_cli(config, "member", "duplicates", "--json").stdout)
        assert cli == listed.json()
        text = run_cli(config, "member", "duplicates").stdout
        assert "2 group(s)" in text and "merge" not in text.replace("nothing was merged", "")
        # nothing was merged
        assert server.count("members") == 5
        assert {r["merged_into"] for r in server.rows("members")} == {None}

        run_cli(config, "member", "erase", a, "--reason", "r", "--yes")
        # an erased member has no phone or e-mail left to share
        cli = json.loads(run_cli(config, "member", "duplicates", "--json").stdout)
        assert cli["groups"] == []
        checked = json.loads(run_cli(config, "check", "--json").stdout)
        assert checked["ok"] and checked["erased"] == 1 and checked["events"] == len(
            ea + eb + ec + ed + ee)
        run_cli(config, "rebuild", "--check")

        # tampering with what is left of an erased event shows
        with server.ctx.db.write() as conn:
            content = conn.execute(select(events_table.c.content).where(
                events_table.c.event_id == ea[0].event_id)).scalar()
            conn.execute(events_table.update()
                         .where(events_table.c.event_id == ea[0].event_id)
                         .values(content=content.replace('"ref":"', '"ref":"X')))
        broken = run_cli(config, "check", ok=False)
        assert "changed after its erasure" in broken.stdout
    finally:
        server.stop()


def test_the_export_never_holds_a_pin_hash(hub):  # noqa: ANN001
    """A member's PIN is a `pin` event holding its argon2id hash; HQ's export says a PIN
    is set but carries no hash (4 to 8 digits fall to a hash in seconds)."""
    from hub.member_pins import set_pin
    from tests.hub.conftest import new_terminal

    term = new_terminal(hub)
    member, events = term.enrol()
    assert term.push(events).status_code == 200
    set_pin(hub.ctx, member, "4821")
    with hub.admin() as c:
        r = c.get(f"/v1/admin/members/{member}/export")
    assert r.status_code == 200
    data = r.json()
    assert data["pin_set"] is True
    assert [e["kind"] for e in data["events"]].count("pin") == 1
    assert "$argon2" not in r.text
