"""Redemption: spending points on a reward, or using a voucher, with every check.

    >>> draft = redeem(program, state, "free-latte", at, receipt_no="S001-T1-000043")
    >>> draft.points
    -150

Checks, in order, each with its own `RedemptionError.code`: the reward exists
(`unknown_reward`), is inside its validity window (`not_yet_valid`, `reward_expired`), the
member's tier may have it (`tier_not_allowed`), there is stock (`out_of_stock`), pay-with-
points stays within its limits (`bad_points`), the member has the points
(`insufficient_points`: spendable ones, `MemberState.spendable`, not those held for
review). Offline (the hub did not answer) also: offline redemption is enabled and
under the per-transaction limit (`offline_disabled`, `offline_transaction_limit`), the
member's offline spend today stays under the daily limit (`offline_daily_limit`), the
cached snapshot is recent (`offline_snapshot_stale`), and the store's offline budget
for this outage is not used up (`offline_store_budget`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from loyalty.errors import RedemptionError
from loyalty.events import EventDraft, Kind
from loyalty.fold import MemberState
from loyalty.ids import voucher_code
from loyalty.program import Program, Reward, RewardKind
from loyalty.tiers import tier_at

# Rewards whose value is kept as a code to use later rather than applied at once.
_STORED_VALUE = (RewardKind.GIFT_CARD, RewardKind.STORE_CREDIT)
BASKET_KINDS = (RewardKind.FREE_PRODUCT, RewardKind.PERCENT_DISCOUNT, RewardKind.FIXED_DISCOUNT)
"""Rewards applied to a basket at checkout (loyalty.basket.price): at a till they are
applied at once; bought away from a basket (`as_voucher`) they come as a voucher."""


@dataclass(frozen=True)
class OfflineContext:
    """What the terminal knows while it cannot reach the hub."""

    snapshot_age: timedelta | None
    """Age of the hub snapshot of this member; None if there is none."""
    spent_today: int = 0
    """Points this member already spent in offline-approved redemptions today (the
    terminal keeps that fact beside the event: approval is not part of the event)."""
    local_member: bool = False
    """Enrolled on this terminal: every event of theirs is here, no snapshot needed."""
    store_budget_left: int | None = None
    """Points the store may still approve offline in this outage; None = no store budget."""


def eligible_rewards(program: Program, state: MemberState, at: datetime) -> list[Reward]:
    """Rewards the member's tier may have and that are in their validity window today."""
    tier = tier_at(state, program, at).name
    day = at.astimezone(program.zone).date()
    return [
        r
        for r in program.rewards
        if (not r.tiers or tier in r.tiers)
        and (r.valid_from is None or day >= r.valid_from)
        and (r.valid_until is None or day <= r.valid_until)
    ]


