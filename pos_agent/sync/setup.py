"""Build the sync agent and the redemption authorizer from the settings and identity.

    >>> agent = build_agent(settings)       # None when no hub is configured
    >>> authorizer = build_authorizer(settings, store)

The hub address and token come from `pos init --hub URL` (kept in the terminal
database, 0600) or else from `[sync] hub_url` and `[sync] token_file`.
"""

from __future__ import annotations

from pos_agent.identity import read_token_file
from pos_agent.operations import Authorizer, offline_authorizer
from pos_agent.settings import PosSettings
from pos_agent.store import Store
from pos_agent.sync.agent import SyncAgent
from pos_agent.sync.authorize import hub_authorizer
from pos_agent.sync.client import HubClient
from pos_agent.sync.local import StoreSync


def hub_credentials(settings: PosSettings, store: Store) -> tuple[str, str] | None:
    identity = store.identity
    url = identity.hub_url or settings.sync.hub_url
    token = identity.hub_token
    if not token and settings.sync.token_file:
        token = read_token_file(settings.resolve(settings.sync.token_file))
    if not url or not token:
        return None
    return url, token


def build_agent(settings: PosSettings, store: Store) -> SyncAgent | None:
    creds = hub_credentials(settings, store)
    if creds is None:
        return None
    client = HubClient(creds[0], creds[1], timeout=settings.sync.request_timeout_s)
    return SyncAgent(
        StoreSync(settings),
        client,
        batch_size=settings.sync.batch_size,
        page_size=settings.sync.pull_page_size,
        interval_s=settings.sync.interval_s,
        max_backoff_s=settings.sync.max_backoff_s,
    )


def build_authorizer(settings: PosSettings, store: Store, agent: SyncAgent | None) -> Authorizer:
    if agent is None:
        return offline_authorizer
    return hub_authorizer(
        agent.client, origin=store.identity.origin, timeout=settings.sync.authorize_timeout_s
    )
