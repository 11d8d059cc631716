"""`pos enrol`, `pos member`, `pos card link`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from pos_agent.commands import HELP
from pos_agent.commands.output import (
    add_no_print,
    emit,
    integer,
    money,
    open_for,
    print_receipt,
)
from pos_agent.commands.pin_input import add_pin_stdin, add_staff_args, pin_reader, spend_pin
from pos_agent.exceptions import StoreError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser("enrol", parents=[common], help=HELP["enrol"],
                       description="Enrol a member: prints member_id, card number and QR.")
    p.add_argument("--name", required=True, help="the member's name as printed on receipts")
    p.add_argument("--phone", required=True,
                   help="mobile number, 6 to 15 digits, e.g. +33612345678; always type it the "
                   "same way: +336... and 06... are different numbers")
    p.add_argument("--email", help="for digital receipts and the self-service page")
    p.add_argument("--birthday", help="YYYY-MM-DD")
    p.add_argument("--card", help="a pre-printed card's number (default: make one)")
    p.add_argument("--referrer", help="card, phone or QR of the member who referred them")
    p.add_argument("--consent-email", action="store_true", help="agrees to emails")
    p.add_argument("--consent-sms", action="store_true", help="agrees to text messages")
    p.add_argument("--pin", action="store_true",
                   help="the member chooses a PIN (4-8 digits), typed at a hidden prompt; "
                   "it lets them spend when their QR code is not at hand")
    add_staff_args(p)
    add_pin_stdin(p)
    add_no_print(p)
    p.set_defaults(handler=run_enrol)

    p = sub.add_parser("member", parents=[common], help=HELP["member"],
                       description="Balance, tier, stamps, progress, expiring points, "
                       "vouchers and recent history of a member.")
    p.add_argument("query", metavar="CARD|PHONE|QR|NAME|EMAIL",
                   help="16-digit card number, phone number (any usual format, read with "
                   "[terminal] region), the scanned QR code, a name (the start of any of "
                   "its words; several matches: the candidates, exit 2) or an e-mail; "
                   "`pos member set-pin CARD|PHONE|QR` gives the member a new PIN")
    p.add_argument("member", nargs="?", metavar="CARD|PHONE|QR", help=argparse.SUPPRESS)
    p.add_argument("--history", type=integer, default=10, help="receipts to show (default 10)")
    add_staff_args(p)
    add_pin_stdin(p)
    p.set_defaults(handler=run_member)

    card = sub.add_parser("card", help=HELP["card"],
                          description="Member cards: `pos card link`.")
    card_sub = card.add_subparsers(dest="card_command", required=True, metavar="COMMAND")
    p = card_sub.add_parser("link", parents=[common], help="register a physical card",
                            description="Register an existing physical card to a member.")
    p.add_argument("--member", required=True, metavar="CARD|PHONE|QR",
                   help="the member, found by their current card, phone or QR")
    p.add_argument("--card", required=True, metavar="NUMBER",
                   help="the 16-digit number printed on the physical card")
    add_staff_args(p)
    add_pin_stdin(p)
    p.set_defaults(handler=run_link)


def _birthday(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise StoreError(f"birthday '{text}' must be written YYYY-MM-DD, e.g. 1990-04-23") \
            from None


def run_enrol(args: argparse.Namespace) -> int:
    from loyalty.pins import check_pin_format
    from pos_agent.members import enrol
    store = open_for(args)
    pin = None
    if args.pin or args.pin_stdin:
        pin = check_pin_format(pin_reader(args).ask("the new member's PIN", confirm=True))
    result = enrol(store, name=args.name, phone=args.phone, email=args.email,
                   birthday=_birthday(args.birthday), card_number=args.card,
                   referrer=args.referrer, consent_email=args.consent_email,
                   consent_sms=args.consent_sms, pin=pin)
    printed = print_receipt(store, args, result.receipt_no)
    emit(args, {"member_id": result.member_id, "card_number": result.card_number,
                "qr_payload": result.qr_payload, "receipt_no": result.receipt_no,
                "points": result.points, "balance": result.state.balance,
                "pin_set": pin is not None, "printed": printed},
         [f"member_id:   {result.member_id}", f"card_number: {result.card_number}",
          f"qr_payload:  {result.qr_payload}", f"receipt_no:  {result.receipt_no}",
          f"points:      {result.points}"]
         + (["pin:         set"] if pin else []))
    return 0


def run_member(args: argparse.Namespace) -> int:
    from pos_agent.members import find_member, member_profile, member_view
    from pos_agent.pins import pin_status
    if args.query == "set-pin":
        return run_set_pin(args)
    if args.member is not None:
        raise StoreError(f"`pos member` takes one card, phone or QR: drop '{args.member}', or "
                         "run `pos member set-pin CARD|PHONE|QR`")
    from pos_agent.exceptions import SeveralMembers

    store = open_for(args, login=False)  # reading records nothing: no staff login
    try:
        match = find_member(store, args.query)
    except SeveralMembers as exc:
        # A script gets the candidates to choose from, and exit 2 with the sentence: it
        # asked for one member and there is not one.
        emit(args, {"candidates": [
            {"member_id": c.member_id, "card_number": c.card_number, "name": c.name,
             "found_by": c.found_by} for c in exc.candidates]},
             [f"  {c.card_number or 'no card'}  {c.name}" for c in exc.candidates])
        raise
    now = datetime.now(UTC)
    state, summary = member_view(store, match.member_id, now)
    profile = member_profile(store, match.member_id)
    program = store.active_program()
    history = sorted(state.receipts.values(), key=lambda r: r.occurred_at, reverse=True)
    history = history[: max(args.history, 0)]
    rows = [{"receipt_no": r.ref, "at": r.occurred_at.isoformat(), "amount": r.amount,
             "points": r.points - r.reversed_points, "rewards": r.rewards, "voided": r.voided}
            for r in history]
    # The PIN's state, never its hash (only the sync pull carries that, to terminals).
    pin = pin_status(state, now)
    data = {"member_id": match.member_id, "name": profile["name"], "cards": profile["cards"],
            "found_by": match.found_by, **summary.to_dict(), **pin, "history": rows}
    pn = summary.points_name
    lines = [f"{profile['name']}  ({', '.join(profile['cards']) or 'no card'})",
             f"balance:  {summary.balance} {pn}" + (f" (owes {summary.owes})" if summary.owes
                                                   else "")
             + (f" ({summary.held} held for review)" if summary.held else ""),
             f"tier:     {summary.tier}"]
    if summary.next_tier:
        lines.append(f"next tier: {summary.next_tier} after "
                     f"{money(program, summary.spend_to_next_tier)} more spend")
    if summary.next_reward:
        lines.append(f"next reward: {summary.next_reward} in {summary.points_to_next_reward} "
                     f"{pn}")
    lines += [f"stamps:   {s.name} {s.have}/{s.need}" for s in summary.stamps]
    lines += [f"expiring: {p} {pn} on {d.isoformat()}" for p, d in summary.expiring]
    lines += [f"voucher:  {code} {name} (until {until})" for code, name, until
              in summary.vouchers]
    lines.append("pin:      " + ("not set" if not pin["pin_set"]
                                 else f"locked until {pin['pin_locked_until']}"
                                 if pin["pin_locked_until"]
                                 else f"set, {pin['pin_failures']} wrong tries in a row"
                                 if pin["pin_failures"] else "set"))
    zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
    for r, rec in zip(rows, history, strict=True):
        flag = " VOIDED" if r["voided"] else ""
        local = rec.occurred_at.astimezone(zone).strftime("%Y-%m-%d %H:%M")
        lines.append(f"  {local}  {r['receipt_no']}  {money(program, r['amount'])}  "
                     f"{r['points']:+d} {pn}{flag}")
    emit(args, data, lines)
    return 0


def run_set_pin(args: argparse.Namespace) -> int:
    """`pos member set-pin CARD|PHONE|QR`: a new PIN for a member who proves they are
    there (their QR scanned, or their current PIN), like spending."""
    from loyalty.pins import check_pin_format, spend_needs_pin
    from pos_agent.members import find_member, member_state
    from pos_agent.pins import prove_possession, set_member_pin
    if args.member is None:
        raise StoreError("say whose PIN: `pos member set-pin CARD|PHONE|QR` (scan their QR, "
                         "or they type their current PIN)")
    store = open_for(args)
    match = find_member(store, args.member)
    pins = pin_reader(args)
    has_pin = member_state(store, match.member_id).pin_hash is not None
    if not has_pin and spend_needs_pin(store.active_program().spend_proof, match.found_by):
        raise StoreError("this member has no PIN yet: scan their QR code (card, receipt or web "
                         "page) to set one")
    current = spend_pin(store, match, pins) if has_pin else None
    prove_possession(store, match.member_id, match.found_by, current)
    pin = check_pin_format(pins.ask("the member's new PIN", confirm=True))
    set_member_pin(store, match.member_id, pin)
    emit(args, {"member_id": match.member_id, "pin_set": True},
         [f"new PIN set for {match.name}: it works at every store once this till has synced"])
    return 0


def run_link(args: argparse.Namespace) -> int:
    from pos_agent.members import find_member, link_card
    store = open_for(args)
    match = find_member(store, args.member)
    card = link_card(store, match.member_id, args.card)
    emit(args, {"member_id": match.member_id, "card_number": card},
         [f"card {card} linked to {match.name} ({match.member_id})"])
    return 0