def redeem(
    program: Program,
    state: MemberState,
    reward_id: str,
    at: datetime,
    *,
    receipt_no: str,
    points: int | None = None,
    stock_left: int | None = None,
    offline: OfflineContext | None = None,
    as_voucher: bool = False,
) -> EventDraft:
    """Validate a redemption and return its event, or raise RedemptionError.

    `as_voucher`: the reward is bought away from any basket (the member's own page
    online): a basket reward (free product, percent or fixed discount) then issues a
    voucher, as a gift card does, which a till applies at checkout (`Applied("", code)`)
    and marks used (`use_voucher`). Without it a basket reward is applied where it is
    bought (the till's ticket, the web shop's order) and issues nothing."""
    reward = program.reward(reward_id)
    if reward is None:
        raise RedemptionError("unknown_reward", f"there is no reward '{reward_id}' in the catalog")
    day = at.astimezone(program.zone).date()
    if reward.valid_from and day < reward.valid_from:
        raise RedemptionError(
            "not_yet_valid", f"{reward.name} can be redeemed from {reward.valid_from}"
        )
    if reward.valid_until and day > reward.valid_until:
        raise RedemptionError("reward_expired", f"{reward.name} ended on {reward.valid_until}")
    tier = tier_at(state, program, at).name
    if reward.tiers and tier not in reward.tiers:
        raise RedemptionError(
            "tier_not_allowed", f"{reward.name} is for {' / '.join(reward.tiers)} members only"
        )
    if stock_left is not None and stock_left <= 0:
        raise RedemptionError("out_of_stock", f"{reward.name} is out of stock")

    value = reward.value
    if reward.kind is RewardKind.PAY_WITH_POINTS:
        if points is None or points <= 0:
            limit = f" to {reward.max_points}" if reward.max_points else " or more"
            raise RedemptionError("bad_points", f"say how many {program.points_name} to pay "
                                  f"with: {max(reward.min_points, 1)}{limit}")
        if points < reward.min_points:
            raise RedemptionError(
                "bad_points", f"paying with points needs at least {reward.min_points}"
            )
        if reward.max_points is not None and points > reward.max_points:
            raise RedemptionError(
                "bad_points", f"at most {reward.max_points} {program.points_name} per payment"
            )
        cost = points
        value = points * (reward.point_value or 0)
    else:
        cost = reward.cost
        if cost == 0:
            # a free reward is earned by completing its stamp card, never taken directly
            raise RedemptionError(
                "voucher_only", f"{reward.name} comes with a completed stamp card: "
                "redeem the member's voucher instead")
    # Points held for HQ review (beyond what the rules gave) are in the balance but not
    # spendable, here and wherever this check runs: till, offline, hub, web shop.
    available = state.spendable
    if cost > available:
        held = f" ({state.held} more held for review)" if state.held else ""
        raise RedemptionError(
            "insufficient_points",
            f"{reward.name} needs {cost} {program.points_name}; the member has {available}"
            f"{held}, {cost - available} short: choose a cheaper reward",
        )

    data: dict = {"reward_id": reward.id, "reward_kind": reward.kind.value, "tier": tier}
    if value is not None:
        data["value"] = value
    if reward.kind in _STORED_VALUE or (as_voucher and reward.kind in BASKET_KINDS):
        data["vouchers_issued"] = [
            {
                "code": voucher_code(state.member_id, receipt_no),
                "reward_id": reward.id,
                "valid_until": (day + timedelta(days=reward.voucher_days)).isoformat(),
            }
        ]
    if offline is not None:
        _check_offline(program, cost, offline)
    return EventDraft(
        kind=Kind.REDEEM, member_id=state.member_id, points=-cost, ref=receipt_no, data=data
    )


def _check_offline(program: Program, cost: int, offline: OfflineContext) -> None:
    limit = program.offline_redeem_limit_per_transaction
    if limit == 0:
        raise RedemptionError(
            "offline_disabled", "the hub cannot be reached and offline redemption is disabled"
        )
    if cost > limit:
        raise RedemptionError(
            "offline_transaction_limit",
            f"offline, at most {limit} {program.points_name} per redemption; try again when online",
        )
    spent_today = offline.spent_today
    daily = program.offline_redeem_limit_per_member_per_day
    if spent_today + cost > daily:
        raise RedemptionError(
            "offline_daily_limit",
            f"offline, this member can spend {max(daily - spent_today, 0)} more "
            f"{program.points_name} today",
        )
    if not offline.local_member:
        max_age = timedelta(hours=program.offline_snapshot_max_age_hours)
        if offline.snapshot_age is None or offline.snapshot_age > max_age:
            raise RedemptionError(
                "offline_snapshot_stale",
                "this member's balance has not been confirmed by the hub recently; "
                "redeem when the terminal is online",
            )
    if offline.store_budget_left is not None and cost > offline.store_budget_left:
        raise RedemptionError(
            "offline_store_budget",
            "the store's offline redemption budget for this outage is used up",
        )


def use_voucher(
    program: Program, state: MemberState, code: str, at: datetime, *, receipt_no: str
) -> EventDraft:
    """Use an issued voucher (stamp-card reward, gift card): no points move."""
    voucher = state.vouchers.get(code.strip().upper())
    if voucher is None:
        raise RedemptionError("unknown_voucher", f"voucher {code} does not belong to this member")
    if voucher.status != "issued":
        raise RedemptionError("voucher_used", f"voucher {code} was already {voucher.status}")
    if at.astimezone(program.zone).date().isoformat() > voucher.valid_until:
        raise RedemptionError("voucher_expired", f"voucher {code} expired on {voucher.valid_until}")
    return EventDraft(
        kind=Kind.REDEEM,
        member_id=state.member_id,
        ref=receipt_no,
        data={"voucher_used": voucher.code, "voucher_reward_id": voucher.reward_id},
    )
