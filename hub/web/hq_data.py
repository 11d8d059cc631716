"""What HQ's back office pages show: one query function per page, used by the HTML page
and by its JSON twin under `/v1/hq`, so a page never shows what the API would not.

    >>> dashboard(conn, user, now)               # GET /hq/dashboard   and /v1/hq/dashboard
    >>> search_members(conn, user, "ann", "FR")  # GET /hq/members?q=  and /v1/hq/members
    >>> member(conn, user, member_id)            # GET /hq/members/ID  and /v1/hq/members/ID
    >>> flag_queue(conn, user)                   # GET /hq/flags       and /v1/hq/flags
    >>> stores(conn, user, now)                  # GET /hq/stores      and /v1/hq/stores
    >>> audit(conn, user)                        # GET /hq/audit       and /v1/hq/audit
    >>> program_versions(conn, user)             # GET /hq/program     and /v1/hq/program
    >>> program_preview(conn, user, read_draft(text), sample, "Gold", now)
                                                 # POST /hq/program/preview

Every function takes the signed-in `HqUser` and returns only what their role may see: a
store manager gets their store's rows alone, and a member, flag or terminal of another
store is `NotFound` (404, the same answer as an id nobody has), so no id typed in a URL
reaches beyond the role's scope. Who may change what: hub.web.hq_pages.
"""

from __future__ import annotations

import contextlib
import difflib
import json
import re
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Connection, and_, case, func, or_, select

from hub.exceptions import Forbidden, NotFound
from hub.store import flags as flag_store
from hub.store import members as member_store
from hub.store import reports
from hub.store.credentials import TERMINAL_ID, store_of
from hub.store.programs import current_program, current_version, program_by_version, raw_program
from hub.tables import cards, credentials, events, flags, hq_audit, members, origins
from hub.tables import programs as program_table
from hub.web.hq_users import HqUser
from hub.web.member_data import describe, where
from loyalty.contact import PhoneError, phone_lookup_forms
from loyalty.earning import earn_for_sale
from loyalty.errors import ProgramError, SaleError
from loyalty.events import parse_instant
from loyalty.fold import MemberState
from loyalty.money import format_money
from loyalty.program import Program, RewardKind, program_from_dict
from loyalty.sale import SaleLine, make_sale, parse_line
from loyalty.validation import dotted

CHART_DAYS = 30
STALE_AFTER = timedelta(hours=1)
"""A terminal not heard from (push or pull) for this long is behind on sync."""
LEDGER_LIMIT = 200
SEARCH_LIMIT = 50
AUDIT_LIMIT = 500
ISSUED_KINDS = ("earn", "bonus", "stamp", "adjust")
"""Kinds whose positive points count as issued on the chart (a merge moves points, a
reversal gives back what a void took: neither is new)."""


# -- words ----------------------------------------------------------------------------------
def ago(then: datetime | None, now: datetime) -> str:
    """How long ago, in words ("3 hours ago"), as healthchecks shows a last ping."""
    if then is None:
        return "never"
    s = int((now - then).total_seconds())
    if s < 45:
        return "just now"
    if s < 90:
        return "a minute ago"
    if s < 3600:
        return f"{round(s / 60)} minutes ago"
    if s < 5400:
        return "an hour ago"
    if s < 86_400:
        return f"{round(s / 3600)} hours ago"
    if s < 172_800:
        return "a day ago"
    return f"{s // 86_400} days ago"


def _instant(text: str | None) -> datetime | None:
    return parse_instant(text) if text else None


def _program(conn: Connection) -> Program | None:
    return current_program(conn)


def point_value(program: Program | None) -> int | None:
    """What a point is worth in money (minor units): the program's pay-with-points rate;
    None when it has none (the liability is then in points only)."""
    for reward in (program.rewards if program else ()):
        if reward.kind == RewardKind.PAY_WITH_POINTS and reward.point_value:
            return reward.point_value
    return None


def _money(program: Program | None, minor: int | None) -> str | None:
    if minor is None or program is None:
        return None
    return format_money(minor, program.currency_exponent, program.currency)


