"""The footer: every key of the screen and what it does. On a narrow (80-column) terminal it
wraps onto a second line, between two keys, instead of cutting keys off as Textual's
one-line Footer does. In a dialog (`classes="inline"`) it sits inside the box."""

from __future__ import annotations

from textual import events
from textual.binding import Binding
from textual.widgets import Static


def key_name(key: str) -> str:
    names = {"escape": "Esc", "enter": "Enter", "ctrl+q": "Ctrl+Q"}
    if key in names:
        return names[key]
    if key.startswith("ctrl+"):
        return "Ctrl+" + key[5:].upper()
    return key.upper() if len(key) <= 3 else key.capitalize()


def keys_lines(keys: list[tuple[str, str]], width: int) -> str:
    """Markup of the keys, greedily packed into lines of at most `width` cells."""
    lines: list[str] = []
    line, used = "", 0
    for key, label in keys:
        cells = len(key) + len(label) + 3
        if used and used + 1 + cells > width:
            lines.append(line)
            line, used = "", 0
        line += (" " if used else "") + f"[b reverse] {key} [/] {label}"
        used += (1 if used else 0) + cells
    lines.append(line)
    return "\n".join(lines)


class KeyBar(Static):
    DEFAULT_CSS = """
    KeyBar { dock: bottom; height: auto; max-height: 3; padding: 0 1;
             background: $panel; color: $text; }
    KeyBar.inline { dock: none; padding: 0; margin: 1 0 0 0; background: transparent; }
    """

    def __init__(self, extra: list[tuple[str, str]] | None = None, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.extra = extra or []
        """Keys handled by a widget rather than a binding, e.g. ("Enter", "Redeem")."""
        self.keys: list[tuple[str, str]] = []

    def on_mount(self) -> None:
        self.show_keys()

    def show_keys(self) -> None:
        """(Re)build the list from `extra` and the bindings, e.g. when a dialog's step
        changes what its keys do."""
        # a dialog lists its own keys; the app's (Ctrl+Q) are on the screen's bar
        app_bindings = [] if self.has_class("inline") else self.app.BINDINGS
        # a key the screen's check_action turns off (Lock on a till without staff) is
        # not shown
        bindings = [b for b in [*self.screen.BINDINGS, *app_bindings]
                    if isinstance(b, Binding) and b.show and b.description
                    and self.screen.check_action(b.action, ()) is not False]
        self.keys = self.extra + [(key_name(b.key), b.description) for b in bindings]
        self.update(keys_lines(self.keys, self.content_size.width or 10_000))

    def on_resize(self, event: events.Resize) -> None:
        if self.keys and self.content_size.width:
            self.update(keys_lines(self.keys, self.content_size.width))
