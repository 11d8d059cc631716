"""Snapshots behind the ledger, and the states a hub process folds ahead of them.

A batch that leaves a member's snapshot behind still folds its events into this process's
cached state (`members.advance_cached`); the next reader then writes that state out
without reading the events again. These tests pin down that the shortcut gives exactly
the ledger's fold, and that a state holding a rolled-back batch is never used.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from hub.context import HubContext
from hub.db import migrate
from hub.settings import settings_for
from hub.store import changes
from hub.store import members as member_store
from hub.store.ledger import ingest
from loyalty.events import Event

from .conftest import Term, raw_program


def _context(url: str) -> HubContext:
    migrate(url)
    return HubContext.from_settings(settings_for(url, raw_program()))


def _push(ctx: HubContext, term: Term, events: list[Event]) -> None:
    with ctx.db.write() as conn:
        ingest(conn, ctx, term.origin, term.epoch, events)


def _row(ctx: HubContext, member_id: str) -> Any:
    with ctx.db.read() as conn:
        return member_store.lock_rows(conn, ctx.db, [member_id], lock=False)[member_id]


def _pulled_snapshot(ctx: HubContext, member_id: str) -> dict:
    page = orjson.loads(orjson.dumps(changes.pull(ctx.db, 0, 100)))
    [change] = [c for c in page["changes"] if c.get("member_id") == member_id]
    return change["snapshot"]


def _ledger_fold(ctx: HubContext, member_id: str) -> dict:
    with ctx.db.read() as conn:
        return member_store.rebuild_member(conn, member_id).to_dict()


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, int]]:
    """Which members' events each catch-up read from the ledger (and from where)."""
    seen: list[dict[str, int]] = []
    real = member_store._events_after

    def spy(conn: Any, after: dict[str, int]) -> Any:
        seen.append(dict(after))
        return real(conn, after)

    monkeypatch.setattr(member_store, "_events_after", spy)
    return seen


def test_batches_behind_the_snapshot_are_folded_once_and_pulled_exactly(
        fresh_url: str, reads: list[dict[str, int]]):
    member_store.forget_all()
    ctx = _context(fresh_url)
    try:
        till = Term(None, "S001-T1", "")  # type: ignore[arg-type]
        member, events = till.enrol()
        _push(ctx, till, events + till.sale(member, 2000))
        for total in (1250, 990, 4000):
            _push(ctx, till, till.sale(member, total))
        row = _row(ctx, member)
        assert row.state_seq < row.hub_seq, "the pushes should have left the snapshot behind"
        entry = member_store._cache[member]
        assert (entry.through, entry.stamp) == (row.hub_seq, row.updated_at)

        snapshot = _pulled_snapshot(ctx, member)
        # written out from the cached state: no event of this member was read again
        assert all(member not in after for after in reads)
        assert snapshot == _ledger_fold(ctx, member) == till.states[member].to_dict()
        assert snapshot["balance"] == row.balance
        after_pull = _row(ctx, member)
        assert after_pull.state_seq == after_pull.hub_seq == row.hub_seq
    finally:
        ctx.db.dispose()
        member_store.forget_all()


def test_a_state_holding_a_rolled_back_batch_is_never_used(
        fresh_url: str, reads: list[dict[str, int]]):
    member_store.forget_all()
    ctx = _context(fresh_url)
    try:
        till = Term(None, "S001-T1", "")  # type: ignore[arg-type]
        member, events = till.enrol()
        _push(ctx, till, events + till.sale(member, 2000))
        committed = _ledger_fold(ctx, member)
        lost = till.sale(member, 3000)
        with pytest.raises(RuntimeError), ctx.db.write() as conn:
            ingest(conn, ctx, till.origin, till.epoch, lost)
            raise RuntimeError("the batch's transaction fails after the ingest")
        assert member_store._cache[member].through > _row(ctx, member).hub_seq

        snapshot = _pulled_snapshot(ctx, member)
        assert snapshot == committed  # without the rolled-back sale
        assert snapshot["balance"] == _row(ctx, member).balance
        assert any(member in after for after in reads), "the events were read from the ledger"

        # the same batch sent again is counted once
        _push(ctx, till, lost)
        assert _pulled_snapshot(ctx, member) == _ledger_fold(ctx, member) \
            == till.states[member].to_dict()
    finally:
        ctx.db.dispose()
        member_store.forget_all()