def _terminal_like(store: str) -> Any:
    # a store id is letters and digits only (TERMINAL_ID), so no LIKE wildcard in it
    return events.c.origin.like(f"{store}-%")


# -- dashboard ------------------------------------------------------------------------------
def chart(conn: Connection, user: HqUser, now: datetime) -> list[dict[str, Any]]:
    """Points issued and redeemed per UTC day, the last CHART_DAYS days, oldest first
    (every day, zeros included). A store manager's: their store's terminals only."""
    first = (now - timedelta(days=CHART_DAYS - 1)).date()
    day = func.substr(events.c.occurred_at, 1, 10)
    issued = func.sum(case((and_(events.c.points > 0, events.c.kind.in_(ISSUED_KINDS)),
                            events.c.points), else_=0))
    redeemed = func.sum(case((events.c.kind == "redeem", -events.c.points), else_=0))
    stmt = (select(day.label("day"), issued.label("issued"), redeemed.label("redeemed"))
            .where(events.c.occurred_at >= first.isoformat()).group_by(day))
    if user.role == "store_manager":
        stmt = stmt.where(_terminal_like(user.store or ""))
    got = {r.day: (int(r.issued or 0), int(r.redeemed or 0)) for r in conn.execute(stmt)}
    out = []
    for i in range(CHART_DAYS):
        d = (first + timedelta(days=i)).isoformat()
        got_issued, got_redeemed = got.get(d, (0, 0))
        out.append({"day": d, "issued": got_issued, "redeemed": got_redeemed})
    return out


def _terminal_health(conn: Connection, user: HqUser, now: datetime) -> list[dict[str, Any]]:
    """Every terminal the user may see, with its sync health and whether it is live (has
    a credential not revoked) and behind."""
    live = {r[0] for r in conn.execute(
        select(credentials.c.name).where(credentials.c.kind == "terminal",
                                         credentials.c.revoked_at.is_(None)))}
    out = []
    for row in reports.sync_health(conn):
        if row["kind"] != "terminal" or not user.sees_store(row["store"]):
            continue
        contact = max((t for t in (row["last_push_at"], row["last_pull_at"]) if t),
                      default=None)
        last = _instant(contact)
        behind_by = row["events_behind"] or 0
        stale = last is None or now - last > STALE_AFTER
        behind = row["origin"] in live and (behind_by > 0 or stale or bool(row["gaps"])
                                            or bool(row["chain_broken"]))
        out.append({**row, "live": row["origin"] in live, "last_sync_at": contact,
                    "last_sync": ago(last, now), "behind": behind})
    return out


def behind_on_sync(terminals: list[dict[str, Any]], now: datetime) -> list[dict[str, Any]]:
    """Stores with a live terminal behind: the oldest last sync among them, the events
    their tills hold that the hub has not, in one sentence each."""
    per_store: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for t in terminals:
        if t["behind"]:
            per_store[t["store"]].append(t)
    out = []
    for store, rows in sorted(per_store.items()):
        never = any(r["last_sync_at"] is None for r in rows)
        oldest = None if never else min(r["last_sync_at"] for r in rows)
        events_behind = sum(r["events_behind"] or 0 for r in rows)
        refused = sum(r["gaps"] + r["chain_broken"] for r in rows)
        words = "never synced" if never else f"last sync {ago(_instant(oldest), now)}"
        text = f"{store}: {words}"
        if events_behind:
            text += f", {events_behind:,} event{'s' if events_behind != 1 else ''} behind"
        if refused:
            text += f", {refused} push{'es' if refused != 1 else ''} refused"
        out.append({"store": store, "terminals": [r["origin"] for r in rows],
                    "last_sync_at": oldest, "events_behind": events_behind,
                    "refused": refused, "text": text})
    return out


def _open_flags(conn: Connection, user: HqUser) -> int:
    stmt = select(func.count()).select_from(flags).where(flags.c.resolved_at.is_(None))
    if user.role == "store_manager":
        stmt = stmt.where(flags.c.store == user.store)
    return int(conn.execute(stmt).scalar_one())


