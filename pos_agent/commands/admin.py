"""`pos print ...`, `pos report day`, `pos check`."""

from __future__ import annotations

import argparse
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from pos_agent.commands import HELP
from pos_agent.commands.output import emit, integer, money, open_for, warn
from pos_agent.exceptions import StoreError

if TYPE_CHECKING:
    from loyalty.program import Program


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    pr = sub.add_parser("print", help=HELP["print"],
                        description="Test page, reprints and the print queue.")
    psub = pr.add_subparsers(dest="print_command", required=True, metavar="COMMAND")
    p = psub.add_parser("test", parents=[common], help="print a test page",
                        description="Print a test page (paper width ruler, accents, QR).")
    p.set_defaults(handler=run_print_test)
    p = psub.add_parser("reprint", parents=[common], help="print a receipt again",
                        description="Print a receipt again, byte for byte as first printed.")
    p.add_argument("receipt", metavar="RECEIPT", help="receipt number, e.g. S001-T1-000042")
    p.set_defaults(handler=run_reprint)
    p = psub.add_parser("queue", parents=[common], help="list print jobs not printed",
                        description="List print jobs not printed yet (--all: latest jobs).")
    p.add_argument("--all", action="store_true", help="include printed jobs")
    p.add_argument("--preview", type=integer, metavar="JOB", help="show a job's text preview")
    p.set_defaults(handler=run_queue)
    p = psub.add_parser("retry", parents=[common], help="send queued and failed jobs again",
                        description="Send every queued or failed print job again.")
    p.set_defaults(handler=run_retry)

    rep = sub.add_parser("report", help=HELP["report"], description="Reports: `pos report day`.")
    rsub = rep.add_subparsers(dest="report_command", required=True, metavar="COMMAND")
    p = rsub.add_parser("day", parents=[common], help="the day report of this terminal",
                        description="Sales, points issued and redeemed, enrolments, rewards, "
                        "voids and refunds of one day on this terminal.")
    p.add_argument("--date", help="YYYY-MM-DD (default: today, local time)")
    p.add_argument("--print", action="store_true", dest="print_report",
                   help="also print it on the receipt printer")
    p.set_defaults(handler=run_report_day)

    p = sub.add_parser("check", parents=[common], help=HELP["check"],
                       description="Verify origin_seq has no gaps, the prev_hash chain holds, "
                       "and cached balances match the ledger.")
    p.set_defaults(handler=run_check)


def _outcome_lines(outcomes: list) -> list[str]:
    return [f"job {o.job_id} ({o.receipt_no or 'test'}): "
            + ("printed" if o.ok else f"FAILED: {o.error}") for o in outcomes]


def _send(args: argparse.Namespace, store, job_id: int) -> int:
    from pos_agent.printing import print_pending
    outcomes = print_pending(store, [job_id])
    for o in outcomes:
        if not o.ok:
            warn(f"not printed: {o.error}; the job stays in the queue (`pos print retry`)")
    emit(args, {"job_id": job_id, "printed": all(o.ok for o in outcomes),
                "errors": [o.error for o in outcomes if not o.ok]}, _outcome_lines(outcomes))
    return 0 if all(o.ok for o in outcomes) else 1


def run_print_test(args: argparse.Namespace) -> int:
    from pos_agent.printing import queue_test_print
    store = open_for(args)
    return _send(args, store, queue_test_print(store))


def run_reprint(args: argparse.Namespace) -> int:
    from pos_agent.printing import reprint
    store = open_for(args)
    return _send(args, store, reprint(store, args.receipt.strip()))


def run_queue(args: argparse.Namespace) -> int:
    from pos_agent.printing import job_preview, print_queue
    store = open_for(args)
    if args.preview is not None:
        exists = store.conn.execute("SELECT 1 FROM print_jobs WHERE id = ?",
                                    (args.preview,)).fetchone()
        if exists is None:
            raise StoreError(f"there is no print job {args.preview}: `pos print queue --all` "
                             "lists them")
        text = job_preview(store, args.preview)
        if text is None:
            raise StoreError(f"job {args.preview} has no preview yet (not rendered): "
                             "run `pos print retry`")
        emit(args, {"job_id": args.preview, "text_preview": text}, [text])
        return 0
    jobs = print_queue(store, all_jobs=args.all)
    emit(args, {"jobs": jobs},
         [f"{j['id'] or '-':>5} {j['receipt_no'] or '-':<20} {j['kind']:<10} {j['status']:<7} "
          f"tries {j['attempts']} {j['last_error'] or ''}".rstrip() for j in jobs]
         or ["the print queue is empty"])
    return 0


