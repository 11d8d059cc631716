"""The app: opens the terminal's store, shows the status bar and the checkout screen, runs
the sync agent in the background. Screens hold the flows; this file stays thin.

On a till with staff (pulled from the hub) the cashier logs in first (login_screen.py) and
again after Lock; everything they record names them (pos_agent.staff). A till without
staff runs open, with no login (pos_agent.staff, "A terminal without any staff"); when
the first staff arrive with a pull, the login screen comes up."""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime

import serial
from textual import events, work
from textual.app import App
from textual.binding import Binding
from textual.widgets import Input

from pos_agent.app.checkout_screen import CheckoutScreen
from pos_agent.app.login_screen import LoginScreen
from pos_agent.app.prompt_screen import PromptScreen
from pos_agent.app.receipts import ReceiptPrinter
from pos_agent.app.redeem_screen import RedeemScreen
from pos_agent.app.return_screen import ReturnScreen
from pos_agent.app.widgets.key_bar import KeyBar
from pos_agent.app.widgets.status_bar import StatusBar, status_text, store_zone
from pos_agent.scanner import ScannerReader, WedgeDetector, open_scanner
from pos_agent.settings import PosSettings
from pos_agent.staff import StaffMember, has_staff, log_out
from pos_agent.store import Store, open_store
from pos_agent.sync.agent import SyncAgent