def dashboard(conn: Connection, user: HqUser, now: datetime) -> dict[str, Any]:
    program = _program(conn)
    value = point_value(program)
    report = reports.liability(conn)
    stores_rows = [s for s in report["stores"] if user.sees_store(s["store"])]

    def worth(points: int) -> int | None:
        return points * value if value is not None else None

    liability: dict[str, Any] = {
        "stores": [{"store": s["store"], "points": s["points"], "money": worth(s["points"]),
                    "money_text": _money(program, worth(s["points"]))} for s in stores_rows],
    }
    if user.role == "store_manager":
        # the store's own net points; the channels and HQ's own lines are not theirs
        total = sum(s["points"] for s in stores_rows)
        liability.update(channels=[], hub=None, total=total, held=None, debt=None)
    else:
        liability.update(
            channels=[{"channel": c["channel"], "origin": c["origin"], "points": c["points"],
                       "money": worth(c["points"]),
                       "money_text": _money(program, worth(c["points"]))}
                      for c in report["channels"]],
            hub=report["hub"], total=report["total"], held=report["held"],
            debt=report["debt"])
    liability["total_money"] = worth(liability["total"])
    liability["total_money_text"] = _money(program, liability["total_money"])
    days = chart(conn, user, now)
    terminals = _terminal_health(conn, user, now)
    return {
        "role": user.role, "store": user.store,
        "points_name": program.points_name if program else "points",
        "currency": program.currency if program else None,
        "point_value": value,
        "chart": {"days": days, "issued": sum(d["issued"] for d in days),
                  "redeemed": sum(d["redeemed"] for d in days)},
        "liability": liability,
        "behind": behind_on_sync(terminals, now),
        "open_flags": _open_flags(conn, user),
    }


# -- members --------------------------------------------------------------------------------
def _member_store(origin: str) -> str:
    return store_of(origin)


def _member_scope(user: HqUser) -> Any:
    if user.role != "store_manager":
        return None
    return members.c.origin.like(f"{user.store}-%")


