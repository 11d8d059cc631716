"""Snapshots of the checkout screen with a member and the redeem screen at 80x24 and 120x40
(pytest-textual-snapshot). Data is fixed so the pictures do not depend on the day: the sale
is dated last Monday (no weekday promotion) and is in the `retail` category (no category
promotion)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from loyalty.sale import SaleLine, make_sale
from pos_agent.app.app import PosApp
from pos_agent.identity import init_terminal
from pos_agent.members import enrol
from pos_agent.operations import record_sale
from pos_agent.settings import load_settings
from pos_agent.store import open_store

ROOT = Path(__file__).resolve().parents[2]


def last_monday() -> datetime:
    now = datetime.now(UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    return now - timedelta(days=now.weekday() or 7)


def make_app(tmp_path: Path) -> tuple[PosApp, str]:
    config = tmp_path / "pos.toml"
    shutil.copy(ROOT / "config.example.toml", config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    store = open_store(load_settings(str(config)))
    init_terminal(store.db, "S001", "T1")
    at = last_monday()
    ann = enrol(store, name="Ann Lee", phone="+33612345678", at=at)
    record_sale(store, ann.member_id, make_sale([SaleLine("BEANS", "retail", 2, 1000)]), at=at)
    return PosApp(store.settings, store=store), ann.card_number


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_checkout_with_member(snap_compare, tmp_path, size):
    app, card = make_app(tmp_path)

    async def find_member(pilot) -> None:
        await pilot.press(*card, "enter")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=find_member)


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_redeem_screen(snap_compare, tmp_path, size):
    app, card = make_app(tmp_path)

    async def open_redeem(pilot) -> None:
        await pilot.press(*card, "enter", "f2")
        await pilot.pause()

    assert snap_compare(app, terminal_size=size, run_before=open_redeem)
