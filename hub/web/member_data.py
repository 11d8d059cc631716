"""What a signed-in member may see of their own account: one query function per page,
used by the HTML page and by its JSON twin under `/v1/me`, so a page never shows what the
API would not (and the other way round).

    >>> me(conn, member_id, now)            # GET /me and GET /v1/me
    >>> history(conn, member_id)            # GET /me/history and GET /v1/me/history
    >>> card(conn, ctx, member_id)          # GET /me/card and GET /v1/me/card
    >>> rewards(conn, member_id, now)       # GET /me/rewards and GET /v1/me/rewards
    >>> consent(conn, member_id)            # GET /me/consent and GET /v1/me/consent
    >>> set_consent(conn, db, member_id, email=True, sms=False, source="web", now=now)
    >>> export(conn, member_id)              # GET /me/export (a JSON download)

The member id comes from the session only (hub.web.sessions), never from the request.
Nothing here carries the PIN hash or the folded state: only the member's summary
(`loyalty.summary.member_summary`, the one the tills and receipts show), their events
in words, and their card's QR payload.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from hub import privacy
from hub.context import HubContext
from hub.db import Database
from hub.exceptions import NotFound
from hub.store import changes
from hub.store import members as member_store
from hub.store.credentials import TERMINAL_ID, store_of
from hub.store.fold import HUB_ORIGIN
from hub.store.programs import current_program, program_by_version
from hub.tables import cards, consents, events, members, reward_stock
from loyalty.events import Event, Kind, format_instant, parse_instant
from loyalty.member_qr import key_id, public_key, sign_card
from loyalty.money import format_money
from loyalty.pins import locked_until
from loyalty.program import Program
from loyalty.redemption import BASKET_KINDS, eligible_rewards
from loyalty.summary import member_summary

HISTORY_LIMIT = 200
"""Events the history shows (the newest)."""


def _program(conn: Connection) -> Program:
    program = current_program(conn)
    if program is None:
        raise NotFound("no program is published at this hub yet", code="no_program")
    return program


def card_numbers(conn: Connection, member_id: str) -> list[str]:
    return [r[0] for r in conn.execute(select(cards.c.card_number)
                                       .where(cards.c.member_id == member_id)
                                       .order_by(cards.c.added_at, cards.c.card_number))]


def me(conn: Connection, member_id: str, now: datetime) -> dict[str, Any]:
    """Balance, tier and progress, expiring points, stamp cards, vouchers."""
    row = conn.execute(select(members.c.name, members.c.email, members.c.consent_email,
                              members.c.consent_sms)
                       .where(members.c.member_id == member_id)).first()
    state = member_store.member_state(conn, member_id)
    if row is None or state is None:
        raise NotFound("this account is not at the hub", code="unknown_member")
    program = _program(conn)
    summary = member_summary(program, state, now).to_dict()
    rewards = {r.id: r for r in program.rewards}
    next_reward = rewards.get(summary["next_reward_id"] or "")
    next_tier = next((t for t in program.tiers if t.name == summary["next_tier"]), None)
    until = locked_until(state.pin_failures, state.pin_failed_at)
    vouchers = []
    for code, name, valid_until in summary["vouchers"]:
        voucher = state.vouchers.get(code)
        reward = rewards.get(voucher.reward_id) if voucher else None
        vouchers.append({"code": code, "reward": name, "valid_until": valid_until,
                         "kind": reward.kind.value if reward else None,
                         "value": reward.value if reward else None})
    return {
        "member_id": member_id,
        "name": row.name,
        "email": row.email,
        # notification consent per channel (GET /me/consent: since when, from where)
        "consent": {"email": bool(row.consent_email), "sms": bool(row.consent_sms)},
        "card_numbers": card_numbers(conn, member_id),
        "program": program.name,
        "currency": program.currency,
        "currency_exponent": program.currency_exponent,
        **summary,
        "spendable": state.spendable,
        "next_reward_cost": next_reward.cost if next_reward else None,
        "next_tier_threshold": next_tier.threshold if next_tier else None,
        "pin_locked_until": until.isoformat() if until and until > now else None,
        # each voucher still to use with its reward's kind and money value (gift cards,
        # store credit, fixed discounts; minor units) under the current program
        "voucher_details": vouchers,
    }


def money(program_or_view: Program | dict[str, Any], minor: int | None) -> str:
    if minor is None:
        return "-"
    if isinstance(program_or_view, dict):
        return format_money(minor, program_or_view["currency_exponent"],
                            program_or_view["currency"])
    return format_money(minor, program_or_view.currency_exponent, program_or_view.currency)


# -- history --------------------------------------------------------------------------------
def where(event: Event) -> str:
    """Where an event happened, in words."""
    if TERMINAL_ID.match(event.origin):
        return f"at store {store_of(event.origin)}"
    if event.origin != HUB_ORIGIN:  # a channel: the web shop (online), a marketplace...
        return "online" if event.origin == "online" else f"online ({event.origin})"
    if event.kind == Kind.PIN and event.data.get("channel") == "web":
        return "on this website"
    return "by HQ"


def _reward_name(program: Program | None, reward_id: str | None) -> str:
    for reward in (program.rewards if program else ()):
        if reward.id == reward_id:
            return reward.name
    return reward_id or "a reward"


def _card_name(program: Program | None, card_id: str) -> str:
    for card_ in (program.stamp_cards if program else ()):
        if card_.id == card_id:
            return card_.name
    return card_id


def describe(event: Event, program: Program | None, current: Program) -> str | None:
    """One sentence of what `event` did to the member, or None for events the member
    need not see (a right PIN after wrong ones)."""
    pts = (program or current).points_name
    p, d = event.points, event.data
    place = where(event)
    receipt = f" (receipt {event.ref})" if event.ref else ""
    kind = event.kind
    if kind == Kind.ENROL:
        return f"Joined {place}" if place != "by HQ" else "Joined"
    if kind == Kind.EARN:
        stamps = ", ".join(f"{n:+d} stamp{'s' if abs(n) != 1 else ''} on "
                           f"{_card_name(program, c)}" for c, n in event.stamps.items() if n)
        spent = format_money(event.amount, (program or current).currency_exponent,
                             event.currency or current.currency)
        return (f"Earned {p:,} {pts} {place} on a purchase of {spent}{receipt}"
                + (f"; {stamps}" if stamps else ""))
    if kind == Kind.BONUS:
        reason = str(d.get("reason") or "Bonus")
        return f"{reason} bonus: {p:+,} {pts}{receipt}"
    if kind == Kind.REDEEM:
        if d.get("voucher_used"):
            name = _reward_name(program, d.get("voucher_reward_id"))
            return f"Used voucher {d['voucher_used']} ({name}) {place}{receipt}"
        name = _reward_name(program, d.get("reward_id"))
        return f"Spent {-p:,} {pts} on {name} {place}{receipt}"
    if kind == Kind.REVERSE:
        how = "voided" if d.get("full") else "refunded in part"
        return f"Reversed {-p:,} {pts} {place}: receipt {event.ref} {how}"
    if kind == Kind.EXPIRE:
        return f"{-p:,} {pts} expired"
    if kind == Kind.STAMP:
        return (f"{_card_name(program, str(d.get('card', '')))} completed: "
                f"{d.get('completed', 1)} voucher(s) issued")
    if kind == Kind.ADJUST:
        return f"Adjusted by HQ: {p:+,} {pts}"
    if kind == Kind.TIER:
        return f"Your tier is now {d.get('tier')}"
    if kind == Kind.MEMBERSHIP:
        return f"Paid membership: {d.get('tier')}"
    if kind == Kind.LINK:
        number = str(d.get("card_number") or "")
        return f"Card ending {number[-4:]} linked {place}" if number else f"Card linked {place}"
    if kind == Kind.MERGE:
        return f"Accounts merged: {p:+,} {pts}"
    if kind == Kind.HOLD:
        return f"{int(d.get('points', 0)):,} {pts} held for review by HQ"
    if kind == Kind.RELEASE:
        return f"Held {pts} reviewed by HQ"
    if kind == Kind.PIN:
        action = d.get("action")
        if action == "set":
            return f"PIN set {place}"
        if action == "failed":
            return f"A wrong PIN was typed {place}"
        return None
    return f"{kind} {p:+,} {pts}"


def history(conn: Connection, member_id: str) -> dict[str, Any]:
    """The member's newest events (HISTORY_LIMIT), newest first, in words."""
    current = _program(conn)
    rows = conn.execute(
        select(events.c.content).where(events.c.member_id == member_id)
        .order_by(events.c.hlc.desc(), events.c.hub_seq.desc()).limit(HISTORY_LIMIT))
    out = []
    for r in rows:
        event = member_store.event_from_row(r.content)
        program = program_by_version(conn, event.program_version) \
            if event.program_version else None
        text = describe(event, program, current)
        if text is None:
            continue
        at = parse_instant(event.occurred_at).astimezone(current.zone)
        out.append({"event_id": event.event_id, "kind": event.kind,
                    "occurred_at": event.occurred_at, "local_time": at.strftime("%Y-%m-%d %H:%M"),
                    "points": event.points, "where": where(event),
                    "store": store_of(event.origin) if TERMINAL_ID.match(event.origin) else None,
                    "receipt": event.ref or None, "text": text})
    return {"member_id": member_id, "points_name": current.points_name, "events": out,
            "limit": HISTORY_LIMIT}


