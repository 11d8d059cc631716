"""Member search as people say it at the counter (issue 17): a phone in any usual format
(E.164 with `[terminal] region`), a name by the prefix of any word without accents or
case, an e-mail without case; several candidates to choose from; none of these spends."""

from __future__ import annotations

import io
import json
import sqlite3
from datetime import UTC, datetime

import pytest

from loyalty.pins import PinError
from loyalty.sale import make_sale
from pos_agent.cli import main
from pos_agent.db import open_database
from pos_agent.exceptions import MemberNotFound, SeveralMembers
from pos_agent.hubdata import apply_pull_page
from pos_agent.members import enrol, find_member, search_members
from pos_agent.operations import record_sale, redeem_reward

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def camille(store):
    made = enrol(store, name="Camille Dupont", phone="+33 6 11 22 33 44",
                 email="Camille.Dupont@Example.com", pin="4821", at=T0)
    record_sale(store, made.member_id, make_sale(total=3000), at=T0)
    return made


@pytest.mark.parametrize("typed", ["0611223344", "06 11 22 33 44", "+33 6 11 22 33 44",
                                   "0033611223344", "06.11.22.33.44", "+33 (0)6 11 22 33 44"])
def test_each_phone_format_finds_the_e164_number(store, camille, typed):
    match = find_member(store, typed)
    assert (match.member_id, match.found_by) == (camille.member_id, "phone")


def test_the_phone_is_stored_in_e164(store):
    made = enrol(store, name="Léa Martin", phone="06 99 88 77 66", at=T0)
    row = store.conn.execute("SELECT phone FROM members WHERE member_id = ?",
                             (made.member_id,)).fetchone()
    assert row[0] == "+33699887766"


@pytest.mark.parametrize("typed", ["cam", "dupont", "Dupónt", "DUP", "camille dup",
                                   "dupont camille", "  CAMILLE  "])
def test_a_name_prefix_of_any_word_without_accents_or_case(store, camille, typed):
    match = find_member(store, typed)
    assert (match.member_id, match.found_by) == (camille.member_id, "name")


def test_an_accented_name_is_found_without_its_accents(store):
    made = enrol(store, name="Zoë Lefèvre-Ñúñez", phone="+33600000001", at=T0)
    for typed in ("zoe", "lefevre", "nunez", "Ñúñ"):
        assert find_member(store, typed).member_id == made.member_id


def test_a_name_that_matches_several_gives_the_candidates(store, camille):
    other = enrol(store, name="Camille Martin", phone="+33600000002", at=T0)
    enrol(store, name="Paul Camus", phone="+33600000003", at=T0)
    found = search_members(store, "camil")
    assert [m.name for m in found] == ["Camille Dupont", "Camille Martin"]
    assert {m.found_by for m in found} == {"name"}
    with pytest.raises(SeveralMembers, match="3 members match 'cam'") as info:
        find_member(store, "cam")  # Camille x2 and Camus
    assert len(info.value.candidates) == 3
    assert find_member(store, "camille mar").member_id == other.member_id
    assert len(search_members(store, "cam", limit=2)) == 2
    with pytest.raises(MemberNotFound, match="no member named like 'zz'"):
        find_member(store, "zz")


def test_email_is_case_insensitive_exact(store, camille):
    match = find_member(store, "  camille.DUPONT@example.COM ")
    assert (match.member_id, match.found_by) == (camille.member_id, "email")
    with pytest.raises(MemberNotFound, match="no member with e-mail"):
        find_member(store, "camille.dupon@example.com")


@pytest.mark.parametrize("typed", ["0611223344", "dupont", "camille.dupont@example.com"])
def test_phone_name_and_email_cannot_spend_without_the_pin(store, camille, typed):
    match = find_member(store, typed)
    with pytest.raises(PinError, match="can earn but not spend"):
        redeem_reward(store, match.member_id, "free-latte", found_by=match.found_by, at=T0)
    # the PIN spends, as for a typed card
    redeem_reward(store, match.member_id, "free-latte", found_by=match.found_by, pin="4821",
                  at=T0)


def test_name_and_email_cannot_spend_even_when_typed_cards_may(store, camille, monkeypatch):
    from loyalty.pins import spend_needs_pin
    for how in ("phone", "name", "email"):
        assert spend_needs_pin("any", how) and spend_needs_pin("qr_or_pin", how)
    assert not spend_needs_pin("any", "card")


def test_a_pulled_member_is_normalised_and_searchable(store):
    apply_pull_page(store, [{"type": "member", "member_id": "m-pulled",
                             "profile": {"name": "Hélène Roux", "phone": "06 12 12 12 12"}}],
                    1)
    assert store.conn.execute("SELECT phone FROM members WHERE member_id = 'm-pulled'"
                              ).fetchone()[0] == "+33612121212"
    assert find_member(store, "0612121212").member_id == "m-pulled"
    assert find_member(store, "helene").member_id == "m-pulled"


def test_migration_14_renormalises_phones_and_folds_names(tmp_path):
    from sqlite_utils import Database

    from tests.pos_agent.conftest import MIGRATIONS, migrate

    path = tmp_path / "old.db"
    old = Database(sqlite3.connect(path, isolation_level=None))
    migrate(old, MIGRATIONS[:13])
    for member_id, name, phone in [("a", "Camille Dupónt", "0611223344"),
                                   ("b", "Old Row", "+330611223355"),
                                   ("c", "Not A Phone", "call the shop")]:
        old.conn.execute("INSERT INTO members (member_id, name, phone, updated_at) "
                         "VALUES (?, ?, ?, '2026-01-01')", (member_id, name, phone))
    old.close()
    db = open_database(path, region="FR")
    rows = dict(db.conn.execute("SELECT member_id, phone FROM members"))
    # unparseable rows are kept exactly as they were
    assert rows == {"a": "+33611223344", "b": "+33611223355", "c": "call the shop"}
    assert db.conn.execute("SELECT name_folded FROM members WHERE member_id = 'a'"
                           ).fetchone()[0] == "camille dupont"
    assert sorted(db.conn.execute("SELECT word FROM member_name_words WHERE member_id = 'a'")
                  ) == [("camille",), ("dupont",)]
    db.close()


def test_pos_member_with_several_names_lists_candidates(config, capsys, monkeypatch):
    assert main(["init", "--store", "S001", "--terminal", "T1"]) == 0
    for name, phone in (("Camille Dupont", "0611223344"), ("Camille Martin", "0611223355")):
        assert main(["enrol", "--name", name, "--phone", phone, "--json"]) == 0
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code = main(["member", "camille", "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "2 members match 'camille': choose one" in err
    data = json.loads(out)
    assert [c["name"] for c in data["candidates"]] == ["Camille Dupont", "Camille Martin"]
    assert all(c["card_number"] and c["member_id"] for c in data["candidates"])
    assert main(["member", "06 11 22 33 55", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "Camille Martin"
