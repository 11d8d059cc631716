"""Pushing the terminal's queue to the hub: every unacknowledged event, oldest first.

    >>> push(local, client, 500, report, progress)   # what SyncAgent.sync_once runs first

Each batch is acknowledged before the next is read: an event is marked acknowledged only
from the hub's answer, so a push cut off anywhere is finished by the next one (the hub
answers "duplicate" for what it already has).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pos_agent.exceptions import HubRefused, SyncError

if TYPE_CHECKING:
    from pos_agent.sync.agent import LocalSync, Progress, SyncReport
    from pos_agent.sync.client import HubClient


def push(local: LocalSync, client: HubClient, batch_size: int, report: SyncReport,
         progress: Progress | None = None) -> None:
    """Push the queue in batches of `batch_size`; counts go to `report`."""
    total = local.queued_count()
    done = 0
    rewinds = 0
    while events := local.pending_batch(batch_size):
        # After a reinstall, events of an older epoch may still be queued: each batch
        # names the epoch of its own events.
        try:
            answer = client.push(local.origin, events[0]["origin_epoch"], events)
        except HubRefused as exc:
            expected = exc.body.get("expected_seq")
            # The hub lost events we had seen acknowledged (restored from a backup): we
            # still hold them, so send them again from where the hub stands.
            if (
                exc.body.get("error") == "gap"
                and isinstance(expected, int)
                and expected < events[0]["origin_seq"]
                and rewinds < 3
            ):
                rewinds += 1
                total += local.unacknowledge_from(expected)
                continue
            raise
        results = answer.get("results", [])
        if not results:
            # Resending the same batch forever would not help: stop and say so.
            raise SyncError("the hub acknowledged none of the events sent")
        local.mark_acknowledged(results)
        new = sum(1 for r in results if r.get("status") == "new")
        report.pushed += new
        report.duplicates += len(results) - new
        done += len(results)
        if progress:
            progress("push", done, max(total, done))
