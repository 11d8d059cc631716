"""Manager screens (behind the manager PIN): end-of-day sync with a progress bar and its
summary, the day report, the sync queue and hub flags, printer status with a test print
and a retry of receipts not printed, and the terminal's identity. Printing goes through
the app's printing thread: a printer that does not answer must not freeze the screen."""

from __future__ import annotations

import json
from datetime import datetime
from zoneinfo import ZoneInfo

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import ProgressBar, Static

from pos_agent.app.receipts import RETRY, ReceiptPrinted
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.app.widgets.status_bar import StatusBar
from pos_agent.hubdata import sync_state
from pos_agent.ledger import queued_count
from pos_agent.printing import print_queue, queue_test_print
from pos_agent.reports import day_report


def hub_flags_text(flags: list[dict], details: int = 0) -> str:
    """The one wording of the hub's flags on this screen, from the one source: the flags the
    last good sync stored (`sync_state.flags`). A failed sync fetches none and keeps them,
    so the identity line and the end-of-day summary can no longer disagree (issue 17: "hub
    flags: 1" above "0 hub flag(s)").

        >>> hub_flags_text([{"kind": "negative_balance", "detail": "balance -95"}], details=5)
        'hub flags: 1 for this store\\n  - negative_balance: balance -95'
    """
    text = f"hub flags: {len(flags)} for this store"
    for flag in flags[:details]:
        text += f"\n  - {flag.get('kind')}: {flag.get('detail', '')}"
    return text


def stored_flags(state: dict) -> list[dict]:
    """The hub's flags as the last good sync stored them."""
    return json.loads(state.get("flags") or "[]")


class ManagerScreen(Screen):
    CSS_PATH = "manager_screen.tcss"
    BINDINGS = [
        Binding("s", "end_of_day", "End-of-day sync"),
        Binding("t", "test_print", "Test print"),
        Binding("p", "retry_prints", "Retry printing"),
        Binding("r", "refresh", "Refresh"),
        Binding("escape", "app.pop_screen", "Back to checkout"),
    ]

    def compose(self) -> ComposeResult:
        yield StatusBar(id="status")
        with VerticalScroll(id="manager"):
            yield Static(id="identity")
            yield ProgressBar(total=None, show_eta=False, id="progress")
            yield Static("Press S for the end-of-day sync.", id="sync-summary")
            yield Static(id="report")
            yield Static(id="queue")
        yield KeyBar(id="keys")

    def on_mount(self) -> None:
        self.action_refresh()

    def action_refresh(self) -> None:
        store = self.app.store
        ident = store.identity
        state = sync_state(store)
        flags = stored_flags(state)
        program = store.active_program()
        zone = ZoneInfo(store.settings.terminal.timezone or program.timezone)
        last = state.get("last_success_at")
        last = (datetime.fromisoformat(last).astimezone(zone).strftime("%Y-%m-%d %H:%M")
                if last else "never")
        self.query_one("#identity", Static).update(
            f"[b]Terminal {ident.origin}[/b] (epoch {ident.epoch})  hub: "
            f"{ident.hub_url or store.settings.sync.hub_url or 'none'}\n"
            f"Queued events: {queued_count(store.conn)}   last sync: {last}   "
            f"{hub_flags_text(flags)}\nLast error: {state.get('last_error') or '-'}")
        r = day_report(store, self.app.clock().astimezone(zone).date())
        self.query_one("#report", Static).update(
            f"[b]Day report {r['date']}[/b]: {r['sales']['count']} sales, "
            f"{r['enrolments']} enrolments, {r['voids']['count']} voids, "
            f"{r['refunds']['count']} refunds; {r['points_name']} issued "
            f"{r['points']['issued']}, redeemed {r['points']['redeemed']}")
        jobs = print_queue(store)
        lines = [f"[b]Printer[/b] {store.settings.printer.kind}: {len(jobs)} job(s) not printed"]
        lines += [f"  {'job ' + str(j['id']) if j['id'] else 'receipt'} "
                  f"{j['receipt_no'] or j['kind']}: {j['status']} {j['last_error'] or ''}"
                  for j in jobs[:5]]
        self.query_one("#queue", Static).update("\n".join(lines))
        self.app.refresh_status()

    def action_test_print(self) -> None:
        self.app.receipts.print_jobs([queue_test_print(self.app.store)], self)
        self.notify("Test page sent to the printer...", timeout=3)

    def action_retry_prints(self) -> None:
        self.app.receipts.retry_failed(self)
        self.notify("Sending the receipts not printed yet...", timeout=3)

    def on_receipt_printed(self, message: ReceiptPrinted) -> None:
        printed = sum(o.ok for o in message.outcomes)
        if message.key == RETRY:
            text = (f"Retry: {printed} of {len(message.outcomes)} receipt(s) printed"
                    + (f"; still failing: {message.error}" if not message.ok else ".")
                    if message.outcomes else "Retry: nothing was waiting to print.")
            ok = message.ok or not message.outcomes
        else:
            ok = message.ok
            text = "Test page printed." if ok else f"Test print failed: {message.error}"
        self.notify(text, severity="information" if ok else "error", timeout=10)
        self.action_refresh()

    def action_end_of_day(self) -> None:
        if self.app.agent is None:
            self.query_one("#sync-summary", Static).update("No hub configured for this terminal.")
            return
        self.query_one("#sync-summary", Static).update("Syncing...")
        self.run_end_of_day()

    @work(thread=True, exclusive=True)
    def run_end_of_day(self) -> None:
        bar = self.query_one("#progress", ProgressBar)

        summary = self.query_one("#sync-summary", Static)

        def progress(stage: str, done: int, total: int) -> None:
            # The bar follows the sending of sales (known total); updates received are
            # counted in words, their number is not known in advance.
            if stage == "push":
                self.app.call_from_thread(bar.update, total=total, progress=done)
                self.app.call_from_thread(summary.update, f"Sending sales: {done}/{total}")
            else:
                self.app.call_from_thread(summary.update, f"Receiving updates: {done}")

        report = self.app.agent.sync_once(progress)
        text = (f"[b]End-of-day sync[/b]: sent {report.pushed} events"
                + (f" ({report.duplicates} already at the hub)" if report.duplicates else "")
                + f", received {report.pulled} update(s), {report.queued} still queued"
                + (f"\n[red]{report.error}[/red]" if report.error else ""))
        # The flags are read where the identity line reads them (the stored ones), on the
        # app's thread: the store's connection is not shared with this worker.
        self.app.call_from_thread(self.show_end_of_day, text, report.error is not None)

    def show_end_of_day(self, text: str, failed: bool) -> None:
        flags = hub_flags_text(stored_flags(sync_state(self.app.store)), details=5)
        if failed:
            flags = flags.replace("for this store", "for this store as of the last good sync",
                                  1)
        self.query_one("#sync-summary", Static).update(f"{text}\n{flags}")
        self.action_refresh()
