"""Request bodies of the hub's API, validated at the edge.

Integers are strict (a JSON "5" or 5.0 is refused, not coerced), so the event the hub
stores has exactly the content the terminal hashed into its chain.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, field_validator, model_validator

from loyalty.errors import LedgerError
from loyalty.events import Event, Kind, data_problem, parse_instant
from loyalty.money import MAX_SALE_MINOR

MAX_POINTS = 10**9
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ORIGIN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
REF = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,79}$"
CARD = r"^\d{16}$"
PHONE = r"^\+?\d{6,15}$"
# Text stored in its own column holds no control character: PostgreSQL text cannot hold
# NUL (the insert would fail as a database error), and none belongs in a receipt number.
PRINTABLE = r"^[^\x00-\x1f\x7f]*$"
# Free text (a note, a reason) may span lines, but holds no NUL either.
NO_NUL = r"^[^\x00]*$"
# No control characters (PostgreSQL text cannot hold NUL): [^...] alone would let them in.
EMAIL = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]{1,185}\.[^@\s\x00-\x1f\x7f]{1,64}$"
Points = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Amount = Annotated[StrictInt, Field(ge=-MAX_SALE_MINOR, le=MAX_SALE_MINOR)]
# Which kinds may move points/amounts in which direction (a negative sale is an attack).
_POINTS_SIGN = {Kind.EARN: 1, Kind.BONUS: 1, Kind.STAMP: 0, Kind.ENROL: 0, Kind.TIER: 0,
                Kind.LINK: 0, Kind.REDEEM: -1, Kind.EXPIRE: -1, Kind.MEMBERSHIP: 0}
_AMOUNT_SIGN = {Kind.EARN: 1, Kind.REVERSE: -1, Kind.MEMBERSHIP: 1}


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class EventIn(_Body):
    event_id: str = Field(pattern=UUID)
    origin: str = Field(pattern=ORIGIN)
    origin_seq: StrictInt = Field(ge=1, le=2**53)
    origin_epoch: StrictInt = Field(ge=1, le=10**6)
    member_id: str = Field(pattern=UUID)
    kind: Literal["enrol", "earn", "stamp", "bonus", "redeem", "reverse", "adjust", "expire",
                  "tier", "membership", "link", "merge"]
    points: Points
    stamps: dict[Annotated[str, Field(max_length=64)], Points] = Field(max_length=32)
    amount: Amount
    currency: str = Field(max_length=3)
    program_version: str = Field(max_length=32, pattern=PRINTABLE)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    ref: str = Field(max_length=80, pattern=PRINTABLE)
    occurred_at: str = Field(max_length=40)
    hlc: str = Field(pattern=r"^\d{15}\.\d{5}$")
    data: dict[str, Any]

    @model_validator(mode="after")
    def _consistent(self) -> EventIn:
        # The rules that tie fields together: the instant parses, and points and amount
        # have the sign the event's kind allows (refused 422 at the edge, never folded).
        try:
            parse_instant(self.occurred_at)
        except (ValueError, LedgerError) as exc:
            raise ValueError("occurred_at must be an ISO-8601 instant with a time zone") \
                from exc
        sign = _POINTS_SIGN.get(self.kind)
        if sign == 1 and self.points < 0 or sign == -1 and self.points > 0:
            raise ValueError(f"a {self.kind} event cannot have points {self.points}")
        if sign == 0 and self.points != 0:
            raise ValueError(f"a {self.kind} event moves no points")
        asign = _AMOUNT_SIGN.get(self.kind)
        if asign == 1 and self.amount < 0 or asign == -1 and self.amount > 0:
            raise ValueError(f"a {self.kind} event cannot have amount {self.amount}")
        if asign is None and self.amount != 0:
            raise ValueError(f"a {self.kind} event has no amount")
        problem = data_problem(self.data)
        if problem:
            raise ValueError(problem)
        return self

    def to_event(self) -> Event:
        return Event(**dict(self))  # the fields are Event's, validated


class PushRequest(_Body):
    origin: str = Field(pattern=ORIGIN)
    origin_epoch: StrictInt = Field(ge=1, le=10**6)
    events: list[EventIn] = Field(max_length=100_000)


class EnrolRequest(_Body):
    name: str = Field(min_length=1, max_length=80)
    phone: str | None = Field(default=None, pattern=PHONE)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    birthday: date | None = None
    referrer_card: str | None = Field(default=None, pattern=CARD)
    consent_email: bool = False
    consent_sms: bool = False

    @field_validator("birthday")
    @classmethod
    def _plausible(cls, value: date | None) -> date | None:
        if value is not None and not date(1900, 1, 1) <= value <= date.today():
            raise ValueError("is not a plausible date of birth")
        return value

    @model_validator(mode="after")
    def _reachable(self) -> EnrolRequest:
        if not self.phone and not self.email:
            raise ValueError("give a phone number or an email address")
        return self


SaleLineIn = tuple[Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$")],
                   Annotated[str, Field(max_length=64)],
                   Annotated[StrictInt, Field(ge=1, le=9999)],
                   Annotated[StrictInt, Field(ge=0, le=MAX_SALE_MINOR)]]


class MemberRef(_Body):
    member_id: str | None = Field(default=None, pattern=UUID)
    card: str | None = Field(default=None, pattern=CARD)

    @model_validator(mode="after")
    def _one(self) -> MemberRef:
        if not self.member_id and not self.card:
            raise ValueError("give member_id or card")
        return self


class OrderRequest(MemberRef):
    order_id: str = Field(pattern=REF.replace("79", "63"))
    total: StrictInt | None = Field(default=None, ge=1, le=MAX_SALE_MINOR)
    lines: list[SaleLineIn] = Field(default=[], max_length=500)

    @model_validator(mode="after")
    def _something(self) -> OrderRequest:
        if self.total is None and not self.lines:
            raise ValueError("give the order's total or its lines")
        return self


REQUEST_ID = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,79}$"
RequestId = Annotated[str | None, Field(default=None, pattern=REQUEST_ID, description=(
    "The client's id of this request (e.g. a UUID made before the first try): the same "
    "request sent again with it is answered with the first answer (status duplicate) "
    "instead of being done twice."))]


class RefundRequest(_Body):
    amount: StrictInt | None = Field(default=None, ge=1, le=MAX_SALE_MINOR)
    """Minor units to refund; leave out to refund what is left of the order."""
    reason: str = Field(default="", max_length=200, pattern=NO_NUL)
    request_id: RequestId = None


class RedeemRequest(MemberRef):
    reward_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    points: StrictInt | None = Field(default=None, ge=1, le=MAX_POINTS)
    order_id: str | None = Field(default=None, pattern=REF.replace("79", "63"))
    request_id: RequestId = None


class ResolveRequest(_Body):
    note: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)
    points: StrictInt | None = Field(default=None, ge=-MAX_POINTS, le=MAX_POINTS)
    """An `adjust` event of this many points for the flagged member (optional)."""


def valid_card(text: str) -> bool:
    return bool(re.match(CARD, text))


class PullPage(BaseModel):
    """The answer of `GET /v1/sync/pull` (documentation only: it is encoded by orjson)."""

    changes: list[dict[str, Any]]
    cursor: int
    more: bool


class PushAnswer(BaseModel):
    """The answer of `POST /v1/sync/push` (documentation only: it is encoded by orjson)."""

    results: list[dict[str, Any]]
    high_seq: int


class AuthorizeAnswer(PushAnswer):
    authorized: bool
    balance: int | None
