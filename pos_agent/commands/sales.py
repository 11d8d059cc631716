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
    p.add_argument("--item", action="append", default=[], metavar="SKU_OR_BARCODE[:QTY]",
                   help="a catalogue product by SKU or barcode, e.g. LATTE:2 (repeatable): "
                   "the basket checkout, paid with --tender")
    p.add_argument("--reward", action="append", default=[], metavar="ID",
                   help="a reward bought with points and applied to the basket, e.g. "
                   "ten-off (repeatable; needs the QR or the member's PIN)")
    p.add_argument("--voucher", action="append", default=[], metavar="CODE",
                   help="one of the member's vouchers applied to the basket (repeatable)")
    p.add_argument("--points", type=integer, metavar="N",
                   help="pay N points of the total (needs the QR or the member's PIN)")
    p.add_argument("--tender", action="append", default=[], metavar="KIND:AMOUNT",
                   help="a payment: cash:20.00, card:5.00, gift_card:CODE:10.00, "
                   "store_credit:CODE:3.00 (repeatable: a split tender)")
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
                       description="Return lines of a sale (--line N[:QTY], with --reason): "
                       "exactly their points and stamps come back, the money to the "
                       "original tenders. Or refund an amount (--amount): points back in "
                       "proportion.")
    p.add_argument("receipt_no", nargs="?", metavar="RECEIPT",
                   help="receipt number of the sale, as printed, e.g. S001-T1-000042")
    p.add_argument("--receipt", metavar="NO", help="the same, as an option")
    p.add_argument("--line", action="append", default=[], metavar="N[:QTY]",
                   help="return QTY units (default all) of line N of the receipt "
                   "(repeatable): those lines' points and stamps come back, the money "
                   "goes back to the original tenders")
    p.add_argument("--amount", help="refund by amount instead, e.g. 3.50")
    p.add_argument("--reason", default="", help="why (kept with the record; required for "
                   "--line)")
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
    if args.item:
        return run_checkout(args)
    if args.reward or args.voucher or args.points is not None or args.tender:
        raise StoreError("--reward, --voucher, --points and --tender go with a basket: say "
                         "what is sold with --item SKU_OR_BARCODE[:QTY]")
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


def _item_arg(text: str) -> tuple[str, int]:
    code, sep, qty = text.strip().rpartition(":")
    if not sep:
        return text.strip(), 1
    if not qty.isascii() or not qty.isdigit() or int(qty) < 1:
        raise StoreError(f"--item {text}: the quantity after ':' must be a whole number, "
                         "at least 1 (e.g. LATTE:2)")
    return code.strip(), int(qty)


def _tender_arg(program, text: str):
    from loyalty import tender
    parts = [p.strip() for p in text.split(":")]
    kind = parts[0].lower().replace("-", "_")
    if kind in ("cash", "card") and len(parts) == 2:
        return getattr(tender, kind)(amount_arg(program, parts[1]))
    if kind in ("gift_card", "store_credit") and len(parts) == 3:
        return getattr(tender, kind)(parts[1], amount_arg(program, parts[2]))
    if kind == "points":
        raise StoreError("pay with points with --points N, not --tender")
    raise StoreError(f"--tender {text}: write cash:20.00, card:5.00, gift_card:CODE:10.00 "
                     "or store_credit:CODE:3.00")


def run_checkout(args: argparse.Namespace) -> int:
    """`pos sale --item ...`: the basket priced, paid and recorded at once."""
    from loyalty.basket import Applied, Basket, add_item
    from loyalty.tender import points as points_tender
    from pos_agent.catalogue import product_by_code
    from pos_agent.members import find_member
    from pos_agent.operations import checkout
    from pos_agent.sync.setup import build_agent, build_authorizer

    if args.line or args.amount is not None:
        raise StoreError("--item sells catalogue products: leave out --line and --amount")
    if not args.tender and args.points is None:
        raise StoreError("say how the customer pays: --tender cash:20.00 and/or "
                         "--tender card:12.50 (nothing was recorded)")
    store = open_for(args)
    program = store.active_program()
    basket = Basket()
    for text in args.item:
        code, qty = _item_arg(text)
        product = product_by_code(store, code)
        basket = add_item(basket, sku=product.sku, name=product.name,
                          category=product.category, unit_price=product.price,
                          tax_rate=product.tax_rate, qty=qty)
    tenders = [_tender_arg(program, t) for t in args.tender]
    if args.points is not None:
        tenders.insert(0, points_tender(program, args.points))
    applied = ([Applied(r.strip()) for r in args.reward]
               + [Applied("", v.strip()) for v in args.voucher])
    member = find_member(store, args.member) if args.member else None
    if member is None and (applied or args.points is not None):
        raise StoreError("--reward, --voucher and --points need the member: add --member")
    pin = None
    if member is not None and (applied or args.points is not None):
        pin = spend_pin(store, member, pin_reader(args))
    # A spend asks the hub first (short timeout); without an answer the offline rules decide.
    spends = member is not None and bool(applied or args.points is not None)
    agent = build_agent(store.settings, store) if spends else None
    try:
        result = checkout(store, member.member_id if member else None, basket, applied,
                          tenders, found_by=member.found_by if member else None, pin=pin,
                          authorizer=build_authorizer(store.settings, store, agent))
    finally:
        if agent is not None:
            agent.client.close()
    printed = print_receipt(store, args, result.receipt_no)
    d = result.details
    pn = program.points_name
    data = {"receipt_no": result.receipt_no, "member_id": result.member_id,
            "lines": d["lines"], "subtotal": d["subtotal"], "discounts": d["discounts"],
            "tax": d["tax"], "total": result.ticket.total, "tenders": d["tenders"],
            "change": d["change"], "rounding": d["rounding"],
            "points_earned": result.points_earned, "points_spent": result.points_spent,
            "stamps": result.stamps, "vouchers": [v["code"] for v in result.vouchers],
            "balance": result.balance, "tier": result.tier, "printed": printed}
    text = [f"receipt_no:    {result.receipt_no}"]
    text += [f"  {ln['qty']} x {ln['name']:<24} {money(program, ln['total'])}"
             for ln in d["lines"]]
    text += [f"subtotal:      {money(program, d['subtotal'])}"]
    text += [f"discount:      {x['label']} -{money(program, x['amount'])}"
             for x in d["discounts"]]
    text += [f"total:         {money(program, result.ticket.total)}"]
    text += [f"tender:        {t['kind']} {money(program, t['amount'])}" for t in d["tenders"]]
    if d["change"]:
        text += [f"change:        {money(program, d['change'])}"]
    if member:
        text += [f"points_earned: {result.points_earned} {pn}",
                 f"points_spent:  {result.points_spent} {pn}"]
        text += [f"stamps:        {card} +{n}" for card, n in result.stamps.items()]
        text += [f"voucher:       {v['code']} ({v['reward_id']})" for v in result.vouchers]
        text += [f"balance:       {result.balance} {pn}"]
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