# -- the card -------------------------------------------------------------------------------
def card(conn: Connection, ctx: HubContext, member_id: str) -> dict[str, Any]:
    """The member's card and its QR payload, signed by the hub's own key (the format of
    receipts' codes, `loyalty.member_qr`; tills verify it with the hub's public key)."""
    numbers = card_numbers(conn, member_id)
    if not numbers:
        return {"member_id": member_id, "card_number": None, "card_numbers": [],
                "qr_payload": None, "key_id": None}
    key = ctx.signing_key()
    return {"member_id": member_id, "card_number": numbers[0], "card_numbers": numbers,
            "qr_payload": sign_card(numbers[0], key), "key_id": key_id(public_key(key))}


# -- rewards to redeem online ---------------------------------------------------------------
ONLINE_KINDS = {k.value for k in BASKET_KINDS}
"""Rewards a member may redeem on their page: basket rewards (a free product, a percent
or fixed discount), which come as a voucher any till applies at checkout. Gift cards,
store credit, pay-with-points and charity are redeemed at the counter."""


def rewards(conn: Connection, member_id: str, now: datetime) -> dict[str, Any]:
    """The rewards the member's tier may have today (`loyalty.redemption.eligible_rewards`,
    the till's rule), each with its cost and whether it can be redeemed here and now:
    online (a basket reward), affordable (spendable points) and in stock. The redemption
    itself runs every check again (hub.online.redeem)."""
    state = member_store.member_state(conn, member_id)
    if state is None:
        raise NotFound("this account is not at the hub", code="unknown_member")
    program = _program(conn)
    stock = {r.reward_id: int(r.units_left) for r in conn.execute(
        select(reward_stock.c.reward_id, reward_stock.c.units_left))}
    out = []
    for reward in eligible_rewards(program, state, now):
        if reward.cost == 0:  # a stamp card's reward: it comes as a voucher by itself
            continue
        online = reward.kind.value in ONLINE_KINDS
        affordable = reward.cost <= state.spendable
        in_stock = stock.get(reward.id, 1) > 0 if reward.stock is not None else True
        out.append({"reward_id": reward.id, "name": reward.name, "kind": reward.kind.value,
                    "cost": reward.cost, "value": reward.value, "percent": reward.percent,
                    "online": online, "affordable": affordable, "in_stock": in_stock,
                    "redeemable": online and affordable and in_stock,
                    "voucher_days": reward.voucher_days})
    return {"member_id": member_id, "points_name": program.points_name,
            "currency": program.currency, "currency_exponent": program.currency_exponent,
            "spendable": state.spendable, "balance": state.balance, "rewards": out}


