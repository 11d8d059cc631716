"""Which promotions apply to a sale line, and how they stack.

Stacking policy (the program's `[program.stacking]`):
- a promotion applies on its date window and weekdays (program time zone, inclusive) and
  to lines in its categories or SKUs (both empty: every line);
- non-exclusive promotions combine: `multiply` (2 x 1.5 = 3) or `add` (1 + 1 + 0.5 = 2.5);
- an exclusive promotion never combines: the line takes whichever is larger, the best
  exclusive promotion alone or the combination of the others;
- the line's total multiplier, tier multiplier x promotions, is capped at `max_multiplier`.

    >>> line_multiplier(program, tier, line, local_day)
    (Decimal('3'), ('Double Stars Tuesday',))
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from loyalty.program import WEEKDAYS, Program, Promotion, Tier
from loyalty.sale import SaleLine


def on_day(promo: Promotion, day: date) -> bool:
    if promo.starts and day < promo.starts:
        return False
    if promo.ends and day > promo.ends:
        return False
    return not (promo.weekdays and WEEKDAYS[day.weekday()] not in promo.weekdays)


def applies_to_line(promo: Promotion, line: SaleLine) -> bool:
    if promo.categories or promo.products:
        return line.category in promo.categories or line.sku in promo.products
    return True


def combine(program: Program, multipliers: list[Decimal]) -> Decimal:
    if program.stacking.mode == "add":
        return Decimal(1) + sum((m - 1 for m in multipliers), Decimal(0))
    total = Decimal(1)
    for m in multipliers:
        total *= m
    return total


def line_multiplier(
    program: Program, tier: Tier, line: SaleLine, day: date
) -> tuple[Decimal, tuple[str, ...]]:
    """Total multiplier for one line (tier x promotions, capped) and the promotions used."""
    active = [p for p in program.promotions if on_day(p, day) and applies_to_line(p, line)]
    if not active:
        return min(tier.multiplier, program.stacking.max_multiplier), ()
    combinable = [p for p in active if not p.exclusive]
    exclusive = sorted((p for p in active if p.exclusive), key=lambda p: (-p.multiplier, p.id))
    combined = combine(program, [p.multiplier for p in combinable])
    chosen: list[Promotion] = combinable
    promo_mult = combined
    if exclusive and exclusive[0].multiplier > combined:
        chosen, promo_mult = [exclusive[0]], exclusive[0].multiplier
    total = min(tier.multiplier * promo_mult, program.stacking.max_multiplier)
    return total, tuple(p.name for p in chosen)
