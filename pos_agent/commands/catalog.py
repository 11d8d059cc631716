"""`pos rewards`: the rewards catalog of the program this terminal uses, with what each
costs, who may have it, until when, and the stock this terminal knows of."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, integer, money, open_for


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("rewards", parents=[common], help=HELP["rewards"],
                       description="The rewards members can redeem (`pos redeem --reward ID`):"
                       " id, name, cost, tiers allowed, validity and stock left.")
    p.set_defaults(handler=run_rewards)
    # -- product catalogue (issue 17)
    p = sub.add_parser("products", parents=[common], help=HELP["products"],
                       description="The products this terminal sells, as HQ's catalogue "
                       "reached it on the last sync: SKU, name, category, price (tax "
                       "included), tax rate and barcodes. --search finds names by the start "
                       "of any word, ignoring case and accents; --code looks up one barcode "
                       "or SKU.")
    p.add_argument("--search", metavar="TEXT", help="words the name starts with, e.g. 'cafe'")
    p.add_argument("--code", metavar="CODE", help="one barcode (EAN-13, UPC-A, EAN-8) or SKU")
    p.add_argument("--all", action="store_true",
                   help="also products HQ no longer sells (kept for old receipts)")
    p.add_argument("--limit", type=integer, default=50, help="at most this many (default 50)")
    p.set_defaults(handler=run_products)


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


def run_products(args: argparse.Namespace) -> int:
    from loyalty.catalogue import barcode_kind, format_tax_rate
    from pos_agent.catalogue import catalogue_size, product_by_code, search_products
    store = open_for(args)
    program = store.active_program()
    if args.code:
        found = [product_by_code(store, args.code, include_inactive=args.all)]
    else:
        found = search_products(store, args.search or "", limit=args.limit,
                                include_inactive=args.all)
    active, total = catalogue_size(store)
    rows = [{**p.to_dict(), "price_text": money(program, p.price),
             "tax_rate_text": format_tax_rate(p.tax_rate) + "%"} for p in found]
    lines = [f"{len(found)} of {active} products on sale"
             + (f" ({total - active} no longer sold)" if total > active else "")
             + (f" matching '{args.search}'" if args.search else "")
             + ("" if total else ": none yet (the catalogue comes with `pos sync --now`)")]
    for p in found:
        codes = ", ".join(f"{b} ({barcode_kind(b)})" for b in p.barcodes) or "no barcode"
        lines.append(f"  {p.sku:<14} {p.name:<30} {p.category:<10} "
                     f"{money(program, p.price):>12}  tax {format_tax_rate(p.tax_rate)}%  "
                     f"{codes}" + ("" if p.active else "  [no longer sold]"))
    emit(args, {"products": rows, "active": active, "total": total}, lines)
    return 0
