"""What every request and job of one hub process shares: the database, the settings and
the hub's hybrid logical clock (for the events the hub records itself).

    >>> ctx = HubContext.from_settings(settings)
    >>> ctx.stamp(datetime.now(UTC))          # an HLC stamp for a hub-made event
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from datetime import datetime

from hub.db import Database
from hub.settings import HubSettings
from loyalty.clock import HybridClock


@dataclass
class HubContext:
    db: Database
    settings: HubSettings
    clock: HybridClock = field(default_factory=HybridClock)
    _clock_lock: threading.Lock = field(default_factory=threading.Lock)
    _signing_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def from_settings(cls, settings: HubSettings) -> HubContext:
        return cls(Database.open(settings.database_url, pool_size=settings.hub.pool_size),
                   settings)

    def stamp(self, at: datetime) -> str:
        with self._clock_lock:
            return self.clock.now(int(at.timestamp() * 1000))

    def observe(self, stamp: str) -> None:
        """Move past stamps seen in pushed events, so hub events sort after them."""
        if stamp:
            with self._clock_lock:
                self.clock.observe(stamp)

    def signing_key(self) -> bytes:
        """The hub's Ed25519 private key (`[hub] signing_key_file`), read once; ConfigError
        when there is none (`pos-hub serve` checks before it starts)."""
        if self._signing_key is None:
            from hub.keys import load_key_file

            self._signing_key = load_key_file(self.settings.signing_key_path)
        return self._signing_key

    def close(self) -> None:
        self.db.dispose()
