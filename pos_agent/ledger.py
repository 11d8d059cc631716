"""Recording events: the one place the terminal seals drafts and writes its ledger.

    >>> with record(store, at) as rec:                  # BEGIN IMMEDIATE ... COMMIT
    ...     receipt_no = rec.next_receipt_no()
    ...     state = rec.state(member_id)                # snapshot + own events, read now
    ...     for draft in earn_for_sale(program, state, sale, at, receipt_no=receipt_no).drafts:
    ...         rec.append(draft)                       # sealed, inserted, applied to state
    ...     rec.add_receipt(receipt_no, "sale", member_id=member_id, total=sale.total)

Everything inside one `record` block is one SQLite transaction (`pos_agent.db.transaction`):
the events (numbered with the next gap-free `origin_seq` of this origin and epoch, chained
by `prev_hash`, stamped by the persisted hybrid logical clock), the receipt and its print
job, the identity row (serials and clock) and the balances of the members touched. An
exception anywhere rolls all of it back. Every operation reads the identity, the chain head
and the members' states afresh under the write lock, so what another process wrote (the
app, a `pos` command, the sync agent) is always seen.

Also here, for the sync agent: `pending_events`, `mark_acknowledged`,
`unacknowledge_from`, `high_seq`, `queued_count`, and `verify_ledger` (chain and balances).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import orjson

from loyalty.clock import HybridClock, format_hlc, parse_hlc
from loyalty.erasure import erasure_problem
from loyalty.errors import LoyaltyError
from loyalty.events import (
    GENESIS,
    Event,
    EventDraft,
    canonical_json,
    chain_link,
    format_instant,
    seal,
    verify_chain,
)
from loyalty.fold import MemberState, apply
from pos_agent.db import joined, transaction
from pos_agent.exceptions import CorruptRow, MemberNotFound, NotInitialised, StoreError
from pos_agent.identity import Identity
from pos_agent.staff import has_staff

if TYPE_CHECKING:
    from pos_agent.store import Store

_EVENT_COLUMNS = (
    "event_id, origin, origin_seq, origin_epoch, member_id, kind, points, stamps, amount, "
    "currency, program_version, prev_hash, ref, occurred_at, hlc, data"
)


# events.event_key packs (origin_epoch, origin_seq) into the rowid (migration 4): the
# table holds this terminal's own events, so this orders and identifies them.
_SEQ_BITS = 32
SEQ_MAX = (1 << _SEQ_BITS) - 1


def event_key(epoch: int, seq: int) -> int:
    """The `events.event_key` of an event of this terminal."""
    return (epoch << _SEQ_BITS) | seq


def _after(epoch: int, seq: int) -> tuple[int, int]:
    # (low, high] bounds of the keys of `epoch`'s events after `seq`.
    return event_key(epoch, seq), event_key(epoch, SEQ_MAX)


def receipt_prefix(origin: str, epoch: int) -> str:
    """What a receipt number of `epoch` starts with: `S001-T1-` (epoch 1; the number is
    `S001-T1-000042`), from epoch 2 on `S001-T1-E2-`."""
    return f"{origin}-E{epoch}-" if epoch > 1 else f"{origin}-"


_INSERT_EVENT = (
    f"INSERT INTO events (event_key, {_EVENT_COLUMNS}, content_hash, approved_offline) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def event_from_row(row: sqlite3.Row | tuple | dict) -> Event:
    """An Event from an `events` row (selected with `_EVENT_COLUMNS` order, or a dict);
    CorruptRow, naming the event, when the row does not decode."""
    try:
        event = _decode_event(row)
    except (ValueError, TypeError, KeyError, IndexError, LoyaltyError) as exc:
        raise CorruptRow(f"event {_row_name(row)} in the terminal database does not decode "
                         f"({undecodable(exc)}): run `pos check`") from exc
    if not isinstance(event.data, dict) or not isinstance(event.stamps, dict):
        raise CorruptRow(f"event {_row_name(row)} in the terminal database does not decode "
                         "(its data or stamps are not a JSON object): run `pos check`")
    return event


def _row_name(row: sqlite3.Row | tuple | dict) -> str:
    try:
        return str(row["event_id"] if isinstance(row, dict) else row[0])
    except (KeyError, IndexError, TypeError):
        return "?"


def undecodable(exc: BaseException) -> str:
    """Why a stored value does not decode, in a few words."""
    if type(exc).__name__ == "JSONDecodeError":
        return "invalid JSON"
    if isinstance(exc, KeyError):
        return f"{exc.args[0]!r} is missing"
    return str(exc)[:120] or type(exc).__name__


def _decode_event(row: sqlite3.Row | tuple | dict) -> Event:
    if isinstance(row, dict):
        raw = dict(row)
        raw["stamps"] = orjson.loads(raw["stamps"])
        raw["data"] = orjson.loads(raw["data"])
        return Event.from_dict(raw)
    (event_id, origin, seq, epoch, member_id, kind, points, stamps, amount, currency,
     version, prev_hash, ref, occurred_at, hlc, data) = row[:16]
    return Event(event_id, origin, seq, epoch, member_id, kind, points, orjson.loads(stamps),
                 amount, currency, version, prev_hash, ref, occurred_at, hlc, orjson.loads(data))


def own_events(conn: sqlite3.Connection, member_id: str) -> list[Event]:
    """This terminal's events of one member, in the fold's sort order."""
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE member_id = ?", (member_id,)
    ).fetchall()
    return sorted((event_from_row(r) for r in rows), key=lambda e: e.sort_key)


def build_state(
    conn: sqlite3.Connection, member_id: str, snapshot: dict | None = None
) -> MemberState:
    """What the terminal shows for a member: the hub snapshot (read from the database, or
    `snapshot` when the caller has just received it) plus this terminal's own events that
    the snapshot does not include yet, applied on top in fold order. (The terminal cannot
    refold: it holds only its own events, the snapshot stands for everyone else's.)"""
    if snapshot is None:
        row = conn.execute(
            "SELECT state FROM hub_snapshots WHERE member_id = ?", (member_id,)
        ).fetchone()
        try:
            snapshot = orjson.loads(row[0]) if row else None
        except orjson.JSONDecodeError as exc:
            raise _corrupt_snapshot(member_id, exc) from exc
    try:
        state = MemberState.from_dict(snapshot) if snapshot else MemberState(member_id)
    except (ValueError, TypeError, KeyError, AttributeError, LoyaltyError) as exc:
        raise _corrupt_snapshot(member_id, exc) from exc
    held = state.event_ids  # after a sync: all of them, so nothing is decoded
    rows = conn.execute(
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE member_id = ?", (member_id,)
    ).fetchall()
    for event in sorted((event_from_row(r) for r in rows if r[0] not in held),
                        key=lambda e: e.sort_key):
        apply(state, event)
    return state


def _corrupt_snapshot(member_id: str, exc: BaseException) -> CorruptRow:
    return CorruptRow(f"the hub snapshot of member {member_id} in the terminal database does "
                      f"not decode ({undecodable(exc)}): run `pos check`")


def write_balance(conn: sqlite3.Connection, state: MemberState, now_text: str) -> None:
    """Write a member's balance row: the fold of the ledger, kept so readers (reports,
    `pos check`) need not fold."""
    conn.execute(
        "INSERT INTO member_balances (member_id, balance, debt, stamps, updated_at) "
        "VALUES (?, ?, ?, ?, ?) ON CONFLICT (member_id) DO UPDATE SET "
        "balance = excluded.balance, debt = excluded.debt, stamps = excluded.stamps, "
        "updated_at = excluded.updated_at",
        (state.member_id, state.balance, state.debt,
         canonical_json({k: v for k, v in state.stamps.items() if v}), now_text),
    )


def _read_identity(conn: sqlite3.Connection) -> Identity:
    row = conn.execute(
        "SELECT origin, store, terminal, epoch, created_at, epoch_started_at, card_serial, "
        "receipt_serial, hlc, hub_url, hub_token, qr_key, card_issuer FROM identity "
        "WHERE id = 1"
    ).fetchone()
    if row is None:
        raise NotInitialised(
            "this terminal has no identity yet: run `pos init --store S001 --terminal T1`"
        )
    return Identity(*row)


def _recording_staff(conn: sqlite3.Connection, staff_id: str | None) -> str | None:
    # Every event names the person who made it; only a till without any staff records
    # for nobody (pos_agent.staff, "A terminal without any staff").
    if staff_id is None:
        if has_staff(conn):
            raise StoreError("nobody is logged in on this till: log in with your staff "
                             "number and PIN (the app's login, or `--staff ID`)")
        return None
    if not conn.execute("SELECT 1 FROM staff WHERE staff_id = ? AND active = 1",
                        (staff_id,)).fetchone():
        raise StoreError(f"staff member {staff_id} is not active on this till any more: log "
                         "in again")
    return staff_id


class Recorder:
    """Writes one operation inside the open transaction `record` made.

    `identity` is the terminal's identity as this operation found it; the serials and the
    clock it moves are `card_serial`, `receipt_serial` and `clock`, written back by
    `finish`."""

    def __init__(self, store: Store, conn: sqlite3.Connection, at: datetime) -> None:
        if at.tzinfo is None:
            raise StoreError("operation instants must be time-zone aware")
        self.store = store
        self.conn = conn
        self.at = at
        self.at_text = format_instant(at)
        self.wall_ms = int(at.timestamp() * 1000)
        # Read under the write lock: nobody else can move them until the commit.
        self.identity = identity = _read_identity(conn)
        self.origin, self.epoch = identity.origin, identity.epoch
        self.program = store.active_program(conn)
        head = conn.execute(
            "SELECT origin_seq, content_hash FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? ORDER BY event_key DESC LIMIT 1",
            (*_after(identity.epoch, 0), identity.origin),
        ).fetchone()
        self.seq, self.prev_hash = head if head else (0, GENESIS)
        self.card_serial = identity.card_serial
        self.receipt_serial = identity.receipt_serial
        # The clock starts from the last stamp this terminal wrote (or observed from the
        # hub), so its stamps never go backwards, even if the wall clock does.
        self.clock = HybridClock(*parse_hlc(identity.hlc)) if identity.hlc else HybridClock()
        self.events: list[Event] = []
        self.touched: dict[str, MemberState] = {}
        self.staff_id = _recording_staff(conn, store.staff_id)

    # -- numbers ---------------------------------------------------------------------
    def next_receipt_no(self) -> str:
        """`S001-T1-000042`; from epoch 2 on `S001-T1-E2-000042`, so a restored database
        never prints a number it already printed before the restore. Serials go on
        across epochs."""
        self.receipt_serial += 1
        return f"{receipt_prefix(self.origin, self.epoch)}{self.receipt_serial:06d}"

    def next_card_serial(self) -> int:
        self.card_serial += 1
        return self.card_serial

    # -- members -----------------------------------------------------------------------
    def state(self, member_id: str) -> MemberState:
        """The member's current state; changes made by `append` are applied to it."""
        if member_id not in self.touched:
            self.touched[member_id] = build_state(self.conn, member_id)
        return self.touched[member_id]

    def birthday(self, member_id: str) -> date | None:
        """The member's birthday; MemberNotFound if the member is not on this terminal."""
        row = self.conn.execute(
            "SELECT birthday FROM members WHERE member_id = ?", (member_id,)
        ).fetchone()
        if row is None:
            raise MemberNotFound(f"no member {member_id} on this terminal")
        return date.fromisoformat(row[0]) if row[0] else None

    # -- events ------------------------------------------------------------------------
    def append(self, draft: EventDraft, *, approved_offline: bool = False) -> Event:
        """Seal `draft` as the next event of this origin, insert it, apply it; it names
        the member of staff logged in (`data.staff_id`, pos_agent.staff)."""
        if self.staff_id is not None and "staff_id" not in draft.data:
            draft = replace(draft, data={**draft.data, "staff_id": self.staff_id})
        state = self.state(draft.member_id)
        event = seal(
            draft,
            origin=self.origin,
            origin_seq=self.seq + 1,
            origin_epoch=self.epoch,
            prev_hash=self.prev_hash,
            occurred_at=self.at_text,
            hlc=self.clock.now(self.wall_ms),
            program_version=self.program.version,
        )
        content_hash = event.content_hash()
        self.conn.execute(
            _INSERT_EVENT,
            (event_key(event.origin_epoch, event.origin_seq),
             event.event_id, event.origin, event.origin_seq, event.origin_epoch,
             event.member_id, event.kind, event.points, canonical_json(event.stamps),
             event.amount, event.currency, event.program_version, event.prev_hash, event.ref,
             event.occurred_at, event.hlc, canonical_json(event.data), content_hash,
             int(approved_offline)),
        )
        self.seq, self.prev_hash = event.origin_seq, content_hash
        apply(state, event)
        self.events.append(event)
        return event

    # -- receipts ----------------------------------------------------------------------
    def add_receipt(
        self,
        receipt_no: str,
        kind: str,
        *,
        member_id: str | None = None,
        total: int = 0,
        lines: list | None = None,
        points_earned: int = 0,
        points_spent: int = 0,
        points_reversed: int = 0,
        details: dict | None = None,
        reverses: str | None = None,
        approved_offline: bool = False,
        print_job: bool = True,
    ) -> None:
        """Insert the receipt row and, unless `print_job=False` (a receipt never to print),
        its print job: in the same transaction, so a committed receipt is always in the
        print queue, whatever happens before it prints. The job's bytes are rendered when
        it is first sent (`pos_agent.printing`)."""
        balance_after = self.touched[member_id].balance if member_id in self.touched else None
        if self.staff_id is not None:  # a receipt without events (no member) names them too
            details = {**(details or {}), "staff_id": self.staff_id}
        self.conn.execute(
            "INSERT INTO receipts (receipt_no, kind, member_id, total, currency, lines, "
            "points_earned, points_spent, points_reversed, balance_after, details, reverses, "
            "approved_offline, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (receipt_no, kind, member_id, total, self.program.currency,
             canonical_json(lines or []), points_earned, points_spent, points_reversed,
             balance_after, canonical_json(details or {}), reverses, int(approved_offline),
             self.at_text),
        )
        if print_job:
            self.conn.execute(
                "INSERT INTO print_jobs (receipt_no, kind, created_at) VALUES (?, ?, ?)",
                (receipt_no, kind, self.at_text),
            )

    # -- end -------------------------------------------------------------------------
    def finish(self) -> None:
        """Write the identity's serials and clock, and the balances of the members whose
        events this operation appended."""
        self.conn.execute(
            "UPDATE identity SET card_serial = ?, receipt_serial = ?, hlc = ? WHERE id = 1",
            (self.card_serial, self.receipt_serial,
             format_hlc(self.clock.wall_ms, self.clock.counter)
             if self.clock.wall_ms or self.clock.counter else self.identity.hlc),
        )
        changed = {e.member_id for e in self.events}
        for member_id, state in self.touched.items():
            if member_id in changed:
                write_balance(self.conn, state, self.at_text)


