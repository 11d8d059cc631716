"""`pos init`: create the terminal database and its identity (or start a new epoch)."""

from __future__ import annotations

import argparse

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, open_for, warn
from pos_agent.exceptions import StoreError


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init", parents=[common], help=HELP["init"],
        description="Create the terminal database and its identity (epoch 1). After "
        "restoring the database from a backup, run `pos init --new-epoch` before selling.",
    )
    p.add_argument("--store", help="store id, e.g. S001 (required, except with --new-epoch)")
    p.add_argument("--terminal",
                   help="terminal id in the store, e.g. T1 (required, except with --new-epoch)")
    p.add_argument("--hub", help="hub URL; fetches the QR key with --token")
    p.add_argument("--token", help="this terminal's hub token (from `pos-hub terminal add`)")
    p.add_argument("--card-issuer", type=int, metavar="N",
                   help="without --hub: this terminal's card issuer number, 1 to 899999, "
                   "unique per terminal (HQ hands them out); with --hub the hub gives it")
    p.add_argument("--new-epoch", action="store_true",
                   help="the database was restored from a backup: start a new epoch")
    p.set_defaults(handler=run_init)


def run_init(args: argparse.Namespace) -> int:
    from loyalty.ids import HUB_ISSUERS
    from pos_agent.identity import fetch_whoami, init_terminal, is_initialised, new_epoch
    from pos_agent.settings import TerminalSettings, load_settings
    if args.new_epoch:
        store = open_for(args)
        ident = new_epoch(store.db)
        emit(args, {"origin": ident.origin, "epoch": ident.epoch},
             [f"terminal {ident.origin} now records in epoch {ident.epoch}"])
        return 0
    if not args.store or not args.terminal:
        raise StoreError("say which terminal this is: pos init --store S001 --terminal T1")
    if bool(args.hub) != bool(args.token):
        raise StoreError("--hub and --token go together (the token comes from HQ)")
    from pydantic import ValidationError

    settings = load_settings(args.config)  # check the config before touching anything
    try:
        TerminalSettings(store=args.store, terminal=args.terminal)
    except ValidationError:
        raise StoreError(f"--store {args.store!r} --terminal {args.terminal!r}: use 1 to 12 "
                         "letters or digits for the store and 1 to 8 for the terminal, e.g. "
                         "--store S001 --terminal T1") from None
    origin = f"{args.store}-{args.terminal}"
    whoami = None
    if args.hub:
        whoami = fetch_whoami(args.hub, args.token, timeout=settings.sync.request_timeout_s)
        if whoami["origin"] != origin:
            raise StoreError(f"the token belongs to terminal {whoami['origin']}, not {origin}: "
                             "check --store/--terminal or ask HQ for the right token")
    issuer = args.card_issuer
    if issuer is not None and issuer not in HUB_ISSUERS:
        raise StoreError(f"--card-issuer {issuer}: use a number from 1 to "
                         f"{HUB_ISSUERS.stop - 1}, one per terminal")
    if whoami is not None:
        hub_issuer = whoami.get("card_issuer")
        if issuer is not None and hub_issuer is not None and issuer != hub_issuer:
            raise StoreError(f"the hub gives this terminal card issuer {hub_issuer}: leave "
                             "out --card-issuer")
        issuer = hub_issuer if hub_issuer is not None else issuer
    store = open_for(args, initialised=False)
    if is_initialised(store.db):
        ident = store.identity
        raise StoreError(f"{settings.database_path} is already terminal {ident.origin} "
                         f"(epoch {ident.epoch}); after restoring a backup use --new-epoch")
    ident = init_terminal(store.db, args.store, args.terminal, hub_url=args.hub,
                          hub_token=args.token, qr_key=whoami["qr_key"] if whoami else None,
                          card_issuer=issuer)
    if issuer is None:
        warn(f"no card issuer number: cards made here use the hashed number {ident.issuer}, "
             "which another terminal set up without the hub could also draw (the hub would "
             "flag the clash). Give each till its own: `pos init --hub URL --token T`, or "
             "--card-issuer N from HQ")
    if settings.terminal.origin != origin:
        warn(f"the config says terminal {settings.terminal.origin}; this database is {origin}"
             " (the database's identity is used)")
    emit(args, {"origin": ident.origin, "epoch": ident.epoch,
                "database": str(settings.database_path), "hub": args.hub,
                "card_issuer": ident.issuer},
         [f"terminal {ident.origin} (epoch {ident.epoch}) created in {settings.database_path}"]
         + ([f"hub {args.hub}: QR key stored"] if args.hub else []))
    return 0