def search_members(conn: Connection, user: HqUser, q: str, region: str) -> dict[str, Any]:
    """Members matching `q`: a card number (16 digits), an e-mail, a phone number in any
    usual format, or a part of the name; a store manager's among the members enrolled at
    their store."""
    q = " ".join(q.split())[:120]
    if not q:
        return {"q": q, "members": [], "limit": SEARCH_LIMIT}
    conditions = []
    digits = q.replace(" ", "").replace("-", "")
    if digits.isascii() and digits.isdigit() and len(digits) == 16:
        conditions.append(members.c.member_id.in_(
            select(cards.c.member_id).where(cards.c.card_number == digits)))
    if "@" in q:
        conditions.append(func.lower(members.c.email) == q.lower())
    if sum(c.isdigit() for c in q) >= 6 and set(q) <= set("+0123456789 -.()"):
        with contextlib.suppress(PhoneError):  # not a phone number after all
            conditions.append(members.c.phone.in_(phone_lookup_forms(q, region)))
    pattern = (q.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"))
    conditions.append(func.lower(members.c.name).like(f"%{pattern}%", escape="\\"))
    stmt = (select(members.c.member_id, members.c.name, members.c.phone, members.c.email,
                   members.c.origin, members.c.balance, members.c.held)
            .where(or_(*conditions)).order_by(members.c.name, members.c.member_id)
            .limit(SEARCH_LIMIT))
    scope = _member_scope(user)
    if scope is not None:
        stmt = stmt.where(scope)
    rows = list(conn.execute(stmt))
    numbers: dict[str, list[str]] = defaultdict(list)
    if rows:
        for r in conn.execute(select(cards.c.member_id, cards.c.card_number)
                              .where(cards.c.member_id.in_([r.member_id for r in rows]))
                              .order_by(cards.c.added_at)):
            numbers[r.member_id].append(r.card_number)
    return {"q": q, "limit": SEARCH_LIMIT, "members": [
        {"member_id": r.member_id, "name": r.name, "phone": r.phone, "email": r.email,
         "store": _member_store(r.origin), "balance": int(r.balance), "held": int(r.held),
         "card_numbers": numbers[r.member_id]} for r in rows]}


def visible_member(conn: Connection, user: HqUser, member_id: str) -> dict[str, Any]:
    """The member's row if the user may see them; NotFound else (or for no such member)."""
    row = conn.execute(select(members.c.member_id, members.c.origin)
                       .where(members.c.member_id == member_id)).first()
    if row is None or not user.sees_store(_member_store(row.origin)):
        raise NotFound(f"no member {member_id} here", code="unknown_member")
    return {"member_id": row.member_id, "store": _member_store(row.origin)}


def balances(conn: Connection, member_id: str) -> dict[str, int]:
    state = member_store.member_state(conn, member_id)
    if state is None:
        raise NotFound(f"no member {member_id} here", code="unknown_member")
    return {"balance": state.balance, "held": state.held, "spendable": state.spendable,
            "debt": state.debt}


def member(conn: Connection, user: HqUser, member_id: str) -> dict[str, Any]:
    """A member's profile, balance (held and spendable), newest ledger events and flags."""
    visible = visible_member(conn, user, member_id)
    profile = member_store.member_profile(conn, member_id)
    program = _program(conn)
    rows = conn.execute(
        select(events.c.content, events.c.hub_seq).where(events.c.member_id == member_id)
        .order_by(events.c.hub_seq.desc()).limit(LEDGER_LIMIT))
    ledger = []
    for r in rows:
        event = member_store.event_from_row(r.content)
        text = None
        if program is not None:
            version = program_by_version(conn, event.program_version) \
                if event.program_version else None
            text = describe(event, version, program)
        ledger.append({
            "event_id": event.event_id, "hub_seq": int(r.hub_seq), "kind": event.kind,
            "origin": event.origin, "where": where(event), "points": event.points,
            "ref": event.ref or None, "occurred_at": event.occurred_at,
            "reason": event.data.get("reason") or event.data.get("note"),
            "by": event.data.get("by"), "text": text or event.kind})
    member_flags = [
        _flag_public(f) for f in
        _flags(conn, select(flags).where(flags.c.member_id == member_id)
               .order_by(flags.c.id.desc()).limit(100))
        if user.sees_store(f["store"])]
    return {
        "member_id": member_id, "name": profile["name"], "phone": profile["phone"],
        "email": profile["email"], "card_numbers": profile["card_numbers"],
        "store": visible["store"], "origin": profile["origin"],
        "created_at": profile["created_at"],
        "points_name": program.points_name if program else "points",
        **balances(conn, member_id),
        "ledger": ledger, "ledger_limit": LEDGER_LIMIT, "flags": member_flags,
    }


# -- flags ----------------------------------------------------------------------------------
def _flags(conn: Connection, stmt: Any) -> list[dict[str, Any]]:
    out = []
    for r in conn.execute(stmt):
        row = dict(r._mapping)
        row["event_ids"] = json.loads(row["event_ids"])
        row["status"] = "resolved" if row["resolved_at"] else "open"
        out.append(row)
    return out


def _flag_public(f: dict[str, Any]) -> dict[str, Any]:
    return {"id": int(f["id"]), "kind": f["kind"], "member_id": f["member_id"],
            "origin": f["origin"], "store": f["store"], "detail": f["detail"],
            "created_at": f["created_at"], "status": f["status"],
            "resolved_at": f["resolved_at"], "resolution_note": f["resolution_note"],
            "held": f["kind"] == "points_held"}


def flag_queue(conn: Connection, user: HqUser) -> dict[str, Any]:
    """The open flags, newest first; a store manager's: their store's."""
    rows = flag_store.list_flags(conn, status="open",
                                 store=user.store if user.role == "store_manager" else None)
    return {"flags": [_flag_public(f) for f in rows]}


def visible_flag(conn: Connection, user: HqUser, flag_id: int) -> dict[str, Any]:
    found = flag_store.get_flag(conn, flag_id)
    if found is None or (user.role == "store_manager" and found["store"] != user.store):
        raise NotFound(f"no flag {flag_id} here", code="unknown_flag")
    return _flag_public(found)


# -- stores and terminals -------------------------------------------------------------------
def stores(conn: Connection, user: HqUser, now: datetime) -> dict[str, Any]:
    """Every terminal the user may see with its sync health, by store."""
    terminals = _terminal_health(conn, user, now)
    return {"role": user.role, "store": user.store,
            "terminals": [{k: t[k] for k in (
                "origin", "store", "live", "last_push_at", "last_pull_at", "last_sync_at",
                "last_sync", "high_seq", "reported_high_seq", "events_behind", "gaps",
                "chain_broken", "behind")} for t in terminals],
            "behind": behind_on_sync(terminals, now)}


def visible_terminal(conn: Connection, user: HqUser, origin: str) -> str:
    """A terminal id the user may act on: NotFound for another store's or no terminal."""
    row = conn.execute(select(origins.c.origin, origins.c.store)
                       .where(origins.c.origin == origin, origins.c.kind == "terminal")).first()
    if row is None or not user.sees_store(row.store):
        raise NotFound(f"no terminal {origin} here", code="unknown_terminal")
    return row.origin


def check_new_terminal(user: HqUser, origin: str) -> None:
    """A store manager adds terminals of their own store only."""
    if TERMINAL_ID.fullmatch(origin) and not user.sees_store(store_of(origin)):
        raise Forbidden(f"you manage store {user.store}: {origin} is another store's",
                        code="other_store")


# -- audit ----------------------------------------------------------------------------------
def audit(conn: Connection, user: HqUser) -> dict[str, Any]:
    """Every change made through the HQ pages, newest first (admin and finance)."""
    if user.role not in ("admin", "finance"):
        raise Forbidden("the audit log is for admin and finance", code="role")
    rows = conn.execute(select(hq_audit).order_by(hq_audit.c.id.desc()).limit(AUDIT_LIMIT))
    return {"limit": AUDIT_LIMIT, "entries": [
        {"id": int(r.id), "at": r.at, "username": r.username, "role": r.role,
         "action": r.action, "target": r.target, "before": json.loads(r.before),
         "after": json.loads(r.after)} for r in rows]}


def record_audit(conn: Connection, user: HqUser, action: str, target: str,
                 before: dict[str, Any], after: dict[str, Any], at: str) -> None:
    conn.execute(hq_audit.insert().values(
        at=at, username=user.username, role=user.role, action=action, target=target[:80],
        before=json.dumps(before, sort_keys=True, default=str),
        after=json.dumps(after, sort_keys=True, default=str)))


# -- the program ----------------------------------------------------------------------------
EDITOR_LIMIT = 200_000
"""Characters of the program editor's draft (the demo program is about 6,000)."""
SAMPLE_LIMIT = 50
"""Lines of the preview's sample basket."""
DEFAULT_SAMPLE = "LATTE,coffee,2,3.50\nCROI,pastry,1,1.80"
_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TABLE_ORDER = ("tiers", "stamp_cards", "rewards", "promotions")


def program_versions(conn: Connection, user: HqUser) -> dict[str, Any]:
    """The published program versions, newest first, with what each holds and who
    published it, and the current version as the editor's TOML (`draft`). Every role
    reads it; only an admin gets the editor's form (hub.web.hq_pages)."""
    rows = conn.execute(select(program_table.c.version, program_table.c.published_at,
                               program_table.c.published_by)
                        .order_by(program_table.c.published_at.desc()))
    out = []
    for i, r in enumerate(rows):
        program = program_by_version(conn, r.version)
        if program is None:
            continue
        out.append({
            "version": r.version, "published_at": r.published_at,
            "published_by": r.published_by, "current": i == 0,
            "name": program.name, "points_name": program.points_name,
            "currency": program.currency, "earn_rate": program.earn_rate,
            "tiers": [t.name for t in program.tiers],
            "rewards": [{"id": w.id, "name": w.name, "kind": w.kind.value, "cost": w.cost}
                        for w in program.rewards],
            "stamp_cards": [c.name for c in program.stamp_cards],
            "promotions": [{"id": p.id, "name": p.name, "multiplier": str(p.multiplier)}
                           for p in program.promotions],
        })
    current = out[0]["version"] if out else None
    raw = raw_program(conn, current) if current else None
    return {"versions": out, "current": current,
            "draft": program_toml(raw) if raw is not None else None,
            "can_edit": user.role == "admin"}


# the editor's text: the [program] table as TOML, keys sorted, so that two texts differ
# only where the programs do (comments and key order are not kept)
def normalised(raw: dict[str, Any]) -> dict[str, Any]:
    """`raw` as the hub stores it (hub.store.programs.publish: JSON, dates as text)."""
    return json.loads(json.dumps(raw, default=_json_default, sort_keys=True))


def _json_default(value: Any) -> str:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def _toml_key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _toml_string(key)


def _toml_string(text: str) -> str:
    # JSON's escapes (\" \\ \n \t \uXXXX) are TOML's; TOML refuses a raw DEL too
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return _toml_string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    if value is None:  # TOML has no null: a None is a key left out (its default)
        raise ValueError("no TOML for None")
    return _toml_string(_json_default(value))


def _toml_table(name: str, table: dict[str, Any], out: list[str]) -> None:
    def plain(v: Any) -> bool:
        return not isinstance(v, dict) and not (
            isinstance(v, list) and v and all(isinstance(x, dict) for x in v))

    out.append(f"[{name}]")
    out += [f"{_toml_key(k)} = {_toml_value(v)}" for k, v in table.items()
            if v is not None and plain(v)]
    for k, v in table.items():
        if isinstance(v, dict):
            out.append("")
            _toml_table(f"{name}.{_toml_key(k)}", v, out)
    arrays = [k for k, v in table.items() if not plain(v) and isinstance(v, list)]
    arrays.sort(key=lambda k: (_TABLE_ORDER.index(k) if k in _TABLE_ORDER else 99, k))
    for k in arrays:
        for item in table[k]:
            out.append("")
            out.append(f"[[{name}.{_toml_key(k)}]]")
            out += [f"{_toml_key(ik)} = {_toml_value(iv)}" for ik, iv in item.items()
                    if iv is not None]


def program_toml(raw: dict[str, Any]) -> str:
    """The `[program]` table `raw` as TOML text (the program editor's; `tomllib` reads it
    back to `normalised(raw)`)."""
    out: list[str] = []
    _toml_table("program", normalised(raw), out)
    return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Draft:
    """A program draft read from the editor: the `[program]` table and its Program, or
    the errors that refuse it, each naming the key (`program.rewards[2].cost`)."""

    text: str
    raw: dict[str, Any] | None = None
    program: Program | None = None
    errors: tuple[tuple[str, str], ...] = ()

    @property
    def toml(self) -> str:
        return program_toml(self.raw) if self.raw is not None else self.text


def read_draft(text: str) -> Draft:
    """Validate the editor's text with the domain (`loyalty.program.program_from_dict`,
    as `pos-hub program publish` and every terminal do): every pydantic error with its
    key, or the domain's one (`program.tiers[1].threshold: ...`)."""
    text = text.replace("\r\n", "\n")
    if len(text) > EDITOR_LIMIT:
        return Draft(text, errors=(("", f"the draft is over {EDITOR_LIMIT:,} characters"),))
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        return Draft(text, errors=(("", f"not valid TOML: {exc}"),))
    raw = doc.get("program")
    if not isinstance(raw, dict):
        return Draft(text, errors=(("program", "the [program] table is missing"),))
    extra = sorted(k for k in doc if k != "program")
    if extra:
        return Draft(text, errors=((extra[0], "only the [program] table belongs here"),))
    try:
        program = program_from_dict(raw)
    except ProgramError as exc:
        cause = exc.__cause__
        if isinstance(cause, ValidationError):
            return Draft(text, errors=tuple(_pydantic_errors(cause)))
        return Draft(text, errors=((exc.key, exc.problem),))
    return Draft(text, raw=normalised(raw), program=program)


def _pydantic_errors(exc: ValidationError) -> list[tuple[str, str]]:
    out = []
    for err in exc.errors():
        if err["type"] == "extra_forbidden":
            problem = "unknown key (check its spelling against config.example.toml)"
        elif err["type"] == "missing":
            problem = "is required"
        else:
            problem = err["msg"].removeprefix("Value error, ")
        out.append((dotted(err["loc"], "program"), problem))
    return out


def program_diff(before: str, after: str, version: str | None) -> list[dict[str, str]]:
    """The unified diff (difflib) of the published version's TOML and the draft's, as
    lines with their kind (add, remove, hunk, context) for the page to style."""
    out = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(),
                                     fromfile=f"published {version or '(none)'}",
                                     tofile="draft", lineterm=""):
        kind = ("file" if line.startswith(("+++", "---")) else "add" if line[:1] == "+"
                else "remove" if line[:1] == "-" else "hunk" if line[:2] == "@@"
                else "context")
        out.append({"kind": kind, "text": line})
    return out


