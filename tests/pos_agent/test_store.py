"""The store API: offline ids across terminals, QR refusal, member_view over a hub
snapshot, redemption authorisation paths, hub data, epochs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from loyalty.errors import RedemptionError
from loyalty.events import EventDraft, Kind, seal
from loyalty.fold import MemberState, fold
from loyalty.ids import is_valid_card_number
from loyalty.member_qr import new_private_key, sign_card, sign_legacy_card
from loyalty.sale import make_sale
from pos_agent.exceptions import HubUnreachable, MemberNotFound, SyncError
from pos_agent.hubdata import apply_pull_page, pull_cursor
from pos_agent.identity import fetch_whoami, init_terminal, new_epoch
from pos_agent.ledger import (
    mark_acknowledged,
    own_events,
    pending_events,
    verify_ledger,
)
from pos_agent.members import enrol, find_member, member_view
from pos_agent.operations import Authorization, record_sale, redeem_reward
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.pos_agent.conftest import write_config

KEY = b"demo-qr-signing-key-change-me"


def test_two_terminals_enrolling_offline_never_share_a_card_or_member_id(tmp_path):
    made = []
    for store_id in ("S001", "S002"):
        folder = tmp_path / store_id
        folder.mkdir()
        store = open_store(load_settings(str(write_config(folder, store=store_id))))
        init_terminal(store.db, store_id, "T1")
        at = datetime(2026, 3, 1, tzinfo=UTC)
        made += [enrol(store, name=f"M {i}", phone=f"06{i:08d}", at=at) for i in range(150)]
        store.close()
    cards = [e.card_number for e in made]
    assert len(set(cards)) == len(cards) == 300
    assert len({e.member_id for e in made}) == 300
    assert all(is_valid_card_number(c) for c in cards)


def test_terminals_with_issuer_numbers_never_share_a_card(tmp_path):
    """Issuer numbers come from the hub (one per terminal credential) or HQ: cards are
    unique by construction, whatever the terminals' names. S138-T2 and S1217-T1 drew the
    same card number under the old hashed layout."""
    made = []
    for issuer, (store_id, term) in enumerate((("S138", "T2"), ("S1217", "T1")), start=41):
        folder = tmp_path / f"{store_id}-{term}"
        folder.mkdir()
        store = open_store(load_settings(str(write_config(folder, store=store_id,
                                                          terminal=term))))
        init_terminal(store.db, store_id, term, card_issuer=issuer)
        made += [enrol(store, name=f"M {i}", phone=f"06{i:08d}").card_number
                 for i in range(20)]
        store.close()
    assert len(set(made)) == 40
    assert {c[2:8] for c in made[:20]} == {"000041"} and {c[2:8] for c in made[20:]} == {
        "000042"}


def test_unregistered_terminals_draw_issuers_from_their_own_range():
    from loyalty.ids import UNREGISTERED_ISSUERS, unregistered_issuer

    assert unregistered_issuer("S138-T2") in UNREGISTERED_ISSUERS
    assert unregistered_issuer("S138-T2") == unregistered_issuer("S138-T2")


def test_card_serials_are_gap_free_and_numbers_are_checked_unused(store):
    first = enrol(store, name="A", phone="0611111111")
    # A pre-printed card that happens to be the next number this terminal would make.
    from loyalty.ids import make_card_number

    nxt = make_card_number(store.identity.issuer, 2, 1)
    enrol(store, name="B", phone="0622222222", card_number=nxt)
    third = enrol(store, name="C", phone="0633333333")
    assert third.card_number not in (first.card_number, nxt)
    assert store.identity.card_serial == 3


def test_qr_lookup_accepts_a_signed_payload_and_refuses_forged_or_altered(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    assert find_member(store, ann.qr_payload).member_id == ann.member_id
    other = enrol(store, name="Bob", phone="0699887766")
    prefix, card, kid, signature = ann.qr_payload.split(":")
    altered = f"{prefix}:{other.card_number}:{kid}:{signature}"  # Ann's signature, Bob's card
    for bad in (altered, ann.qr_payload[:-1] + ("A" if ann.qr_payload[-1] != "A" else "B")):
        with pytest.raises(MemberNotFound, match="forged or altered"):
            find_member(store, bad)
    with pytest.raises(MemberNotFound, match="does not know"):  # another key, not certified
        find_member(store, sign_card(ann.card_number, new_private_key()))
    with pytest.raises(MemberNotFound, match="not a member code"):
        find_member(store, "LOY2:garbage")
    with pytest.raises(MemberNotFound, match="no longer accepted"):  # LOY1, no migration set
        find_member(store, sign_legacy_card(ann.card_number, b"demo-qr-signing-key-change-me"))


def test_phone_lookup_normalises(store):
    ann = enrol(store, name="Ann", phone="+33 (6) 12-34-56-78")
    assert find_member(store, "+33612345678").found_by == "phone"
    assert find_member(store, " +33 6 12 34 56 78 ").member_id == ann.member_id
    # the example config's [terminal] region is FR: the national form is the same number
    assert find_member(store, "0612345678").member_id == ann.member_id
    with pytest.raises(MemberNotFound):
        find_member(store, "0712345678")


def test_member_view_is_snapshot_plus_own_events_not_in_it(store):
    at = datetime(2026, 3, 4, 9, tzinfo=UTC)  # a Wednesday: no double-points Tuesday
    ann = enrol(store, name="Ann", phone="0611223344", at=at)
    record_sale(store, ann.member_id, make_sale(total=1000), at=at + timedelta(hours=1))
    record_sale(store, ann.member_id, make_sale(total=2000), at=at + timedelta(hours=2))
    mine = own_events(store.conn, ann.member_id)
    assert [e.kind for e in mine] == ["enrol", "bonus", "earn", "bonus", "earn"]
    # The hub has our first three events plus one made online, not our last two.
    online = seal(EventDraft(kind=Kind.BONUS, member_id=ann.member_id, points=500,
                             data={"reason": "review", "once": "review:1"}),
                  origin="online", origin_seq=1, origin_epoch=1, prev_hash="0" * 64,
                  occurred_at=(at + timedelta(minutes=90)).isoformat(),
                  hlc=f"{int((at + timedelta(minutes=90)).timestamp() * 1000):015d}.00000",
                  program_version="x")
    snapshot = fold([*mine[:3], online])
    apply_pull_page(store, [{"type": "member", "change_seq": 7, "member_id": ann.member_id,
                             "profile": {"card_numbers": [ann.card_number], "phone": "0611223344",
                                         "name": "Ann"},
                             "snapshot": snapshot.to_dict(), "hub_seq": 40}], cursor=7)
    state, summary = member_view(store, ann.member_id, at + timedelta(hours=3))
    expected = fold([*mine, online])
    assert state.balance == summary.balance == expected.balance == 50 + 100 + 5 + 500 + 200
    assert state.event_ids == expected.event_ids
    assert pull_cursor(store) == 7
    # A sale now starts from that view (the cache was invalidated by the snapshot).
    result = record_sale(store, ann.member_id, make_sale(total=100), at=at + timedelta(hours=4))
    assert result.balance == expected.balance + 10
    assert verify_ledger(store.conn) == []


def test_a_snapshot_with_every_own_event_adds_nothing_twice(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    record_sale(store, ann.member_id, make_sale(total=1000))
    full = fold(own_events(store.conn, ann.member_id))
    apply_pull_page(store, [{"type": "member", "member_id": ann.member_id,
                             "snapshot": full.to_dict()}], cursor=1)
    assert member_view(store, ann.member_id)[0].balance == full.balance == 50 + 105


def _member_with_points(store, total: int = 20000):
    ann = enrol(store, name="Ann", phone="0611223344")
    record_sale(store, ann.member_id, make_sale(total=total))
    return ann


def test_redeem_authorised_online_is_acknowledged_and_not_offline(store):
    ann = _member_with_points(store)
    seen = {}

    def hub(event, pending):
        seen["pending"] = [e.origin_seq for e in pending]
        results = [{"event_id": e.event_id, "hub_seq": 100 + e.origin_seq}
                   for e in [*pending, event]]
        return Authorization("authorized", results=tuple(results))

    result = redeem_reward(store, ann.member_id, "gift-10", found_by="qr", authorizer=hub)
    assert result.approved_offline is False and result.points_spent == 900
    assert seen["pending"] == [1, 2, 3, 4]
    assert pending_events(store.conn, 100) == []
    assert result.vouchers and result.vouchers[0]["reward_id"] == "gift-10"


def test_redeem_refused_by_the_hub_writes_nothing(store):
    ann = _member_with_points(store)
    before = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    with pytest.raises(RedemptionError, match="spent elsewhere"):
        redeem_reward(store, ann.member_id, "free-latte", found_by="qr",
                      authorizer=lambda e, p: Authorization("refused", "insufficient_points",
                                                            "spent elsewhere"))
    assert store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0] == before
    assert store.conn.execute(
        "SELECT COUNT(*) FROM receipts WHERE kind = 'redemption'").fetchone()[0] == 0


def test_lost_hub_answer_with_offline_refusal_keeps_and_cancels_the_event(store):
    ann = _member_with_points(store)  # 2000 Stars; offline limit per transaction is 300
    with pytest.raises(RedemptionError, match="at most 300"):
        redeem_reward(store, ann.member_id, "gift-10", found_by="qr",
                      authorizer=lambda e, p: Authorization("unreachable", sent=True))
    kinds = [e.kind for e in own_events(store.conn, ann.member_id)]
    assert kinds[-2:] == ["redeem", "reverse"]
    assert member_view(store, ann.member_id)[0].balance == 50 + 2000 + 5
    assert verify_ledger(store.conn) == []


def test_offline_redemption_of_a_hub_member_needs_a_recent_snapshot(store):
    ann = _member_with_points(store)
    store.db.execute("UPDATE members SET enrolled_here = 0")
    with pytest.raises(RedemptionError, match="not been confirmed by the hub"):
        redeem_reward(store, ann.member_id, "free-latte", found_by="qr")
    state = fold(own_events(store.conn, ann.member_id))
    apply_pull_page(store, [{"type": "member", "member_id": ann.member_id,
                             "snapshot": state.to_dict()}], cursor=1)
    assert redeem_reward(store, ann.member_id, "free-latte", found_by="qr").approved_offline


def test_program_from_the_hub_becomes_active(store, config):
    settings = load_settings(str(config))
    raw = dict(settings.program)
    raw["earn_rate"] = 1
    apply_pull_page(store, [{"type": "program", "change_seq": 3, "version": "v-hub",
                             "program": raw}], cursor=3)
    assert store.active_program().earn_rate == 1
    ann = enrol(store, name="Ann", phone="0611223344")
    assert record_sale(store, ann.member_id, make_sale(total=1000)).purchase_points == 10


def test_new_epoch_restarts_the_chain_and_salts_numbers(store):
    ann = enrol(store, name="Ann", phone="0611223344")
    mark_acknowledged(store.conn, [{"event_id": e.event_id, "hub_seq": i}
                                   for i, e in enumerate(own_events(store.conn, ann.member_id))])
    new_epoch(store.db)
    result = record_sale(store, ann.member_id, make_sale(total=1000))
    assert result.receipt_no == "S001-T1-E2-000002"
    epoch2 = pending_events(store.conn, 10)
    assert [(e.origin_epoch, e.origin_seq, e.prev_hash) for e in epoch2][:1] == \
        [(2, 1, "0" * 64)]
    assert verify_ledger(store.conn) == []


def test_whoami_is_read_and_errors_are_clear():
    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["Authorization"] == "Bearer tok"
        return httpx.Response(200, json={"origin": "S001-T1", "store": "S001",
                                         "hub_key_id": "AAAAAAAA", "hub_public_key": "k" * 43,
                                         "hub_time": "2026-03-01T00:00:00Z"})

    body = fetch_whoami("http://hub", "tok", transport=httpx.MockTransport(answer))
    assert body["hub_public_key"] == "k" * 43 and "qr_key" not in body
    with pytest.raises(SyncError, match="refused the token"):
        fetch_whoami("http://hub", "tok",
                     transport=httpx.MockTransport(lambda r: httpx.Response(401, json={})))
    with pytest.raises(HubUnreachable, match="cannot reach"):
        fetch_whoami("http://127.0.0.1:9", "tok", timeout=2)


def test_member_view_follows_writes_from_another_process(store, config):
    ann = _member_with_points(store, 1000)
    assert member_view(store, ann.member_id)[0].balance == 155
    other = open_store(load_settings(str(config)))  # a second connection, as the app would be
    record_sale(other, ann.member_id, make_sale(total=1000))
    other.close()
    assert member_view(store, ann.member_id)[0].balance == 255
    assert json.loads(store.conn.execute("SELECT stamps FROM member_balances").fetchone()[0]) \
        == {}
    assert isinstance(member_view(store, ann.member_id)[0], MemberState)


def test_two_connections_alternating_sales_keep_one_chain_and_exact_balances(store, config):
    """Each operation reads the chain head, serials and states under the write lock, so
    two connections taking turns (the app and a `pos` command) keep one chain."""
    ann = enrol(store, name="Ann", phone="0611223344")
    other = open_store(load_settings(str(config)))
    try:
        receipts = []
        for i in range(6):
            side = store if i % 2 == 0 else other
            receipts.append(record_sale(side, ann.member_id, make_sale(total=1000)).receipt_no)
            # the same connection twice in a row, then the other one
            receipts.append(record_sale(side, ann.member_id, make_sale(total=500)).receipt_no)
        assert len(set(receipts)) == 12
        assert receipts[-1] == "S001-T1-000013"  # enrolment printed 000001
        assert verify_ledger(store.conn) == []
        seqs = [r[0] for r in store.conn.execute(
            "SELECT origin_seq FROM events ORDER BY origin_seq")]
        assert seqs == list(range(1, len(seqs) + 1))
        expected = fold(own_events(store.conn, ann.member_id)).balance
        assert member_view(store, ann.member_id)[0].balance == expected
        assert member_view(other, ann.member_id)[0].balance == expected
        assert store.conn.execute("SELECT balance FROM member_balances").fetchone()[0] == expected
    finally:
        other.close()


def test_a_write_on_the_same_connection_outside_an_operation_is_seen(store):
    ann = _member_with_points(store, 1000)
    record_sale(store, ann.member_id, make_sale(total=1000))
    # A direct change (as a repair would make) is what the next sale starts from.
    store.conn.execute("UPDATE identity SET receipt_serial = 100")
    result = record_sale(store, ann.member_id, make_sale(total=1000))
    assert result.receipt_no == "S001-T1-000101"
    assert verify_ledger(store.conn) == []


def test_the_tier_a_sale_reports_is_the_tier_of_the_folded_ledger_after_it(store):
    """record_sale works the tier after the sale out from the spend before it plus the
    sale; it must be what folding the ledger says."""
    from loyalty.tiers import tier_at

    ann = enrol(store, name="Ann", phone="0611223344")
    program = store.active_program()
    at = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    seen = []
    for i, total in enumerate([29_000, 999, 1, 20_000, 5]):
        when = at + timedelta(days=i)
        result = record_sale(store, ann.member_id, make_sale(total=total), at=when)
        seen.append(result.tier)
        assert result.tier == tier_at(fold(own_events(store.conn, ann.member_id)), program,
                                      when).name
    assert seen == ["Green", "Green", "Silver", "Gold", "Gold"]


def _next_receipt_elsewhere(config, member_id, at=None):
    """A sale through a second Store on the database (nothing cached, everything read
    back, as after a restart); its result."""
    other = open_store(load_settings(str(config)))
    try:
        return record_sale(other, member_id, make_sale(total=500), at=at)
    finally:
        other.close()


def test_receipt_numbers_and_the_clock_are_kept_in_the_identity_row(store, config):
    """Every operation writes the identity row's receipt serial and clock: another
    connection, or a restart, carries on from them."""
    ann = enrol(store, name="Ann", phone="0611223344")  # 000001
    last = [record_sale(store, ann.member_id, make_sale(total=500)) for _ in range(3)][-1]
    assert last.receipt_no == "S001-T1-000004"
    assert store.conn.execute("SELECT receipt_serial, hlc FROM identity").fetchone() \
        == (4, last.events[-1].hlc)
    # A sale dated in the past: the clock still moves on from the newest event.
    early = datetime(2020, 1, 1, tzinfo=UTC)
    sale = _next_receipt_elsewhere(config, ann.member_id, at=early)
    assert sale.receipt_no == "S001-T1-000005"
    assert sale.events[0].hlc > last.events[-1].hlc
    assert record_sale(store, ann.member_id, make_sale(total=500)).receipt_no == \
        "S001-T1-000006"
    new_epoch(store.db)
    assert record_sale(store, ann.member_id, make_sale(total=500)).receipt_no == \
        "S001-T1-E2-000007"
    assert verify_ledger(store.conn) == []


def test_a_receipt_number_taken_without_a_receipt_is_never_given_again(store, config):
    from pos_agent.ledger import record

    ann = enrol(store, name="Ann", phone="0611223344")
    with record(store) as rec:
        assert rec.next_receipt_no() == "S001-T1-000002"  # e.g. printed on a slip
    assert _next_receipt_elsewhere(config, ann.member_id).receipt_no == "S001-T1-000003"


def test_receipt_serials_past_six_digits_are_kept_in_the_identity_row(store, config):
    ann = enrol(store, name="Ann", phone="0611223344")
    store.conn.execute("UPDATE identity SET receipt_serial = 999998")
    numbers = [record_sale(store, ann.member_id, make_sale(total=500)).receipt_no
               for _ in range(3)]
    assert numbers == ["S001-T1-999999", "S001-T1-1000000", "S001-T1-1000001"]
    assert _next_receipt_elsewhere(config, ann.member_id).receipt_no == "S001-T1-1000002"
