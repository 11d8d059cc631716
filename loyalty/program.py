"""The loyalty program: earning rules, tiers, stamp cards, rewards, bonuses, promotions.

A program is read from the `[program]` table of the shared TOML config and validated; every
error names the dotted key that is wrong. Its version is a hash of its canonical content, so
the same program read on a terminal and on the hub has the same version, whatever the
comments, key order or number spelling in the file.

    >>> program = load_program_text('''
    ... [program]
    ... name = "Bean & Crumb"
    ... points_name = "Stars"
    ... [[program.tiers]]
    ... name = "Green"
    ... threshold = 0
    ... ''')
    >>> program.points_name, len(program.version)
    ('Stars', 16)

Money in the file is written in currency units ("300", "12.50") and held as integer minor
units; multipliers are exact decimals ("1.5"). Floats never reach the arithmetic.

No `from __future__ import annotations` here: with it, pydantic compiles every field's
annotation string (some sixty) back into a type when the module is imported, and every
`pos` command imports it.
"""

import hashlib
import json
import tomllib
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cached_property
from typing import Annotated, Any, Literal, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from loyalty.errors import MoneyError, ProgramError
from loyalty.money import parse_amount
from loyalty.validation import describe


def _exact_decimal(value: Any) -> Decimal:
    # TOML floats are read as binary floats; their shortest repr is what the author typed,
    # so going through str() recovers the exact decimal ("1.5", not 1.5000000000000000001).
    if isinstance(value, bool):
        raise ValueError("must be a number such as 1.5, not true/false")
    if isinstance(value, float | int):
        value = repr(value)
    try:
        result = Decimal(str(value).strip())
    except Exception as exc:
        raise ValueError(f"'{value}' is not a decimal number") from exc
    if not result.is_finite():
        raise ValueError("must be a finite number")
    return result


ExactDecimal = Annotated[Decimal, BeforeValidator(_exact_decimal)]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Rounding(StrEnum):
    """How fractional points are rounded, once per sale."""

    FLOOR = "floor"
    HALF_UP = "half_up"
    CEIL = "ceil"


class RewardKind(StrEnum):
    FREE_PRODUCT = "free_product"
    PERCENT_DISCOUNT = "percent_discount"
    FIXED_DISCOUNT = "fixed_discount"
    GIFT_CARD = "gift_card"
    STORE_CREDIT = "store_credit"
    PAY_WITH_POINTS = "pay_with_points"
    CHARITY = "charity"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Tier(_Model):
    name: str = Field(min_length=1)
    """Shown on receipts and screens, e.g. "Gold"."""
    threshold: int = Field(default=0, ge=0)
    """Qualifying spend over the rolling window, in currency units in the file ("500")
    and minor units here. A member qualifies when spend >= threshold (inclusive)."""
    multiplier: ExactDecimal = Decimal(1)
    """Earn multiplier applied to purchase points, e.g. 1.5."""
    validity_months: int = Field(default=12, ge=1, le=120)
    """Points earned while in this tier expire this many months later."""
    annual_fee: int | None = Field(default=None, ge=0)
    """If set, the tier can also be bought for a year (paid membership), in currency units."""

    @field_validator("multiplier")
    @classmethod
    def _positive_multiplier(cls, value: Decimal) -> Decimal:
        if value < 1:
            raise ValueError("must be at least 1 (a tier never earns less than the base rate)")
        return value


