"""`pos demo`: a hub and a seeded terminal on this machine, then the terminal app."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "demo", help=HELP["demo"],
        description="Create ./demo (config copied from config.example.toml), start a hub on "
        "127.0.0.1, set up terminal S001-T1, walk through a day at the counter (enrol, "
        "sales, a stamp card, a tier crossing, a redemption, a void, the end-of-day sync), "
        "then open the terminal app. Run it again to reopen the same demo store.",
    )
    p.add_argument("--dir", default="demo", help="folder for the demo's files (default: demo)")
    p.add_argument("--no-app", action="store_true", help="walk through, do not open the app")
    p.add_argument("--reset", action="store_true", help="delete the demo folder first")
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pos_agent.demo import main_demo

    return main_demo(args.dir, open_app=not args.no_app, reset=args.reset)
