"""The ledger event: every change to a member is one immutable event.

Domain functions return `EventDraft`s (what happened to whom); the side that records them
(terminal store or hub) seals each draft into an `Event` with its id, origin, gap-free
sequence, epoch, chain hash and clock stamps:

    >>> draft = EventDraft(kind="bonus", member_id="m1", points=50)
    >>> e = seal(draft, origin="S001-T1", origin_seq=1, origin_epoch=1, prev_hash=GENESIS,
    ...          occurred_at="2026-11-22T10:00:00+00:00", hlc="000001763805600000.00000",
    ...          program_version="abc")
    >>> e.points, verify_chain([e], GENESIS)
    (50, True)

Field meanings are those of DESIGN.md ("The ledger"). `data` carries what a kind needs
beyond the common fields (sale lines, reward id, reversed event ids, lot expiry...).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from loyalty.errors import LedgerError
from loyalty.ids import new_event_id

GENESIS = "0" * 64


class Kind(StrEnum):
    ENROL = "enrol"          # a member was created (points 0)
    EARN = "earn"            # purchase points and stamps for a sale; amount = qualifying spend
    STAMP = "stamp"          # a stamp card completed: stamps reset, voucher issued
    BONUS = "bonus"          # welcome, birthday, visit, referral, review...
    REDEEM = "redeem"        # points spent on a reward, or a voucher used
    REVERSE = "reverse"      # void / refund: undoes (part of) earlier events of a receipt
    ADJUST = "adjust"        # HQ correction, e.g. resolving a flag
    EXPIRE = "expire"        # a lot reached its expiry date (hub job)
    TIER = "tier"            # the member's tier changed (hub job; informational)
    MEMBERSHIP = "membership"  # a paid tier bought for a period
    LINK = "link"            # a physical card linked to the member
    MERGE = "merge"          # points moved between two accounts of one person
    HOLD = "hold"            # hub: points an origin asserted beyond the rules, not spendable
    RELEASE = "release"      # hub: HQ released (or voided) a hold after review
    PIN = "pin"              # the member's PIN set or changed, or a wrong/right try of it


@dataclass(frozen=True)
class EventDraft:
    kind: str
    member_id: str
    points: int = 0
    stamps: dict[str, int] = field(default_factory=dict)
    amount: int = 0
    currency: str = ""
    ref: str = ""
    data: dict[str, Any] = field(default_factory=dict)
    occurred_at: str | None = None
    """Set only when the event belongs to another instant than now (expiry at the lot's date)."""
    event_id: str | None = None
    """Set only for deterministic hub-made ids."""
    hlc: str | None = None
    """Set only for events placed at a past instant (expiry), so they sort there."""

    def __post_init__(self) -> None:
        if self.kind not in tuple(Kind):
            raise LedgerError(f"unknown event kind {self.kind!r}")
        for name, value in (("points", self.points), ("amount", self.amount)):
            if not isinstance(value, int) or isinstance(value, bool):
                raise LedgerError(f"{name} must be an integer, got {type(value).__name__}")
        for card, delta in self.stamps.items():
            if not isinstance(delta, int) or isinstance(delta, bool):
                raise LedgerError(f"stamps[{card}] must be an integer")


@dataclass(frozen=True)
class Event:
    event_id: str
    origin: str
    origin_seq: int
    origin_epoch: int
    member_id: str
    kind: str
    points: int
    stamps: dict[str, int]
    amount: int
    currency: str
    program_version: str
    prev_hash: str
    ref: str
    occurred_at: str
    hlc: str
    data: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        # Shallow: `data` and `stamps` are shared with the event, which is never changed
        # once sealed; a caller that wants to change the dict's values copies them.
        return {name: getattr(self, name) for name in _EVENT_FIELDS}

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Event:
        try:
            return cls(**{k: raw[k] for k in _EVENT_FIELDS})
        except KeyError as exc:
            raise LedgerError(f"event is missing field {exc.args[0]!r}") from exc

    def canonical(self) -> str:
        """The exact content, used to compare a repeat with the original."""
        return canonical_json(self.to_dict())

    def content_hash(self) -> str:
        """The chain link: the next event of this origin carries it as prev_hash."""
        return hashlib.sha256(self.canonical().encode()).hexdigest()

    @property
    def occurred(self) -> datetime:
        return parse_instant(self.occurred_at)

    @property
    def sort_key(self) -> tuple[str, str, int, int, str]:
        # A total order that every side computes the same from the events alone.
        return (self.hlc, self.origin, self.origin_epoch, self.origin_seq, self.event_id)


# The fallback for what orjson refuses (ints beyond 64 bits, non-str keys).
_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, UTF-8 text: the bytes every hash and version is taken of.

        >>> canonical_json({"b": 1, "a": ["é", None]})
        '{"a":["é",null],"b":1}'

    The definition is `json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False)`; orjson writes exactly that for str, int, bool, None, lists and
    dicts with str keys (tests/loyalty checks it with generated values), and the stdlib
    encoder writes what orjson refuses."""
    return canonical_bytes(value).decode()


def canonical_bytes(value: Any) -> bytes:
    """`canonical_json(value)` as UTF-8 bytes: what the chain hash of an event is taken of."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return _CANONICAL.encode(value).encode()


def parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise LedgerError(f"instant {text!r} has no time zone")
    return moment.astimezone(UTC)


# The keys of `Event.data` the fold reads, and the type it reads each as (None: absent).
_DATA_TEXT = ("tier", "once", "voucher_used", "reward_id", "lot", "card_number", "action",
              "hash")
_DATA_INSTANTS = ("expires_at", "until")


def data_problem(data: dict[str, Any]) -> str | None:
    """What in an event's `data` the fold could not read, or None. The fold trusts these
    shapes (a sealed event is a fact): a hub checks them at its edge, because an event it
    accepts is folded later, where a bad one would stop every member's fold behind it.

        >>> data_problem({"expires_at": "soon"})
        'data.expires_at must be an ISO-8601 instant with a time zone'
    """
    for key in _DATA_TEXT:
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            return f"data.{key} must be text"
    for key in _DATA_INSTANTS:
        value = data.get(key)
        if value is not None:
            try:
                parse_instant(value)
            except (TypeError, ValueError, LedgerError):
                return f"data.{key} must be an ISO-8601 instant with a time zone"
    issued = data.get("vouchers_issued")
    if issued is not None and (not isinstance(issued, list) or not all(
            isinstance(v, dict) and isinstance(v.get("code"), str)
            and isinstance(v.get("valid_until"), str)
            and isinstance(v.get("reward_id"), str | None) for v in issued)):
        return ("data.vouchers_issued must be a list of {code, reward_id, valid_until} "
                "with text values")
    reverses = data.get("reverses")
    if reverses is not None and not (isinstance(reverses, list)
                                     and all(isinstance(r, str) for r in reverses)):
        return "data.reverses must be a list of event ids"
    points = data.get("purchase_points")
    if points is not None and (type(points) is not int):
        return "data.purchase_points must be an integer"
    stamps = data.get("purchase_stamps")
    if stamps is not None and not (isinstance(stamps, dict) and all(
            type(v) is int for v in stamps.values())):
        return "data.purchase_stamps must map stamp cards to integers"
    full = data.get("full")
    if full is not None and not isinstance(full, bool):
        return "data.full must be true or false"
    return _line_data_problem(data)


def _is_int(value: Any) -> bool:
    return type(value) is int


_DECIMAL = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,30})?")


