"""`pos app`: the cashier's terminal app."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP
from pos_agent.commands.output import open_for


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "app", parents=[common], help=HELP["app"],
        description="The keyboard-first checkout app: scan or type a member, ring up a sale, "
        "redeem, enrol, void, reprint. Keys are shown at the bottom; Ctrl+Q quits. It syncs "
        "with the hub in the background when one is configured.",
    )
    p.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from pos_agent.app import run_app
    from pos_agent.sync.setup import build_agent

    store = open_for(args)
    run_app(store.settings, agent=build_agent(store.settings, store))
    return 0
