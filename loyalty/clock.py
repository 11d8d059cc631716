"""Hybrid logical clock: wall-clock milliseconds plus a counter.

Terminal clocks jump (NTP, a flat CMOS battery). An HLC stamp never goes backwards on one
origin and moves past every stamp it has seen from the hub, so sorting by it gives a
causal order that also stays close to real time.

    >>> clock = HybridClock()
    >>> a = clock.now(1_000); b = clock.now(900)   # the wall clock jumped back
    >>> a < b
    True
"""

from __future__ import annotations

from dataclasses import dataclass


def format_hlc(wall_ms: int, counter: int) -> str:
    # Fixed width so string order equals numeric order in SQL and Python alike.
    return f"{wall_ms:015d}.{counter:05d}"


def parse_hlc(stamp: str) -> tuple[int, int]:
    wall, _, counter = stamp.partition(".")
    return int(wall), int(counter or 0)


@dataclass
class HybridClock:
    wall_ms: int = 0
    counter: int = 0

    def now(self, physical_ms: int) -> str:
        if physical_ms > self.wall_ms:
            self.wall_ms, self.counter = physical_ms, 0
        else:
            self.counter += 1
        return format_hlc(self.wall_ms, self.counter)

    def observe(self, stamp: str) -> None:
        """Move past a stamp seen from elsewhere (the hub), so our next one sorts after it."""
        wall, counter = parse_hlc(stamp)
        if (wall, counter) > (self.wall_ms, self.counter):
            self.wall_ms, self.counter = wall, counter
