"""Waiting in pilot tests for what a thread (printer, scanner, sync agent) puts on screen."""

from __future__ import annotations

from collections.abc import Callable

from textual.css.query import NoMatches


async def until(pilot, condition: Callable[[], bool], timeout: float = 10.0) -> None:  # noqa: ANN001
    """Let the app run until `condition()` holds (bounded): a loaded machine may need more
    than one refresh for a thread's answer to reach the screen."""
    for _ in range(int(timeout / 0.05)):
        try:
            if condition():
                return
        except NoMatches:
            pass  # the widget it looks at is not on screen yet (a dialog still covers it)
        await pilot.pause(0.05)
    assert condition()
