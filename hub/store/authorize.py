"""Whether the hub approves a redemption now: the domain's own checks against the hub's
state of the member just before it.

    >>> check(conn, state, redeem_event, stock={"free-latte": 12})

`POST /v1/redemptions/authorize` sends a terminal's pending events plus the redemption;
`hub.store.ingest` appends and folds them like a push, calling `check` under the member
row's lock just before the redemption is applied, so two authorisations of one member
take turns and the second sees the first. A refusal rolls the whole batch back.
"""

from __future__ import annotations

from sqlalchemy import Connection

from hub.exceptions import Conflict, Invalid
from hub.store import programs
from hub.store.append import refuse
from loyalty.errors import RedemptionError
from loyalty.events import Event, Kind
from loyalty.fold import MemberState
from loyalty.redemption import redeem, use_voucher


def check_last_is_redeem(batch: list[Event]) -> None:
    if not batch or batch[-1].kind != Kind.REDEEM:
        raise refuse(Invalid, "the last event of an authorisation must be a redeem",
                     code="not_a_redemption")


def check(conn: Connection, state: MemberState, event: Event, stock: dict[str, int]) -> None:
    """Refuse (409 with the domain's code and the member's balance) unless the program
    the event names, or the current one, allows this redemption from `state`."""
    program = (programs.program_by_version(conn, event.program_version)
               or programs.current_program(conn))
    if program is None:
        raise refuse(Conflict, "the hub has no program published", code="no_program")
    data = event.data
    try:
        if data.get("voucher_used"):
            use_voucher(program, state, str(data["voucher_used"]), event.occurred,
                        receipt_no=event.ref)
            return
        reward_id = str(data.get("reward_id", ""))
        redeem(program, state, reward_id, event.occurred, receipt_no=event.ref,
               points=-event.points if event.points < 0 else None,
               stock_left=stock.get(reward_id))
        reward = program.reward(reward_id)
        if reward is not None and reward.kind.value != "pay_with_points" \
                and -event.points != reward.cost:
            raise RedemptionError("wrong_cost", f"{reward.name} costs {reward.cost}, "
                                  f"the redemption takes {-event.points}")
    except RedemptionError as exc:
        raise refuse(Conflict, str(exc), code=exc.code, balance=state.balance) from exc