def read_sample(text: str, program: Program) -> tuple[list[SaleLine], str | None]:
    """The preview's sample basket: one SKU,CATEGORY,QTY,UNIT_PRICE a line
    (`loyalty.sale.parse_line`, as `pos sale --line`); the lines or why not."""
    lines = []
    for n, line in enumerate([t for t in text.splitlines() if t.strip()], 1):
        if n > SAMPLE_LIMIT:
            return [], f"sample basket: at most {SAMPLE_LIMIT} lines"
        try:
            lines.append(parse_line(line, program.currency_exponent))
        except SaleError as exc:
            return [], f"sample basket, line {n}: {exc}"
    if not lines:
        return [], "sample basket: at least one line, e.g. LATTE,coffee,2,3.50"
    return lines, None


def sample_state(program: Program, tier: str, at: datetime) -> MemberState:
    """A fresh member of `tier` (a paid membership of it, so no spend is needed): what
    the preview earns for; a tier the program lacks is its first."""
    state = MemberState(member_id=PREVIEW_MEMBER)
    if program.tier_named(tier) is not None:
        state.paid_tier = [tier, at + timedelta(days=1)]
    return state


PREVIEW_MEMBER = "00000000-0000-4000-8000-000000000000"


def sample_earn(program: Program, lines: list[SaleLine], tier: str,
                at: datetime) -> dict[str, Any]:
    """What the sample basket earns under `program` for a fresh member of `tier`:
    `loyalty.earning.earn_for_sale`, as a till computes it."""
    result = earn_for_sale(program, sample_state(program, tier, at), make_sale(lines), at,
                           receipt_no="PREVIEW")
    return {"version": program.version, "tier": result.tier,
            "purchase_points": result.purchase_points, "points": result.points,
            "promotions": list(result.promotions),
            "bonuses": [{"reason": r, "points": p} for r, p in result.bonuses],
            "stamps": dict(result.stamps), "points_name": program.points_name}