class StampCard(_Model):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Short id used in the ledger, e.g. "coffee"."""
    name: str = Field(min_length=1)
    """Shown to the member, e.g. "Coffee card"."""
    stamps_to_complete: int = Field(ge=2, le=100)
    """e.g. 10 for "buy 9, the 10th is free"."""
    categories: tuple[str, ...] = ()
    """Product categories that earn one stamp per unit."""
    products: tuple[str, ...] = ()
    """SKUs that earn one stamp per unit."""
    reward: str
    """Id of the reward issued as a voucher when the card completes."""

    @model_validator(mode="after")
    def _stamps_something(self) -> Self:
        if not self.categories and not self.products:
            raise ValueError("needs at least one entry in categories or products")
        return self


class Reward(_Model):
    id: str = Field(min_length=1, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    """Short id, e.g. "free-latte"; cashiers and the online shop use it."""
    name: str = Field(min_length=1)
    kind: RewardKind
    cost: int = Field(ge=0)
    """Points it costs. 0 only for stamp-card rewards issued as vouchers."""
    tiers: tuple[str, ...] = ()
    """Tier names allowed to redeem it; empty means every tier."""
    valid_from: date | None = None
    valid_until: date | None = None
    """Inclusive validity window, in the program's time zone."""
    stock: int | None = Field(default=None, ge=0)
    """Units available across all stores; none means unlimited."""
    value: int | None = Field(default=None, ge=1)
    """Money value, currency units in the file: fixed discount, gift card, store credit,
    charity donation."""
    percent: int | None = Field(default=None, ge=1, le=100)
    """Percent discount."""
    point_value: int | None = None
    """Pay with points: what one point is worth, in minor units (e.g. 1 = 0.01 EUR)."""
    min_points: int = Field(default=0, ge=0)
    max_points: int | None = Field(default=None, ge=1)
    """Pay with points: limits on how many points one payment may use."""
    voucher_days: int = Field(default=90, ge=1)
    """Vouchers and gift cards issued for this reward are valid this many days."""
    products: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    """Basket rewards (free product, percent or fixed discount) apply only to lines of
    these SKUs or categories; both empty: a stamp card's reward takes its card's, any
    other every line (loyalty.basket)."""

    @model_validator(mode="before")
    @classmethod
    def _cost_present(cls, data: Any) -> Any:
        if isinstance(data, dict) and "cost" not in data:
            raise ValueError("cost is missing: every reward needs a points cost (0 is allowed)")
        return data

    @model_validator(mode="after")
    def _kind_fields(self) -> Self:
        needs = {
            RewardKind.FIXED_DISCOUNT: "value",
            RewardKind.GIFT_CARD: "value",
            RewardKind.STORE_CREDIT: "value",
            RewardKind.CHARITY: "value",
            RewardKind.PERCENT_DISCOUNT: "percent",
            RewardKind.PAY_WITH_POINTS: "point_value",
        }
        field = needs.get(self.kind)
        if field and getattr(self, field) is None:
            raise ValueError(f"a {self.kind.value} reward needs '{field}'")
        if self.valid_from and self.valid_until and self.valid_until < self.valid_from:
            raise ValueError("valid_until is before valid_from")
        return self


class Bonuses(_Model):
    welcome: int = Field(default=0, ge=0)
    """Points on sign-up."""
    birthday: int = Field(default=0, ge=0)
    """Points once a year, on the first sale or visit in the member's birthday month."""
    visit: int = Field(default=0, ge=0)
    """Points for the first store visit (check-in or sale) of a day."""
    referral_referrer: int = Field(default=0, ge=0)
    """Points to the member who referred a new member."""
    referral_referee: int = Field(default=0, ge=0)
    """Points to the new member who was referred."""


class Promotion(_Model):
    id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    """Printed on the receipt when it applies."""
    multiplier: ExactDecimal
    starts: date | None = None
    ends: date | None = None
    """Inclusive date window in the program's time zone; none means open-ended."""
    weekdays: tuple[str, ...] = ()
    """Only on these days (mon..sun); empty means every day."""
    categories: tuple[str, ...] = ()
    products: tuple[str, ...] = ()
    """Only lines in these categories or with these SKUs; both empty means every line."""
    exclusive: bool = False
    """An exclusive promotion never combines: a line gets the better of the best exclusive
    promotion alone and the combination of all the others."""

    @field_validator("multiplier")
    @classmethod
    def _above_one(cls, value: Decimal) -> Decimal:
        if value <= 1:
            raise ValueError("must be greater than 1")
        return value

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        bad = [d for d in value if d not in WEEKDAYS]
        if bad:
            raise ValueError(f"unknown weekday {bad[0]!r}; use {', '.join(WEEKDAYS)}")
        return value

    @model_validator(mode="after")
    def _window(self) -> Self:
        if self.starts and self.ends and self.ends < self.starts:
            raise ValueError("ends is before starts")
        return self


