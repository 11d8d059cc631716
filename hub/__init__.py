"""The hub: HQ's authoritative ledger, the sync API for store terminals, the online
channel, HQ consolidation and the jobs (expiry, tiers, notifications).

    >>> from hub.settings import load_settings
    >>> from hub.app import create_app
    >>> app = create_app(load_settings("hub.toml"))

Storage is SQLAlchemy Core (SQLite by default, PostgreSQL in production, same code);
every loyalty computation is delegated to the `loyalty` package.
"""
