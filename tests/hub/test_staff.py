"""Staff at the hub (issue 16 part 4): `pos-hub staff add|list|disable|set-pin` on SQLite
and PostgreSQL, PINs only from a prompt or stdin and kept only as argon2id hashes, and
the pull that brings a store's staff to its tills (and nobody else's)."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from pathlib import Path

import pytest

from hub.staff import add_staff, disable_staff, set_staff_pin
from loyalty.pins import verify_pin

from .conftest import BIN, Hub, run_cli, write_config

pytestmark = pytest.mark.slow


def staff_cli(config: Path, *args: str, stdin: str | None = None,
              ok: bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POS_HUB")}
    done = subprocess.run([str(BIN), "staff", *args, "--config", str(config)],
                          capture_output=True, text=True, cwd=config.parent, env=env,
                          input=stdin, timeout=120)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return done


def test_staff_commands_keep_pins_out_of_argv_and_output(fresh_url: str, tmp_path: Path):
    config = write_config(tmp_path, fresh_url if "postgresql" in fresh_url else None)
    run_cli(config, "init")
    added = json.loads(staff_cli(config, "add", "Max Manager", "--role", "manager",
                                 "--store", "S001", "--pin-stdin", "--json",
                                 stdin="5930\n").stdout)
    assert added["staff_id"] == 1 and added["role"] == "manager" and added["active"] is True
    out = staff_cli(config, "add", "Cathy Cashier", "--role", "cashier", "--pin-stdin",
                    stdin="4821\n").stdout
    assert "staff 2: Cathy Cashier, cashier of every store" in out
    # no PIN on the command line, none at all without a terminal or --pin-stdin
    refused = staff_cli(config, "add", "X", "--role", "cashier", "--pin", "1357", ok=False)
    assert refused.returncode == 2 and "unrecognized arguments: 1357" in refused.stderr
    refused = staff_cli(config, "add", "X", "--role", "cashier", stdin="", ok=False)
    assert "type it at the prompt" in refused.stderr and "--pin-stdin" in refused.stderr
    refused = staff_cli(config, "add", "X", "--role", "cashier", "--pin-stdin",
                        stdin="1111\n", ok=False)
    assert "too easy to guess" in refused.stderr
    refused = staff_cli(config, "add", "X", "--role", "owner", "--pin-stdin", stdin="1357\n",
                        ok=False)
    assert "invalid choice: 'owner'" in refused.stderr
    staff_cli(config, "disable", "1")
    staff_cli(config, "set-pin", "2", "--pin-stdin", stdin="6047\n")
    refused = staff_cli(config, "disable", "9", ok=False)
    assert "no staff member 9" in refused.stderr
    listed = staff_cli(config, "list", "--json").stdout
    rows = json.loads(listed)["staff"]
    assert [(r["staff_id"], r["name"], r["active"]) for r in rows] == [
        (1, "Max Manager", False), (2, "Cathy Cashier", True)]
    table = staff_cli(config, "list").stdout
    assert "Cathy Cashier" in table
    for text in (listed, table, out, json.dumps(added)):
        assert "argon2" not in text and "pin_hash" not in text


def _pull_all(hub: Hub, token: str) -> list[dict]:
    changes, cursor = [], 0
    with hub.client(token) as client:
        while True:
            page = client.get("/v1/sync/pull", params={"cursor": cursor, "limit": 2000})
            assert page.status_code == 200, page.text
            body = page.json()
            changes += body["changes"]
            cursor = body["cursor"]
            if not body["more"]:
                return changes


def test_a_till_pulls_its_stores_staff_with_the_hash_and_no_one_elses(hub: Hub):
    store = f"S{uuid.uuid4().hex[:6].upper()}"
    other = f"S{uuid.uuid4().hex[:6].upper()}"
    with hub.ctx.db.write() as conn:
        boss = add_staff(conn, hub.ctx.db, name="Max", role="manager", store=store,
                         pin="5930")
        everywhere = add_staff(conn, hub.ctx.db, name="Cathy", role="cashier", store=None,
                               pin="4821")
    mine = {c["staff_id"]: c for c in _pull_all(hub, hub.token("terminal", f"{store}-T1"))
            if c["type"] == "staff"}
    ids = (str(boss["staff_id"]), str(everywhere["staff_id"]))
    assert verify_pin(mine[ids[0]]["pin_hash"], "5930") and mine[ids[0]]["role"] == "manager"
    assert mine[ids[0]]["store"] == store and mine[ids[0]]["active"] is True
    assert verify_pin(mine[ids[1]]["pin_hash"], "4821")
    theirs = {c["staff_id"]: c for c in _pull_all(hub, hub.token("terminal", f"{other}-T1"))
              if c["type"] == "staff"}
    assert theirs[ids[0]] == {"type": "staff", "change_seq": theirs[ids[0]]["change_seq"],
                              "staff_id": ids[0], "active": False}  # not theirs: no hash
    assert verify_pin(theirs[ids[1]]["pin_hash"], "4821")
    assert not [c for c in _pull_all(hub, hub.online_token) if c["type"] == "staff"]
    # disabled, then a new PIN: each a change the tills pull
    with hub.ctx.db.write() as conn:
        disable_staff(conn, hub.ctx.db, boss["staff_id"])
    mine = {c["staff_id"]: c for c in _pull_all(hub, hub.token("terminal", f"{store}-T2"))
            if c["type"] == "staff"}
    assert mine[ids[0]]["active"] is False
    with hub.ctx.db.write() as conn:
        set_staff_pin(conn, hub.ctx.db, boss["staff_id"], "7093")
    mine = {c["staff_id"]: c for c in _pull_all(hub, hub.token("terminal", f"{store}-T3"))
            if c["type"] == "staff"}
    assert mine[ids[0]]["active"] is True and verify_pin(mine[ids[0]]["pin_hash"], "7093")
