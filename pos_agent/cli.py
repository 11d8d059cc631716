"""`pos`: the store terminal's command line, for managers and scripts.

    $ pos init --store S001 --terminal T1
    $ pos enrol --name "Ann Lee" --phone "+33 6 12 34 56 78"
    $ pos sale --member 6012345678901234 --amount 12.50 --line LATTE,coffee,2,3.50 --json
    >>> main(["member", "+33612345678"])
    0

Every command takes `--config PATH` (default `$POS_CONFIG`, else `pos.toml` here) and
`--json`. Exit codes: 0 done; 1 done but something needs attention (a print failed on
`pos print`, `pos check` found a problem); 2 refused: bad input or a rule said no, with one
line on stderr saying what to do, and nothing written.

The command modules import the store, printers, Textual and httpx inside the handlers that
use them, so `pos --help` and a lookup do not pay for what they never touch.
"""

from __future__ import annotations

import argparse
import os
import sys

from loyalty.errors import LoyaltyError
from pos_agent.commands import admin, app, catalog, demo, members, sales, setup, sync
from pos_agent.exceptions import PosError

EXIT_REFUSED = 2


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="config file (default: $POS_CONFIG, else pos.toml here)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    parser = argparse.ArgumentParser(
        prog="pos", description="The store terminal's loyalty ledger: enrol, sell, redeem, "
        "void, refund, report. Works offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (setup, members, sales, catalog, admin, sync, app, demo):
        module.register(sub, common)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    try:
        return args.handler(args)
    except (PosError, LoyaltyError) as exc:
        print(f"pos: {exc}", file=sys.stderr)
        return EXIT_REFUSED
    except KeyboardInterrupt:
        print("pos: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`pos rewards | head`): what was recorded stays recorded
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
