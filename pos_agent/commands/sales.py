"""`pos sale`, `pos redeem`, `pos void`, `pos refund`, `pos checkin`."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP
from pos_agent.commands.output import (
    add_no_print,
    amount_arg,
    emit,
    integer,
    money,
    open_for,
    print_receipt,
)
from pos_agent.commands.pin_input import (
    add_pin_stdin,
    add_staff_args,
    manager_approval,
    pin_reader,
    spend_pin,
)
from pos_agent.exceptions import StoreError
from pos_agent.limits import check_sale_total


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("sale", parents=[common], help=HELP["sale"],
                       description="Record a sale; with --member, its points and stamps.")
    p.add_argument("--member", metavar="CARD|PHONE|QR", help="the member (optional)")
    p.add_argument("--amount", help="total, e.g. 12.50 (default: the lines' sum)")
    p.add_argument("--line", action="append", default=[], metavar="SKU,CATEGORY,QTY,UNIT_PRICE",
                   help="a sold line, e.g. LATTE,coffee,2,3.50 (repeatable)")
    add_staff_args(p)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_sale)

    p = sub.add_parser("redeem", parents=[common], help=HELP["redeem"],
                       description="Spend points on a reward (or use a voucher). Offline, "
                       "the program's offline limits apply.")
    p.add_argument("--member", required=True, metavar="QR|CARD|PHONE",
                   help="the scanned QR code (proof enough); a typed card or phone number "
                   "needs the member's PIN (asked, or --pin-stdin)")
    p.add_argument("--reward", metavar="ID", help="reward id: `pos rewards` lists them")
    p.add_argument("--points", type=integer, metavar="N", help="points for pay-with-points")
    p.add_argument("--voucher", metavar="CODE", help="use this voucher instead")
    add_staff_args(p)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_redeem)

    p = sub.add_parser("void", parents=[common], help=HELP["void"],
                       description="Void a receipt: reverses all its points and stamps.")
    p.add_argument("--receipt", required=True, metavar="NO",
                   help="receipt number as printed, e.g. S001-T1-000042")
    p.add_argument("--reason", default="", help="why (kept with the record), e.g. 'wrong item'")
    add_staff_args(p, approval=True)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_void)

    p = sub.add_parser("refund", parents=[common], help=HELP["refund"],
                       description="Refund part of a sale; points go back in proportion.")
    p.add_argument("--receipt", required=True, metavar="NO",
                   help="receipt number of the sale, as printed, e.g. S001-T1-000042")
    p.add_argument("--amount", required=True, help="amount refunded, e.g. 3.50")
    p.add_argument("--reason", default="", help="why (kept with the record)")
    add_staff_args(p, approval=True)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_refund)

    p = sub.add_parser("checkin", parents=[common], help=HELP["checkin"],
                       description="Record a store visit: the day's visit bonus if due.")
    p.add_argument("--member", required=True, metavar="CARD|PHONE|QR",
                   help="card number, phone number or scanned QR")
    add_staff_args(p)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_checkin)


def run_sale(args: argparse.Namespace) -> int:
    from loyalty.sale import make_sale, parse_line
    from pos_agent.members import find_member
    from pos_agent.operations import record_sale
    store = open_for(args)
    program = store.active_program()
    lines = [parse_line(text, program.currency_exponent) for text in args.line]
    if args.amount is None and not lines:
        raise StoreError("say what was sold: --amount 12.50 and/or --line SKU,CATEGORY,QTY,PRICE")
    total = amount_arg(program, args.amount) if args.amount is not None else None
    sale = check_sale_total(store.settings, program, make_sale(lines, total))
    member = find_member(store, args.member) if args.member else None
    result = record_sale(store, member.member_id if member else None, sale)
    printed = print_receipt(store, args, result.receipt_no)
    pn = program.points_name
    data = {"receipt_no": result.receipt_no, "member_id": result.member_id,
            "total": result.total, "points_earned": result.points_earned,
            "purchase_points": result.purchase_points, "promotions": list(result.promotions),
            "bonuses": [list(b) for b in result.bonuses], "stamps": result.stamps,
            "vouchers": [v["code"] for v in result.vouchers], "balance": result.balance,
            "tier": result.tier, "printed": printed}
    text = [f"receipt_no:    {result.receipt_no}", f"total:         {money(program, sale.total)}"]
    if member:
        text += [f"points_earned: {result.points_earned} {pn}"
                 + (f" (promotions: {', '.join(result.promotions)})" if result.promotions
                    else "")]
        text += [f"bonus:         {name} +{points}" for name, points in result.bonuses]
        text += [f"stamps:        {card} +{n}" for card, n in result.stamps.items()]
        text += [f"voucher:       {v['code']} ({v['reward_id']})" for v in result.vouchers]
        text += [f"balance:       {result.balance} {pn}", f"tier:          {result.tier}"]
    emit(args, data, text)
    return 0


def run_redeem(args: argparse.Namespace) -> int:
    from pos_agent.members import find_member
    from pos_agent.operations import redeem_reward, redeem_voucher
    from pos_agent.sync.setup import build_agent, build_authorizer
    store = open_for(args)
    if bool(args.reward) == bool(args.voucher):
        raise StoreError("say what to redeem: --reward ID or --voucher CODE (one of them)")
    member = find_member(store, args.member)
    pin = spend_pin(store, member, pin_reader(args))
    if args.voucher:
        result = redeem_voucher(store, member.member_id, args.voucher,
                                found_by=member.found_by, pin=pin)
    else:
        # Ask the hub first (short timeout); without an answer the offline rules decide.
        agent = build_agent(store.settings, store)
        try:
            result = redeem_reward(
                store, member.member_id, args.reward, found_by=member.found_by, pin=pin,
                points=args.points, authorizer=build_authorizer(store.settings, store, agent),
            )
        finally:
            if agent is not None:
                agent.client.close()
    printed = print_receipt(store, args, result.receipt_no)
    pn = store.active_program().points_name
    emit(args, {"receipt_no": result.receipt_no, "member_id": result.member_id,
                "reward_id": result.reward_id, "reward": result.reward_name,
                "points_spent": result.points_spent,
                "approved_offline": result.approved_offline, "balance": result.balance,
                "vouchers": [v["code"] for v in result.vouchers], "printed": printed},
         [f"receipt_no:   {result.receipt_no}", f"reward:       {result.reward_name}",
          f"points_spent: {result.points_spent} {pn}"
          + (" (approved offline)" if result.approved_offline else ""),
          f"balance:      {result.balance} {pn}"]
         + [f"voucher:      {v['code']} valid until {v['valid_until']}" for v in result.vouchers])
    return 0


def _reversal(args: argparse.Namespace, result, store) -> int:
    printed = print_receipt(store, args, result.receipt_no)
    program = store.active_program()
    emit(args, {"receipt_no": result.receipt_no, "original": result.original,
                "kind": result.kind, "amount": result.amount,
                "points_reversed": result.points_reversed, "member_id": result.member_id,
                "balance": result.balance, "printed": printed},
         [f"receipt_no:      {result.receipt_no} ({result.kind} of {result.original})",
          f"amount:          {money(program, result.amount)}",
          f"points_reversed: {result.points_reversed}"]
         + ([f"balance:         {result.balance} {program.points_name}"]
            if result.balance is not None else []))
    return 0


def run_void(args: argparse.Namespace) -> int:
    from pos_agent.operations import void_receipt
    store = open_for(args)
    approved_by = manager_approval(store, args, "a void")
    return _reversal(args, void_receipt(store, args.receipt.strip(), reason=args.reason,
                                        approved_by=approved_by), store)


def run_refund(args: argparse.Namespace) -> int:
    from pos_agent.operations import refund_receipt
    store = open_for(args)
    amount = amount_arg(store.active_program(), args.amount)
    approved_by = manager_approval(store, args, "a refund")
    result = refund_receipt(store, args.receipt.strip(), amount, reason=args.reason,
                            approved_by=approved_by)
    return _reversal(args, result, store)


def run_checkin(args: argparse.Namespace) -> int:
    from pos_agent.members import find_member
    from pos_agent.operations import check_in
    store = open_for(args)
    member = find_member(store, args.member)
    result = check_in(store, member.member_id)
    printed = print_receipt(store, args, result.receipt_no)
    pn = store.active_program().points_name
    text = ([f"receipt_no: {result.receipt_no}"]
            + [f"bonus:      {name} +{points}" for name, points in result.bonuses]
            if result.receipt_no else ["already checked in today: nothing recorded"])
    emit(args, {"receipt_no": result.receipt_no, "member_id": result.member_id,
                "bonuses": [list(b) for b in result.bonuses], "balance": result.balance,
                "printed": printed},
         text + [f"balance:    {result.balance} {pn}"])
    return 0
