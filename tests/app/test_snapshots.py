"""Snapshots of the checkout screen with a member, the redeem screen and the manager's
end-of-day summary at 80x24 and 120x40 (pytest-textual-snapshot). Data is fixed so the
pictures do not depend on the day: the sale is dated last Monday (no weekday promotion) and
is in the `retail` category (no category promotion); the end-of-day run talks to a fake hub
(an httpx transport answering like the real one) and the app's clock is frozen."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest

from loyalty.sale import SaleLine, make_sale
from pos_agent import hubdata
from pos_agent.app.app import PosApp
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.printing import print_pending
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.agent import SyncAgent
from pos_agent.sync.client import HubClient
from pos_agent.sync.local import StoreSync
from tests.app.catalogue_seed import seed_catalogue
from tests.example_config import write_example_config

ROOT = Path(__file__).resolve().parents[2]


def last_monday() -> datetime:
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return now - timedelta(days=now.weekday() or 7)


def make_store(tmp_path: Path, at: datetime | None = None, **identity: str):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1", **identity)
    at = at or last_monday()
    ann = enrol(store, name="Ann Lee", phone="+33612345678", at=at)
    record_sale(store, ann.member_id, make_sale([SaleLine("BEANS", "retail", 2, 1000)]), at=at)
    print_pending(store)  # else the app sends them as it opens, racing the picture
    seed_catalogue(store)
    return store, ann


def make_app(tmp_path: Path) -> tuple[PosApp, str]:
    store, ann = make_store(tmp_path)
    # keys 0.15 s apart: typed by a person, not a scanner's burst, whatever the machine's speed
    return PosApp(store.settings, store=store, key_time=human_typing()), ann.card_number


def human_typing():
    times = iter(range(10**6))
    return lambda event: next(times) * 0.15


def fake_hub(request: httpx.Request) -> httpx.Response:
    """Answers like the hub: acknowledges every pushed event, sends one stock update and
    one flag for this store."""
    if request.url.path == "/v1/sync/push":
        events = orjson.loads(request.content)["events"]
        return httpx.Response(200, json={"results": [
            {"event_id": e["event_id"], "status": "new", "hub_seq": 100 + i}
            for i, e in enumerate(events)]})
    if request.url.path == "/v1/sync/pull":
        if request.url.params["cursor"] == "0":
            return httpx.Response(200, json={"changes": [
                {"type": "stock", "reward_id": "latte", "left": 7, "change_seq": 1}],
                "cursor": 1, "more": False})
        return httpx.Response(200, json={"changes": [], "cursor": 1, "more": False})
    if request.url.path == "/v1/sync/flags":
        return httpx.Response(200, json={"flags": [
            {"kind": "points_mismatch", "detail": "receipt S001-T2-000031: hub counts 40, "
             "terminal 45"}]})
    return httpx.Response(404, json={"detail": "not found"})


class FrozenStoreSync(StoreSync):
    """The terminal side of the sync with the "last sync" time fixed."""

    at = datetime(2026, 1, 1, tzinfo=UTC)

    def record_sync(self, *, ok: bool, error: str | None = None,
                    flags: list | None = None) -> None:
        hubdata.record_sync(self.store, ok=ok, error=error, flags=flags, now=self.at)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_checkout_with_member(snap_compare, tmp_path, size):
    app, card = make_app(tmp_path)

    async def find_member(pilot) -> None:
        await pilot.press(*card, "enter", *"2*latte", "enter", *"croissant", "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=find_member)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_redeem_screen(snap_compare, tmp_path, size):
    app, card = make_app(tmp_path)

    async def open_redeem(pilot) -> None:
        await pilot.press(*card, "enter", "f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_redeem)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_end_of_day_summary(snap_compare, tmp_path, size):
    monday = datetime(2026, 11, 16, 12, tzinfo=UTC)  # the day report shows the date
    store, _ = make_store(tmp_path, monday, hub_url="http://hub.example")
    evening = monday.replace(hour=18, minute=30)
    FrozenStoreSync.at = evening
    agent = SyncAgent(FrozenStoreSync(store.settings),
                      HubClient("http://hub.example", "token",
                                transport=httpx.MockTransport(fake_hub)))
    agent.start_background = lambda *a, **k: None  # only the manager's run, no race
    app = PosApp(store.settings, agent=agent, store=store, clock=lambda: evening,
                 key_time=human_typing())

    async def end_of_day(pilot) -> None:
        await pilot.press("f12")  # a till without staff: no approval asked
        await pilot.pause()
        assert isinstance(app.screen, ManagerScreen)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        summary = str(app.screen.query_one("#sync-summary").render())
        assert "sent 4 events" in summary and "0 still queued" in summary, summary

    assert snap_compare(app, terminal_size=size, run_before=end_of_day)
