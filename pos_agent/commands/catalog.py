"""`pos rewards`: the rewards catalog of the program this terminal uses, with what each
costs, who may have it, until when, and the stock this terminal knows of."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, money, open_for


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rewards", parents=[common], help=HELP["rewards"],
                       description="The rewards members can redeem (`pos redeem --reward ID`):"
                       " id, name, cost, tiers allowed, validity and stock left.")
    p.set_defaults(handler=run_rewards)


def run_rewards(args: argparse.Namespace) -> int:
    from pos_agent.operations import stock_left
    store = open_for(args)
    program = store.active_program()
    pn = program.points_name
    rows, lines = [], [f"{program.name}: rewards (program {program.version})"]
    for r in program.rewards:
        left = stock_left(store.conn, program, r.id)
        if r.kind.value == "pay_with_points":
            cost = (f"{r.min_points or 1}-{r.max_points or 'any'} {pn}, worth "
                    f"{money(program, r.point_value or 0)} each")
        elif r.cost == 0:
            cost = "stamp-card reward (voucher)"
        else:
            cost = f"{r.cost} {pn}"
        window = (f"{r.valid_from or '...'} to {r.valid_until or '...'}"
                  if r.valid_from or r.valid_until else "")
        rows.append({"id": r.id, "name": r.name, "kind": r.kind.value, "cost": r.cost,
                     "tiers": list(r.tiers), "valid_from": r.valid_from,
                     "valid_until": r.valid_until, "stock_left": left,
                     "min_points": r.min_points, "max_points": r.max_points})
        extras = [part for part in (
            f"tiers {', '.join(r.tiers)}" if r.tiers else "",
            window, f"{left} left" if left is not None else "") if part]
        lines.append(f"  {r.id:<16} {r.name:<28} {cost}"
                     + (f"  ({'; '.join(extras)})" if extras else ""))
    emit(args, {"program": program.name, "version": program.version, "rewards": rows}, lines)
    return 0