@contextmanager
def record(store: Store, at: datetime | None = None) -> Iterator[Recorder]:
    """One operation = one transaction; see the module docstring."""
    with transaction(store.db) as conn:
        rec = Recorder(store, conn, at or datetime.now(UTC))
        yield rec
        rec.finish()


# -- for the sync agent -------------------------------------------------------------------
#
# The push queue is the tail of each stream (origin, epoch) after its acknowledged
# high-water mark (`acked_marks.acked_seq`: every event up to it is acknowledged), read
# along the events' primary key. `acked_hub_seq` stays the truth per event; the mark only
# says where the unacknowledged tail can start, so a sale's commit does not maintain a
# separate index of unacknowledged events.


def unacked_streams(conn: sqlite3.Connection) -> list[tuple[str, int, int]]:
    """(origin, origin_epoch, acked_seq) of every stream that can hold unacknowledged
    events, oldest epoch first. Every epoch of this terminal up to the current one counts,
    marked or not (an unmarked stream starts at 0)."""
    marks = {(origin, epoch): seq for origin, epoch, seq in conn.execute(
        "SELECT origin, origin_epoch, acked_seq FROM acked_marks")}
    head = conn.execute("SELECT origin, epoch FROM identity WHERE id = 1").fetchone()
    if head is not None:
        for epoch in range(1, head[1] + 1):
            marks.setdefault((head[0], epoch), 0)
    return sorted(((o, e, s) for (o, e), s in marks.items()), key=lambda m: (m[1], m[0]))