class Stacking(_Model):
    mode: Literal["multiply", "add"] = "multiply"
    """How combinable promotions combine: multiply (2x and 1.5x give 3x) or add their
    extra parts (2x and 1.5x give 2.5x)."""
    max_multiplier: ExactDecimal = Decimal(3)
    """Cap on the total multiplier of a line: tier multiplier times promotions."""


class Program(_Model):
    name: str = Field(min_length=1)
    """The programme's brand name, e.g. "Bean & Crumb Rewards"."""
    points_name: str = Field(default="Points", min_length=1)
    """What points are called everywhere, e.g. "Stars"."""
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    currency_exponent: int = Field(default=2, ge=0, le=3)
    cash_rounding: int = Field(default=0, ge=0)
    """Cash payments are rounded to a multiple of this, in currency units in the file
    ("0.05" for CHF) and minor units here; 0: no rounding (EUR). loyalty.tender."""
    earn_on_points_paid: bool = False
    """Whether the part of a sale paid with points earns points too (loyalty.earning)."""
    timezone: str = "UTC"
    """Dates (promotions, birthdays, day reports, visit bonus) are counted in this zone."""
    earn_rate: int = Field(default=1, ge=0, le=1000)
    """Points per whole currency unit spent, before multipliers."""
    rounding: Rounding = Rounding.FLOOR
    tier_window_days: int = Field(default=180, ge=1, le=3660)
    """Qualifying spend is summed over this many days ending now (see docs)."""
    offline_redeem_limit_per_member_per_day: int = Field(default=500, ge=0)
    """Points a member may spend per day while the terminal cannot reach the hub."""
    offline_redeem_limit_per_transaction: int = Field(default=300, ge=0)
    """Points one offline redemption may use; 0 disables offline redemption."""
    offline_snapshot_max_age_hours: int = Field(default=72, ge=1)
    """Offline redemption needs a hub snapshot of the member at most this old (or a
    member enrolled on this terminal)."""
    expiry_notice_days: int = Field(default=30, ge=1, le=365)
    """Points expiring within this many days are announced on receipts and by the hub."""
    spend_proof: Literal["qr_or_pin", "qr_only", "any"] = "qr_or_pin"
    """What proves a member at the counter holds the account before they spend points or
    vouchers (loyalty.pins): `qr_or_pin` a scan of their signed QR code or their PIN;
    `qr_only` only the QR scan; `any` also a typed card number (the behaviour before
    PINs). A member found by phone number never spends without the QR or the PIN."""
    tiers: tuple[Tier, ...]
    stamp_cards: tuple[StampCard, ...] = ()
    rewards: tuple[Reward, ...] = ()
    bonuses: Bonuses = Bonuses()
    promotions: tuple[Promotion, ...] = ()
    stacking: Stacking = Stacking()

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.tiers:
            raise ProgramError("program.tiers", "at least one tier is needed")
        if self.tiers[0].threshold != 0:
            raise ProgramError("program.tiers[0].threshold", "the first tier must start at 0")
        for i in range(1, len(self.tiers)):
            if self.tiers[i].threshold <= self.tiers[i - 1].threshold:
                raise ProgramError(
                    f"program.tiers[{i}].threshold",
                    "tier thresholds must increase strictly, lowest tier first",
                )
        names = [t.name for t in self.tiers]
        _unique(names, "program.tiers", "name")
        _unique([c.id for c in self.stamp_cards], "program.stamp_cards", "id")
        _unique([r.id for r in self.rewards], "program.rewards", "id")
        _unique([p.id for p in self.promotions], "program.promotions", "id")
        reward_ids = {r.id for r in self.rewards}
        for i, card in enumerate(self.stamp_cards):
            if card.reward not in reward_ids:
                raise ProgramError(
                    f"program.stamp_cards[{i}].reward", f"no reward with id {card.reward!r}"
                )
        for i, reward in enumerate(self.rewards):
            for tier in reward.tiers:
                if tier not in names:
                    raise ProgramError(f"program.rewards[{i}].tiers", f"no tier named {tier!r}")
        if self.stacking.max_multiplier < max(t.multiplier for t in self.tiers):
            raise ProgramError(
                "program.stacking.max_multiplier", "is below a tier's own multiplier"
            )
        return self

    @cached_property
    def version(self) -> str:
        """Hash of the canonical content: equal programs have equal versions."""
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]

    @cached_property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def canonical_json(self) -> str:
        content = self.model_dump(mode="json")
        # A setting added after programs were published stays out at its default, so a
        # program published before it keeps its version (events name it).
        for name, default in _LATER_DEFAULTS.items():
            if content.get(name) == default:
                del content[name]
        for reward in content.get("rewards", ()):
            for name, default in _LATER_REWARD_DEFAULTS.items():
                if reward.get(name) == default:
                    del reward[name]
        return json.dumps(content, sort_keys=True, separators=(",", ":"))

    def reward(self, reward_id: str) -> Reward | None:
        return next((r for r in self.rewards if r.id == reward_id), None)

    def tier_named(self, name: str) -> Tier | None:
        return next((t for t in self.tiers if t.name == name), None)

    def stamp_card(self, card_id: str) -> StampCard | None:
        return next((c for c in self.stamp_cards if c.id == card_id), None)


