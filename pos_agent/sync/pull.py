"""Pulling what changed at the hub: every page of changes since the saved cursor.

    >>> pull(local, client, 100, report, progress)   # after the push, in SyncAgent.sync_once

Each page (member snapshots and profiles, programs, stock) is applied together with its
cursor in one SQLite transaction (`StoreSync.apply_pull_page`), so a pull cut off
anywhere resumes from the last page applied.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pos_agent.sync.agent import LocalSync, Progress, SyncReport
    from pos_agent.sync.client import HubClient


def pull(local: LocalSync, client: HubClient, page_size: int, report: SyncReport,
         progress: Progress | None = None) -> None:
    """Pull pages of at most `page_size` changes until the hub has no more."""
    cursor = local.pull_cursor()
    high_seq = local.high_seq()
    while True:
        body = client.pull(cursor, page_size, high_seq=high_seq)
        changes = body.get("changes", [])
        new_cursor = int(body.get("cursor", cursor))
        local.apply_pull_page(changes, new_cursor)
        report.pulled += len(changes)
        cursor = new_cursor
        if progress:
            progress("pull", report.pulled, 0)
        if not (body.get("more") and changes):
            break
