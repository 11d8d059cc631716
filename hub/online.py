"""The online channels (the web shop, an app, a marketplace): enrol, look up, earn for
orders, refund, redeem.

Each operation runs in one write transaction holding the member's lock, computes its
events with the same domain functions the terminals use, and records them as the
channel's origin (`online`, `online-webshop`...: hub.store.credentials) through
`hub.store.ingest.record_drafts` (sealed, gap-free seq, hash chain).

    >>> order(ctx, member_id=m, order_id="W1001", total=4250, lines=[...], origin="online")

Retries tell the truth: an order id, or a refund's or redemption's `request_id`, names
one request. Sent again with the same body (the member counted as the member it resolves
to, whether named by `member_id` or `card`), it is answered with the first answer, kept
in the same transaction (`online_orders.answer`, `online_requests.answer`), with
`"status": "duplicate"`; with another body, or by another channel, it is 409
`order_id_reused` / `request_id_reused` and nothing is done.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, select

from hub.context import HubContext
from hub.db import next_counter, now_text
from hub.exceptions import Conflict, Invalid, NotFound
from hub.store import members as member_store
from hub.store import programs
from hub.store.ingest import record_drafts
from hub.tables import cards, online_orders, online_requests, reward_stock
from loyalty.contact import PhoneError, normalise_phone
from loyalty.earning import earn_for_sale, enrolment_drafts
from loyalty.errors import RedemptionError, ReversalError, SaleError
from loyalty.events import Kind, canonical_json
from loyalty.fold import MemberState
from loyalty.ids import ONLINE_ISSUER, SERIALS_PER_EPOCH, make_card_number, new_member_id
from loyalty.member_qr import sign_card
from loyalty.program import Program
from loyalty.redemption import redeem as domain_redeem
from loyalty.reversal import reverse_receipt
from loyalty.sale import make_line, make_sale
from loyalty.summary import member_summary

ORIGIN = "online"


def online_card_number(serial: int) -> str:
    """The n-th card of the online channel: issuer 0, the counter's millions in the epoch
    digit (ten million cards before the numbers come round again)."""
    epoch, within = divmod(serial - 1, SERIALS_PER_EPOCH)
    return make_card_number(ONLINE_ISSUER, within + 1, epoch)


def _program(conn: Connection) -> Program:
    program = programs.current_program(conn)
    if program is None:
        raise Conflict("no program is published: run `pos-hub program publish`",
                       code="no_program")
    return program


def _ref(order_id: str) -> str:
    # Web order ids live in their own namespace next to terminal receipt numbers.
    return f"WEB-{order_id}"


def view(program: Program, state: MemberState, at: datetime) -> dict[str, Any]:
    summary = member_summary(program, state, at).to_dict()
    # held_points: in the balance, held for HQ review, not spendable (the shop shows
    # "N held for review")
    return {"balance": state.balance, "held_points": state.held, "tier": summary["tier"],
            "summary": summary}


def enrol(ctx: HubContext, *, name: str, phone: str | None, email: str | None,
          birthday: date | None, referrer_card: str | None, consent_email: bool = False,
          consent_sms: bool = False, origin: str = ORIGIN) -> dict[str, Any]:
    at = datetime.now(UTC)
    region = ctx.settings.hub.region
    if phone:
        # stored in E.164 like a till's enrolment, so both find it by any usual format
        try:
            phone = normalise_phone(phone, region)
        except PhoneError as exc:
            raise Invalid(str(exc), code="invalid_phone") from None
    with ctx.db.write() as conn:
        program = _program(conn)
        referrer = None
        if referrer_card:
            rid = member_store.find_member_id(conn, card=referrer_card)
            referrer = member_store.lock_member(conn, ctx.db, rid).state
        for key, value in (("email", email), ("phone", phone)):
            if value and member_store.find_member_id_or_none(conn, **{key: value},
                                                             region=region):
                raise Conflict(f"a member with this {key} already exists: look them up",
                               code="already_member")
        serial = next_counter(conn, ctx.db, "online_card")
        card = online_card_number(serial)
        while conn.execute(select(cards.c.card_number)
                           .where(cards.c.card_number == card)).first():
            serial = next_counter(conn, ctx.db, "online_card")
            card = online_card_number(serial)
        member_id = new_member_id()
        profile = {"name": name, "phone": phone, "email": email,
                   "birthday": birthday.isoformat() if birthday else None,
                   "consent_email": consent_email, "consent_sms": consent_sms}
        drafts = enrolment_drafts(program, member_id, at, receipt_no=f"WEB-E{serial:06d}",
                                  channel=origin, referrer=referrer)
        drafts = [replace(d, data={**d.data, "card_number": card, "profile": profile})
                  if d.kind == Kind.ENROL else d for d in drafts]
        result = record_drafts(conn, ctx, origin, drafts, at, program_version=program.version)
        state = result.states[member_id]
        return {"member_id": member_id, "card_number": card,
                "qr_payload": sign_card(card, ctx.signing_key()),  # the hub signs its cards
                **view(program, state, at), "events": result.results}


def lookup(ctx: HubContext, **ident: str | None) -> dict[str, Any]:
    at = datetime.now(UTC)
    with ctx.db.read() as conn:
        member_id = member_store.find_member_id(conn, **ident,
                                                region=ctx.settings.hub.region)
        profile = member_store.member_profile(conn, member_id)
        program = _program(conn)
    state = MemberState.from_dict(profile.pop("state"))
    return {**profile, **view(program, state, at)}


def order(ctx: HubContext, *, order_id: str, total: int | None,
          lines: list[tuple[str, str, int, int]], member_id: str | None = None,
          card: str | None = None, origin: str = ORIGIN) -> tuple[dict[str, Any], bool]:
    """Earn for a web order; returns (answer, created). The same order again (same
    member, total and lines, same channel) is answered with the first answer, nothing
    earned twice; the same order id with another body is 409 `order_id_reused`."""
    at = datetime.now(UTC)
    try:
        sale = make_sale([make_line(*line) for line in lines], total)
    except SaleError as exc:
        raise Invalid(str(exc), code="bad_sale") from exc
    with ctx.db.write() as conn:
        mid = member_store.find_member_id(conn, member_id=member_id, card=card)
        snap = member_store.lock_member(conn, ctx.db, mid)
        program = _program(conn)
        body_hash = _request_hash("order", {"order_id": order_id, "member_id": mid,
                                            "total": total,
                                            "lines": [list(line) for line in lines]})
        known = conn.execute(select(online_orders)
                             .where(online_orders.c.order_id == order_id)).first()
        if known is not None:
            if known.body_hash is None and known.origin == origin and known.member_id == mid:
                # recorded before migration 0013 kept first answers: answered as then
                return {"order_id": order_id, "member_id": mid, "status": "duplicate",
                        **view(program, snap.state, at)}, False
            return _repeat(known, origin, (body_hash,), code="order_id_reused",
                           what=f"order_id {order_id}", noun="order", order_id=order_id
                           ), False
        birthday = conn.execute(select(member_store.members.c.birthday)
                                .where(member_store.members.c.member_id == mid)).scalar()
        earned = earn_for_sale(program, snap.state, sale, at, receipt_no=_ref(order_id),
                               birthday=date.fromisoformat(birthday) if birthday else None)
        result = record_drafts(conn, ctx, origin, earned.drafts, at,
                               program_version=program.version)
        answer = {"order_id": order_id, "member_id": mid, "status": "new",
                  "points": earned.points, "purchase_points": earned.purchase_points,
                  "promotions": list(earned.promotions), "events": result.results,
                  **view(program, result.states[mid], at)}
        # (a concurrent first try of the same id for another member fails this insert:
        # 409 conflict, and its retry is answered the truth)
        conn.execute(online_orders.insert().values(
            order_id=order_id, member_id=mid, origin=origin, body_hash=body_hash,
            answer=json.dumps(answer), created_at=now_text()))
        return answer, True


def _request_hash(operation: str, fields: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_json({"operation": operation, **fields}).encode()
                          ).hexdigest()


def _repeat(row: Any, origin: str, hashes: tuple[str, ...], *, code: str, what: str,
            noun: str, **extra: Any) -> dict[str, Any]:
    """The first answer kept in `row` (an online order or request), given again with
    status duplicate; 409 `code` if this is not the same request (another body, or
    another channel's)."""
    if row.origin != origin:
        raise Conflict(f"{what} was already used by another channel: ids are one namespace "
                       "for every channel; make a new id for a new request", code=code,
                       **extra)
    if row.body_hash not in hashes:
        raise Conflict(f"{what} was already used for another {noun} "
                       "(another member, amount or body): make a new id for a new request",
                       code=code, **extra)
    return {**json.loads(row.answer), "status": "duplicate"}


def _answered(conn: Connection, request_id: str | None, operation: str, origin: str,
              *hashes: str) -> dict[str, Any] | None:
    """The first answer to this request id (the caller holds the member's lock, so a
    concurrent retry waits for the first to commit and then finds it here). `hashes`:
    the body's hash, and the hash it had before migration 0013 if that differs."""
    if request_id is None:
        return None
    row = _kept(conn, request_id)
    if row is None:
        return None
    if row.operation != operation:
        hashes = ()
    return _repeat(row, origin, hashes, code="request_id_reused",
                   what=f"request_id {request_id}", noun=f"{row.operation} request",
                   request_id=request_id)


def _kept(conn: Connection, key: str) -> Any:
    return conn.execute(select(online_requests)
                        .where(online_requests.c.request_id == key)).first()


ORDER_REDEMPTION = "/redeem/"
"""Key prefix of the answer to an order's redemption sent without a request_id (a
client's request_id cannot start with "/")."""


def _keep_answer(conn: Connection, request_id: str | None, operation: str, body_hash: str,
                 member_id: str, answer: dict[str, Any], origin: str) -> dict[str, Any]:
    if request_id is not None:
        conn.execute(online_requests.insert().values(
            request_id=request_id, operation=operation, body_hash=body_hash,
            member_id=member_id, answer=json.dumps(answer), created_at=now_text(),
            origin=origin))
    return answer


def refund(ctx: HubContext, order_id: str, *, amount: int | None, reason: str = "",
           request_id: str | None = None, origin: str = ORIGIN) -> dict[str, Any]:
    """Reverse (part of) an online order's earn (an order of this channel). With
    `request_id`, a repeat answers the first refund again with status duplicate."""
    at = datetime.now(UTC)
    # (the order names the member: the hash is the one kept before migration 0013)
    body_hash = _request_hash("refund", {"order_id": order_id, "amount": amount,
                                         "reason": reason})
    with ctx.db.write() as conn:
        mid = conn.execute(select(online_orders.c.member_id).where(
            online_orders.c.order_id == order_id, online_orders.c.origin == origin)).scalar()
        if mid is None:
            raise NotFound(f"no online order {order_id} of this channel",
                           code="unknown_order")
        snap = member_store.lock_member(conn, ctx.db, mid)
        first = _answered(conn, request_id, "refund", origin, body_hash)
        if first is not None:
            return first
        program = _program(conn)
        try:
            draft = reverse_receipt(snap.state, _ref(order_id), refund_amount=amount,
                                    reason=reason)
        except ReversalError as exc:
            raise Conflict(str(exc), code="cannot_refund") from exc
        result = record_drafts(conn, ctx, origin, [draft], at, program_version=program.version)
        return _keep_answer(conn, request_id, "refund", body_hash, mid, {
            "order_id": order_id, "member_id": mid, "status": "new", "points": draft.points,
            "events": result.results, **view(program, result.states[mid], at)}, origin)


def redeem(ctx: HubContext, *, reward_id: str, points: int | None, order_id: str | None,
           member_id: str | None = None, card: str | None = None,
           request_id: str | None = None, origin: str = ORIGIN,
           as_voucher: bool = False) -> dict[str, Any]:
    """Redeem against the hub's balance. With `request_id`, a repeat (the member named
    by member_id or card alike) answers the first redemption again with status
    duplicate. Without one, a redemption for `order_id` is named by the order: the same
    body again is answered the same way, another is 409 `already_redeemed`.
    `as_voucher` (the member's own page, hub.web.member_pages): a basket reward comes as
    a voucher to use at a till (`loyalty.redemption.redeem`)."""
    at = datetime.now(UTC)
    fields = {"reward_id": reward_id, "points": points, "order_id": order_id}
    # before migration 0013 the hash took the member as named: a retry across the
    # upgrade still finds its first answer
    legacy = _request_hash("redeem", {**fields, "member_id": member_id, "card": card})
    with ctx.db.write() as conn:
        mid = member_store.find_member_id(conn, member_id=member_id, card=card)
        snap = member_store.lock_member(conn, ctx.db, mid)
        body_hash = _request_hash("redeem", {**fields, "member_id": mid})
        first = _answered(conn, request_id, "redeem", origin, body_hash, legacy)
        key = request_id
        if request_id is None and order_id:
            key = f"{ORDER_REDEMPTION}{order_id}"
            row = _kept(conn, key)
            if row is not None:
                first = _repeat(row, origin, (body_hash,), code="already_redeemed",
                                what=f"order_id {order_id}", noun="redemption",
                                order_id=order_id)
        if first is not None:
            return first
        program = _program(conn)
        stock = conn.execute(ctx.db.for_update(
            select(reward_stock.c.units_left).where(reward_stock.c.reward_id == reward_id)
        )).scalar()
        ref = _ref(order_id) if order_id else f"WEB-R{next_counter(conn, ctx.db, 'online_ref')}"
        if order_id and ref in snap.state.receipts and snap.state.receipts[ref].rewards:
            raise Conflict(f"order {order_id} already has a redemption", code="already_redeemed")
        try:
            draft = domain_redeem(program, snap.state, reward_id, at, receipt_no=ref,
                                  points=points, stock_left=stock, as_voucher=as_voucher)
        except RedemptionError as exc:
            raise Conflict(str(exc), code=exc.code, balance=snap.state.balance) from exc
        result = record_drafts(conn, ctx, origin, [draft], at, program_version=program.version)
        return _keep_answer(conn, key, "redeem", body_hash, mid, {
            "member_id": mid, "status": "new", "reward_id": reward_id, "points": draft.points,
            "ref": ref, "data": draft.data, "events": result.results,
            **view(program, result.states[mid], at)}, origin)