def pending_events(conn: sqlite3.Connection, limit: int, epoch: int | None = None) -> list[Event]:
    """Unacknowledged events in (epoch, origin_seq) order, at most `limit`, all of one
    epoch: the oldest that has any, or `epoch`."""
    for origin, stream_epoch, acked in unacked_streams(conn):
        if epoch is not None and stream_epoch != epoch:
            continue
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? AND acked_hub_seq IS NULL ORDER BY event_key LIMIT ?",
            (*_after(stream_epoch, acked), origin, limit),
        ).fetchall()
        if rows:
            return [event_from_row(r) for r in rows]
    return []


def queued_count(conn: sqlite3.Connection) -> int:
    return sum(
        conn.execute(
            "SELECT COUNT(*) FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? AND acked_hub_seq IS NULL",
            (*_after(epoch, acked), origin),
        ).fetchone()[0]
        for origin, epoch, acked in unacked_streams(conn)
    )


def high_seq(conn: sqlite3.Connection, epoch: int) -> int:
    """The highest origin_seq recorded in `epoch` (0 if none)."""
    row = conn.execute(
        "SELECT origin_seq FROM events WHERE event_key > ? AND event_key <= ? "
        "ORDER BY event_key DESC LIMIT 1", _after(epoch, 0)
    ).fetchone()
    return row[0] if row else 0


