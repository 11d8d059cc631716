"""`pos`: the store terminal's command line, for managers and scripts.

    $ pos init --store S001 --terminal T1
    $ pos enrol --name "Ann Lee" --phone "+33 6 12 34 56 78"
    $ pos sale --member 6012345678901234 --amount 12.50 --line LATTE,coffee,2,3.50 --json
    >>> main(["member", "+33612345678"])
    0

Every command takes `--config PATH` (default `$POS_CONFIG`, else `pos.toml` here) and
`--json`. Exit codes: 0 done; 1 done but something needs attention (a print failed on
`pos print`, `pos check` found a problem); 2 refused: bad input or a rule said no, with one
line on stderr saying what to do, and nothing written; 3 failed: the machine let the
command down (the disk is full, the database is read-only or damaged, a row does not
decode), one sentence on stderr, never a traceback, and nothing of the failed step saved.

Only the module of the command being run is imported, and only its arguments are built;
the command modules import the store, printers, Textual and httpx inside the handlers that
use them, so `pos --help` and a lookup do not pay for what they never touch. This serves
the start-up floor (`pos --help` at most 3x a bare `python -c pass`, issue #15): building
every command's parser and importing every module took ~1.1 s; now ~53 ms against a bare
~36 ms (hyperfine medians, 2026-12-02).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import import_module

from pos_agent.commands import AREAS

EXIT_REFUSED = 2
EXIT_FAILED = 3


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The `pos` parser. Given the arguments it will parse, only the command they name
    gets its arguments built (and its module imported); the other commands are listed, by
    name and one-line help, for `pos --help` and the "invalid choice" message."""
    parser = argparse.ArgumentParser(
        prog="pos", description="The store terminal's loyalty ledger: enrol, sell, redeem, "
        "void, refund, report. Works offline.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    wanted = None if argv is None else _command_in(argv)
    common = None
    for area, commands in AREAS.items():
        if argv is None or wanted in commands:
            if common is None:
                common = _common()
            import_module(f"pos_agent.commands.{area}").register(sub, common)
        else:
            for name, text in commands.items():
                sub.add_parser(name, help=text, add_help=False)
    return parser


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH",
                        help="config file (default: $POS_CONFIG, else pos.toml here)")
    common.add_argument("--json", action="store_true", help="machine-readable output")
    return common


def _command_in(argv: list[str]) -> str | None:
    """The command argparse will run: the first argument that is not an option (`pos`
    itself has no option taking a value; anything else before the command is an error)."""
    for i, arg in enumerate(argv):
        if arg == "--":
            return argv[i + 1] if i + 1 < len(argv) else None
        if not arg.startswith("-"):
            return arg
    return None


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    parser = build_parser(argv)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2), already printed
        return int(exc.code or 0)
    from loyalty.errors import LoyaltyError
    from loyalty.validation import escape_text
    from pos_agent.exceptions import CorruptRow, PosError, failure_sentence

    try:
        return args.handler(args)
    except CorruptRow as exc:  # the database let the command down, not the input
        print(f"pos: {escape_text(str(exc))}", file=sys.stderr)
        return EXIT_FAILED
    except (PosError, LoyaltyError) as exc:
        # escaped: a message may quote what was typed or stored (a name holding an ESC)
        print(f"pos: {escape_text(str(exc))}", file=sys.stderr)
        return EXIT_REFUSED
    except BrokenPipeError:
        # the reader went away (`pos rewards | head`): what was recorded stays recorded
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # the machine, not the input: one sentence, no traceback
        sentence = failure_sentence(exc)
        if sentence is None:
            raise
        print(f"pos: {escape_text(sentence)}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("pos: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
