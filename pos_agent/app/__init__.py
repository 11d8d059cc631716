"""The cashier's terminal app (Textual): `pos app`.

    >>> run_app(load_settings("pos.toml"), agent=build_agent(settings, store))

`app.py` is thin: it opens the store, starts the sync agent in the background and shows the
checkout screen. One screen per `*_screen.py`, each beside its `.tcss`; widgets in
`widgets/`. Every action has a key in the footer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pos_agent.settings import PosSettings
    from pos_agent.sync.agent import SyncAgent


def run_app(settings: PosSettings, agent: SyncAgent | None = None) -> None:
    from pos_agent.app.app import PosApp

    PosApp(settings, agent=agent).run()