class PosApp(App):
    TITLE = "pos-loyalty"
    ENABLE_COMMAND_PALETTE = False  # a till: every action is on a key in the footer
    STATUS_EVERY_S = 2.0
    BINDINGS = [Binding("ctrl+q", "quit", "Quit")]

    def __init__(self, settings: PosSettings, agent: SyncAgent | None = None,
                 store: Store | None = None,
                 clock: Callable[[], datetime] | None = None,
                 key_time: Callable[[events.Key], float] | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.clock = clock or (lambda: datetime.now(UTC))
        """What the screens call "now" (the day report, offline durations); tests fix it."""
        self.agent = agent
        self.store = store or open_store(settings)
        self.origin = self.store.identity.origin
        self.zone = store_zone(self.store)
        database = self.store.conn.execute("PRAGMA database_list").fetchone()[2]
        self.receipts = ReceiptPrinter(settings, database)
        self.scanner: ScannerReader | None = None
        self.wedge = WedgeDetector()
        self.key_time = key_time or (lambda event: event.time)
        """When a key arrived (seconds): Textual stamps keys as the driver reads them; tests
        inject their own times to play a scanner's burst or a person's typing."""
        self._before_burst: tuple[Input, str, int] | None = None
        self.staff: StaffMember | None = None
        """Who is logged in (None: nobody, or a till without staff)."""
        self._login_open = False

    def on_mount(self) -> None:
        checkout = CheckoutScreen()
        self.push_screen(checkout)
        self.receipts.print_left_over(checkout)
        self.require_login()
        self.set_interval(self.STATUS_EVERY_S, self.refresh_status)
        # Serves the keypress floor (Enter to repaint p99 <= 50 ms,
        # bench/bench_app_latency.py): what start-up built (Textual, the program, the
        # first screen) lives as long as the app, and full collections walking it were the
        # tail: p99 95 ms with it in the collector's sight, 33 ms frozen out of it
        # (2026-12-02, quiet 2-core machine).
        self.call_after_refresh(gc.freeze)
        if self.agent is not None:
            self.agent.start_background()
        if self.settings.terminal.scanner_port and self.scanner is None:
            try:
                port = open_scanner(self.settings.terminal.scanner_port,
                                    self.settings.terminal.scanner_baudrate)
            except Exception as exc:  # a missing scanner must not stop the till
                self.notify(f"barcode scanner not available: {exc}", severity="warning")
            else:
                self.attach_scanner(port)

    def attach_scanner(self, port: serial.SerialBase) -> None:
        """Feed scanned codes into the checkout's member input, as if typed and Entered."""
        def on_scan(code: str) -> None:
            self.call_from_thread(self.scanned, code)

        def on_error(message: str) -> None:
            self.call_from_thread(self.notify, message, severity="error")

        self.scanner = ScannerReader(port, on_scan, on_error)
        self.scanner.start()

    async def on_event(self, event: events.Event) -> None:
        if (isinstance(event, events.Key) and not event.is_forwarded
                and self.wedge_scan(event)):
            return  # the Enter ending a scan: consumed, the lookup is done
        await super().on_event(event)

    def wedge_scan(self, event: events.Key) -> bool:
        """Watch every key for a keyboard-wedge scanner's burst. The burst's characters
        reach the focused field as they come (a person's typing must not wait); when its
        Enter arrives the field gets back what it held before the burst and the code goes
        to the member lookup. Only on the checkout screen: in a dialog keys stay keys."""
        code = self.wedge.key(event.key, event.character, self.key_time(event))
        if not isinstance(self.screen, CheckoutScreen):
            return False
        if self.wedge.burst_started:
            focused = self.focused
            self._before_burst = ((focused, focused.value, focused.cursor_position)
                                  if isinstance(focused, Input) else None)
        if code is None:
            return False
        before, self._before_burst = self._before_burst, None
        self.screen.scanned(code, before)
        return True

    def scanned(self, code: str) -> None:
        """A code from the serial scanner: the same lookup as a wedge scan."""
        if isinstance(self.screen, CheckoutScreen):
            self.screen.scanned(code, None)
        elif isinstance(self.screen, PromptScreen | RedeemScreen | ReturnScreen):
            # the card to register; a member's confirming scan; the receipt to return
            self.screen.scanned(code)
        else:
            self.notify("Scanned a code while a window is open: close it (Esc) and scan "
                        "again.", severity="warning")

    def require_login(self) -> None:
        """Show the login screen if this till has staff and nobody is logged in."""
        if self._login_open or self.store.staff_id is not None or not has_staff(
                self.store.conn):
            return
        self._login_open = True
        self.push_screen(LoginScreen(), self.logged_in)

    def logged_in(self, member: StaffMember | None) -> None:
        self._login_open = False
        if member is None:
            return
        self.staff = member
        self.store.staff_id = member.staff_id
        self.refresh_status()
        for screen in self.screen_stack:  # Lock appears once the till has staff
            for bar in screen.query(KeyBar):
                bar.show_keys()
        if isinstance(self.screen, CheckoutScreen):
            self.screen.say(f"Logged in: {member.name} ({member.role}).")

    def lock(self) -> None:
        """Lock the till: nobody is logged in until a right PIN."""
        log_out(self.store)
        self.staff = None
        self.refresh_status()
        self.require_login()

    def status_line(self) -> str:
        text = status_text(self.store, self.agent, self.clock(), self.origin, self.zone)
        return text + (f" | {self.staff.name} ({self.staff.role})" if self.staff else "")

    def refresh_status(self) -> None:
        """Bring every screen's status bar up to date (every STATUS_EVERY_S seconds, and
        after each action); a bar redraws only when its text changed. Also where staff
        pulled while the till ran open (or a logged-in one disabled) bring the login."""
        if self.store.staff_id is not None and not self._is_active(self.store.staff_id):
            self.store.staff_id, self.staff = None, None
        self.require_login()
        text = self.status_line()
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.show(text)

    def _is_active(self, staff_id: str) -> bool:
        return self.store.conn.execute("SELECT 1 FROM staff WHERE staff_id = ? AND active = 1",
                                       (staff_id,)).fetchone() is not None

    @work(thread=True, exclusive=True)
    def run_sync(self) -> None:
        assert self.agent is not None
        report = self.agent.sync_once()
        message = (f"Sync: sent {report.pushed}, received {report.pulled}, "
                   f"{report.queued} queued" + (f", ERROR: {report.error}" if report.error
                                                 else ""))
        self.call_from_thread(self.notify, message, severity="error" if report.error else
                              "information")
        self.call_from_thread(self.refresh_status)

    def on_unmount(self) -> None:
        self.receipts.close()  # the receipts asked for are sent before the app ends
        gc.unfreeze()  # what was frozen at start can be collected again once the app ends
        if self.agent is not None:
            self.agent.shutdown()
        if self.scanner is not None:
            self.scanner.stop()