def mark_acknowledged(conn: sqlite3.Connection, results: list[dict]) -> int:
    """Store the hub_seq the hub gave each event (push/authorize answer); returns how many
    rows changed. Joins an open transaction, else commits on its own.

    The hub names each event by event_id and origin_seq (not its epoch): the event is
    looked up by seq in each epoch of this terminal, and must have that event_id. A result
    without origin_seq is looked up by event_id alone, which reads the whole table."""
    with joined(conn):
        before = conn.total_changes
        epochs = [epoch for _, epoch, _ in unacked_streams(conn)]
        by_seq, by_id = [], []
        for result in results:
            seq = result.get("origin_seq")
            if isinstance(seq, int) and not isinstance(seq, bool) and 0 < seq <= SEQ_MAX:
                by_seq.append((int(result["hub_seq"]), *(event_key(e, seq) for e in epochs),
                               result["event_id"]))
            else:
                by_id.append((int(result["hub_seq"]), result["event_id"]))
        if by_seq and epochs:
            conn.executemany(
                "UPDATE events SET acked_hub_seq = ? WHERE event_key IN "
                f"({', '.join('?' * len(epochs))}) AND event_id = ? AND acked_hub_seq IS NULL",
                by_seq,
            )
        if by_id:
            conn.executemany(
                "UPDATE events SET acked_hub_seq = ? WHERE event_id = ? "
                "AND acked_hub_seq IS NULL",
                by_id,
            )
        changed = conn.total_changes - before
        if changed:
            _advance_marks(conn)
        return changed


