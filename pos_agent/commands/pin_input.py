"""Reading PINs for `pos` commands: never from the command line (it shows in `ps` and the
shell's history), but at a prompt or, with `--pin-stdin`, from stdin.

    >>> pins = pin_reader(args)                      # after add_pin_stdin(parser)
    >>> pin = pins.ask("the member's PIN", missing="typed card numbers can earn but not "
    ...                "spend: scan the member's QR or ask for their PIN")
    >>> add_staff_args(parser, approval=True)         # --staff ID, --approved-by ID
    >>> boss = manager_approval(store, args, "a void")   # after open_for(args) logged in

With `--pin-stdin` each PIN the command needs is one line of stdin, in the order the
command asks for them (docs/terminal.md: the staff member's, the approving manager's, then
the member's). Without it a PIN is asked at a hidden prompt when stdin is a terminal;
otherwise the command is refused with `missing` (or a sentence naming the PIN), before it
writes anything.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from typing import TYPE_CHECKING

from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from pos_agent.members import MemberMatch
    from pos_agent.staff import StaffMember
    from pos_agent.store import Store


def add_pin_stdin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pin-stdin", action="store_true",
        help="read the PINs this command needs from stdin, one per line, in the order "
        "asked (staff, approving manager, member); default: asked at a hidden prompt")


def add_staff_args(parser: argparse.ArgumentParser, *, approval: bool = False) -> None:
    """`--staff ID` (and, for voids and refunds, `--approved-by ID`) on a command that
    records events; `open_for` logs the member of staff in (`log_in_staff`)."""
    parser.add_argument("--staff", metavar="ID",
                        help="your staff number (your PIN is asked, or read with "
                        "--pin-stdin); needed once HQ has set up this store's staff")
    if approval:
        parser.add_argument("--approved-by", metavar="ID",
                            help="the approving manager's staff number (their PIN is asked "
                            "after yours); default: you, if you are a manager")


def pin_reader(args: argparse.Namespace) -> PinReader:
    """The command's one PinReader: the PINs come in the order asked, whoever asks."""
    reader = getattr(args, "_pins", None)
    if reader is None:
        reader = args._pins = PinReader(args)
    return reader


def log_in_staff(store: Store, args: argparse.Namespace) -> StaffMember | None:
    """Log in `--staff ID` with their PIN; without --staff, allowed only on a till that
    has no staff yet (pos_agent.staff, "A terminal without any staff")."""
    from pos_agent.staff import has_staff, log_in

    if args.staff is None:
        if has_staff(store.conn):
            raise StoreError("this till has staff: say who you are with --staff ID (your PIN "
                             "is asked, or read with --pin-stdin)")
        return None
    pin = pin_reader(args).ask(f"the PIN of staff {args.staff}")
    return log_in(store, args.staff, pin)


def manager_approval(store: Store, args: argparse.Namespace, what: str) -> StaffMember | None:
    """The manager approving `what` ("a void"): `--approved-by ID` with their PIN, or the
    logged-in member of staff if a manager; None on a till without staff."""
    from pos_agent.staff import StaffMember, check_staff_pin, has_staff

    if not has_staff(store.conn):
        return None
    me = store.staff_id
    if args.approved_by is None or args.approved_by == me:
        row = store.conn.execute("SELECT name, role FROM staff WHERE staff_id = ?",
                                 (me,)).fetchone()
        if row is not None and row[1] == "manager":
            return StaffMember(me, row[0], row[1])
        raise StoreError(f"{what} needs a manager's approval: add --approved-by MANAGER_ID "
                         "(their PIN is asked after yours)")
    pin = pin_reader(args).ask(f"the PIN of manager {args.approved_by}")
    return check_staff_pin(store, args.approved_by, pin, role="manager")


class PinReader:
    """The PINs of one command, in the order it asks for them."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.from_stdin = bool(getattr(args, "pin_stdin", False))

    def ask(self, label: str, *, missing: str | None = None, confirm: bool = False) -> str:
        """The next PIN: `label` names it at the prompt and in errors ("the member's PIN");
        `confirm` asks twice at a prompt (a new PIN)."""
        if self.from_stdin:
            line = sys.stdin.readline()
            if not line:
                raise StoreError(f"--pin-stdin: stdin ended before {label}: give one PIN per "
                                 "line, in the order the command asks for them")
            return line.strip()
        if not sys.stdin.isatty():
            raise StoreError((missing or f"{label} is needed")
                             + " (type it at the prompt, or pipe it with --pin-stdin)")
        pin = getpass.getpass(f"{label[0].upper()}{label[1:]}: ").strip()
        if confirm and getpass.getpass("Again, to be sure: ").strip() != pin:
            raise StoreError("the two PINs typed differ: nothing was changed, try again")
        return pin


def spend_pin(store: Store, match: MemberMatch, pins: PinReader) -> str | None:
    """The member's PIN when the way they were found needs it to spend (program
    `spend_proof`), else None; asked only when a PIN can prove it (not under `qr_only`,
    whose refusal `prove_possession` gives)."""
    from loyalty.pins import spend_needs_pin, spend_refusal

    policy = store.active_program().spend_proof
    if policy == "qr_only" or not spend_needs_pin(policy, match.found_by):
        return None
    return pins.ask("the member's PIN",
                    missing=spend_refusal(policy, match.found_by, pin_given=False))
