"""Member cards across tills, against a real `pos-hub serve` on 127.0.0.1: a card one till
signs verifies at another once that one has pulled the signer's certificate; a card
signed with any other key is refused; revoking the signer stops its cards at every till
that has synced since. And `pos init --hub` takes its token from stdin or a prompt that
does not echo, never from argv."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from loyalty.member_qr import key_id, new_private_key, public_key, sign_card
from pos_agent.exceptions import MemberNotFound
from pos_agent.keys import is_certified, signing_key
from pos_agent.members import enrol, find_member
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.example_config import write_example_config

from .conftest import BIN, HubServer, Terminal, hub_cli, make_terminal

pytestmark = pytest.mark.slow


def cli_terminal(folder: Path, hub: HubServer, store_id: str, term: str) -> tuple[Path, str]:
    """A till's folder and config, and its token from `pos-hub terminal add`."""
    folder.mkdir()
    config = write_example_config(folder / "pos.toml")
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    return config, hub.add_terminal(f"{store_id}-{term}")


def refused(store, payload: str, why: str) -> None:
    with pytest.raises(MemberNotFound, match=why):
        find_member(store, payload)


def test_cards_verify_across_tills_after_pull_and_stop_when_the_signer_is_revoked(
        tmp_path: Path, hub: HubServer):
    # T1 is set up with the real CLI; its token comes on stdin, so never in argv
    config, token = cli_terminal(tmp_path / "S001-T1", hub, "S001", "T1")
    argv = [str(BIN / "pos"), "init", "--store", "S001", "--terminal", "T1", "--hub", hub.url,
            "--token-stdin", "--config", str(config), "--json"]
    done = subprocess.run(argv, input=token + "\n", capture_output=True, text=True,
                          timeout=60, cwd=config.parent)
    assert done.returncode == 0, done.stderr
    assert token not in " ".join(argv) and token not in done.stdout + done.stderr
    t1 = Terminal(load_settings(str(config)), open_store(load_settings(str(config))), "S001-T1")
    assert is_certified(t1.store.conn)  # certified at `pos init`, before any sale
    ann = enrol(t1.store, name="Ann", phone="+33600000001")
    assert find_member(t1.store, ann.qr_payload).found_by == "qr"

    # T2, another store's till, set up without a certificate (the agent asks at its sync)
    t2, t2_token = make_terminal(tmp_path, hub, "S002", "T1")
    assert not is_certified(t2.store.conn)
    refused(t2.store, ann.qr_payload, "does not know")  # not synced yet
    assert t1.agent(hub.url, token).sync_once().error is None
    assert t2.agent(hub.url, t2_token).sync_once().error is None
    assert is_certified(t2.store.conn)
    found = find_member(t2.store, ann.qr_payload)
    assert (found.member_id, found.found_by) == (ann.member_id, "qr")

    # forged: a key the hub never certified, or T1's key id with another key's signature
    refused(t2.store, sign_card(ann.card_number, new_private_key()), "does not know")
    forged = sign_card(ann.card_number, signing_key(t2.store.conn)).split(":")
    forged[2] = ann.qr_payload.split(":")[2]
    refused(t2.store, ":".join(forged), "forged or altered")

    # T2's own cards verify at T1 once T1 pulled T2's certificate; the hub's cards too
    bob = enrol(t2.store, name="Bob", phone="+33600000002")
    web = httpx.post(hub.url + "/v1/online/members", json={"name": "Web", "phone":
                     "+33600000003"}, headers={"Authorization": f"Bearer {hub.online_token}"},
                     timeout=30).json()
    assert t2.agent(hub.url, t2_token).sync_once().error is None
    assert t1.agent(hub.url, token).sync_once().error is None
    assert find_member(t1.store, bob.qr_payload).member_id == bob.member_id
    assert find_member(t1.store, web["qr_payload"]).member_id == web["member_id"]

    # HQ revokes T1 (a stolen till): its cards stop at T2 once T2 has synced
    out = hub_cli(hub.config, "terminal", "revoke", "S001-T1")
    assert "1 signing key certificate(s)" in out
    assert find_member(t2.store, ann.qr_payload).member_id == ann.member_id  # not pulled yet
    assert t2.agent(hub.url, t2_token).sync_once().error is None
    refused(t2.store, ann.qr_payload, "revoked")
    # ... while the card number still finds Ann (to earn; spending needs her proof)
    assert find_member(t2.store, ann.card_number).found_by == "card"
    # and nothing else T2 trusts changed
    assert find_member(t2.store, bob.qr_payload).member_id == bob.member_id
    assert find_member(t2.store, web["qr_payload"]).member_id == web["member_id"]
    # a receipt printed at T2 gives Ann a code signed by T2 again
    from pos_agent.members import qr_payload_for

    assert find_member(t2.store, qr_payload_for(t2.store, ann.card_number)).found_by == "qr"
    own = public_key(signing_key(t2.store.conn))
    assert qr_payload_for(t2.store, ann.card_number).split(":")[2] == key_id(own)


def test_new_key_rotates_and_the_old_cards_keep_verifying(tmp_path: Path, hub: HubServer):
    t1, token = make_terminal(tmp_path, hub, "S003", "T1")
    t2, t2_token = make_terminal(tmp_path, hub, "S003", "T2")
    ann = enrol(t1.store, name="Ann", phone="+33600000011")
    assert t1.agent(hub.url, token).sync_once().error is None
    done = subprocess.run([str(BIN / "pos"), "init", "--new-key", "--json", "--config",
                           str(t1.settings.config_path)], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rotated = json.loads(done.stdout)
    assert rotated["certified"] is True and not rotated["token_replaced"]
    t1.store.close()
    t1 = Terminal(t1.settings, open_store(t1.settings), t1.origin)
    new = enrol(t1.store, name="Bea", phone="+33600000012")
    assert new.qr_payload.split(":")[2] == rotated["key_id"] != ann.qr_payload.split(":")[2]
    assert t1.agent(hub.url, token).sync_once().error is None
    assert t2.agent(hub.url, t2_token).sync_once().error is None
    assert find_member(t2.store, ann.qr_payload).member_id == ann.member_id
    assert find_member(t2.store, new.qr_payload).member_id == new.member_id


def test_pos_init_asks_for_the_token_without_echoing_it(tmp_path: Path, hub: HubServer):
    config, token = cli_terminal(tmp_path / "S004-T1", hub, "S004", "T1")
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [str(BIN / "pos"), "init", "--store", "S004", "--terminal", "T1", "--hub", hub.url,
         "--config", str(config)], stdin=slave, stdout=slave, stderr=slave,
        cwd=config.parent, start_new_session=True)
    os.close(slave)
    seen = b""
    try:
        deadline = time.monotonic() + 60
        while b"not shown): " not in seen:
            assert time.monotonic() < deadline and proc.poll() is None, seen
            if select.select([master], [], [], 0.5)[0]:
                seen += os.read(master, 4096)
        os.write(master, token.encode() + b"\n")
        assert proc.wait(60) == 0, seen
        while select.select([master], [], [], 0.2)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    assert b"hub token for S004-T1" in seen and token.encode() not in seen
    assert b"member-card key certified" in seen
    store = open_store(load_settings(str(config)))
    assert store.identity.hub_token == token and is_certified(store.conn)
