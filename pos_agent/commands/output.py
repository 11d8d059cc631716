"""Shared plumbing of the `pos` commands: opening the store, printing results, printing
receipts after commit.

    >>> store = open_for(args)                 # settings from --config / POS_CONFIG / pos.toml
    >>> emit(args, {"receipt_no": no}, [f"receipt {no}"])   # JSON with --json, else text
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from loyalty.money import format_amount, parse_amount
from loyalty.validation import escape_json, escape_text
from loyalty.validation import integer as integer  # the commands' argparse type, from here

if TYPE_CHECKING:
    from loyalty.program import Program
    from pos_agent.store import Store


def open_for(args: argparse.Namespace, *, initialised: bool = True, login: bool = True
             ) -> Store:
    """The store of `--config`; for a command with `--staff` (one that records events)
    and `login`, with that member of staff logged in (pos_agent.commands.pin_input)."""
    from pos_agent.identity import load_identity
    from pos_agent.settings import load_settings
    from pos_agent.store import open_store
    settings = load_settings(args.config)
    store = open_store(settings)
    if initialised:
        load_identity(store.db)  # NotInitialised with the `pos init` hint
        if login and hasattr(args, "staff"):  # a command recording events: who makes them
            from pos_agent.commands.pin_input import log_in_staff
            log_in_staff(store, args)
    return store


def emit(args: argparse.Namespace, data: dict[str, Any], lines: list[str]) -> None:
    if args.json:
        print(escape_json(json.dumps(data, default=str, ensure_ascii=False)))
    else:
        for line in lines:
            # Names and notes come from other tills and the web: what they hold is shown
            # escaped, never sent to the terminal as a command (a preview keeps its lines).
            print(escape_text(line, keep_newlines=True))


def warn(message: str) -> None:
    print(f"pos: warning: {escape_text(message)}", file=sys.stderr)


def money(program: Program, minor: int | None) -> str:
    if minor is None:
        return "-"
    return f"{format_amount(minor, program.currency_exponent)} {program.currency}"


def amount_arg(program: Program, text: str) -> int:
    return parse_amount(text, program.currency_exponent)


def print_receipt(store: Store, args: argparse.Namespace, receipt_no: str | None) -> bool:
    """Send the receipt now; a printer problem is a warning, never a failure of the
    command (the operation is already committed). Returns True if printed. With
    `--no-print` the receipt stays to print (`pos print retry`, or the app's next start)."""
    from pos_agent.printing import print_receipt as send_receipt

    if receipt_no is None or getattr(args, "no_print", False):
        return False
    outcomes = send_receipt(store, receipt_no)
    for outcome in outcomes:
        if not outcome.ok:
            warn(f"receipt {receipt_no} was not printed ({outcome.error}); it is kept in the "
                 "print queue: fix the printer, then run `pos print retry`")
            return False
    return bool(outcomes)


def add_no_print(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--no-print", action="store_true",
                        help="record only; leave the receipt in the print queue")