def _advance_marks(conn: sqlite3.Connection) -> None:
    # Each mark moves up to just before its stream's first unacknowledged event: a walk
    # over the events acknowledged since, along the primary key.
    for origin, epoch, acked in unacked_streams(conn):
        first = conn.execute(
            "SELECT origin_seq FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? AND acked_hub_seq IS NULL ORDER BY event_key LIMIT 1",
            (*_after(epoch, acked), origin),
        ).fetchone()
        mark = first[0] - 1 if first is not None else high_seq(conn, epoch)
        if mark != acked:
            conn.execute(
                "INSERT INTO acked_marks (origin, origin_epoch, acked_seq) VALUES (?, ?, ?) "
                "ON CONFLICT (origin, origin_epoch) DO UPDATE SET acked_seq = excluded.acked_seq",
                (origin, epoch, mark),
            )


def unacknowledge_from(conn: sqlite3.Connection, epoch: int, origin_seq: int) -> int:
    """Mark events from `origin_seq` on as not acknowledged (the hub lost them)."""
    with joined(conn):
        cur = conn.execute(
            "UPDATE events SET acked_hub_seq = NULL WHERE event_key > ? AND event_key <= ? "
            "AND acked_hub_seq IS NOT NULL",
            _after(epoch, max(origin_seq - 1, 0)),
        )
        conn.execute(
            "UPDATE acked_marks SET acked_seq = MIN(acked_seq, ?) WHERE origin_epoch = ?",
            (origin_seq - 1, epoch),
        )
    return cur.rowcount


