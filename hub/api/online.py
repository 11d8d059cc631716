"""The online channels' endpoints (the web shop, an app, a marketplace: any channel's
token, `pos-hub channel add NAME`). What a channel records carries its own origin."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from hub import member_pins
from hub import online as service
from hub.api.deps import context, online
from hub.api.models import (
    CARD,
    EMAIL,
    PHONE,
    REF,
    UUID,
    EnrolRequest,
    OrderRequest,
    RedeemRequest,
    RefundRequest,
)
from hub.context import HubContext
from hub.store.credentials import Credential

router = APIRouter(prefix="/v1/online", tags=["online"],
                   dependencies=[Depends(online)])


@router.post("/members", status_code=201)
def enrol(body: EnrolRequest, ctx: HubContext = Depends(context),
          cred: Credential = Depends(online)) -> dict[str, Any]:
    """Enrol a member online: a new card number, the welcome (and referral) bonus."""
    return service.enrol(ctx, name=body.name, phone=body.phone, email=body.email,
                         birthday=body.birthday, referrer_card=body.referrer_card,
                         consent_email=body.consent_email, consent_sms=body.consent_sms,
                         origin=cred.name)


@router.get("/members")
def lookup(member_id: str | None = Query(None, pattern=UUID),
           card: str | None = Query(None, pattern=CARD),
           email: str | None = Query(None, pattern=EMAIL, max_length=254),
           phone: str | None = Query(None, pattern=PHONE),
           ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """A member by id, card number, email or phone: profile, balance, tier, summary."""
    return service.lookup(ctx, member_id=member_id, card=card, email=email, phone=phone)


class PinRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pin: str = Field(min_length=4, max_length=8, pattern=r"^[0-9]{4,8}$")
    """The member's new PIN, 4 to 8 digits; the hub keeps only its argon2id hash."""


@router.post("/members/{member_id}/pin")
def set_pin(body: PinRequest, member_id: str = Path(pattern=UUID),
            ctx: HubContext = Depends(context),
            cred: Credential = Depends(online)) -> dict[str, Any]:
    """Set the PIN of a member the web shop has signed in: it proves possession at the
    counter once the tills have pulled it. The answer never holds the hash."""
    return member_pins.set_pin(ctx, member_id, body.pin, origin=cred.name)


@router.post("/orders", status_code=201, responses={
    200: {"description": "The same order again (same order id, member, total and lines): "
                         "the first answer, points included, with `status` duplicate; "
                         "nothing earned twice."},
    409: {"description": "`order_id_reused`: this order id was used for another order "
                         "(another member, total or lines) or by another channel; nothing "
                         "was done."}})
def order(body: OrderRequest, response: Response, ctx: HubContext = Depends(context),
          cred: Credential = Depends(online)) -> dict[str, Any]:
    """Earn for a web order. The same order again earns nothing more (200, the first
    answer); its id with another body is 409 `order_id_reused`."""
    answer, created = service.order(ctx, order_id=body.order_id, total=body.total,
                                    lines=[tuple(line) for line in body.lines],
                                    member_id=body.member_id, card=body.card,
                                    origin=cred.name)
    if not created:
        response.status_code = 200
    return answer


@router.post("/orders/{order_id}/refund")
def refund(body: RefundRequest, order_id: str = Path(pattern=REF.replace("79", "63")),
           ctx: HubContext = Depends(context),
           cred: Credential = Depends(online)) -> dict[str, Any]:
    """Refund (part of) a web order of this channel: takes back exactly what it earned, in
    proportion. With a `request_id`, a retry answers the first refund again (status
    duplicate); the id with another body is 409 `request_id_reused`."""
    return service.refund(ctx, order_id, amount=body.amount, reason=body.reason,
                          request_id=body.request_id, origin=cred.name)


@router.post("/redeem")
def redeem(body: RedeemRequest, ctx: HubContext = Depends(context),
           cred: Credential = Depends(online)) -> dict[str, Any]:
    """Redeem a reward or pay with points, atomically against the hub's balance. With a
    `request_id`, a retry (the member named by member_id or card alike) answers the first
    redemption again (status duplicate); the id with another body, or for another member,
    is 409 `request_id_reused`."""
    return service.redeem(ctx, reward_id=body.reward_id, points=body.points,
                          order_id=body.order_id, member_id=body.member_id, card=body.card,
                          request_id=body.request_id, origin=cred.name)
