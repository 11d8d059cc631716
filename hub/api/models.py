"""Request bodies of the hub's API, validated at the edge.

An event's integers are strict (a JSON "5" or 5.0 is refused, not coerced), so the event
the hub stores has exactly the content the terminal hashed into its chain. Elsewhere an
integer is a JSON number without a fraction (`whole`: 5 or 5.0, which JSON Schema and
the OpenAPI document call the same integer; never "5", "١٢" or true). Digits are ASCII
(`[0-9]`: `\\d` in a pattern also matches "١٢"), dates are written YYYY-MM-DD (`IsoDate`:
pydantic would also read 0 as 1970-01-01), and text holds no control character
(`loyalty.validation`: names, notes, reasons, refs, order ids).
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    field_validator,
    model_validator,
)

from loyalty.errors import LedgerError
from loyalty.events import Event, Kind, data_problem, parse_instant
from loyalty.money import MAX_SALE_MINOR
from loyalty.validation import CONTROL_CLASS, NO_CONTROL, NO_CONTROL_MULTILINE

MAX_POINTS = 10**9
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
ORIGIN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
REF = r"^[A-Za-z0-9][A-Za-z0-9._/:-]{0,79}$"
CARD = r"^[0-9]{16}$"
# The usual ways of writing a number ("+33 6 11 22 33 44", "06.11.22.33.44",
# "0033611223344"); the hub reads it to E.164 with [hub] region (loyalty.contact).
PHONE = r"^\+?[0-9][0-9 ().\-/]{4,28}[0-9]$"
# Text stored in its own column holds no control character: PostgreSQL text cannot hold
# NUL (the insert would fail as a database error), an ESC or a bidi override in a name
# would be obeyed by a terminal or a printer, and none belongs in a receipt number.
PRINTABLE = NO_CONTROL
# Free text (a note) may span lines (LF), and holds no other control character.
NO_NUL = NO_CONTROL_MULTILINE
# [^@\s] alone would let control characters in.
_EMAIL_PART = rf"[^@\s{CONTROL_CLASS}]"
EMAIL = rf"^{_EMAIL_PART}{{1,64}}@{_EMAIL_PART}{{1,185}}\.{_EMAIL_PART}{{1,64}}$"
Points = Annotated[StrictInt, Field(ge=-MAX_POINTS, le=MAX_POINTS)]


def _whole(value: Any) -> Any:
    # 5.0 is the integer 5 in JSON (and in the schema); "5" and true stay refused
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _iso_date(value: Any) -> Any:
    if isinstance(value, str) and not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        raise ValueError("write the date YYYY-MM-DD, e.g. 1990-04-23")
    if not isinstance(value, str | date):
        raise ValueError("write the date YYYY-MM-DD, e.g. 1990-04-23")
    return value


def whole(ge: int, le: int) -> Any:
    """An integer from `ge` to `le` (the bounds inside the type, so the schema says them)."""
    return Annotated[StrictInt, Field(ge=ge, le=le), BeforeValidator(_whole)]


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
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
    # every kind of the ledger: which an origin may record is decided after the edge
    # (hub.store.ingest.check_kinds: 403 kind_not_allowed)
    kind: Literal["enrol", "earn", "stamp", "bonus", "redeem", "reverse", "adjust", "expire",
                  "tier", "membership", "link", "merge", "hold", "release", "pin"]
    points: Points
    stamps: dict[Annotated[str, Field(max_length=64)], Points] = Field(max_length=32)
    amount: Amount
    currency: str = Field(max_length=3)
    program_version: str = Field(max_length=32, pattern=PRINTABLE)
    prev_hash: str = Field(pattern=r"^[0-9a-f]{64}$")
    ref: str = Field(max_length=80, pattern=PRINTABLE)
    occurred_at: str = Field(max_length=40)
    hlc: str = Field(pattern=r"^[0-9]{15}\.[0-9]{5}$")
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


def _any_of(*alternatives: dict[str, Any]) -> Any:
    """json_schema_extra saying what a model validator also requires (one of these), so
    a generated request that passes the schema passes the model (schemathesis checks)."""
    def extra(schema: dict[str, Any]) -> None:
        schema.setdefault("allOf", []).append({"anyOf": list(alternatives)})
    return extra


def _given(name: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": [name], "properties": {name: schema}}


class EnrolRequest(_Body):
    model_config = ConfigDict(json_schema_extra=_any_of(_given("phone", {"type": "string"}),
                                                        _given("email", {"type": "string"})))

    name: str = Field(min_length=1, max_length=80, pattern=NO_CONTROL)
    phone: str | None = Field(default=None, pattern=PHONE)
    email: str | None = Field(default=None, pattern=EMAIL, max_length=254)
    birthday: IsoDate | None = None
    referrer_card: str | None = Field(default=None, pattern=CARD)
    consent_email: StrictBool = False  # 0, 1 or "yes" are not booleans
    consent_sms: StrictBool = False

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
                   Annotated[str, Field(max_length=64, pattern=NO_CONTROL)],
                   whole(1, 9999),
                   whole(0, MAX_SALE_MINOR)]
_MEMBER_GIVEN = (_given("member_id", {"type": "string"}), _given("card", {"type": "string"}))


class MemberRef(_Body):
    model_config = ConfigDict(json_schema_extra=_any_of(*_MEMBER_GIVEN))

    member_id: str | None = Field(default=None, pattern=UUID)
    card: str | None = Field(default=None, pattern=CARD)

    @model_validator(mode="after")
    def _one(self) -> MemberRef:
        if not self.member_id and not self.card:
            raise ValueError("give member_id or card")
        return self


def _order_extra(schema: dict[str, Any]) -> None:
    _any_of(*_MEMBER_GIVEN)(schema)
    _any_of(_given("total", {"type": "integer"}),
            _given("lines", {"type": "array", "minItems": 1}))(schema)


class OrderRequest(MemberRef):
    model_config = ConfigDict(json_schema_extra=_order_extra)

    order_id: str = Field(pattern=REF.replace("79", "63"))
    total: whole(1, MAX_SALE_MINOR) | None = None
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
    amount: whole(1, MAX_SALE_MINOR) | None = None
    """Minor units to refund; leave out to refund what is left of the order."""
    reason: str = Field(default="", max_length=200, pattern=NO_CONTROL)
    request_id: RequestId = None


class RedeemRequest(MemberRef):
    reward_id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")
    points: whole(1, MAX_POINTS) | None = None
    order_id: str | None = Field(default=None, pattern=REF.replace("79", "63"))
    request_id: RequestId = None


class ResolveRequest(_Body):
    # said in the schema too, so a generated request that passes it passes the model
    model_config = ConfigDict(json_schema_extra={"not": {
        "required": ["release", "cancel"],
        "properties": {"release": {"const": True}, "cancel": {"const": True}}}})

    note: str = Field(min_length=1, max_length=1000, pattern=NO_NUL)
    points: whole(-MAX_POINTS, MAX_POINTS) | None = None
    """An `adjust` event of this many points for the flagged member (optional)."""
    release: StrictBool = False
    """A points_held flag: release the held points (they become spendable)."""
    cancel: StrictBool = False
    """A points_held flag: cancel the held points (an `adjust` takes them off)."""


def valid_card(text: str) -> bool:
    return bool(re.fullmatch(CARD, text))


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
