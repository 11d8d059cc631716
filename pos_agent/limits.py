"""The store's sanity limit on one sale, checked where a sale is typed (the `pos` command
and the app) before anything is recorded; and the most points pay-with-points may offer.

    >>> check_sale_total(settings, program, sale)   # raises StoreError above [terminal] max_sale
    >>> pay_points_limit(program, reward, spendable=2400, offline=True)   # offline limit 300
    300

The domain refuses amounts no till could ring up (`loyalty.money.MAX_SALE_MINOR`); this
limit is the store's own, much lower, one: a coffee shop's 10,000 EUR sale is a typo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.money import format_amount, parse_amount
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from loyalty.program import Program, Reward
    from loyalty.sale import Sale
    from pos_agent.settings import PosSettings


def pay_points_limit(program: Program, reward: Reward, spendable: int, *,
                     offline: bool) -> int:
    """The most points paying with points can use now, what the app pre-fills and shows:
    the member's spendable points, the reward's `max_points`, and, when the till is offline
    (no hub, or the last sync failed), the program's per-transaction offline limit - a
    pre-fill above it is refused at confirm (issue 17: 2,000 pre-filled with a 300 limit).
    A limit of 0 disables offline redemption: nothing is capped here, the hub may answer
    in time, and the refusal says so if not."""
    limit = min(spendable, reward.max_points or spendable)
    offline_limit = program.offline_redeem_limit_per_transaction
    if offline and offline_limit > 0:
        limit = min(limit, offline_limit)
    return max(limit, 0)


def check_sale_total(settings: PosSettings, program: Program, sale: Sale) -> Sale:
    limit = parse_amount(settings.terminal.max_sale, program.currency_exponent)
    if sale.total > limit:
        exponent = program.currency_exponent
        raise StoreError(
            f"{format_amount(sale.total, exponent)} {program.currency} is over this store's "
            f"limit for one sale ({format_amount(limit, exponent)} {program.currency}, "
            "[terminal] max_sale): check the amount")
    return sale
