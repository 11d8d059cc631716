"""One fold path: a push is folded in its own transaction, so what it answered is in every
balance at once; pushes of many terminals sharing members fold side by side without
deadlock; a push is authenticated before its body is read; a database the projector era
left with events not yet folded is caught up by `migrate`. On each backend."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, select, text
from sqlalchemy.pool import NullPool

from hub.db import alembic_config, migrate
from hub.rebuild import rebuild
from hub.store.append import event_row
from hub.store.members import event_from_row
from hub.store.programs import publish
from hub.tables import changes, events, members, streams
from loyalty.fold import fold

from .conftest import Hub, Term, new_terminal, raw_program

HEAD_REVISION = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()

pytestmark = pytest.mark.slow


def _row(hub: Hub, member_id: str) -> dict:
    with hub.ctx.db.read() as conn:
        return dict(conn.execute(select(members).where(members.c.member_id == member_id))
                    .one()._mapping)


def test_a_push_is_authenticated_before_its_body_is_read(hub: Hub):
    with hub.client(None) as c:
        r = c.post("/v1/sync/push", json={})
        assert r.status_code == 401 and r.json()["error"] == "unauthorized"
        # Not JSON at all, 15 MB: parsing it first would answer 422; it is never read.
        r = c.post("/v1/sync/push", content=b"x" * 15_000_000,
                   headers={"Content-Type": "application/json"})
        assert r.status_code == 401
    with hub.client("t_wrong-token") as c:
        r = c.post("/v1/redemptions/authorize", content=b"{not json")
        assert r.status_code == 401 and r.json()["error"] == "bad_token"


def test_an_answered_push_is_in_the_member_row_and_online_at_once(hub: Hub):
    term = new_terminal(hub)
    member, enrolled = term.enrol()
    sold = term.sale(member, 1250) + term.sale(member, 800)
    assert term.push(enrolled + sold).status_code == 200
    expected = fold(enrolled + sold)
    row = _row(hub, member)  # straight from the table: nothing is folded on reading
    assert row["balance"] == expected.balance > 0
    assert json.loads(row["state"]) == expected.to_dict()
    with hub.online() as c:
        seen = c.get("/v1/online/members", params={"member_id": member}).json()
    assert seen["balance"] == expected.balance


def test_terminals_sharing_members_fold_side_by_side(hub: Hub):
    """Five terminals push sales of the same ten members at once, each batch naming them
    in another order: every push is answered 200 (no deadlock, no lost update) and every
    member row equals the fold of all its events."""
    home = new_terminal(hub)
    ids, all_events = [], []
    for _ in range(10):
        member, evs = home.enrol()
        ids.append(member)
        all_events += evs
    assert home.push(all_events).status_code == 200
    tills: list[Term] = [new_terminal(hub) for _ in range(5)]
    batches: dict[str, list[list]] = {}
    for n, till in enumerate(tills):
        order = ids[n:] + ids[:n] if n % 2 else list(reversed(ids))
        batches[till.origin] = [[e for m in order for e in till.sale(m, 100 * (n + 1) + k)]
                                for k in range(4)]
        all_events += [e for b in batches[till.origin] for e in b]
    answers: list[int] = []
    start = threading.Barrier(len(tills))

    def go(till: Term) -> None:
        start.wait()
        for batch in batches[till.origin]:
            answers.append(till.push(batch).status_code)

    threads = [threading.Thread(target=go, args=(t,)) for t in tills]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert answers == [200] * 20
    for member in ids:
        # (each till gave the day's visit bonus, not knowing the others did: the hub holds
        # all but the first, with hub `hold` events of its own)
        holds = [event_from_row(r["content"]) for r in hub.rows("events", member_id=member,
                                                                origin="hub")]
        assert len(holds) == 4 and {h.kind for h in holds} == {"hold"}
        expected = fold([e for e in all_events if e.member_id == member] + holds)
        row = _row(hub, member)
        assert (row["balance"], json.loads(row["state"])) == \
            (expected.balance, expected.to_dict())


def test_migrate_folds_what_the_projector_era_left_behind(fresh_url: str):
    """A database at 0005 with a member whose snapshot is behind its events and another
    whose events are above the projector's mark (no row at all yet): `migrate` folds
    both, records the change feed, then drops the projector's columns and mark."""
    command.upgrade(alembic_config(fresh_url), "0005")
    engine = create_engine(fresh_url, poolclass=NullPool)
    term = Term(None, "S900-T1", "")  # type: ignore[arg-type]
    stale, stale_events = term.enrol()
    stale_events += term.sale(stale, 2000)
    pending, pending_events = term.enrol()
    pending_events += term.sale(pending, 990)
    received = datetime.now(UTC).isoformat()
    with engine.begin() as conn:
        publish(conn, _Db(conn), raw_program())
        ledger = stale_events + pending_events
        for e in ledger:
            conn.execute(events.insert().values(event_row(e, received)))
        conn.execute(streams.insert().values(origin=term.origin, origin_epoch=1,
                                             high_seq=ledger[-1].origin_seq,
                                             chain_hash=ledger[-1].content_hash(),
                                             updated_at=received))
        # the stale member: a row whose snapshot holds its enrolment only
        only_enrol = fold(stale_events[:1])
        conn.execute(text(
            "INSERT INTO members (member_id, origin, created_at, state, state_seq, state_at, "
            "balance, debt, hub_seq, last_hlc, updated_at, consent_email, consent_sms) "
            "VALUES (:m, :o, :t, :s, 1, :t, :b, 0, :h, :l, :t, false, false)"),
            {"m": stale, "o": term.origin, "t": received,
             "s": json.dumps(only_enrol.to_dict()), "b": fold(stale_events).balance,
             "h": len(stale_events), "l": stale_events[-1].hlc})
        conn.execute(text("UPDATE counters SET value = :v WHERE name = 'projected'"),
                     {"v": len(stale_events)})
    engine.dispose()

    assert migrate(fresh_url) == HEAD_REVISION

    engine = create_engine(fresh_url, poolclass=NullPool)
    try:
        with engine.connect() as conn:
            for member, evs in ((stale, stale_events), (pending, pending_events)):
                row = conn.execute(select(members.c.balance, members.c.state)
                                   .where(members.c.member_id == member)).one()
                assert (row.balance, json.loads(row.state)) == \
                    (fold(evs).balance, fold(evs).to_dict())
            assert conn.execute(select(changes.c.key).where(changes.c.kind == "member",
                                                            changes.c.key == pending)).first()
            assert conn.execute(text(
                "SELECT COUNT(*) FROM counters WHERE name = 'projected'")).scalar() == 0
            columns = {c["name"] for c in inspect(conn).get_columns("members")}
        assert "state_seq" not in columns and "state_at" not in columns
    finally:
        engine.dispose()


class _Db:
    """What `publish` needs of a `hub.db.Database` on a bare connection."""

    def __init__(self, conn) -> None:
        from hub.db import Database

        self.is_postgres = conn.dialect.name == "postgresql"
        self.insert = Database.insert.__get__(self)


def test_rebuild_finds_nothing_to_repair_after_pushes(hub: Hub):
    term = new_terminal(hub)
    member, evs = term.enrol()
    assert term.push(evs + term.sale(member, 4200)).status_code == 200
    assert member not in rebuild(hub.ctx, check_only=True)["differed"]
