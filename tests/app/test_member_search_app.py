"""The app as a cashier drives it (issue 17): a name that fits several members lists them
to pick with the keyboard; a message clears on the next action or customer; the manager
screen says the hub's flags one way from one source; offline, pay with points pre-fills
no more than the offline limit."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from loyalty.sale import make_sale
from pos_agent.app.app import PosApp
from pos_agent.app.manager_screen import ManagerScreen
from pos_agent.app.member_choice_screen import MemberChoiceScreen
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.agent import SyncAgent
from pos_agent.sync.client import HubClient
from pos_agent.sync.local import StoreSync
from tests.app.pilot_wait import until
from tests.app.test_checkout_flows import KeyClock, type_text
from tests.example_config import write_example_config

pytestmark = pytest.mark.asyncio


@pytest.fixture
def store(tmp_path: Path):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    return store


def text_of(app, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def test_a_name_lists_the_candidates_to_pick_with_the_keyboard(store):
    enrol(store, name="Camille Dupont", phone="0611223344")
    martin = enrol(store, name="Camille Martin", phone="0611223355")
    app = PosApp(store.settings, store=store, key_time=KeyClock())
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, "cam")
        await pilot.press("enter")
        await pilot.pause()
        assert isinstance(app.screen, MemberChoiceScreen)
        options = app.screen.query_one("#candidates")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        assert labels[0].startswith("Camille Dupont") and labels[1].startswith("Camille Martin")
        await pilot.press("escape")  # back to the field, the text kept
        await pilot.pause()
        assert not isinstance(app.screen, MemberChoiceScreen)
        assert app.screen.query_one("#member-input").value == "cam"
        assert "No member chosen" in text_of(app, "#message")
        await type_text(pilot, "ille")
        await pilot.press("enter")
        await pilot.pause()
        await pilot.press("down", "enter")  # the second one
        await pilot.pause()
        assert app.screen.member.member_id == martin.member_id
        assert app.screen.member.found_by == "name"
        assert "Camille Martin" in text_of(app, "#member")
        assert text_of(app, "#message") == "Member found by name."
        # a name alone does not spend: the redeem dialog asks for the PIN or the QR
        record_sale(store, martin.member_id, make_sale(total=3000))
        await pilot.press("f2")
        await pilot.pause()
        await pilot.press("enter")
        await pilot.pause()
        assert "PIN" in text_of(app, "#confirm") or "QR" in text_of(app, "#confirm")


async def test_a_message_clears_on_the_next_action_and_customer(store):
    ann = enrol(store, name="Ann Lee", phone="0612345678")
    app = PosApp(store.settings, store=store, key_time=KeyClock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f2")  # no member yet: an error
        await pilot.pause()
        assert "Find the member first" in text_of(app, "#message")
        await pilot.press("escape")  # next customer
        await pilot.pause()
        assert text_of(app, "#message") == ""
        await type_text(pilot, ann.card_number)
        await pilot.press("enter")
        await type_text(pilot, "5.00")
        await pilot.press("enter", "f10", "enter")
        await pilot.pause()
        assert "recorded" in text_of(app, "#message")
        await pilot.press("escape")  # the next customer does not see the last sale
        await pilot.pause()
        assert text_of(app, "#message") == ""
        app.receipts.wait()  # the receipt's outcome does not bring it back
        await pilot.pause()
        assert "recorded" not in text_of(app, "#message")
        await type_text(pilot, "6000000000000000")
        await pilot.press("enter")
        await pilot.pause()
        assert "not valid" in text_of(app, "#message")
        await pilot.press("f5")  # another action: the old error goes, its own shows
        await pilot.pause()
        assert "not valid" not in text_of(app, "#message")
        assert "Find the member first" in text_of(app, "#message")


class Hub:
    """A hub that answers with one flag, then (down=True) is unreachable."""

    down = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if self.down:
            return httpx.Response(503, json={"detail": "down"})
        if request.url.path == "/v1/sync/push":
            return httpx.Response(200, json={"results": []})
        if request.url.path == "/v1/sync/pull":
            return httpx.Response(200, json={"changes": [], "cursor": 0, "more": False})
        if request.url.path == "/v1/sync/flags":
            return httpx.Response(200, json={"flags": [
                {"kind": "negative_balance", "detail": "balance -95 after S001-T2-000004"}]})
        return httpx.Response(404, json={"detail": "not found"})


def agent_for(store, hub: Hub) -> SyncAgent:
    agent = SyncAgent(StoreSync(store.settings),
                      HubClient("http://hub.example", "token",
                                transport=httpx.MockTransport(hub)))
    agent.start_background = lambda *a, **k: None  # only the manager's run
    return agent


async def test_manager_screen_says_hub_flags_once_from_one_source(tmp_path, store):
    hub = Hub()
    agent = agent_for(store, hub)
    app = PosApp(store.settings, agent=agent, store=store, key_time=KeyClock())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("f12")
        await pilot.pause()
        assert isinstance(app.screen, ManagerScreen)
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert "hub flags: 1 for this store" in text_of(app, "#identity")
        assert "hub flags: 1 for this store" in text_of(app, "#sync-summary")
        hub.down = True  # the next end-of-day sync fails: it fetched no flags
        await pilot.press("s")
        await app.workers.wait_for_complete()
        await until(pilot, lambda: "last good sync" in text_of(app, "#sync-summary"))
        summary, identity = text_of(app, "#sync-summary"), text_of(app, "#identity")
        assert "hub flag(s)" not in summary and "0 hub flag" not in summary
        assert "hub flags: 1 for this store as of the last good sync" in summary
        assert "hub flags: 1 for this store" in identity


async def test_offline_pay_with_points_prefills_the_offline_limit(store):
    ann = enrol(store, name="Ann Lee", phone="0612345678")
    for _ in range(8):
        record_sale(store, ann.member_id, make_sale(total=3000))  # 2,400+ Stars
    program = store.active_program()
    assert program.offline_redeem_limit_per_transaction == 300
    app = PosApp(store.settings, store=store, key_time=KeyClock())  # no hub: offline
    async with app.run_test(size=(120, 40)) as pilot:
        await type_text(pilot, ann.qr_payload)
        await pilot.press("enter", "f2")
        await pilot.pause()
        options = app.screen.query_one("#rewards")
        labels = [str(options.get_option_at_index(i).prompt)
                  for i in range(options.option_count)]
        pay = next(i for i, label in enumerate(labels) if "to 300" in label)
        options.highlighted = pay
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen.query_one("#points").value == "300"
        assert "to 300)" in text_of(app, "#confirm")
