"""`pos init`: create the terminal database and its identity (or start a new epoch, or
make a new member-card signing key).

The hub token is never an argument (argv shows in `ps` and the shell history): it is
typed at a prompt that does not echo it, piped with `--token-stdin`, or read from a file
only this user can read with `--token-file`. It is kept in the terminal database, which
is created 0600 with its -wal and -shm files.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, integer, open_for, warn
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from pos_agent.settings import PosSettings
    from pos_agent.store import Store

TOKEN_IN_ARGV = ("--token is not taken: a token on the command line shows in `ps` and the "
                 "shell history. Leave it out and type the token at the prompt, or pipe it "
                 "with --token-stdin, or name a file only you can read with --token-file")


class _RefuseTokenInArgv(argparse.Action):
    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace,
                 values: Any, option_string: str | None = None) -> None:
        parser.error(TOKEN_IN_ARGV)


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    p = sub.add_parser(
        "init", parents=[common], help=HELP["init"],
        description="Create the terminal database and its identity (epoch 1). After "
        "restoring the database from a backup, run `pos init --new-epoch` before selling.",
    )
    p.add_argument("--store", help="store id, e.g. S001 (required, except with --new-epoch)")
    p.add_argument("--terminal",
                   help="terminal id in the store, e.g. T1 (required, except with --new-epoch)")
    p.add_argument("--hub", help="hub URL: checks the token (asked at a prompt unless "
                   "--token-stdin or --token-file) and gets this terminal's signing key "
                   "certified")
    p.add_argument("--token-file", metavar="PATH",
                   help="read this terminal's hub token (from `pos-hub terminal add`) from "
                   "the first line of PATH, a file only you can read (chmod 600)")
    p.add_argument("--token-stdin", action="store_true",
                   help="read the hub token from the first line of standard input")
    p.add_argument("--token", nargs="?", action=_RefuseTokenInArgv, help=argparse.SUPPRESS)
    p.add_argument("--card-issuer", type=integer, metavar="N",
                   help="without --hub: this terminal's card issuer number, 1 to 899999, "
                   "unique per terminal (HQ hands them out); with --hub the hub gives it")
    p.add_argument("--new-epoch", action="store_true",
                   help="the database was restored from a backup: start a new epoch")
    p.add_argument("--new-key", action="store_true",
                   help="make a new member-card signing key and get it certified (after "
                   "a suspected theft, or with a new token after HQ revoked this till); "
                   "with --hub or a token option, the new token replaces the stored one")
    p.set_defaults(handler=run_init)


def read_token(args: argparse.Namespace, origin: str, *, ask: bool) -> str | None:
    """The token from --token-file, --token-stdin, or (when `ask`) a prompt that does not
    echo; None when none was given and `ask` is false."""
    from pos_agent.identity import check_token, read_token_file

    if args.token_file and args.token_stdin:
        raise StoreError("--token-file or --token-stdin: one of them")
    if args.token_file:
        return read_token_file(Path(args.token_file))
    if args.token_stdin:
        return check_token(sys.stdin.readline(), "standard input")
    if not ask:
        return None
    if not sys.stdin.isatty():
        raise StoreError("no terminal to ask for the hub token on: pipe it with --token-stdin "
                         "or name a file with --token-file")
    import getpass

    return check_token(getpass.getpass(f"hub token for {origin} (from `pos-hub terminal "
                                       "add`, not shown): "), "the prompt")


def warn_if_readable(settings: PosSettings) -> None:
    """`pos init` says so when the database (token, signing key) is open to others."""
    from pos_agent.keys import readable_by_others

    base = settings.database_path
    for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm"),
                 *([settings.resolve(settings.sync.token_file)] if settings.sync.token_file
                   else [])):
        if readable_by_others(path):
            warn(f"{path} is readable by others, and it holds this terminal's hub token or "
                 f"signing key: chmod 600 {path}")


def run_init(args: argparse.Namespace) -> int:
    from loyalty.ids import HUB_ISSUERS
    from pos_agent.identity import fetch_whoami, init_terminal, is_initialised, new_epoch
    from pos_agent.settings import TerminalSettings, load_settings
    if args.new_epoch and args.new_key:
        raise StoreError("--new-epoch or --new-key: one at a time")
    if args.new_epoch:
        store = open_for(args)
        ident = new_epoch(store.db)
        warn_if_readable(store.settings)
        emit(args, {"origin": ident.origin, "epoch": ident.epoch},
             [f"terminal {ident.origin} now records in epoch {ident.epoch}"])
        return 0
    if args.new_key:
        return _new_key(args, open_for(args))
    if not args.store or not args.terminal:
        raise StoreError("say which terminal this is: pos init --store S001 --terminal T1")
    if (args.token_file or args.token_stdin) and not args.hub:
        raise StoreError("a token goes with --hub URL (the hub it belongs to)")
    from pydantic import ValidationError

    from loyalty.member_qr import new_private_key
    from pos_agent.identity import request_certificate

    settings = load_settings(args.config)  # check the config before touching anything
    try:
        TerminalSettings(store=args.store, terminal=args.terminal)
    except ValidationError:
        raise StoreError(f"--store {args.store!r} --terminal {args.terminal!r}: use 1 to 12 "
                         "letters or digits for the store and 1 to 8 for the terminal, e.g. "
                         "--store S001 --terminal T1") from None
    origin = f"{args.store}-{args.terminal}"
    whoami = None
    token = read_token(args, origin, ask=bool(args.hub))
    private_key = new_private_key()
    certificate = hub_public_key = None
    if args.hub:
        assert token is not None
        whoami = fetch_whoami(args.hub, token, timeout=settings.sync.request_timeout_s)
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
    if settings.database_path.exists():
        existing = open_for(args, initialised=False)
        if is_initialised(existing.db):
            ident = existing.identity
            raise StoreError(f"{settings.database_path} is already terminal {ident.origin} "
                             f"(epoch {ident.epoch}); after restoring a backup use "
                             "--new-epoch")
        existing.close()
    if args.hub:
        assert token is not None
        # Before anything is created: a hub that cannot certify leaves nothing behind.
        certificate, hub_public_key = request_certificate(
            args.hub, token, private_key, origin, timeout=settings.sync.request_timeout_s)
    store = open_for(args, initialised=False)
    ident = init_terminal(store.db, args.store, args.terminal, hub_url=args.hub,
                          hub_token=token, card_issuer=issuer, signing_key=private_key,
                          certificate=certificate, hub_public_key=hub_public_key)
    warn_if_readable(settings)
    if issuer is None:
        warn(f"no card issuer number: cards made here use the hashed number {ident.issuer}, "
             "which another terminal set up without the hub could also draw (the hub would "
             "flag the clash). Give each till its own: `pos init --hub URL`, or "
             "--card-issuer N from HQ")
    if settings.terminal.origin != origin:
        warn(f"the config says terminal {settings.terminal.origin}; this database is {origin}"
             " (the database's identity is used)")
    emit(args, {"origin": ident.origin, "epoch": ident.epoch,
                "database": str(settings.database_path), "hub": args.hub,
                "card_issuer": ident.issuer},
         [f"terminal {ident.origin} (epoch {ident.epoch}) created in {settings.database_path}"]
         + ([f"hub {args.hub}: token stored, member-card key certified"] if args.hub else
            ["member-card key made; the hub certifies it at the first sync"]))
    return 0


def _new_key(args: argparse.Namespace, store: Store) -> int:
    """A new signing key (and, given one, a new token), certified before it replaces the
    old key; without any hub it is certified at the next sync. Cards the old key signed
    keep verifying as long as its certificate is not revoked."""
    from datetime import UTC, datetime

    from loyalty.member_qr import key_id, new_private_key, public_key
    from pos_agent.db import transaction
    from pos_agent.identity import fetch_whoami, request_certificate
    from pos_agent.keys import save_certificate

    settings, ident = store.settings, store.identity
    new_token = read_token(args, ident.origin, ask=bool(args.hub))
    url = args.hub or ident.hub_url or (settings.sync.hub_url if settings.sync.token_file
                                        else None)
    token = new_token or ident.hub_token
    if token is None and url and settings.sync.token_file:
        from pos_agent.identity import read_token_file

        token = read_token_file(settings.resolve(settings.sync.token_file))
    private_key = new_private_key()
    certified = None
    if url and token:
        whoami = fetch_whoami(url, token, timeout=settings.sync.request_timeout_s)
        if whoami["origin"] != ident.origin:
            raise StoreError(f"the token belongs to terminal {whoami['origin']}, not "
                             f"{ident.origin}: ask HQ for this terminal's token")
        certified = request_certificate(url, token, private_key, ident.origin,
                                        timeout=settings.sync.request_timeout_s)
    now_text = datetime.now(UTC).isoformat()
    with transaction(store.db) as conn:
        conn.execute("UPDATE identity SET signing_key = ?", (private_key,))
        if new_token:
            conn.execute("UPDATE identity SET hub_token = ?, hub_url = ?", (new_token, url))
        if certified:
            save_certificate(conn, certified[0], certified[1], now_text)
    warn_if_readable(settings)
    kid = key_id(public_key(private_key))
    if not certified:
        warn("no hub to certify the new key now: the sync agent asks at the next sync; "
             "until then only this terminal accepts the cards it signs")
    emit(args, {"origin": ident.origin, "key_id": kid, "certified": bool(certified),
                "token_replaced": bool(new_token)},
         [f"terminal {ident.origin}: new member-card key {kid}"
          + (" certified by the hub" if certified else "")])
    return 0