_LATER_DEFAULTS: dict[str, Any] = {"spend_proof": "qr_or_pin", "cash_rounding": 0,
                                   "earn_on_points_paid": False}
"""Program settings added after programs were published, with their defaults."""
_LATER_REWARD_DEFAULTS: dict[str, Any] = {"products": [], "categories": []}
"""The same for each reward's settings."""


def _unique(values: list[str], key: str, field: str) -> None:
    seen: set[str] = set()
    for i, value in enumerate(values):
        if value in seen:
            raise ProgramError(f"{key}[{i}].{field}", f"{value!r} is used twice")
        seen.add(value)


# Money settings written in currency units ("300", "12.50") -> integer minor units.
_MONEY_FIELDS = (("tiers", "threshold"), ("tiers", "annual_fee"), ("rewards", "value"))


def _to_minor(raw: dict[str, Any]) -> dict[str, Any]:
    exponent = raw.get("currency_exponent", 2)
    if not isinstance(exponent, int) or isinstance(exponent, bool) or not 0 <= exponent <= 3:
        return raw  # the field validator reports it
    raw = {k: ([dict(x) if isinstance(x, dict) else x for x in v] if isinstance(v, list) else v)
           for k, v in raw.items()}
    if raw.get("cash_rounding") is not None:
        value = raw["cash_rounding"]
        if isinstance(value, bool) or (isinstance(value, int) and value < 0):
            raise ProgramError("program.cash_rounding", "must be an amount such as \"0.05\"")
        text = repr(value) if isinstance(value, float) else str(value)
        try:
            raw["cash_rounding"] = parse_amount(text, exponent)
        except MoneyError as exc:
            raise ProgramError("program.cash_rounding", str(exc)) from exc
    for section, field in _MONEY_FIELDS:
        items = raw.get(section)
        if not isinstance(items, list):
            continue
        for i, item in enumerate(items):
            if not isinstance(item, dict) or item.get(field) is None:
                continue
            value = item[field]
            key = f"program.{section}[{i}].{field}"
            if isinstance(value, bool):
                raise ProgramError(key, "must be an amount such as 300 or \"12.50\"")
            if isinstance(value, int) and value < 0:
                raise ProgramError(key, "must not be negative")
            text = repr(value) if isinstance(value, float) else str(value)
            try:
                item[field] = parse_amount(text, exponent)
            except MoneyError as exc:
                raise ProgramError(key, str(exc)) from exc
    return raw


def program_from_dict(raw: dict[str, Any]) -> Program:
    """Validate a `[program]` table (already parsed) into a Program."""
    if not isinstance(raw, dict):
        raise ProgramError("program", "must be a table")
    try:
        return Program.model_validate(_to_minor(raw))
    except ProgramError:
        raise
    except ValidationError as exc:
        key, _, problem = describe(exc, "program").partition(": ")
        raise ProgramError(key, problem) from exc


def load_program_text(text: str) -> Program:
    """Read the `[program]` table from TOML text."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ProgramError("", f"the file is not valid TOML: {exc}") from exc
    if "program" not in doc:
        raise ProgramError("program", "the [program] table is missing")
    return program_from_dict(doc["program"])


def load_program(path: str) -> Program:
    """Read the `[program]` table from a TOML file."""
    with open(path, "rb") as fh:
        return load_program_text(fh.read().decode("utf-8"))
