"""HQ endpoints (admin token): flags, consolidated members, reports."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from hub import admin as service
from hub.api.deps import admin, context
from hub.api.models import CARD, UUID, ResolveRequest
from hub.context import HubContext
from hub.store import flags as flag_store
from hub.store import reports
from hub.store.credentials import Credential
from loyalty.validation import NO_CONTROL

router = APIRouter(prefix="/v1/admin", tags=["admin"],
                   dependencies=[Depends(admin)])


@router.get("/flags")
def flags(status: Literal["open", "resolved", "all"] = "open",
          store: str | None = Query(None, max_length=64),
          kind: str | None = Query(None, max_length=32),
          ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Flags for HQ review, newest first."""
    with ctx.db.read() as conn:
        return {"flags": flag_store.list_flags(conn, status=status, store=store, kind=kind)}


@router.post("/flags/{flag_id}/resolve")
def resolve(body: ResolveRequest, flag_id: int = Path(ge=1, le=2**62),
            ctx: HubContext = Depends(context),
            cred: Credential = Depends(admin)) -> dict[str, Any]:
    """Resolve a flag with a note and, optionally, an `adjust` event for its member. A
    `points_held` flag needs `release: true` (the held points become spendable: a hub
    `release` event) or `cancel: true` (an `adjust` takes them off, then the `release`)."""
    return service.resolve_flag(ctx, flag_id, note=body.note, points=body.points,
                                by=cred.name, release=body.release, cancel=body.cancel)


# -- privacy (issue 18): before /members/{member_id}, which would take "duplicates"
class EraseRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=500, pattern=NO_CONTROL)
    """Why, for the record (the request's reference)."""


@router.get("/members/duplicates")
def duplicates(ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Groups of members sharing a phone (E.164) or an e-mail (without case):
    `{"groups": [{"by": "phone"|"email", "value", "members": [...]}], "members"}`. Only a
    list: nothing is merged."""
    from hub import privacy
    with ctx.db.read() as conn:
        return privacy.duplicates(conn, ctx.settings.hub.region)


@router.get("/members/{member_id}/export")
def export(member_id: str = Path(pattern=UUID),
           ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Everything the hub holds about the member (`pos-hub member export`): profile,
    consents, cards, every ledger event, balances, vouchers, receipts, online orders,
    notifications, the erasure record."""
    from hub import privacy
    with ctx.db.read() as conn:
        return privacy.export_member(conn, member_id.lower())


@router.post("/members/{member_id}/erase")
def erase(body: EraseRequest, member_id: str = Path(pattern=UUID),
          ctx: HubContext = Depends(context),
          cred: Credential = Depends(admin)) -> dict[str, Any]:
    """Erase the member (`pos-hub member erase`): the profile pseudonymised, the personal
    data of their events blanked, amounts kept; terminals follow on their next pull. 409
    `already_erased` for a member erased before, 404 for an unknown one."""
    from hub import privacy
    return privacy.erase_member(ctx, member_id.lower(), reason=body.reason, by=cred.name)


@router.get("/members/{member_id}")
def member(member_id: str = Path(pattern=UUID),
           ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """A member's consolidated balance across every origin, with the member summary."""
    return service.member_view(ctx, member_id, datetime.now(UTC))


@router.get("/members")
def find(card: str | None = Query(None, pattern=CARD),
         email: str | None = Query(None, max_length=254),
         phone: str | None = Query(None, max_length=32),
         ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Find a member by card, email or phone."""
    return service.find(ctx, card=card, email=email, phone=phone)


@router.get("/catalog")
def catalog(ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """The product catalogue, inactive products too (`pos-hub catalog export --json`):
    `{"currency_exponent", "products": [{"sku", "name", "category", "price", "tax_rate",
    "barcodes", "active"}]}`, prices in minor units, tax rates in hundredths of a percent."""
    from hub.catalogue import catalogue_json  # issue 17
    with ctx.db.read() as conn:
        return catalogue_json(conn)


@router.get("/reports/liability")
def liability(ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Points outstanding per store, online and in total."""
    with ctx.db.read() as conn:
        return reports.liability(conn)


@router.get("/reports/sync-health")
def sync_health(ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Per terminal: last push and pull, high-water mark, events behind, gaps."""
    with ctx.db.read() as conn:
        return {"origins": reports.sync_health(conn)}


@router.get("/reports/rewards")
def rewards(ctx: HubContext = Depends(context)) -> dict[str, Any]:
    """Rewards issued vs redeemed, by reward, tier and store."""
    with ctx.db.read() as conn:
        return {"rewards": reports.rewards(conn)}
