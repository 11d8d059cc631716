"""The store's sanity limit on one sale, checked where a sale is typed (the `pos` command
and the app) before anything is recorded.

    >>> check_sale_total(settings, program, sale)   # raises StoreError above [terminal] max_sale

The domain refuses amounts no till could ring up (`loyalty.money.MAX_SALE_MINOR`); this
limit is the store's own, much lower, one: a coffee shop's 10,000 EUR sale is a typo.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from loyalty.money import format_amount, parse_amount
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from loyalty.program import Program
    from loyalty.sale import Sale
    from pos_agent.settings import PosSettings


def check_sale_total(settings: PosSettings, program: Program, sale: Sale) -> Sale:
    limit = parse_amount(settings.terminal.max_sale, program.currency_exponent)
    if sale.total > limit:
        exponent = program.currency_exponent
        raise StoreError(
            f"{format_amount(sale.total, exponent)} {program.currency} is over this store's "
            f"limit for one sale ({format_amount(limit, exponent)} {program.currency}, "
            "[terminal] max_sale): check the amount")
    return sale
