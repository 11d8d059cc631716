"""What the hub sends the terminal, applied to the local store: member snapshots and
profiles, program versions, reward stock, terminal key certificates and revocations
(`pos_agent.keys`), members erased at HQ (`_apply_erase`), with the pull cursor, in one
transaction per page.

    >>> apply_pull_page(store, body["changes"], body["cursor"])
    >>> pull_cursor(store), record_sync(store, ok=True)

Change shapes are ARCHITECTURE.md's "Sync wire protocol" (`GET /v1/sync/pull`). A member
snapshot replaces the previous one; what the terminal shows becomes that snapshot plus
this terminal's own events whose ids it does not list (`ledger.build_state`), and the
member's balance row is rewritten to match.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime

import orjson

from loyalty.clock import HybridClock, format_hlc, parse_hlc
from loyalty.events import canonical_json
from loyalty.ids import is_valid_card_number
from loyalty.program import program_from_dict
from pos_agent.db import transaction
from pos_agent.exceptions import StoreError
from pos_agent.keys import apply_key_change
from pos_agent.ledger import build_state, write_balance
from pos_agent.staff import apply_staff_change
from pos_agent.store import Store


def pull_cursor(store: Store) -> int:
    return store.conn.execute("SELECT pull_cursor FROM sync_state").fetchone()[0]


def apply_pull_page(store: Store, changes: list[dict], cursor: int,
                    now: datetime | None = None) -> int:
    """Apply one page of pull changes and save `cursor`, atomically; returns how many
    changes were applied. Unknown change types are skipped (a newer hub)."""
    now_text = (now or datetime.now(UTC)).isoformat()
    applied = 0
    latest_stamp = ""
    try:
        with transaction(store.db) as conn:
            for change in changes:
                kind = change.get("type")
                if kind == "member":
                    _apply_member(conn, change, now_text, store.settings.terminal.region)
                    # Fixed-width stamps: string order is clock order.
                    latest_stamp = max(latest_stamp, (change.get("snapshot") or {}).get(
                        "last_hlc") or "")
                elif kind == "program":
                    _apply_program(conn, change, now_text)
                elif kind == "staff":
                    apply_staff_change(conn, change, now_text)
                elif kind == "terminal_key":  # a till's certificate, or its revocation
                    apply_key_change(conn, change, now_text)
                elif kind == "product":  # the catalogue (issue 17): pos_agent.catalogue
                    from pos_agent.catalogue import apply_product_change
                    apply_product_change(conn, change, now_text)
                elif kind == "erase":  # a member erased at HQ (issue 18): hub.privacy
                    _apply_erase(conn, change)
                elif kind == "stock":
                    conn.execute(
                        "INSERT INTO reward_stock (reward_id, units_left, change_seq, updated_at) "
                        "VALUES (?, ?, ?, ?) ON CONFLICT (reward_id) DO UPDATE SET "
                        "units_left = excluded.units_left, change_seq = excluded.change_seq, "
                        "updated_at = excluded.updated_at",
                        (change["reward_id"], int(change["left"]), change.get("change_seq"),
                         now_text),
                    )
                else:
                    continue
                applied += 1
            _observe(conn, latest_stamp)
            conn.execute("UPDATE sync_state SET pull_cursor = ?, last_pull_at = ?",
                         (int(cursor), now_text))
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"the hub sent a change this terminal cannot read: {exc!r}") from exc
    return applied


def _apply_member(conn: sqlite3.Connection, change: dict, now_text: str,
                  region: str = "") -> None:
    from loyalty.contact import normalise_phone_or_keep
    from pos_agent.members import index_member_name

    member_id = change["member_id"]
    profile = change.get("profile") or {}
    # Read with this store's region, as at enrolment: a number the hub holds in another
    # form (an older hub, an online sign-up) is still found by what the cashier types.
    phone = normalise_phone_or_keep(profile.get("phone"), region)
    conn.execute(
        "INSERT INTO members (member_id, name, phone, email, birthday, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
        "name = excluded.name, phone = excluded.phone, email = excluded.email, "
        "birthday = excluded.birthday, updated_at = excluded.updated_at",
        (member_id, profile.get("name") or "", phone, profile.get("email"),
         profile.get("birthday"), now_text),
    )
    if "consent_email" in profile:  # the member's own choice (their page, the shop)
        conn.execute("UPDATE members SET consent_email = ?, consent_sms = ? "
                     "WHERE member_id = ?", (int(bool(profile["consent_email"])),
                                             int(bool(profile.get("consent_sms"))),
                                             member_id))
    index_member_name(conn, member_id, profile.get("name") or "")
    for card in profile.get("card_numbers") or ():
        if is_valid_card_number(card):
            # The hub is the authority on which member a card belongs to.
            conn.execute(
                "INSERT INTO cards (card_number, member_id, source, added_at) "
                "VALUES (?, ?, 'hub', ?) ON CONFLICT (card_number) DO UPDATE SET "
                "member_id = excluded.member_id",
                (card, member_id, now_text),
            )
    snapshot = change.get("snapshot")
    if snapshot is not None:
        conn.execute(
            "INSERT INTO hub_snapshots (member_id, state, hub_seq, change_seq, received_at) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
            "state = excluded.state, hub_seq = excluded.hub_seq, "
            "change_seq = excluded.change_seq, received_at = excluded.received_at",
            (member_id, orjson.dumps(snapshot).decode(), change.get("hub_seq"),
             change.get("change_seq"), now_text),
        )
        # The snapshot just written, as a dict: no need to read it back and decode it.
        write_balance(conn, build_state(conn, member_id, snapshot), now_text)


def _apply_erase(conn: sqlite3.Connection, change: dict) -> None:
    """Pseudonymise this terminal's copy of an erased member: the profile (name, phone,
    e-mail, birthday, consents) and the personal data of the events the hub erased, blanked
    exactly as the hub did (`loyalty.erasure`), each keeping its stored content hash (the
    chain link). Only the events the hub names: one it does not hold yet keeps its
    content, so the hub can still check the chain it pushes."""
    from loyalty.erasure import erase_event
    from pos_agent.ledger import event_from_row
    from pos_agent.members import index_member_name

    member_id, name = change["member_id"], str(change["pseudonym"])
    if conn.execute(
            "UPDATE members SET name = ?, phone = NULL, email = NULL, birthday = NULL, "
            "consent_email = 0, consent_sms = 0 WHERE member_id = ?",
            (name, member_id)).rowcount:
        index_member_name(conn, member_id, name)
    # Receipts keep their renderings for reprints, with the name printed on them: a job
    # without one is rendered again from the receipt, now with the pseudonym.
    conn.execute(
        "UPDATE print_jobs SET payload = NULL, text_preview = NULL WHERE receipt_no IN "
        "(SELECT receipt_no FROM receipts WHERE member_id = ?)", (member_id,))
    ids = [str(i) for i in change.get("event_ids") or ()]
    if not ids:
        return
    marks = ", ".join("?" * len(ids))
    rows = conn.execute(
        "SELECT event_id, origin, origin_seq, origin_epoch, member_id, kind, points, stamps, "
        "amount, currency, program_version, prev_hash, ref, occurred_at, hlc, data, "
        f"event_key FROM events WHERE member_id = ? AND event_id IN ({marks})",
        (member_id, *ids)).fetchall()
    for row in rows:
        erased = erase_event(event_from_row(row), str(change["erased_at"]))
        if erased is not None:
            conn.execute("UPDATE events SET data = ? WHERE event_key = ?",
                         (canonical_json(erased.data), row[16]))


def _observe(conn: sqlite3.Connection, stamp: str) -> None:
    """Move the terminal's clock past a stamp the hub has seen, so our next events sort
    after everything the snapshot holds."""
    if not stamp:
        return
    current = conn.execute("SELECT hlc FROM identity").fetchone()
    if current is None:
        return
    clock = HybridClock(*parse_hlc(current[0])) if current[0] else HybridClock()
    clock.observe(stamp)
    conn.execute("UPDATE identity SET hlc = ?", (format_hlc(clock.wall_ms, clock.counter),))


def _apply_program(conn: sqlite3.Connection, change: dict, now_text: str) -> None:
    program = program_from_dict(change["program"])  # refuse a program we cannot run
    conn.execute("UPDATE programs SET active = 0 WHERE source = 'hub'")
    conn.execute(
        "INSERT INTO programs (version, source, content, active, received_at) "
        "VALUES (?, 'hub', ?, 1, ?) ON CONFLICT (version, source) DO UPDATE SET active = 1, "
        "received_at = excluded.received_at",
        (change.get("version") or program.version, json.dumps(change["program"], default=str),
         now_text),
    )


def record_sync(store: Store, *, ok: bool, error: str | None = None,
                flags: list | None = None, now: datetime | None = None) -> None:
    """Remember how the last sync went (the manager's screen and `pos` show it)."""
    now_text = (now or datetime.now(UTC)).isoformat()
    if ok:
        store.db.execute(
            "UPDATE sync_state SET last_success_at = ?, last_push_at = ?, last_error = NULL, "
            "flags = ?", (now_text, now_text, json.dumps(flags or [])),
        )
    else:
        store.db.execute(
            "UPDATE sync_state SET last_error = ?, last_error_at = ?", (error, now_text)
        )


def sync_state(store: Store) -> dict:
    return next(store.db.query("SELECT * FROM sync_state"))