def run_retry(args: argparse.Namespace) -> int:
    from pos_agent.printing import retry_failed
    store = open_for(args)
    outcomes = retry_failed(store)
    emit(args, {"printed": sum(o.ok for o in outcomes),
                "failed": [{"job_id": o.job_id, "error": o.error} for o in outcomes if not o.ok]},
         _outcome_lines(outcomes) or ["nothing to print"])
    return 0 if all(o.ok for o in outcomes) else 1


def run_report_day(args: argparse.Namespace) -> int:
    from pos_agent.printing import queue_report_print
    from pos_agent.reports import day_report
    store = open_for(args)
    program = store.active_program()
    if args.date:
        try:
            day = date.fromisoformat(args.date)
        except ValueError:
            raise StoreError(f"date '{args.date}' must be written YYYY-MM-DD") from None
    else:
        zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
        day = datetime.now(UTC).astimezone(zone).date()
    r = day_report(store, day)
    pn = r["points_name"]
    lines = [
        f"Day report {r['date']}  terminal {r['terminal']}",
        f"sales:       {r['sales']['count']}  {money(program, r['sales']['total'])}"
        f"  ({r['sales']['with_member']} with a member)",
        f"voids:       {r['voids']['count']}  {money(program, r['voids']['total'])}",
        f"refunds:     {r['refunds']['count']}  {money(program, r['refunds']['total'])}",
        f"net:         {money(program, r['net_total'])}",
        f"enrolments:  {r['enrolments']}",
        f"check-ins:   {r['checkins']}",
        f"{pn} issued: {r['points']['issued']}   redeemed: {r['points']['redeemed']}   "
        f"reversed: {r['points']['reversed']}",
        f"offline approvals: {r['redemptions_approved_offline']}",
    ] + [f"reward {rid}: {n}" for rid, n in r["rewards"].items()]
    if args.print_report:
        job_id = queue_report_print(store, f"DAY {r['date']}", report_rows(r, program))
        printed = _send_quiet(store, job_id)
        r = {**r, "printed": printed, "job_id": job_id}
    emit(args, r, lines)
    return 0


def report_rows(r: dict, program: Program) -> list[tuple[str, str]]:
    """The printed day report: one short label and one value a row, so that every figure
    fits a 58 mm roll (32 characters) as well as an 80 mm one."""
    pn, points = r["points_name"], r["points"]
    return [
        ("Sales", f"{r['sales']['count']}  {money(program, r['sales']['total'])}"),
        ("  with a member", str(r["sales"]["with_member"])),
        ("Voids", f"{r['voids']['count']}  {money(program, r['voids']['total'])}"),
        ("Refunds", f"{r['refunds']['count']}  {money(program, r['refunds']['total'])}"),
        ("Net", money(program, r["net_total"])),
        ("Enrolments", str(r["enrolments"])),
        ("Check-ins", str(r["checkins"])),
        (f"{pn} issued", str(points["issued"])),
        (f"{pn} redeemed", str(points["redeemed"])),
        (f"{pn} reversed", str(points["reversed"])),
        ("Offline approvals", str(r["redemptions_approved_offline"])),
    ] + [(f"Reward {rid}", str(n)) for rid, n in r["rewards"].items()]


def _send_quiet(store, job_id: int) -> bool:
    from pos_agent.printing import print_pending
    outcomes = print_pending(store, [job_id])
    for o in outcomes:
        if not o.ok:
            warn(f"the report was not printed: {o.error}; it stays queued (`pos print retry`)")
    return bool(outcomes) and all(o.ok for o in outcomes)


def run_check(args: argparse.Namespace) -> int:
    from pos_agent.ledger import queued_count, verify_ledger
    store = open_for(args)
    problems = verify_ledger(store.conn)
    queued = queued_count(store.conn)
    emit(args, {"ok": not problems, "problems": problems, "unsynced_events": queued},
         problems or [f"ledger OK ({queued} events not yet acknowledged by the hub)"])
    return 0 if not problems else 1