def verify_ledger(conn: sqlite3.Connection) -> list[str]:
    """Problems found: rows that do not decode (events, hub snapshots, receipts,
    programs), seq gaps, broken chains, stored hashes, repeated event ids, a push mark
    past an unacknowledged event, or cached balances that do not match the ledger. An
    empty list means the ledger is sound. A damaged row is reported, never raised: this
    is what a manager runs when something is wrong."""
    problems: list[str] = []
    streams = conn.execute(
        "SELECT DISTINCT origin, origin_epoch FROM events ORDER BY origin, origin_epoch"
    ).fetchall()
    for origin, epoch in streams:
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS}, content_hash FROM events WHERE event_key > ? AND "
            "event_key <= ? AND origin = ? ORDER BY event_key",
            (*_after(epoch, 0), origin),
        ).fetchall()
        events: list[Event] = []
        for row in rows:
            try:
                events.append(event_from_row(row))
            except CorruptRow as exc:
                problems.append(f"{origin} epoch {epoch} seq {row[2]}: {exc}")
        seqs = [row[2] for row in rows]
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"{origin} epoch {epoch}: origin_seq has gaps")
        if len(events) < len(rows):
            problems.append(f"{origin} epoch {epoch}: prev_hash chain not checked (an event "
                            "does not decode)")
            continue
        if not verify_chain(events, GENESIS):
            problems.append(f"{origin} epoch {epoch}: prev_hash chain is broken")
        for event, row in zip(events, rows, strict=True):
            # an erased event (loyalty.erasure) keeps the hash of its content before
            if chain_link(event) != row[16]:
                problems.append(f"event {event.event_id}: stored content hash differs")
            if (erased := erasure_problem(event)) is not None:
                problems.append(erased)
    problems += _undecodable_rows(conn)
    # No index keeps event ids unique (migration 4): they are UUIDv7 made here, and a
    # repeat would be refused by the hub; this says so before.
    for (event_id,) in conn.execute(
        "SELECT event_id FROM events GROUP BY event_id HAVING COUNT(*) > 1"
    ).fetchall():
        problems.append(f"event id {event_id} is used by more than one event")
    for origin, epoch, acked in conn.execute(
        "SELECT origin, origin_epoch, acked_seq FROM acked_marks"
    ).fetchall():
        if conn.execute(
            "SELECT 1 FROM events WHERE event_key > ? AND event_key <= ? AND origin = ? "
            "AND acked_hub_seq IS NULL LIMIT 1",
            (event_key(epoch, 0), event_key(epoch, acked), origin),
        ).fetchone():
            problems.append(f"{origin} epoch {epoch}: acknowledged mark {acked} is past an "
                            "unacknowledged event")
    for member_id, balance, debt in conn.execute(
        "SELECT member_id, balance, debt FROM member_balances"
    ).fetchall():
        try:
            state = build_state(conn, member_id)
        except CorruptRow as exc:
            problems.append(f"member {member_id}: balance not checked: {exc}")
            continue
        if (state.balance, state.debt) != (balance, debt):
            problems.append(
                f"member {member_id}: cached balance {balance} but the ledger says {state.balance}"
            )
    return problems


def _undecodable_rows(conn: sqlite3.Connection) -> list[str]:
    """Hub snapshots, receipts and programs whose JSON or fields do not decode."""
    from loyalty.program import program_from_dict

    problems = []
    for member_id, text in conn.execute("SELECT member_id, state FROM hub_snapshots"):
        try:
            MemberState.from_dict(orjson.loads(text))
        except (ValueError, TypeError, KeyError, AttributeError, LoyaltyError) as exc:
            problems.append(f"the hub snapshot of member {member_id} does not decode "
                            f"({undecodable(exc)}): `pos sync` fetches it again once the hub "
                            "changes it; tell HQ")
    for receipt_no, lines, details in conn.execute(
            "SELECT receipt_no, lines, details FROM receipts"):
        for column, text, kind in (("lines", lines, list), ("details", details, dict)):
            try:
                value = orjson.loads(text)
            except orjson.JSONDecodeError as exc:
                value = exc
            if not isinstance(value, kind):
                why = undecodable(value) if isinstance(value, Exception) else \
                    f"not a JSON {'array' if kind is list else 'object'}"
                problems.append(f"receipt {receipt_no}: its {column} do not decode ({why}); "
                                "it cannot be printed or reversed")
    for version, source, content in conn.execute(
            "SELECT version, source, content FROM programs"):
        try:
            program_from_dict(orjson.loads(content))
        except (ValueError, TypeError, KeyError, AttributeError, LoyaltyError) as exc:
            problems.append(f"program {version} ({source}) does not decode "
                            f"({undecodable(exc)})")
    return problems
