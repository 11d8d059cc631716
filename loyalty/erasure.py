"""Erasing a member's personal data from ledger events, the same way at the hub and at
every terminal (docs/SECURITY.md, "Privacy: export and erase").

    >>> erased = erase_event(enrol, "2026-12-03T16:00:00.000000+00:00")
    >>> erased.data["profile"], chain_link(erased) == enrol.content_hash()
    ({'consent_email': False, 'consent_sms': False}, True)
    >>> erasure_problem(erased) is None
    True

An event is immutable, but the personal data an enrolment carries (`data.profile`: name,
phone, e-mail, birthday) must go when a member is erased. The erased event keeps every
other field (points, stamps, amount, ids, refs, instants), so every fold, balance and
liability is the same; its `data.erased` says when, keeps the hash of the content before
(`content_hash`: the link the next event of the origin carries as prev_hash, read by
`loyalty.events.chain_link`) and the hash of what is left (`check`), so a change to an
erased event after the erasure still shows. `erase_event` is a pure function of the event
and the instant: the hub and the terminals make byte-identical erased events.
"""

from __future__ import annotations

import hashlib
from typing import Any

from loyalty.events import Event, canonical_json, chain_link, with_changes

PERSONAL = ("name", "phone", "email", "birthday")
"""The keys of an event's `data.profile` that identify a person."""


def pseudonym(member_id: str) -> str:
    """The stable name an erased member keeps: `erased-` and the last 8 hex digits of the
    member id (UUIDv7: the first digits are the enrolment's time, shared by members
    enrolled within the same minute; the last ones are random).

        >>> pseudonym("0192f0e4-7b1c-7d2e-8f00-1a2b3c4d5e6f")
        'erased-3c4d5e6f'
    """
    return "erased-" + member_id.replace("-", "")[-8:]


def has_personal_data(event: Event) -> bool:
    profile = event.data.get("profile")
    return isinstance(profile, dict) and any(profile.get(k) not in (None, "")
                                             for k in PERSONAL)


def _check(event: Event) -> str:
    """The hash of an erased event's content without its `check`."""
    raw = event.to_dict()
    data = dict(raw["data"])
    marker = dict(data.get("erased") or {})
    marker.pop("check", None)
    data["erased"] = marker
    return hashlib.sha256(canonical_json({**raw, "data": data}).encode()).hexdigest()


def erase_event(event: Event, erased_at: str) -> Event | None:
    """`event` with the personal keys of its profile removed and `data.erased` added, or
    None when it holds no personal data (or is erased already)."""
    if "erased" in event.data or not has_personal_data(event):
        return None
    profile = {k: v for k, v in event.data["profile"].items() if k not in PERSONAL}
    data: dict[str, Any] = {**event.data, "profile": profile,
                            "erased": {"at": erased_at, "content_hash": event.content_hash()}}
    erased = with_changes(event, data=data)
    data["erased"]["check"] = _check(erased)
    return erased


def erasure_problem(event: Event) -> str | None:
    """What is wrong with an erased event (None: sound, or not an erased event): personal
    data still there, or content changed after the erasure."""
    marker = event.data.get("erased")
    if marker is None:
        return None
    if not (isinstance(marker, dict) and isinstance(marker.get("content_hash"), str)
            and isinstance(marker.get("check"), str)):
        return f"event {event.event_id}: data.erased is not a valid erasure record"
    if has_personal_data(event):
        return f"event {event.event_id}: marked erased but still holds personal data"
    if marker["check"] != _check(event):
        return f"event {event.event_id}: erased event changed after its erasure"
    return None


__all__ = ["PERSONAL", "chain_link", "erase_event", "erasure_problem", "has_personal_data",
           "pseudonym"]
