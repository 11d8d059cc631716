"""What every request and job of one hub process shares: the database, the settings and
the hub's hybrid logical clock (for the events the hub records itself).

    >>> ctx = HubContext.from_settings(settings)
    >>> ctx.stamp(datetime.now(UTC))          # an HLC stamp for a hub-made event
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from hub.db import Database
from hub.settings import HubSettings
from loyalty.clock import HybridClock


@dataclass
class HubContext:
    db: Database
    settings: HubSettings
    clock: HybridClock = field(default_factory=HybridClock)
    _clock_lock: threading.Lock = field(default_factory=threading.Lock)
    handoff: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    """Events of committed pushes this process has not folded yet, by event_id
    (`hub.store.projector.hand_over`)."""
    handoff_lock: threading.Lock = field(default_factory=threading.Lock)
    known_members: set[str] = field(default_factory=set)
    """Members this process saw committed events of: a push naming them needs no look-up
    (`hub.store.ledger._check_known`; a member once known stays known)."""
    projector: Any = None
    """`pos-hub serve`'s `hub.store.projector.Projector` thread, poked after each push."""

    @classmethod
    def from_settings(cls, settings: HubSettings, *, serving: bool = False) -> HubContext:
        """`serving`: a long-running server (`pos-hub serve`), whose SQLite WAL is copied
        back by a background thread (`hub.db.Checkpointer`)."""
        return cls(Database.open(settings.database_url, pool_size=settings.hub.pool_size,
                                 background_checkpoint=serving
                                 and settings.hub.sqlite_checkpoint_thread), settings)

    def stamp(self, at: datetime) -> str:
        with self._clock_lock:
            return self.clock.now(int(at.timestamp() * 1000))

    def observe(self, stamp: str) -> None:
        """Move past stamps seen in pushed events, so hub events sort after them."""
        if stamp:
            with self._clock_lock:
                self.clock.observe(stamp)

    def close(self) -> None:
        if self.projector is not None:
            self.projector.stop()
            self.projector = None
        self.db.dispose()
