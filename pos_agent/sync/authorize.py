"""Online authorisation of a redemption at the counter, with a short timeout.

    >>> authorizer = hub_authorizer(client, origin="S001-T1", timeout=1.5)
    >>> redeem_reward(store, member_id, "free-latte", authorizer=authorizer)

The terminal sends its not-yet-acknowledged events followed by the redemption
(`POST /v1/redemptions/authorize`); the hub records them only if the member's hub balance
covers it. No answer in time -> "unreachable" and the offline rules decide
(`pos_agent.operations.redeem_reward`); `sent` says whether the request may have reached
the hub, so a lost answer can never leave the two sides disagreeing about the event.
"""

from __future__ import annotations

from loyalty.events import Event
from pos_agent.exceptions import CredentialRejected, HubRefused, HubUnreachable
from pos_agent.operations import Authorization, Authorizer
from pos_agent.sync.client import HubClient

MAX_PENDING_IN_AUTHORIZE = 500


def hub_authorizer(client: HubClient, *, origin: str, timeout: float) -> Authorizer:
    def authorize(event: Event, pending: list[Event]) -> Authorization:
        if len(pending) > MAX_PENDING_IN_AUTHORIZE:
            # A long outage's backlog would not go through in the timeout: decide offline
            # and let the agent deliver the queue first.
            return Authorization("unreachable")
        events = [e.to_dict() for e in [*pending, event]]
        try:
            body = client.authorize(origin, event.origin_epoch, events, timeout=timeout)
        except HubRefused as exc:
            code = str(exc.body.get("error") or "refused")
            if code in ("gap", "conflict", "chain_broken", "wrong_origin"):
                # Not a verdict on the redemption: the ledger needs a sync first.
                return Authorization("unreachable", code=code, detail=str(exc), sent=True)
            return Authorization("refused", code=code,
                                 detail=str(exc.body.get("detail") or exc))
        except CredentialRejected as exc:
            return Authorization("unreachable", code="credential", detail=str(exc))
        except HubUnreachable as exc:
            return Authorization("unreachable", detail=str(exc), sent=exc.request_sent)
        if not body.get("authorized", True):
            return Authorization("refused", code="refused", detail="the hub did not authorise")
        return Authorization("authorized", results=tuple(body.get("results", ())))

    return authorize