# -- notification consent -------------------------------------------------------------------
CONSENT_CHANNELS = ("email", "sms")


def consent(conn: Connection, member_id: str) -> dict[str, Any]:
    """The member's consent per channel (the members row, which the hub reads), with when
    and from where it was last changed on the hub (`consents`; None: as at enrolment)."""
    row = conn.execute(select(members.c.consent_email, members.c.consent_sms, members.c.email,
                              members.c.phone)
                       .where(members.c.member_id == member_id)).first()
    if row is None:
        raise NotFound("this account is not at the hub", code="unknown_member")
    changed = {r.channel: r for r in conn.execute(
        select(consents).where(consents.c.member_id == member_id))}
    out = {}
    for channel, granted, address in (("email", row.consent_email, row.email),
                                      ("sms", row.consent_sms, row.phone)):
        last = changed.get(channel)
        out[channel] = {"granted": bool(granted), "address": address,
                        "changed_at": last.changed_at if last else None,
                        "source": last.source if last else None}
    return {"member_id": member_id, "channels": out}


def set_consent(conn: Connection, db: Database, member_id: str, *, email: bool, sms: bool,
                source: str, now: datetime) -> dict[str, Any]:
    """Record the member's consent (in the caller's write transaction): the members row,
    when and from where per channel that changed (`consents`), and a `member` change in
    the feed the tills pull, taken last (hub.store.changes.touch)."""
    member_store.lock_member(conn, db, member_id)
    before = consent(conn, member_id)["channels"]
    wanted = {"email": email, "sms": sms}
    moved = [c for c in CONSENT_CHANNELS if before[c]["granted"] != wanted[c]]
    if not moved:
        return consent(conn, member_id)
    at = format_instant(now)
    conn.execute(members.update().where(members.c.member_id == member_id).values(
        consent_email=email, consent_sms=sms, updated_at=at))
    for channel in moved:
        stmt = db.insert(consents).values(member_id=member_id, channel=channel,
                                          granted=wanted[channel], changed_at=at,
                                          source=source)
        conn.execute(stmt.on_conflict_do_update(
            index_elements=[consents.c.member_id, consents.c.channel],
            set_={"granted": wanted[channel], "changed_at": at, "source": source}))
    changes.touch(conn, db, "member", [member_id])
    return consent(conn, member_id)


# -- export ---------------------------------------------------------------------------------
def export(conn: Connection, member_id: str) -> dict[str, Any]:
    """Everything the hub holds about the member (`hub.privacy.export_member`, HQ's
    export, which leaves the PIN hashes out) with when and where each consent was
    changed."""
    data = privacy.export_member(conn, member_id)
    # when and where each consent was last changed (migration 0016; not in HQ's export yet)
    data["consent_changes"] = [
        {"channel": r.channel, "granted": bool(r.granted), "changed_at": r.changed_at,
         "source": r.source}
        for r in conn.execute(select(consents).where(consents.c.member_id == member_id)
                              .order_by(consents.c.channel))]
    return data
