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
import sys
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import select

from hub.context import HubContext
from hub.db import migrate, safe_url
from hub.exceptions import ApiError, HubError
from hub.settings import HubSettings, load_settings

EXIT_ERROR = 1
EXIT_USAGE = 2


def _ctx(settings: HubSettings) -> HubContext:
    return HubContext.from_settings(settings)


def _emit(args: argparse.Namespace, data: Any, lines: list[str]) -> None:
    if getattr(args, "json", False):
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


def _table(rows: list[dict[str, Any]], columns: list[str]) -> list[str]:
    if not rows:
        return ["(none)"]
    cells = [[("" if r.get(c) is None else str(r.get(c))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    out = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    out.append("  ".join("-" * w for w in widths))
    out += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return out


# -- commands -------------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace, settings: HubSettings) -> int:
    url = settings.database_url
    revision = migrate(url)
    print(f"database {safe_url(url)} is at schema revision {revision}")
    return _publish(settings)


def _publish(settings: HubSettings) -> int:
    from hub.store.programs import publish

    program = settings.config_program()
    ctx = _ctx(settings)
    try:
        with ctx.db.write() as conn:
            version, new = publish(conn, ctx.db, settings.program)
    finally:
        ctx.close()
    state = "published" if new else "already the current program"
    print(f"program '{program.name}' version {version}: {state}")
    return 0


def cmd_program_publish(args: argparse.Namespace, settings: HubSettings) -> int:
    return _publish(settings)


def cmd_serve(args: argparse.Namespace, settings: HubSettings) -> int:
    import uvicorn

    from hub.app import create_app
    from hub.db import schema_revision
    from hub.jobs import start_scheduler

    ctx = _ctx(settings)
    if schema_revision(ctx.db) is None:
        print(f"the database {safe_url(settings.database_url)} is empty: run `pos-hub init`",
              file=sys.stderr)
        return EXIT_ERROR
    app = create_app(settings, ctx)
    scheduler = None
    if settings.hub.jobs_interval_s and not args.no_jobs:
        scheduler = start_scheduler(ctx)
    host = args.host or settings.hub.host
    port = args.port or settings.hub.port
    print(f"pos-hub serving on http://{host}:{port} (database {safe_url(ctx.db.url)})",
          flush=True)
    tune_gc()
    try:
        uvicorn.run(app, host=host, port=port, log_level=args.log_level,
                    timeout_graceful_shutdown=5)
    finally:
        if scheduler is not None:
            scheduler.shutdown(wait=False)
    return 0


def tune_gc() -> None:
    """A 500-event push allocates some 100,000 short-lived objects, which refcounting
    frees; at the default threshold (700) the cycle collector still ran a hundred young
    collections per push and, as survivors piled up, full ones over every cached member
    state (a fifth of a push's time in profiles). Startup objects are frozen out of
    collection and young collections run per 50,000 allocations."""
    import gc

    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 20)


def _cred_add(kind: str) -> Callable[[argparse.Namespace, HubSettings], int]:
    def run(args: argparse.Namespace, settings: HubSettings) -> int:
        from hub.store.credentials import add_credential

        ctx = _ctx(settings)
        try:
            with ctx.db.write() as conn:
                token = add_credential(conn, kind, args.name)
        finally:
            ctx.close()
        print(f"new {kind} credential for {args.name}; the token is shown only this once, "
              "store it now:")
        print(token)
        return 0
    return run


def _cred_revoke(kind: str) -> Callable[[argparse.Namespace, HubSettings], int]:
    def run(args: argparse.Namespace, settings: HubSettings) -> int:
        from hub.store.credentials import revoke

        ctx = _ctx(settings)
        try:
            with ctx.db.write() as conn:
                n = revoke(conn, kind, args.name)
        finally:
            ctx.close()
        if not n:
            print(f"no live {kind} credential for {args.name}", file=sys.stderr)
            return EXIT_ERROR
        print(f"revoked {n} {kind} credential(s) of {args.name}")
        return 0
    return run


def cmd_cred_list(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.store.credentials import list_credentials

    ctx = _ctx(settings)
    with ctx.db.read() as conn:
        rows = list_credentials(conn)
    ctx.close()
    _emit(args, rows, _table(rows, ["id", "kind", "name", "created_at", "revoked_at"]))
    return 0


def cmd_jobs_run(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.jobs import run_job

    ctx = _ctx(settings)
    try:
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
                lines += ["", f"online:  {data['online']}",
                          f"hub (expiry, adjustments): {data['hub']}",
                          f"total outstanding: {data['total']} over {data['members']} members "
                          f"(owed to the programme: {data['debt']})"]
            elif args.report == "sync-health":
                data = reports.sync_health(conn)
                lines = _table(data, ["origin", "last_push_at", "last_pull_at", "high_seq",
                                      "reported_high_seq", "events_behind", "gaps"])
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
    finally:
        ctx.close()
    _emit(args, data, lines)
    return 0


def cmd_flags(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.store.flags import list_flags

    ctx = _ctx(settings)
    with ctx.db.read() as conn:
        rows = list_flags(conn, status="all" if args.all else "open")
    ctx.close()
    _emit(args, rows, _table(rows, ["id", "kind", "store", "member_id", "created_at",
                                    "status", "detail"]))
    return 0


def cmd_flags_resolve(args: argparse.Namespace, settings: HubSettings) -> int:
    from hub.admin import resolve_flag

    ctx = _ctx(settings)
    try:
        flag = resolve_flag(ctx, args.id, note=args.note, points=args.points, by="cli")
    finally:
        ctx.close()
    extra = f" with adjust event {flag['adjust_event_id']}" if flag["adjust_event_id"] else ""
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
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", metavar="PATH", default=argparse.SUPPRESS,
                        help="hub config file (default ./hub.toml or $POS_HUB_CONFIG)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                        help="print JSON instead of a table")
    parser = argparse.ArgumentParser(
        prog="pos-hub", parents=[common],
        description="The pos-loyalty hub: HQ's ledger, the terminals' sync API, the online "
                    "channel and HQ reports.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("init", parents=[common], help="create or upgrade the database and "
                       "publish the config's program")
    p.set_defaults(func=cmd_init)

    p = sub.add_parser("serve", parents=[common], help="run the hub's HTTP API and its jobs")
    p.add_argument("--host", help="address to listen on (default: [hub] host)")
    p.add_argument("--port", type=int, help="port (default: [hub] port, 8750)")
    p.add_argument("--no-jobs", action="store_true", help="do not run the jobs in this process")
    p.add_argument("--log-level", default="info",
                   choices=["critical", "error", "warning", "info", "debug"])
    p.set_defaults(func=cmd_serve)

    for kind, noun, example in (("terminal", "terminal", "S001-T1"),
                                ("channel", "channel", "online"),
                                ("admin", "admin", "alice")):
        p = sub.add_parser(noun, parents=[common], help=f"manage {noun} credentials")
        ops = p.add_subparsers(dest="op", required=True, metavar="OP")
        q = ops.add_parser("add", parents=[common],
                           help="issue a new token; printed once, alone on the last line")
        q.add_argument("name", help=f"the {noun}'s id, e.g. {example}")
        q.set_defaults(func=_cred_add(kind))
        q = ops.add_parser("revoke", parents=[common],
                           help="revoke every token of this name (answers 401 from now on)")
        q.add_argument("name", help=f"the {noun}'s id, e.g. {example}")
        q.set_defaults(func=_cred_revoke(kind))
        q = ops.add_parser("list", parents=[common], help="list credentials (no tokens)")
        q.set_defaults(func=cmd_cred_list)

    p = sub.add_parser("program", parents=[common], help="publish the config's [program]")
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = ops.add_parser("publish", parents=[common],
                       help="publish [program] from the config; terminals get it on next pull")
    q.set_defaults(func=cmd_program_publish)

    p = sub.add_parser("jobs", parents=[common], help="run the hub's jobs once")
    ops = p.add_subparsers(dest="op", required=True, metavar="OP")
    q = ops.add_parser("run", parents=[common], help="run one job or all of them now")
    q.add_argument("job", nargs="?", default="all",
                   choices=["expiry", "tiers", "notify", "send", "all"],
                   help="expiry: expire lots; tiers: record tier changes; notify: queue "
                        "expiring-points notes; send: deliver the outbox (default: all)")
    q.set_defaults(func=cmd_jobs_run)

    p = sub.add_parser("report", parents=[common], help="HQ reports")
    p.add_argument("report", choices=["balances", "liability", "sync-health", "rewards"],
                   help="balances: members by balance; liability: points outstanding per "
                        "store; sync-health: per terminal; rewards: issued vs redeemed")
    p.add_argument("--member", help="balances: only this member id")
    p.add_argument("--limit", type=int, default=50, help="balances: how many members")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("flags", parents=[common], help="list flags for HQ review; resolve one")
    p.add_argument("--all", action="store_true", help="include resolved flags")
    p.set_defaults(func=cmd_flags)
    ops = p.add_subparsers(dest="op", metavar="OP")
    q = ops.add_parser("resolve", parents=[common],
                       help="resolve a flag with a note (and optionally adjust points)")
    q.add_argument("id", type=int, help="the flag's id (see `pos-hub flags`)")
    q.add_argument("--note", required=True, help="why, for the record")
    q.add_argument("--points", type=int, help="add (or with a minus, take) points to the "
                   "flagged member with an `adjust` event")
    q.set_defaults(func=cmd_flags_resolve)

    p = sub.add_parser("rebuild", parents=[common], help="refold every member's snapshot "
                       "from the ledger (and recompute report totals)")
    p.add_argument("--check", action="store_true", help="only compare; change nothing")
    p.set_defaults(func=cmd_rebuild)
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


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
