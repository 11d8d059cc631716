"""HQ operations: resolving flags, a member's consolidated view, member search.

    >>> resolve_flag(ctx, 7, note="goodwill after the double spend", points=150, by="ann")
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
from loyalty.summary import member_summary


def resolve_flag(ctx: HubContext, flag_id: int, *, note: str, points: int | None,
                 by: str) -> dict[str, Any]:
    at = datetime.now(UTC)
    with ctx.db.write() as conn:
        flag = flag_store.get_flag(conn, flag_id, lock=ctx.db)
        if flag is None:
            raise NotFound(f"no flag {flag_id}", code="unknown_flag")
        if flag["resolved_at"]:
            raise Conflict(f"flag {flag_id} was already resolved", code="already_resolved")
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


def member_view(ctx: HubContext, member_id: str, at: datetime) -> dict[str, Any]:
    with ctx.db.read() as conn:
        profile = member_store.member_profile(conn, member_id)
        by_origin = reports.member_by_origin(conn, member_id)
        program = programs.current_program(conn)
    state = MemberState.from_dict(profile.pop("state"))
    summary = member_summary(program, state, at).to_dict() if program else None
    return {**profile, "tier": summary["tier"] if summary else None,
            "stamps": dict(state.stamps), "by_origin": by_origin, "summary": summary}


def find(ctx: HubContext, **ident: str | None) -> dict[str, Any]:
    with ctx.db.read() as conn:
        member_id = member_store.find_member_id(conn, **ident)
    return member_view(ctx, member_id, datetime.now(UTC))
