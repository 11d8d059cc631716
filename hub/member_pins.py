"""Member PINs at the hub: the online channel sets one for a member it has signed in.

    >>> set_pin(ctx, member_id, "4821")     # a `pin` event of origin `online`
    {'member_id': '0192...', 'pin_set': True, 'events': [...]}

The PIN is hashed here (argon2id, `loyalty.pins.hash_pin`) and recorded as a `pin` event
like a terminal's, so it reaches every till in the member's next snapshot. The answer
never holds the hash. The web shop is trusted to have signed the member in (its own
login); the hub cannot check that (docs/SECURITY.md).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from hub.context import HubContext
from hub.exceptions import Invalid
from hub.store import members as member_store
from hub.store.ingest import record_drafts
from loyalty.pins import PinError, hash_pin, pin_set_draft

ORIGIN = "online"


def set_pin(ctx: HubContext, member_id: str, pin: str, *,
            origin: str = ORIGIN) -> dict[str, Any]:
    """Give the member a new PIN, recorded as the channel `origin`; 404 for an unknown
    member, 422 for a PIN too easy to guess or not 4-8 digits."""
    try:
        pin_hash = hash_pin(pin)  # the slow part, before any lock
    except PinError as exc:
        raise Invalid(str(exc), code="bad_pin") from exc
    at = datetime.now(UTC)
    with ctx.db.write() as conn:
        member_store.lock_member(conn, ctx.db, member_id)
        result = record_drafts(conn, ctx, origin, [pin_set_draft(member_id, pin_hash)], at)
    return {"member_id": member_id, "pin_set": True, "events": result.results}