def check_program_editor(user: HqUser) -> None:
    """Only an admin edits and publishes the program (finance and store managers read
    it and its history)."""
    if user.role != "admin":
        raise Forbidden("the program is edited by an admin", code="role")


def program_preview(conn: Connection, user: HqUser, draft: Draft, sample: str, tier: str,
                    at: datetime) -> dict[str, Any]:
    """POST /hq/program/preview: the draft's errors, or its diff against the published
    version and what the sample basket earns before and after (admin only)."""
    check_program_editor(user)
    version = current_version(conn)
    raw = raw_program(conn, version) if version else None
    published = program_by_version(conn, version) if version else None
    out: dict[str, Any] = {"base": version, "errors": [
        {"key": k, "problem": p} for k, p in draft.errors], "diff": [], "changed": False,
        "sample": sample, "tier": tier, "before": None, "after": None, "sample_error": None}
    if draft.program is None:
        return out
    before_text = program_toml(raw) if raw is not None else ""
    out["diff"] = program_diff(before_text, draft.toml, version)
    out["changed"] = draft.program.version != version
    out["version"] = draft.program.version
    lines, problem = read_sample(sample, draft.program)
    if problem:
        out["sample_error"] = problem
        return out
    out["after"] = sample_earn(draft.program, lines, tier, at)
    if published is not None:
        out["before"] = sample_earn(published, lines, tier, at)
    return out