def _line_arg(text: str) -> tuple[int, int | None]:
    no, sep, qty = text.strip().partition(":")
    if not (no.isascii() and no.isdigit()) or (sep and not (qty.isascii() and qty.isdigit())):
        raise StoreError(f"--line {text}: write the line number, optionally ':' and how many "
                         "units, e.g. --line 2 or --line 2:1")
    return int(no), int(qty) if sep else None


def _optional_approval(store, args: argparse.Namespace, what: str):
    """A manager's approval when one is given (--approved-by, or a manager logged in);
    None otherwise: `refund_lines` asks for it only above the refund limit."""
    from pos_agent.staff import has_staff
    if not has_staff(store.conn):
        return None
    if args.approved_by is None:
        row = store.conn.execute("SELECT role FROM staff WHERE staff_id = ?",
                                 (store.staff_id,)).fetchone()
        if row is None or row[0] != "manager":
            return None
    return manager_approval(store, args, what)


def run_refund(args: argparse.Namespace) -> int:
    from pos_agent.operations import refund_receipt
    receipt_no = (args.receipt_no or args.receipt or "").strip()
    if not receipt_no or (args.receipt_no and args.receipt):
        raise StoreError("say which receipt: pos refund RECEIPT (as printed, e.g. "
                         "S001-T1-000042)")
    if bool(args.line) == (args.amount is not None):
        raise StoreError("say what is refunded: --line N[:QTY] (repeatable) or --amount 3.50 "
                         "(one of them)")
    if args.line:
        return _refund_by_line(args, receipt_no)
    args.receipt = receipt_no
    store = open_for(args)
    amount = amount_arg(store.active_program(), args.amount)
    approved_by = manager_approval(store, args, "a refund")
    result = refund_receipt(store, args.receipt.strip(), amount, reason=args.reason,
                            approved_by=approved_by)
    return _reversal(args, result, store)


def _refund_by_line(args: argparse.Namespace, receipt_no: str) -> int:
    import json as _json

    from pos_agent.operations import refund_lines
    from pos_agent.returns import returned_quantities

    if not args.reason.strip():
        raise StoreError("say why the lines are returned: --reason TEXT")
    asked = [_line_arg(t) for t in args.line]
    store = open_for(args)
    returns = []
    left: dict[int, int] = {}
    if any(qty is None for _, qty in asked):
        row = store.conn.execute("SELECT details FROM receipts WHERE receipt_no = ?",
                                 (receipt_no,)).fetchone()
        sold = {int(ln["line_no"]): int(ln["qty"])
                for ln in _json.loads(row[0] or "{}").get("lines", ())} if row else {}
        back = returned_quantities(store.conn, [receipt_no]).get(receipt_no, {})
        left = {no: qty - back.get(no, 0) for no, qty in sold.items()}
    for no, qty in asked:
        # without :QTY, what is left of the line (refund_lines names an unknown line)
        returns.append((no, qty if qty is not None else max(left.get(no, 1), 1)))
    approved_by = _optional_approval(store, args, "a refund")
    result = refund_lines(store, receipt_no, returns, reason=args.reason,
                          approved_by=approved_by)
    printed = print_receipt(store, args, result.receipt_no)
    program = store.active_program()
    emit(args, {"receipt_no": result.receipt_no, "original": result.original,
                "kind": "refund", "amount": result.amount, "lines": list(result.lines),
                "refunds": list(result.refunds), "points_reversed": result.points_reversed,
                "stamps": result.stamps, "member_id": result.member_id,
                "balance": result.balance, "printed": printed},
         [f"receipt_no:      {result.receipt_no} (refund of {result.original})"]
         + [f"  {ln['qty']} x {ln['name']:<24} {money(program, ln['total'])}"
            for ln in result.lines]
         + [f"refund:          {t['kind']} {money(program, t['amount'])}"
            for t in result.refunds]
         + [f"points_reversed: {result.points_reversed}"]
         + ([f"balance:         {result.balance} {program.points_name}"]
            if result.balance is not None else []))
    return 0


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
