"""Text widgets that avoid laying the screen out again when they need not."""

from __future__ import annotations

from textual.widgets import Static


class Text(Static):
    """A Static whose `show(text)` redraws only itself when its height cannot change: the
    same number of lines, none long enough to wrap. Laying out the whole screen again costs
    several milliseconds at each keypress; most updates (a new balance, the next message)
    keep the shape."""

    _text: str | None = None

    def show(self, text: str) -> None:
        previous = self._text
        if text == previous:
            return
        width = self.content_size.width
        same_height = (previous is not None and width > 0
                       and text.count("\n") == previous.count("\n")
                       and all(len(line) < width for line in text.split("\n")))
        self._text = text
        self.update(text, layout=not same_height)