def _is_decimal(value: Any) -> bool:
    """Decimal text such as "31.5" (a line's exact points, read by returns by line)."""
    return isinstance(value, str) and _DECIMAL.fullmatch(value) is not None


def _line_data_problem(data: dict[str, Any]) -> str | None:
    """The shapes issue 17 added: an earn's `items`, a return's `returns`, a void's
    `vouchers_revoked`, a stamp event's `card` and `completed` (all read by the fold)."""
    items = data.get("items")
    if items is not None and not (isinstance(items, list) and all(
            isinstance(i, dict) and all(_is_int(i.get(k)) for k in
                                        ("line_no", "qty", "net", "earning"))
            and _is_decimal(i.get("exact")) and isinstance(i.get("stamps", {}), dict)
            and all(_is_int(v) for v in i.get("stamps", {}).values()) for i in items)):
        return ("data.items must be a list of {line_no, qty, net, earning, exact, stamps} "
                "with integers, exact as decimal text")
    returns = data.get("returns")
    if returns is not None and not (isinstance(returns, list) and all(
            isinstance(r, dict) and _is_int(r.get("line_no")) and _is_int(r.get("qty"))
            and r["qty"] > 0 for r in returns)):
        return "data.returns must be a list of {line_no, qty} with a positive qty"
    revoked = data.get("vouchers_revoked")
    if revoked is not None and not (isinstance(revoked, list)
                                    and all(isinstance(c, str) for c in revoked)):
        return "data.vouchers_revoked must be a list of voucher codes"
    completed = data.get("completed")
    if completed is not None and not (_is_int(completed) and completed > 0):
        return "data.completed must be a positive integer"
    card = data.get("card")
    if card is not None and not isinstance(card, str):
        return "data.card must be text"
    profile = data.get("profile")
    if profile is not None and not isinstance(profile, dict):
        return "data.profile must be an object"
    return None


def format_instant(moment: datetime) -> str:
    """ISO-8601 in UTC with microseconds, e.g. `2026-03-02T09:00:00.000000+00:00`."""
    if moment.tzinfo is None:
        raise LedgerError("instants must be time-zone aware")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def seal(
    draft: EventDraft,
    *,
    origin: str,
    origin_seq: int,
    origin_epoch: int,
    prev_hash: str,
    occurred_at: str,
    hlc: str,
    program_version: str,
) -> Event:
    """Turn a draft into the event to store, as the recording side numbers it."""
    if origin_seq < 1:
        raise LedgerError("origin_seq starts at 1")
    return Event(
        event_id=draft.event_id or new_event_id(),
        origin=origin,
        origin_seq=origin_seq,
        origin_epoch=origin_epoch,
        member_id=draft.member_id,
        kind=draft.kind,
        points=draft.points,
        stamps=dict(draft.stamps),
        amount=draft.amount,
        currency=draft.currency,
        program_version=program_version,
        prev_hash=prev_hash,
        ref=draft.ref,
        occurred_at=draft.occurred_at or occurred_at,
        hlc=draft.hlc or hlc,
        data=dict(draft.data),
    )


def verify_chain(events: list[Event], prev_hash: str) -> bool:
    """True if `events` (one origin and epoch, in origin_seq order) continue `prev_hash`."""
    for event in events:
        if event.prev_hash != prev_hash:
            return False
        prev_hash = chain_link(event)
    return True


def chain_link(event: Event) -> str:
    """The hash the next event of the origin carries as prev_hash: `content_hash()`, or
    for an event whose personal data was erased (loyalty.erasure) the hash of its content
    before the erasure, which the erased event keeps in `data.erased.content_hash`."""
    erased = event.data.get("erased")
    if isinstance(erased, dict) and isinstance(erased.get("content_hash"), str):
        return erased["content_hash"]
    return event.content_hash()


def with_changes(event: Event, **changes: Any) -> Event:
    return replace(event, **changes)


_EVENT_FIELDS = tuple(Event.__dataclass_fields__)
