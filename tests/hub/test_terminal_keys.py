"""Terminal keys at the hub, over real HTTP on SQLite and PostgreSQL: certification,
the pull feed's certificates and revocations, whoami holding no secret, hub-signed
online cards, the LOY1 migration window, and the CLI (`pos-hub init` makes the key,
`serve` refuses without it, `terminal revoke` revokes the keys)."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select

from hub.context import HubContext
from hub.settings import settings_for
from hub.store.terminal_keys import issue, revoke_origin, verify_member_payload
from hub.tables import changes
from loyalty.errors import QRError
from loyalty.member_qr import (
    Certificate,
    b64,
    certificate_is_valid,
    key_id,
    new_private_key,
    public_key,
    sign_card,
    sign_legacy_card,
    unb64,
)

from .conftest import Hub, new_terminal, raw_program, run_cli, write_config

pytestmark = pytest.mark.slow
CARD = "6012345678901234"


def certify_over_http(hub: Hub, token: str, private: bytes):
    with hub.client(token) as c:
        return c.post("/v1/terminal/certificate", json={"public_key": b64(public_key(private))})


def top_change(hub: Hub) -> int:
    with hub.ctx.db.read() as conn:
        return int(conn.execute(select(func.max(changes.c.change_seq))).scalar() or 0)


def pulled_keys(hub: Hub, token: str, cursor: int) -> list[dict]:
    out = []
    with hub.client(token) as c:
        while True:
            page = c.get("/v1/sync/pull", params={"cursor": cursor, "limit": 500}).json()
            out += [ch for ch in page["changes"] if ch["type"] == "terminal_key"]
            cursor = page["cursor"]
            if not page["more"]:
                return out


def test_a_terminal_gets_its_public_key_certified_by_the_hub(hub: Hub):
    term, other = new_terminal(hub), new_terminal(hub)
    private = new_private_key()
    with hub.client(term.token) as c:
        whoami = c.get("/v1/terminal/whoami").json()
    r = certify_over_http(hub, term.token, private)
    assert r.status_code == 200, r.text
    body = r.json()
    cert = Certificate.from_dict(body["certificate"])
    assert body["status"] == "new" and cert.terminal == term.origin
    assert cert.public_key == public_key(private) and cert.key_id == key_id(cert.public_key)
    assert body["hub_public_key"] == whoami["hub_public_key"]
    assert certificate_is_valid(cert, unb64(whoami["hub_public_key"]))
    # the same key again: the same certificate, nothing new in the feed
    before = top_change(hub)
    again = certify_over_http(hub, term.token, private).json()
    assert again["status"] == "existing" and again["certificate"] == body["certificate"]
    assert top_change(hub) == before
    # another terminal cannot claim it
    r = certify_over_http(hub, other.token, private)
    assert r.status_code == 409 and r.json()["error"] == "key_in_use"
    # only a terminal's token certifies; a bad key is refused with the field named
    for token in (hub.online_token, hub.admin_token):
        assert certify_over_http(hub, token, new_private_key()).status_code == 403
    assert certify_over_http(hub, "t_wrong", new_private_key()).status_code == 401
    with hub.client(term.token) as c:
        for bad in ({"public_key": "short"}, {"public_key": "A" * 42 + "B", "x": 1}, {}):
            r = c.post("/v1/terminal/certificate", json=bad)
            assert r.status_code == 422 and set(r.json()) >= {"error", "detail"}, r.text


def test_pull_carries_certificates_then_their_revocation(hub: Hub):
    t1, reader = new_terminal(hub), new_terminal(hub)
    cursor = top_change(hub)
    keys = [new_private_key(), new_private_key()]  # a key, then a new one (`--new-key`)
    for private in keys:
        assert certify_over_http(hub, t1.token, private).status_code == 200
    feed = pulled_keys(hub, reader.token, cursor)
    assert [ch["key_id"] for ch in feed] == [key_id(public_key(k)) for k in keys]
    assert all(ch["terminal"] == t1.origin and ch["revoked_at"] is None for ch in feed)
    cursor = top_change(hub)
    with hub.ctx.db.write() as conn:
        assert revoke_origin(conn, hub.ctx.db, t1.origin) == 2
    feed = pulled_keys(hub, reader.token, cursor)
    assert sorted(ch["key_id"] for ch in feed) == sorted(key_id(public_key(k)) for k in keys)
    assert all(ch["revoked_at"] for ch in feed)
    # a revoked key cannot be certified again
    r = certify_over_http(hub, t1.token, keys[0])
    assert r.status_code == 409 and r.json()["error"] == "key_revoked"


def test_hub_verifies_cards_with_public_keys_and_refuses_revoked_ones(hub: Hub):
    term = new_terminal(hub)
    private = new_private_key()
    with hub.ctx.db.write() as conn:
        issue(conn, hub.ctx.db, hub.ctx.signing_key(), term.origin, public_key(private))
    payload = sign_card(CARD, private)
    with hub.ctx.db.read() as conn:
        assert verify_member_payload(conn, hub.ctx, payload) == CARD
        assert verify_member_payload(conn, hub.ctx, sign_card(CARD, hub.ctx.signing_key())) \
            == CARD
        with pytest.raises(QRError, match="does not know"):
            verify_member_payload(conn, hub.ctx, sign_card(CARD, new_private_key()))
    with hub.ctx.db.write() as conn:
        revoke_origin(conn, hub.ctx.db, term.origin)
    with hub.ctx.db.read() as conn, pytest.raises(QRError, match="revoked"):
        verify_member_payload(conn, hub.ctx, payload)


def test_whoami_hands_out_nothing_a_card_can_be_forged_with(hub: Hub):
    """The old whoami handed every till and the web shop the one HMAC key; now it answers
    public values only. Every string it answers, tried as an HMAC key (LOY1) or decoded as
    an Ed25519 private key (LOY2), makes cards the hub refuses."""
    term = new_terminal(hub)
    leaked: list[str] = []
    for token in (term.token, hub.online_token):
        with hub.client(token) as c:
            me = c.get("/v1/terminal/whoami").json()
        assert "qr_key" not in me
        leaked += [v for v in me.values() if isinstance(v, str)]
    assert b64(public_key(hub.ctx.signing_key())) in leaked  # the public half only
    # even while LOY1 codes are still accepted (with the old key, which whoami no longer
    # hands out)
    ctx = HubContext(hub.ctx.db, settings_for(
        hub.ctx.settings.hub.database_url, raw_program(),
        signing_key_file=hub.ctx.settings.hub.signing_key_file,
        legacy_qr_key="the-old-hmac-key", legacy_qr_until="2099-12-31"))
    forgeries = [sign_legacy_card(CARD, value.encode()) for value in leaked]
    for value in leaked:
        try:
            raw = unb64(value)
        except ValueError:
            continue
        if len(raw) == 32:
            forgeries.append(sign_card(CARD, raw))
    assert len(forgeries) > len(leaked)  # the public key was tried as a private key too
    with hub.ctx.db.read() as conn:
        for forged in forgeries:
            with pytest.raises(QRError):
                verify_member_payload(conn, ctx, forged)


def test_online_cards_are_signed_with_the_hubs_key(hub: Hub):
    with hub.online() as c:
        r = c.post("/v1/online/members", json={"name": "Web Key", "phone": "+33611000222"
                                               if hub.backend == "sqlite" else "+33611000223"})
        assert r.status_code == 201, r.text
        enrolled = r.json()
        whoami = c.get("/v1/terminal/whoami").json()
    _, card, kid, _ = enrolled["qr_payload"].split(":")
    assert card == enrolled["card_number"] and kid == whoami["hub_key_id"]
    hub_public = unb64(whoami["hub_public_key"])
    assert key_id(hub_public) == kid
    with hub.ctx.db.read() as conn:
        assert verify_member_payload(conn, hub.ctx, enrolled["qr_payload"]) == card


def test_loy1_at_the_hub_only_in_the_migration_period(hub: Hub):
    settings = settings_for(hub.ctx.settings.hub.database_url, raw_program(),
                            signing_key_file=hub.ctx.settings.hub.signing_key_file,
                            legacy_qr_key="the-old-hmac-key", legacy_qr_until="2027-03-31")
    ctx = HubContext(hub.ctx.db, settings)
    old = sign_legacy_card(CARD, b"the-old-hmac-key")
    with ctx.db.read() as conn:
        assert verify_member_payload(conn, ctx, old, today=date(2027, 3, 31)) == CARD
        with pytest.raises(QRError, match="no longer accepted"):
            verify_member_payload(conn, ctx, old, today=date(2027, 4, 1))
        with pytest.raises(QRError, match="no longer accepted"):  # no migration set
            verify_member_payload(conn, hub.ctx, old, today=date(2027, 1, 1))


# -- the CLI ----------------------------------------------------------------------------------
def test_init_makes_the_key_once_0600_and_serve_refuses_without_one(tmp_path: Path):
    config = write_config(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    old_umask = os.umask(0o022)
    try:
        done = run_cli(config, "init")
    finally:
        os.umask(old_umask)
    key = tmp_path / "pos-hub.key"
    assert "made (mode 0600)" in done.stdout
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    first = key.read_bytes()
    assert "kept" in run_cli(config, "init").stdout and key.read_bytes() == first
    key.chmod(0o644)
    assert "readable by others" in run_cli(config, "init").stderr
    key.unlink()
    done = run_cli(config, "serve", "--port", "1", ok=False)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"pos-hub: no hub signing key at {key}: run `pos-hub init` to make one, or set "
        "[hub] signing_key_file to where it is"]
    key.write_text("not a key")
    done = run_cli(config, "serve", "--port", "1", ok=False)
    assert "is not an unencrypted PEM private key" in done.stderr


def test_terminal_revoke_revokes_its_signing_keys(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_config(tmp_path, url)
    run_cli(config, "init")
    run_cli(config, "terminal", "add", "S007-T1")
    settings = settings_for(url, raw_program(), signing_key_file=str(tmp_path / "pos-hub.key"))
    ctx = HubContext.from_settings(settings)
    try:
        with ctx.db.write() as conn:
            issue(conn, ctx.db, ctx.signing_key(), "S007-T1", public_key(new_private_key()))
        done = run_cli(config, "terminal", "revoke", "S007-T1")
        assert "revoked 1 terminal credential(s) of S007-T1 and 1 signing key" in done.stdout
        from hub.tables import terminal_keys

        with ctx.db.read() as conn:
            assert conn.execute(select(terminal_keys.c.revoked_at)).scalar() is not None
    finally:
        ctx.close()
