"""The always-visible line at the top of every screen: the terminal, online/offline (since
when, for how long) with how many events wait for the hub, the printer's state, the store.

    S001-T1 | OFFLINE since 14:02 (1h05m), 12 queued | printer ok | Bean & Crumb

It turns red when the cashier should know something: offline, sync stopped, printer error.
On a narrow terminal it wraps onto a second line rather than losing the printer's state.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from textual.content import Content
from textual.widgets import Static

from pos_agent.ledger import queued_count
from pos_agent.printing import waiting_count
from pos_agent.store import Store
from pos_agent.sync.agent import SyncAgent, duration


def sync_text(agent: SyncAgent | None, queued: int, now: datetime, zone: ZoneInfo) -> str:
    if agent is None:
        return f"no hub configured, {queued} queued"
    status = agent.status
    if status.stopped:
        return f"SYNC STOPPED: {status.last_error}"
    if status.online is None:
        return f"connecting to the hub, {queued} queued"
    if status.online:
        return f"online, {queued} queued"
    since = status.offline_since or now
    local = since.astimezone(zone)
    when = (local.strftime("%H:%M") if local.date() == now.astimezone(zone).date()
            else local.strftime("%d %b %H:%M"))
    return f"OFFLINE since {when} ({duration(now - since)}), {queued} queued"


def printer_text(store: Store) -> str:
    last = store.conn.execute(
        "SELECT status, last_error FROM print_jobs ORDER BY id DESC LIMIT 1").fetchone()
    if last is not None and last[0] == "failed":
        error = last[1] or "unknown error"
        return "PRINTER ERROR: " + (error if len(error) <= 70 else error[:69] + "…")
    waiting = waiting_count(store.conn)
    return f"printer: {waiting} to print" if waiting else "printer ok"


def store_zone(store: Store) -> ZoneInfo:
    return ZoneInfo(store.settings.terminal.timezone or store.active_program().timezone)


def status_text(store: Store, agent: SyncAgent | None, now: datetime,
                origin: str | None = None, zone: ZoneInfo | None = None) -> str:
    """`origin` and `zone` may be given by a caller that keeps them (they do not change
    while the app runs), saving two queries."""
    sync = sync_text(agent, queued_count(store.conn), now, zone or store_zone(store))
    return (f"{origin or store.identity.origin} | {sync} | {printer_text(store)} | "
            f"{store.settings.terminal.store_name}")


def is_alert(text: str) -> bool:
    return any(word in text for word in ("OFFLINE", "STOPPED", "PRINTER ERROR"))


def pack(parts: list[str], width: int, sep: str = " | ") -> str:
    """The parts joined by `sep`, wrapped between parts into lines of `width` cells."""
    lines: list[str] = []
    for part in parts:
        if lines and len(lines[-1]) + len(sep) + len(part) <= width:
            lines[-1] += sep + part
        else:
            lines.append(part)
    return "\n".join(lines)


class StatusBar(Static):
    DEFAULT_CSS = """
    StatusBar { dock: top; height: auto; max-height: 2; padding: 0 1;
                background: $primary-background; color: $text; }
    StatusBar.-alert { background: $error; }
    """

    def on_mount(self) -> None:
        self.show(self.app.status_line())

    def show(self, text: str) -> None:
        """Show `text` (from `status_text`) if it changed."""
        if text != getattr(self, "_shown", None):
            self._shown = text
            self.set_class(is_alert(text), "-alert")
            self._draw()

    def on_resize(self) -> None:
        self._draw()

    def _draw(self) -> None:
        text = getattr(self, "_shown", "")
        self.update(Content(pack(text.split(" | "), self.content_size.width or 10_000)))
