"""The app: opens the terminal's store, shows the status bar and the checkout screen, runs
the sync agent in the background. Screens hold the flows; this file stays thin."""

from __future__ import annotations

import serial
from textual import work
from textual.app import App
from textual.binding import Binding

from pos_agent.app.checkout_screen import CheckoutScreen
from pos_agent.app.widgets.status_bar import StatusBar, status_text
from pos_agent.scanner import ScannerReader, open_scanner
from pos_agent.settings import PosSettings
from pos_agent.store import Store, open_store
from pos_agent.sync.agent import SyncAgent


class PosApp(App):
    TITLE = "pos-loyalty"
    BINDINGS = [Binding("ctrl+q", "quit", "Quit")]

    def __init__(self, settings: PosSettings, agent: SyncAgent | None = None,
                 store: Store | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.agent = agent
        self.store = store or open_store(settings)
        self.scanner: ScannerReader | None = None

    def on_mount(self) -> None:
        self.push_screen(CheckoutScreen())
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

    def scanned(self, code: str) -> None:
        for screen in reversed(self.screen_stack):
            if isinstance(screen, CheckoutScreen):
                screen.lookup(code)
                return
        self.set_interval(2.0, self.refresh_status)

    def refresh_status(self) -> None:
        text = status_text(self.store, self.agent)
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.update(text)

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
        if self.agent is not None:
            self.agent.shutdown()
        if self.scanner is not None:
            self.scanner.stop()
