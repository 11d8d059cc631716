"""Privacy at HQ: export a member's data, erase a member, list possible duplicates, and
check every origin's hash chain (docs/SECURITY.md, "Privacy: export and erase").

    >>> with ctx.db.read() as conn:
    ...     data = export_member(conn, member_id)        # JSON-ready dict
    >>> data["profile"]["name"], len(data["events"])
    ('Ann Lee', 4)
    >>> done = erase_member(ctx, member_id, reason="GDPR request #118", by="alice")
    >>> done["pseudonym"], done["events_erased"]
    ('erased-3c4d5e6f', 1)
    >>> with ctx.db.read() as conn:
    ...     duplicates(conn, region="FR")["groups"]     # same phone / e-mail, never merged
    ...     check_chains(conn)["problems"]              # [] when every chain holds
    []

An erasure pseudonymises the member's row (name `erased-XXXXXXXX`, no phone, e-mail or
birthday, no consent), blanks the personal data of the member's events in the ledger
(`loyalty.erasure.erase_event`: amounts, ids and refs stay, so balances, lots, stamps and
liability are unchanged; each erased event keeps the hash it had, so the chains still
verify), drops the member's notification outbox rows, records who erased whom and why
(`erasures`), and reaches the terminals as an `erase` change of the pull feed, after
the member change with the pseudonymised profile. The member's cards stay theirs: an
erased member's card still finds the (pseudonymous) account at a till, which keeps
earning and spending what it holds.

`pos-hub member export|erase|duplicates` and `pos-hub check` (`register` adds them);
`GET /v1/admin/members/{id}/export`, `POST /v1/admin/members/{id}/erase`,
`GET /v1/admin/members/duplicates` (hub.api.admin).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from hub.context import HubContext
from hub.db import now_text
from hub.exceptions import Conflict, Invalid, NotFound
from hub.store import changes, programs
from hub.store import members as member_store
from hub.tables import (
    cards,
    erasures,
    events,
    members,
    notifications,
    online_orders,
    streams,
)
from loyalty.contact import normalise_email, normalise_phone_or_keep
from loyalty.erasure import erase_event, erasure_problem, pseudonym
from loyalty.events import GENESIS, Kind, chain_link
from loyalty.summary import member_summary

ERASE = "erase"  # the change feed's kind (and the pull change's "type")
_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-"
                   r"[0-9a-fA-F]{12}$")
_CARD = re.compile(r"^[0-9]{16}$")


def resolve_member(conn: Connection, member: str) -> str:
    """The member id for what HQ typed: a card number (16 digits, spaces or dashes
    allowed) or a member id.

        >>> resolve_member(conn, "6012 3456 7890 1234")
        '0192f0e4-7b1c-7d2e-8f00-1a2b3c4d5e6f'
    """
    text = member.strip()
    digits = re.sub(r"[\s-]", "", text)
    if _CARD.match(digits):
        return member_store.find_member_id(conn, card=digits)
    if _UUID.match(text):
        return member_store.find_member_id(conn, member_id=text.lower())
    raise Invalid(f"{member!r} is neither a card number (16 digits) nor a member id",
                  code="bad_member")


def _erasure(conn: Connection, member_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(erasures).where(erasures.c.member_id == member_id)).first()
    return dict(row._mapping) if row is not None else None


# -- export ---------------------------------------------------------------------------------
def export_member(conn: Connection, member_id: str,
                  at: datetime | None = None) -> dict[str, Any]:
    """Everything the hub holds about one member, as JSON-ready values: profile and
    consents, cards, every ledger event in plain fields (with hub_seq and received_at),
    balances (points, debt, held, spendable, lots, stamps, tier), vouchers, receipts, online
    orders, notifications, and the erasure record if erased. The PIN hash is left out, of
    the state and of the `pin` events alike (whether a PIN is set is said): it is a
    secret, not data about the person.

        >>> export_member(conn, member_id)["balances"]["points"]
        120
    """
    at = at or datetime.now(UTC)
    row = conn.execute(select(members).where(members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound(f"no member {member_id} at the hub", code="unknown_member")
    m = row._mapping
    card_rows = [dict(r._mapping) for r in conn.execute(
        select(cards.c.card_number, cards.c.source, cards.c.added_at)
        .where(cards.c.member_id == member_id).order_by(cards.c.added_at))]
    ledger = []
    for r in conn.execute(select(events.c.hub_seq, events.c.received_at, events.c.content)
                          .where(events.c.member_id == member_id)
                          .order_by(events.c.hub_seq)):
        entry = {**member_store.event_from_row(r.content).to_dict(),
                 "hub_seq": int(r.hub_seq), "received_at": r.received_at}
        if entry["kind"] == Kind.PIN and "hash" in entry["data"]:
            # a hash of 4 to 8 digits is the PIN to whoever holds it for a few seconds
            entry["data"] = {k: v for k, v in entry["data"].items() if k != "hash"}
        ledger.append(entry)
    state = member_store.state_from_json(m["state"])
    snapshot = state.to_dict()
    program = programs.current_program(conn)
    summary = member_summary(program, state, at).to_dict() if program else None
    receipts: dict[str, dict[str, Any]] = {}
    for e in ledger:
        if not e["ref"]:
            continue
        r = receipts.setdefault(e["ref"], {"ref": e["ref"], "origin": e["origin"],
                                           "occurred_at": e["occurred_at"], "events": []})
        r["events"].append({"event_id": e["event_id"], "kind": e["kind"],
                            "points": e["points"], "stamps": e["stamps"],
                            "amount": e["amount"], "currency": e["currency"]})
    orders = [dict(r._mapping) for r in conn.execute(
        select(online_orders.c.order_id, online_orders.c.origin, online_orders.c.created_at)
        .where(online_orders.c.member_id == member_id).order_by(online_orders.c.created_at))]
    notes = [{**dict(r._mapping), "payload": json.loads(r.payload)} for r in conn.execute(
        select(notifications.c.kind, notifications.c.status, notifications.c.created_at,
               notifications.c.sent_at, notifications.c.payload)
        .where(notifications.c.member_id == member_id).order_by(notifications.c.id))]
    return {
        "member_id": member_id,
        "exported_at": at.isoformat(timespec="seconds"),
        "profile": {"name": m["name"], "phone": m["phone"], "email": m["email"],
                    "birthday": m["birthday"], "origin": m["origin"],
                    "created_at": m["created_at"], "merged_into": m["merged_into"]},
        "consents": {"email": bool(m["consent_email"]), "sms": bool(m["consent_sms"])},
        "cards": card_rows,
        "balances": {"points": state.balance, "debt": state.debt, "held": state.held,
                     "spendable": state.spendable, "stamps": dict(state.stamps),
                     "lots": [{"lot_id": lot[0], "earned_at": lot[1], "expires_at": lot[2],
                               "original": lot[3], "remaining": lot[4]}
                              for lot in snapshot["lots"]],
                     "earned_total": state.earned_total, "spent_total": state.spent_total,
                     "tier": summary["tier"] if summary else state.last_tier,
                     "paid_tier": snapshot["paid_tier"]},
        "pin_set": state.pin_hash is not None,
        "vouchers": list(snapshot["vouchers"].values()),
        "summary": summary,
        "events": ledger,
        "receipts": list(receipts.values()),
        "online_orders": orders,
        "notifications": notes,
        "erasure": _erasure(conn, member_id),
    }


# -- erase ----------------------------------------------------------------------------------
def erase_member(ctx: HubContext, member_id: str, *, reason: str, by: str,
                 at: datetime | None = None) -> dict[str, Any]:
    """Pseudonymise the member and blank the personal data of their events, in one
    transaction; Conflict (`already_erased`) for a member erased before. Returns
    `{"member_id", "pseudonym", "erased_at", "erased_by", "reason", "events_erased",
    "event_ids", "notifications_dropped"}`.

        >>> erase_member(ctx, member_id, reason="asked by e-mail, ticket 4411", by="cli")
    """
    reason = " ".join(reason.split())
    if not 1 <= len(reason) <= 500:
        raise Invalid("give the reason for the record (1 to 500 characters)",
                      code="bad_reason")
    erased_at = now_text(at or datetime.now(UTC))
    name = pseudonym(member_id)
    with ctx.db.write() as conn:
        member_store.lock_member(conn, ctx.db, member_id)  # NotFound; FOR UPDATE on PG
        before = _erasure(conn, member_id)
        if before is not None:
            raise Conflict(f"member {member_id} was already erased on {before['erased_at']} "
                           f"(as {before['pseudonym']}): nothing left to erase",
                           code="already_erased", erased_at=before["erased_at"])
        erased_ids = []
        for r in conn.execute(select(events.c.hub_seq, events.c.content)
                              .where(events.c.member_id == member_id)
                              .order_by(events.c.hub_seq)).all():
            erased = erase_event(member_store.event_from_row(r.content), erased_at)
            if erased is not None:
                conn.execute(events.update().where(events.c.hub_seq == r.hub_seq)
                             .values(content=erased.canonical()))
                erased_ids.append(erased.event_id)
        conn.execute(members.update().where(members.c.member_id == member_id).values(
            name=name, phone=None, email=None, birthday=None, consent_email=False,
            consent_sms=False, updated_at=erased_at))
        dropped = conn.execute(notifications.delete()
                               .where(notifications.c.member_id == member_id)).rowcount
        conn.execute(erasures.insert().values(
            member_id=member_id, pseudonym=name, reason=reason, erased_by=by[:64],
            erased_at=erased_at, events=len(erased_ids)))
        # last: the change counter's lock is held until commit (hub.store.changes)
        changes.touch(conn, ctx.db, "member", [member_id])
        changes.touch(conn, ctx.db, ERASE, [member_id])
    return {"member_id": member_id, "pseudonym": name, "erased_at": erased_at,
            "erased_by": by, "reason": reason, "events_erased": len(erased_ids),
            "event_ids": erased_ids, "notifications_dropped": int(dropped or 0)}


def pull_changes(conn: Connection, db: Any, member_ids: list[str]) -> dict[str, dict]:
    """The pull feed's erase changes by member id: `{"type": "erase", "member_id",
    "pseudonym", "erased_at", "event_ids"}` (change_seq added by the caller). A terminal
    blanks its copies of those events exactly as the hub did (`loyalty.erasure`) and
    pseudonymises its member row; one that does not know the type skips it (the member
    change before it already brought the pseudonymised profile)."""
    if not member_ids:
        return {}
    out: dict[str, dict] = {}
    for r in conn.execute(select(erasures).where(db.among(erasures.c.member_id,
                                                          member_ids))):
        out[r.member_id] = {"type": ERASE, "member_id": r.member_id,
                            "pseudonym": r.pseudonym, "erased_at": r.erased_at,
                            "event_ids": []}
    if out:
        for r in conn.execute(select(events.c.member_id, events.c.content)
                              .where(db.among(events.c.member_id, list(out)))
                              .order_by(events.c.hub_seq)):
            if '"erased":' in r.content:
                event = member_store.event_from_row(r.content)
                if "erased" in event.data:
                    out[r.member_id]["event_ids"].append(event.event_id)
    return out


# -- possible duplicates ----------------------------------------------------------------------
def duplicates(conn: Connection, region: str = "") -> dict[str, Any]:
    """Groups of members (not merged into another) who share a phone number (read to E.164
    with `region`) or an e-mail address (without case). Nothing is merged: HQ decides.

        >>> duplicates(conn, "FR")["groups"][0]["by"], ...
        ('phone', '+33611223344', [...])
    """
    by_key: dict[tuple[str, str], list[dict[str, Any]]] = {}
    rows = conn.execute(
        select(members.c.member_id, members.c.name, members.c.phone, members.c.email,
               members.c.origin, members.c.created_at, members.c.balance)
        .where(members.c.merged_into.is_(None))
        .where((members.c.phone.is_not(None)) | (members.c.email.is_not(None)))
        .order_by(members.c.created_at, members.c.member_id))
    for r in rows:
        m = dict(r._mapping)
        if m["phone"]:
            by_key.setdefault(("phone", normalise_phone_or_keep(m["phone"], region) or ""),
                              []).append(m)
        if m["email"] and m["email"].strip():
            by_key.setdefault(("email", normalise_email(m["email"])), []).append(m)
    shared = {k: v for k, v in by_key.items() if len(v) > 1}
    ids = sorted({m["member_id"] for group in shared.values() for m in group})
    card_lists: dict[str, list[str]] = {}
    for start in range(0, len(ids), member_store.CHUNK):
        for c in conn.execute(select(cards.c.member_id, cards.c.card_number)
                              .where(cards.c.member_id.in_(ids[start:start
                                                               + member_store.CHUNK]))
                              .order_by(cards.c.added_at)):
            card_lists.setdefault(c.member_id, []).append(c.card_number)
    groups = [{"by": by, "value": value,
               "members": [{**m, "card_numbers": card_lists.get(m["member_id"], [])}
                           for m in group]}
              for (by, value), group in sorted(shared.items())]
    return {"groups": groups, "members": len(ids)}


# -- chain check ----------------------------------------------------------------------------
def check_chains(conn: Connection, origins: list[str] | None = None) -> dict[str, Any]:
    """Walk every origin's stream of the ledger (or only `origins`') in origin_seq order:
    no gap, each event's prev_hash the link of the one before (`chain_link`: an erased
    event links by the hash it had before its erasure), each erased event sound
    (`erasure_problem`), and the stream's head as recorded. Returns `{"streams",
    "events", "erased", "problems"}`."""
    problems: list[str] = []
    n_events = n_erased = 0
    stmt = select(streams.c.origin, streams.c.origin_epoch, streams.c.high_seq,
                  streams.c.chain_hash).order_by(streams.c.origin, streams.c.origin_epoch)
    if origins is not None:
        stmt = stmt.where(streams.c.origin.in_(origins))
    heads = conn.execute(stmt).all()
    for head in heads:
        where = f"{head.origin} epoch {head.origin_epoch}"
        prev, seq = GENESIS, 0
        for r in conn.execute(select(events.c.origin_seq, events.c.content)
                              .where(events.c.origin == head.origin,
                                     events.c.origin_epoch == head.origin_epoch)
                              .order_by(events.c.origin_seq)
                              .execution_options(yield_per=1000)):  # never all at once
            n_events += 1
            event = member_store.event_from_row(r.content)
            if event.origin_seq != seq + 1:
                problems.append(f"{where}: origin_seq {seq + 1} is missing")
            if event.prev_hash != prev:
                problems.append(f"{where}: seq {event.origin_seq} does not continue the chain")
            if "erased" in event.data:
                n_erased += 1
                problem = erasure_problem(event)
                if problem:
                    problems.append(f"{where}: {problem}")
            prev, seq = chain_link(event), event.origin_seq
        if seq != head.high_seq:
            problems.append(f"{where}: the stream says {head.high_seq} events, the ledger "
                            f"holds up to seq {seq}")
        elif prev != head.chain_hash:
            problems.append(f"{where}: the chain head differs from the stream's")
    return {"streams": len(heads), "events": n_events, "erased": n_erased,
            "problems": problems}


# -- `pos-hub member ...`, `pos-hub check` ----------------------------------------------------
Emit = Callable[[argparse.Namespace, Any, list[str]], None]


def _confirmed(prompt: str) -> bool:
    print(prompt, end="", file=sys.stderr, flush=True)
    try:
        answer = input()
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def register(sub: Any, command: Callable[..., argparse.ArgumentParser],
             config: argparse.ArgumentParser, both: list[argparse.ArgumentParser],
             ctx_for: Callable[[Any], Any], emit: Emit,
             table: Callable[[list[dict[str, Any]], list[str]], list[str]]) -> Any:
    """Add `pos-hub member export|erase|duplicates` and `pos-hub check` to the parser;
    returns the `member` group's subparsers, where other `pos-hub member ...` commands
    go (`command(ops, "merge", ...)`)."""

    def run_export(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                data = export_member(conn, resolve_member(conn, args.member))
        finally:
            ctx.close()
        text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        if args.output in (None, "-"):
            sys.stdout.write(text)
            return 0
        try:
            Path(args.output).write_text(text, encoding="utf-8")
        except OSError as exc:
            raise Invalid(f"cannot write {args.output}: {exc.strerror or exc}") from exc
        emit(args, {"member_id": data["member_id"], "output": args.output,
                    "events": len(data["events"])},
             [f"member {data['member_id']}: {len(data['events'])} events, "
              f"{len(data['cards'])} cards written to {args.output}"])
        return 0

    def run_erase(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                member_id = resolve_member(conn, args.member)
                before = _erasure(conn, member_id)
                name = conn.execute(select(members.c.name)
                                    .where(members.c.member_id == member_id)).scalar()
            if before is not None:
                raise Conflict(f"member {member_id} was already erased on "
                               f"{before['erased_at']} (as {before['pseudonym']}): nothing "
                               "left to erase", code="already_erased")
            # asked before the write transaction: a prompt must not hold the database
            from loyalty.validation import escape_text
            if not args.yes and not _confirmed(
                    f"Erase {escape_text(name or '(no name)')} ({member_id})? Their name, "
                    "phone, e-mail and birthday are removed from the hub and, once they "
                    "sync, from every terminal; points and history stay. This cannot be "
                    "undone. [y/N] "):
                print("pos-hub: nothing erased (confirm with y, or give --yes)",
                      file=sys.stderr)
                return 1
            done = erase_member(ctx, member_id, reason=args.reason, by="cli")
        finally:
            ctx.close()
        emit(args, done, [f"member {member_id} erased: now {done['pseudonym']}; personal "
                          f"data blanked in {done['events_erased']} ledger event(s), "
                          f"{done['notifications_dropped']} notification(s) dropped; "
                          "terminals pseudonymise their copy on their next sync"])
        return 0

    def run_duplicates(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                data = duplicates(conn, ctx.settings.hub.region)
        finally:
            ctx.close()
        lines = [f"{len(data['groups'])} group(s) of members sharing a phone or an e-mail "
                 "(nothing was merged)"]
        for group in data["groups"]:
            lines += ["", f"same {group['by']}: {group['value']}",
                      *table([{**m, "cards": " ".join(m["card_numbers"])}
                              for m in group["members"]],
                             ["member_id", "name", "cards", "origin", "created_at",
                              "balance"])]
        emit(args, data, lines)
        return 0

    def run_check(args: argparse.Namespace, settings: Any) -> int:
        ctx = ctx_for(settings)
        try:
            with ctx.db.read() as conn:
                data = check_chains(conn)
        finally:
            ctx.close()
        data["ok"] = not data["problems"]
        emit(args, data, data["problems"] or [
            f"ledger chains OK: {data['streams']} streams, {data['events']} events "
            f"({data['erased']} erased)"])
        return 0 if data["ok"] else 1

    member_arg = {"metavar": "MEMBER", "help": "a card number or a member id"}
    p = command(sub, "member", "a member's data: export, erase; possible duplicates",
                "Privacy and housekeeping of members at HQ (docs/SECURITY.md, \"Privacy: "
                "export and erase\").", [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "export", "everything the hub holds about a member, as JSON",
                "Print (or write to --output) the member's data as JSON: profile, "
                "consents, cards, every ledger event, balances, vouchers, receipts, online "
                "orders, notifications.", both)
    q.add_argument("member", **member_arg)
    q.add_argument("--output", metavar="FILE", help="write the JSON to FILE")
    q.set_defaults(func=run_export)
    q = command(ops, "erase", "pseudonymise a member; their points and history stay",
                "Erase a member's personal data: the name becomes erased-XXXXXXXX; phone, "
                "e-mail, birthday and consents go, from the member row and from the "
                "ledger's events; amounts stay, so balances and liability do not change. "
                "Terminals do the same on their next sync. The card still finds the "
                "pseudonymous account. Asks for confirmation unless --yes; cannot be "
                "undone; a member erased before is refused.", both)
    q.add_argument("member", **member_arg)
    q.add_argument("--reason", required=True, help="why, for the record (e.g. the request)")
    q.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    q.set_defaults(func=run_erase)
    q = command(ops, "duplicates", "members sharing a phone or an e-mail (nothing merged)",
                "List groups of members who share a phone number (E.164) or an e-mail "
                "address (without case). Only a list: nothing is merged.", both)
    q.set_defaults(func=run_duplicates)

    p = command(sub, "check", "verify every origin's hash chain in the hub's ledger",
                "Walk every terminal's and channel's stream of events: no gap, every "
                "prev_hash continues the chain (an erased event by the hash it had before "
                "its erasure), erased events unchanged since. Exit status 1 on a problem.",
                both)
    p.set_defaults(func=run_check)
    return ops


__all__ = ["ERASE", "check_chains", "duplicates", "erase_member", "export_member",
           "pull_changes", "register", "resolve_member"]
