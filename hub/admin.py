"""HQ operations: resolving flags, a member's consolidated view, member search.

    >>> resolve_flag(ctx, 7, note="goodwill after the double spend", points=150, by="ann")
    >>> resolve_flag(ctx, 8, note="checked the till roll", release=True, by="ann")

A `points_held` flag (points a till or channel asserted beyond the rules, held by a hub
`hold` event) is resolved by releasing the points (a hub `release` event: they become
spendable) or cancelling them (an `adjust` of minus the points still held, taken from the
held event's own lot, and the `release`). Both ids come from the hold's, so nothing is
made twice.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.context import HubContext
from hub.exceptions import Conflict, Invalid, NotFound
from hub.store import flags as flag_store
from hub.store import members as member_store
from hub.store import programs, reports
from hub.store.ingest import record_drafts
from loyalty.events import EventDraft, Kind
from loyalty.expiry import lot_expiry
from loyalty.fold import MemberState
from loyalty.ids import deterministic_event_id
from loyalty.rederive import release_event_id
from loyalty.summary import member_summary

HELD = "points_held"


def resolve_flag(ctx: HubContext, flag_id: int, *, note: str, points: int | None,
                 by: str, release: bool = False, cancel: bool = False) -> dict[str, Any]:
    """Resolve a flag with a note: optionally an `adjust` of `points` for its member; a
    `points_held` flag with `release` (the held points become spendable) or `cancel`
    (they are taken off the balance), one of which it needs."""
    at = datetime.now(UTC)
    if release and cancel:
        raise Invalid("release or cancel the held points, not both", code="release_and_cancel")
    with ctx.db.write() as conn:
        flag = flag_store.get_flag(conn, flag_id, lock=ctx.db)
        if flag is None:
            raise NotFound(f"no flag {flag_id}", code="unknown_flag")
        if flag["resolved_at"]:
            raise Conflict(f"flag {flag_id} was already resolved", code="already_resolved")
        if flag["kind"] == HELD or release or cancel:
            if points:
                raise Invalid(f"flag {flag_id}: release or cancel the held points, without "
                              "--points", code="points_with_release")
            return _resolve_held(conn, ctx, flag, note=note, by=by, release=release,
                                 cancel=cancel, at=at)
        adjust_id = None
        if points:
            if not flag["member_id"]:
                raise Invalid(f"flag {flag_id} is not about a member: resolve it without points",
                              code="no_member")
            snap = member_store.lock_member(conn, ctx.db, flag["member_id"])
            program = programs.current_program(conn)
            data: dict[str, Any] = {"flag": flag_id, "note": note, "by": by}
            if points > 0 and program is not None:
                data["expires_at"] = lot_expiry(snap.state, program, at)
            draft = EventDraft(kind=Kind.ADJUST, member_id=flag["member_id"], points=points,
                               ref=f"FLAG-{flag_id}", data=data)
            result = record_drafts(conn, ctx, "hub", [draft], at)
            adjust_id = result.events[0].event_id
        flag_store.mark_resolved(conn, flag_id, note, adjust_id)
        return {**flag_store.get_flag(conn, flag_id), "adjust_event_id": adjust_id}


def _resolve_held(conn: Any, ctx: HubContext, flag: dict[str, Any], *, note: str, by: str,
                  release: bool, cancel: bool, at: datetime) -> dict[str, Any]:
    flag_id = flag["id"]
    if flag["kind"] != HELD:
        raise Invalid(f"flag {flag_id} is a {flag['kind']} flag: only {HELD} flags have "
                      "points to release or cancel", code="nothing_held")
    if not (release or cancel):
        raise Invalid(f"flag {flag_id} holds points: resolve it with release (they become "
                      "spendable) or cancel (they are taken off)", code="release_or_cancel")
    held_event, hold_id = flag["event_ids"][:2]
    snap = member_store.lock_member(conn, ctx.db, flag["member_id"])
    still = snap.state.still_held(held_event)
    data: dict[str, Any] = {"held_event": held_event, "hold": hold_id, "flag": flag_id,
                            "note": note, "by": by, "points": still,
                            "outcome": "released" if release else "cancelled"}
    drafts = []
    adjust_id = None
    if cancel and still:
        adjust_id = deterministic_event_id(flag["member_id"], Kind.ADJUST, f"cancel:{hold_id}")
        drafts.append(EventDraft(kind=Kind.ADJUST, member_id=flag["member_id"], points=-still,
                                 ref=f"FLAG-{flag_id}", event_id=adjust_id,
                                 data={"flag": flag_id, "note": note, "by": by,
                                       "hold": hold_id, "lot": held_event}))
    release_id = release_event_id(flag["member_id"], hold_id)
    drafts.append(EventDraft(kind=Kind.RELEASE, member_id=flag["member_id"],
                             ref=f"FLAG-{flag_id}", event_id=release_id, data=data))
    record_drafts(conn, ctx, "hub", drafts, at)
    done = (f"released {still:,} held points" if release
            else f"cancelled {still:,} held points (adjust {adjust_id})" if adjust_id
            else "cancelled the hold (no points were still held)")
    flag_store.mark_resolved(conn, flag_id, f"{done}: {note}", adjust_id,
                             release_event_id=release_id)
    return {**flag_store.get_flag(conn, flag_id), "adjust_event_id": adjust_id,
            "release_event_id": release_id, "outcome": data["outcome"],
            "points": still}


def member_view(ctx: HubContext, member_id: str, at: datetime) -> dict[str, Any]:
    with ctx.db.read() as conn:
        profile = member_store.member_profile(conn, member_id)
        by_origin = reports.member_by_origin(conn, member_id)
        program = programs.current_program(conn)
    state = MemberState.from_dict(profile.pop("state"))
    summary = member_summary(program, state, at).to_dict() if program else None
    return {**profile, "held_points": state.held, "spendable": state.spendable,
            "tier": summary["tier"] if summary else None,
            "stamps": dict(state.stamps), "by_origin": by_origin, "summary": summary}


def find(ctx: HubContext, **ident: str | None) -> dict[str, Any]:
    with ctx.db.read() as conn:
        member_id = member_store.find_member_id(conn, **ident,
                                                region=ctx.settings.hub.region)
    return member_view(ctx, member_id, datetime.now(UTC))
