"""`pos-hub`: run and manage the hub.

    pos-hub init                         create/upgrade the database, publish the program
    pos-hub serve [--host H --port P]    run the API (and the jobs)
    pos-hub terminal add S001-T1         new terminal token (printed once, last line)
    pos-hub report liability [--json]    HQ reports in the terminal

Every command reads `--config PATH` (default ./hub.toml or $POS_HUB_CONFIG); settings can
be overridden with POS_HUB__<KEY> environment variables.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import select

from hub.context import HubContext
from hub.db import migrate, safe_url
from hub.exceptions import ApiError, HubError, NotFound, failure_sentence
from hub.settings import CONFIG_ENV, HubSettings, load_settings
from hub.store.flags import KINDS as FLAG_KINDS
from loyalty.validation import escape_text, integer  # integer: ASCII digits (argparse)

EXIT_ERROR = 1


def _ctx(settings: HubSettings) -> HubContext:
    return HubContext.from_settings(settings)


def _emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        # names and notes come from tills and the web shop: shown escaped, never obeyed
        print("\n".join(escape_text(line, keep_newlines=True) for line in lines))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [[("" if r.get(c) is None else escape_text(str(r.get(c)))) for c in columns]
             for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return out


# -- commands -------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.keys import create_key_file, load_key_file, readable_by_others

    url = settings.database_url
    revision = migrate(url)
    print(f"database {safe_url(url)} is at schema revision {revision}")
    path = settings.signing_key_path
    made = create_key_file(path)
    load_key_file(path)  # an existing file must be a key we can use
    print(f"hub signing key {path}: {'made (mode 0600): back it up' if made else 'kept'}")
    if readable_by_others(path):
        print(f"pos-hub: warning: {path} is readable by others: chmod 600 {path}",
              file=sys.stderr)
    return _publish(settings)


def _publish(settings: HubSettings) -> int:
    from hub.store.programs import publish

    program = settings.config_program()
    ctx = _ctx(settings)
    try:
        with ctx.db.write() as conn:
            version, new = publish(conn, ctx.db, settings.program, by="cli")
    finally:
        ctx.close()
    state = "published" if new else "already the current program"
    print(f"program '{program.name}' version {version}: {state}")
    return 0


def cmd_program_publish(args: argparse.Namespace, settings: HubSettings) -> int:
    return _publish(settings)


def cmd_serve(args: argparse.Namespace, settings: HubSettings) -> int:
    import uvicorn

    from hub.app import create_app, tune_collector
    from hub.db import schema_revision
    from hub.jobs import start_scheduler
    from hub.keys import load_key_file, readable_by_others

    # No key, no hub: a built-in default would be public, and certificates and the
    # cards the hub signs need the one key every verifier trusts.
    load_key_file(settings.signing_key_path)
    if readable_by_others(settings.signing_key_path):
        print(f"pos-hub: warning: the hub signing key {settings.signing_key_path} is "
              f"readable by others: chmod 600 {settings.signing_key_path}", file=sys.stderr)
    ctx = HubContext.from_settings(settings)
    if schema_revision(ctx.db) is None:
        print(f"the database {safe_url(settings.database_url)} is empty: run `pos-hub init`",
              file=sys.stderr)
        return EXIT_ERROR
    workers = args.workers
    if workers > 1 and ctx.db.is_sqlite:
        print("several workers need PostgreSQL: SQLite takes one writer at a time, so they "
              "would only wait for each other (leave out --workers)", file=sys.stderr)
        return EXIT_ERROR
    logging_kwargs: dict = {}
    if args.log_json:
        from logging.config import dictConfig

        from hub.logs import log_config

        logging_kwargs["log_config"] = log_config(args.log_level)
        dictConfig(logging_kwargs["log_config"])  # this process too (jobs, start-up)
    scheduler = None
    if settings.hub.jobs_interval_s and not args.no_jobs:
        scheduler = start_scheduler(ctx)
    host = args.host or settings.hub.host
    port = args.port or settings.hub.port
    print(f"pos-hub serving on http://{host}:{port} (database {safe_url(ctx.db.url)})",
          flush=True)
    try:
        if workers > 1:
            # Each worker process builds its app from the same file and environment; the
            # jobs run here, in the supervising process only, so once per `pos-hub serve`.
            os.environ[CONFIG_ENV] = str(Path(settings.config_path).resolve())
            uvicorn.run("hub.app:app_from_environment", factory=True, workers=workers,
                        host=host, port=port, log_level=args.log_level,
                        timeout_graceful_shutdown=5, **logging_kwargs)
        else:
            app = create_app(settings, ctx)
            tune_collector()
            uvicorn.run(app, host=host, port=port, log_level=args.log_level,
                        timeout_graceful_shutdown=5, **logging_kwargs)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
    return 0


def _cred_add(kind: str) -> Callable[[argparse.Namespace, HubSettings], int]:
    """`pos-hub terminal|channel|admin add NAME`: the token, printed once (last line)."""
    def run(args: argparse.Namespace, settings: HubSettings) -> int:
        from hub.store.credentials import add_credential, credential_origin

        ctx = _ctx(settings)
        try:
            with ctx.db.write() as conn:
                token = add_credential(conn, kind, args.name,
                                       origin=getattr(args, "origin", None))
                origin = credential_origin(conn, kind, args.name)
        finally:
            ctx.close()
        if getattr(args, "json", False):
            _emit(args, {"kind": kind, "name": args.name, "origin": origin,
                         "token": token}, [])
            return 0
        bound = f" (origin {origin})" if origin not in (None, args.name) else ""
        print(f"new {kind} credential for {args.name}{bound}; the token is shown only this "
              "once, store it now:")
        print(token)
        return 0
    return run


def _cred_revoke(kind: str) -> Callable[[argparse.Namespace, HubSettings], int]:
    def run(args: argparse.Namespace, settings: HubSettings) -> int:
        from hub.store.credentials import revoke
        from hub.store.terminal_keys import revoke_origin

        ctx = _ctx(settings)
        try:
            with ctx.db.write() as conn:
                n = revoke(conn, kind, args.name)
                # A stolen till's key must stop vouching for cards too, not only its token.
                keys = revoke_origin(conn, ctx.db, args.name) if kind == "terminal" else 0
        finally:
            ctx.close()
        if not n and not keys:
            print(f"no live {kind} credential for {args.name}", file=sys.stderr)
            return EXIT_ERROR
        _emit(args, {"kind": kind, "name": args.name, "revoked": n, "signing_keys": keys},
              [f"revoked {n} {kind} credential(s) of {args.name}"
               + (f" and {keys} signing key certificate(s): terminals refuse the member QR "
                  "codes it signed once they sync" if keys else "")])
        return 0
    return run


def cmd_cred_list(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.store.credentials import list_credentials

    ctx = _ctx(settings)
    with ctx.db.read() as conn:
        rows = list_credentials(conn, kind=args.kind)
    ctx.close()
    columns = ["id", "name", "origin", "created_at", "revoked_at"]
    _emit(args, rows, _table(rows, columns if args.kind == "channel"
                             else [c for c in columns if c != "origin"]))
    return 0


def cmd_jobs_run(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.jobs import jobs_leader, run_job

    ctx = _ctx(settings)
    try:
        with jobs_leader(ctx) as leader:
            if not leader:
                _emit(args, {"ran": False, "reason": "another hub process is running the "
                             "jobs now"}, ["another hub process is running the jobs now: "
                                           "nothing done (try again when it is finished)"])
                return 1
            done = run_job(ctx, args.job)
    finally:
        ctx.close()
    _emit(args, done, [f"{k}: {v}" for k, v in done.items()])
    return 0


def cmd_report(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.store import reports
    from hub.tables import members

    ctx = _ctx(settings)
    try:
        with ctx.db.read() as conn:
            if args.report == "liability":
                data = reports.liability(conn)
                lines = _table(data["stores"], ["store", "points", "credited", "debited",
                                                "origins"])
                lines += ["", f"online:  {data['online']} (all channels)",
                          *_table(data["channels"], ["channel", "origin", "points",
                                                     "credited", "debited"]), "",
                          f"hub (expiry, adjustments): {data['hub']}",
                          f"total outstanding: {data['total']} over {data['members']} members "
                          f"(owed to the programme: {data['debt']}; held for review: "
                          f"{data['held']})"]
            elif args.report == "sync-health":
                data = reports.sync_health(conn)
                lines = _table(data, ["origin", "last_push_at", "last_pull_at", "high_seq",
                                      "reported_high_seq", "events_behind", "gaps",
                                      "chain_broken"])
            elif args.report == "rewards":
                data = reports.rewards(conn)
                lines = _table(data, ["reward_id", "tier", "store", "issued", "redeemed"])
            else:
                stmt = select(members.c.member_id, members.c.name, members.c.balance,
                              members.c.debt, members.c.last_tier).order_by(
                    members.c.balance.desc()).limit(args.limit)
                if args.member:
                    stmt = stmt.where(members.c.member_id == args.member)
                data = [dict(r._mapping) for r in conn.execute(stmt)]
                lines = _table(data, ["member_id", "name", "balance", "debt", "last_tier"])
                if args.member:
                    if not data:
                        raise NotFound(f"no member {args.member} at the hub")
                    data[0]["by_origin"] = reports.member_by_origin(conn, args.member)
                    lines += ["", "by origin:",
                              *_table(data[0]["by_origin"], ["origin", "points", "events"])]
    finally:
        ctx.close()
    _emit(args, data, lines)
    return 0


def cmd_flags(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.store.flags import list_flags

    ctx = _ctx(settings)
    with ctx.db.read() as conn:
        rows = list_flags(conn, status="all" if args.all else "open", store=args.store,
                          kind=args.kind)
    ctx.close()
    _emit(args, rows, _table(rows, ["id", "kind", "store", "member_id", "created_at",
                                    "status", "detail"]))
    return 0


def cmd_flags_resolve(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.admin import resolve_flag

    ctx = _ctx(settings)
    try:
        flag = resolve_flag(ctx, args.id, note=args.note, points=args.points, by="cli",
                            release=args.release, cancel=args.cancel)
    finally:
        ctx.close()
    extra = f" with adjust event {flag['adjust_event_id']}" if flag["adjust_event_id"] else ""
    if flag.get("release_event_id"):
        extra = (f": {flag['points']:,} held points {flag['outcome']}{extra}, release event "
                 f"{flag['release_event_id']}")
    _emit(args, flag, [f"flag {args.id} resolved{extra}"])
    return 0


def cmd_rebuild(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.rebuild import rebuild

    ctx = _ctx(settings)
    try:
        report = rebuild(ctx, check_only=args.check)
    finally:
        ctx.close()
    _emit(args, report, [f"members folded: {report['members']}",
                         f"snapshots that differed: {len(report['differed'])}",
                         *(f"  {m}" for m in report["differed"][:20]),
                         "(check only: nothing written)" if args.check else
                         "snapshots and totals rewritten from the ledger"])
    return 1 if args.check and report["differed"] else 0


# -- parser ---------------------------------------------------------------------------------
REPORT_HELP = """reports:
  balances     members by balance; with --member ID, that member's points per origin
               (each store terminal, online, hub) that make up the balance
  liability    points outstanding: per store (net of what its terminals recorded),
               per online channel (its origin; online: all channels), the hub's own
               expiry and adjustments, and the total
  sync-health  per terminal and channel:
                 last_push_at / last_pull_at  when it last pushed / pulled
                 high_seq           the highest origin_seq the hub holds (newest epoch)
                 reported_high_seq  the terminal's own highest seq, sent on its pulls
                 events_behind      reported_high_seq - high_seq: events recorded at the
                                    till that have not reached the hub (empty until the
                                    terminal reports; >0 for long: check its network)
                 gaps               pushes refused because they skipped origin_seqs
                                    (the terminal lost events: check it before it syncs)
                 chain_broken       pushes refused because the hash chain did not
                                    continue (restored backup: `pos init --new-epoch`)
  rewards      rewards issued and redeemed by reward, tier and store: a reward bought
               with points and used at once counts issued and redeemed; a gift card or
               store credit counts issued when bought, redeemed when its voucher is used;
               each stamp card completion issues one voucher"""


def build_parser() -> argparse.ArgumentParser:
    config = argparse.ArgumentParser(add_help=False)
    config.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="hub config file (default ./hub.toml or $POS_HUB_CONFIG)")
    as_json = argparse.ArgumentParser(add_help=False)
    as_json.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print JSON instead of a table")
    both = [config, as_json]
    parser = argparse.ArgumentParser(
        prog="pos-hub", parents=[config],
        description="The pos-loyalty hub: HQ's ledger, the terminals' sync API, the online "
                    "channel and HQ reports. Settings come from the [hub] and [program] "
                    "tables of the config file; POS_HUB__<KEY> overrides a [hub] key.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(where: Any, name: str, text: str, description: str,
                parents: list[argparse.ArgumentParser], **kw: Any) -> argparse.ArgumentParser:
        return where.add_parser(name, parents=parents, help=text, description=description,
                                **kw)

    p = command(sub, "init", "create or upgrade the database and publish the config's "
                "program", "Create the hub's database, or upgrade its schema to this "
                "version (Alembic migrations), then publish the config's [program]. Safe "
                "to run again.", [config])
    p.set_defaults(func=cmd_init)

    p = command(sub, "serve", "run the hub's HTTP API and its jobs",
                "Serve the sync API, the online channel and the HQ endpoints; unless "
                "--no-jobs or [hub] jobs_interval_s = 0, also run expiry, tiers and "
                "notifications every jobs_interval_s seconds. Stop with Ctrl-C.", [config])
    p.add_argument("--host", help="address to listen on (default: [hub] host)")
    p.add_argument("--port", type=integer, help="port (default: [hub] port, 8750)")
    p.add_argument("--log-json", action="store_true",
                   help="log one JSON object a line (time, level, logger, message) for a "
                        "log collector, uvicorn's access log included")
    p.add_argument("--no-jobs", action="store_true", help="do not run the jobs in this process")
    p.add_argument("--workers", type=integer, default=1, metavar="N",
                   help="hub processes serving requests (PostgreSQL only; default 1): one "
                        "per CPU core the database server leaves free")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"],
                   help="how much the server logs (default: info)")
    p.set_defaults(func=cmd_serve)

    for kind, noun, example, use in (
            ("terminal", "terminal", "S001-T1",
             "The token is printed once, alone on the last line, and is not stored: on "
             "the till it goes to `pos init --hub URL` (with the till's --store and "
             "--terminal), typed at its prompt or given with --token-file or "
             "--token-stdin, never on a command line. Revoking a terminal also revokes "
             "its member-card signing keys."),
            ("channel", "channel", "webshop",
             "A channel is one online sales channel HQ runs (the web shop, an app, a "
             "marketplace); what it records carries its own origin: --origin, or "
             "online-NAME (the channel named online has origin online). Adding a token "
             "to an existing channel keeps its origin. The token is printed once, alone "
             "on the last line, and is not stored: give it to the channel "
             "(Authorization: Bearer TOKEN)."),
            ("admin", "admin", "alice",
             "The token is printed once, alone on the last line, and is not stored: it "
             "opens the /v1/admin endpoints (Authorization: Bearer TOKEN).")):
        p = command(sub, noun, f"manage {noun} credentials",
                    f"Issue, revoke and list the tokens of {noun}s.", [config])
        ops = p.add_subparsers(dest="op", required=True, metavar="OP")
        q = command(ops, "add", "issue a new token; printed once, alone on the last line",
                    f"Issue a new {noun} token for NAME. {use} With --json, one JSON "
                    "object: kind, name, origin and the token.", both)
        q.add_argument("name", help=f"the {noun}'s id, e.g. {example}")
        if kind == "channel":
            q.add_argument("--origin", metavar="ORIGIN",
                           help="the origin of the channel's events, for a new channel: "
                                "online or online-SOMETHING (default: online-NAME; "
                                "online for the channel named online)")
        q.set_defaults(func=_cred_add(kind))
        q = command(ops, "revoke", "revoke every token of this name (answers 401 from now on)",
                    f"Revoke every live token of this {noun}: its requests are refused "
                    "with 401 from now on. Its events stay in the ledger."
                    + (" Its member-card signing keys are revoked too: every till refuses "
                       "the QR codes they signed once it has synced." if kind == "terminal"
                       else ""), both)
        q.add_argument("name", help=f"the {noun}'s id, e.g. {example}")
        q.set_defaults(func=_cred_revoke(kind))
        q = command(ops, "list", f"list {noun} credentials (no tokens)",
                    f"List the {noun} credentials, live and revoked (tokens are never "
                    "stored, so never shown).", both)
        q.set_defaults(func=cmd_cred_list, kind=kind)

    p = command(sub, "program", "publish the config's [program]",
                "Manage the loyalty program terminals and the online channel use.", [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "publish", "publish [program] from the config; terminals get it on "
                "next pull", "Publish the config's [program] as a new version (every "
                "version is kept: earns are checked under the one they name). Terminals "
                "get it on their next pull.", [config])
    q.set_defaults(func=cmd_program_publish)

    p = command(sub, "jobs", "run the hub's jobs once",
                "Run the hub's jobs once, now (`pos-hub serve` runs them on its own).",
                [config])
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = command(ops, "run", "run one job or all of them now",
                "Run one job, or all in order, and print what each made. Running a job "
                "twice records nothing twice.", both)
    q.add_argument("job", nargs="?", default="all",
                   choices=["expiry", "tiers", "notify", "send", "all"],
                   help="expiry: expire lots; tiers: record tier changes; notify: queue "
                        "expiring-points notes; send: deliver the outbox (default: all)")
    q.set_defaults(func=cmd_jobs_run)

    p = command(sub, "report", "HQ reports (see `pos-hub report --help`)",
                "HQ reports, read from the hub's running totals.", both,
                epilog=REPORT_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("report", choices=["balances", "liability", "sync-health", "rewards"],
                   help="which report (below)")
    p.add_argument("--member", metavar="ID",
                   help="balances: only this member id, with its points per origin")
    p.add_argument("--limit", type=integer, default=50, help="balances: how many members")
    p.set_defaults(func=cmd_report)

    p = command(sub, "flags", "list flags for HQ review; resolve one",
                "List flags for HQ review (newest first): offline double spends, rule "
                "mismatches, points held, refused kinds, conflicts, wrong origins, broken "
                "chains. `pos-hub flags resolve ID --note ...` closes one.", both)
    p.add_argument("--all", action="store_true", help="include resolved flags")
    p.add_argument("--store", help="only flags about this store (e.g. S001)")
    p.add_argument("--kind", choices=FLAG_KINDS, help="only flags of this kind")
    p.set_defaults(func=cmd_flags)
    ops = p.add_subparsers(dest="op", metavar="OP")
    q = command(ops, "resolve", "resolve a flag with a note (and optionally adjust points)",
                "Resolve a flag with a note for the record; with --points, also record an "
                "`adjust` event for the flagged member. A points_held flag (points a till "
                "or the web shop asserted beyond the rules, kept but not spendable) needs "
                "--release (they become spendable) or --cancel (an `adjust` takes them "
                "off). A flag is never deleted; resolving it again is refused.", both)
    q.add_argument("id", type=integer, help="the flag's id (see `pos-hub flags`)")
    q.add_argument("--note", required=True, help="why, for the record")
    q.add_argument("--points", type=integer, help="add (or with a minus, take) points to the "
                   "flagged member with an `adjust` event")
    held = q.add_mutually_exclusive_group()
    held.add_argument("--release", action="store_true",
                      help="points_held: make the held points spendable (a hub `release`)")
    held.add_argument("--cancel", action="store_true",
                      help="points_held: take the held points off the balance (an `adjust` "
                           "of minus them, and the `release` of the hold)")
    q.set_defaults(func=cmd_flags_resolve)

    p = command(sub, "rebuild", "refold every member's snapshot from the ledger (and "
                "recompute report totals)", "Fold every member's events again and compare "
                "with the stored snapshots and balances; without --check, rewrite them and "
                "the report totals from the ledger. Exit status 1 when --check finds "
                "differences.", both)
    p.add_argument("--check", action="store_true", help="only compare; change nothing")
    p.set_defaults(func=cmd_rebuild)

    from hub import staff  # issue 16 part 4: `pos-hub staff ...`
    staff.register(sub, command, config, both, _ctx, _emit, _table)
    from hub import catalogue  # issue 17: `pos-hub catalog import|export`
    catalogue.register(sub, command, config, both, _ctx, _emit)
    from hub import privacy  # issue 18: `pos-hub member export|erase|duplicates`, `check`
    privacy.register(sub, command, config, both, _ctx, _emit, _table)
    from hub.web import hq_users  # issue 19: `pos-hub hq-user add|list|disable`
    hq_users.register(sub, command, config, both, _ctx, _emit, _table)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings(getattr(args, "config", None))
        return int(args.func(args, settings) or 0)
    except ApiError as exc:
        print(f"pos-hub: {exc.detail}", file=sys.stderr)
        return EXIT_ERROR
    except HubError as exc:
        print(f"pos-hub: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the machine, not the command: one sentence, no traceback
        sentence = failure_sentence(exc)
        if sentence is None:
            raise
        print(f"pos-hub: {escape_text(sentence)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
