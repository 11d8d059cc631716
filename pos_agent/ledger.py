"""Recording events: the one place the terminal seals drafts and writes its ledger.

    >>> with record(store, at) as rec:                  # BEGIN IMMEDIATE ... COMMIT
    ...     receipt_no = rec.next_receipt_no()
    ...     state = rec.state(member_id)                # snapshot + own events, cached
    ...     for draft in earn_for_sale(program, state, sale, at, receipt_no=receipt_no).drafts:
    ...         rec.append(draft)                       # sealed, inserted, applied to state
    ...     rec.add_receipt(receipt_no, "sale", member_id=member_id, total=sale.total)

Everything inside one `record` block is one SQLite transaction: the events (numbered with
the next gap-free `origin_seq` of this origin and epoch, chained by `prev_hash`, stamped
by the persisted hybrid logical clock), the receipt, the identity's serials and clock
when they must be written, and the cached balances of the members touched. An exception
anywhere rolls all of it back, and the in-process state cache forgets the members it
touched. The receipt's print job is made after the commit (`pos_agent.printing`).

Also here, for the sync agent: `pending_events`, `mark_acknowledged`,
`unacknowledge_from`, `high_seq`, `queued_count`, and `verify_ledger` (chain and caches).
"""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import orjson

from loyalty.clock import HybridClock, format_hlc, parse_hlc
from loyalty.events import (
    GENESIS,
    Event,
    EventDraft,
    canonical_bytes,
    canonical_json,
    format_instant,
    seal,
    verify_chain,
)
from loyalty.fold import MemberState, apply
from loyalty.program import Program
from pos_agent.db import joined
from pos_agent.exceptions import MemberNotFound, NotInitialised, StoreError
from pos_agent.identity import Identity

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


def dumps(value: Any) -> str:
    """`loyalty.events.canonical_json`, calling orjson directly: a sale encodes five
    values (the event's stamps and data, the receipt's lines and details, the balance's
    stamps) and the two wrappers were a third of each encoding's time."""
    try:
        return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError:  # what orjson refuses (ints past 64 bits): the slow, same encoder
        return canonical_json(value)


def receipt_prefix(origin: str, epoch: int) -> str:
    """What a receipt number of `epoch` starts with: `S001-T1-` (epoch 1; the number is
    `S001-T1-000042`), from epoch 2 on `S001-T1-E2-`."""
    return f"{origin}-E{epoch}-" if epoch > 1 else f"{origin}-"


# receipts.receipt_key packs (epoch, serial) like event_key (migration 8): the table
# holds this terminal's receipts, so it orders and identifies them.
receipt_key = event_key


def receipt_key_of(origin: str, receipt_no: str) -> int | None:
    """The `receipts.receipt_key` a receipt number of this terminal has, or None if the
    text is not one (another terminal's, mistyped). Only the exact number: `S001-T1-42`
    is not `S001-T1-000042`."""
    if not receipt_no.startswith(origin + "-"):
        return None
    rest = receipt_no[len(origin) + 1:]
    epoch = 1
    if rest.startswith("E"):
        epoch_text, _, rest = rest[1:].partition("-")
        if not (epoch_text.isdigit() and epoch_text.isascii()):
            return None
        epoch = int(epoch_text)
    if not (rest.isdigit() and rest.isascii()) or epoch < 1:
        return None
    serial = int(rest)
    if not 0 < serial <= SEQ_MAX or receipt_no != f"{receipt_prefix(origin, epoch)}{serial:06d}":
        return None
    return receipt_key(epoch, serial)


def _last_receipt_serial(conn: sqlite3.Connection, epoch: int) -> int:
    """The highest receipt serial of any epoch up to `epoch` (serials go on across
    epochs), read from the receipts' integer key: one index seek an epoch."""
    best = 0
    for e in range(1, epoch + 1):
        row = conn.execute(
            "SELECT MAX(receipt_key) FROM receipts WHERE receipt_key > ? AND receipt_key <= ?",
            _after(e, 0),
        ).fetchone()
        if row[0] is not None:
            best = max(best, row[0] & SEQ_MAX)
    return best


_INSERT_EVENT = (
    f"INSERT INTO events (event_key, {_EVENT_COLUMNS}, content_hash, approved_offline) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


# member_ledger (migration 9) holds a member's own events' keys and, after them at this
# key, the member's cached balance row.
BALANCE_KEY = (1 << 63) - 1

# The SQL condition for a member's own events: events has no index by member since
# migration 9, member_ledger holds the keys.
OF_MEMBER = (
    "event_key IN (SELECT event_key FROM member_ledger WHERE member_id = ? "
    f"AND event_key < {BALANCE_KEY})"
)
# Built once: the statement cache is keyed by the text, which a sale's f-string would
# format (and hash) again on every call.
_VERSION = f"SELECT version FROM member_ledger WHERE member_id = ? AND event_key = {BALANCE_KEY}"
_UPDATE_BALANCE = (
    "UPDATE member_ledger SET balance = ?, debt = ?, stamps = ?, version = ?, updated_at = ? "
    f"WHERE member_id = ? AND event_key = {BALANCE_KEY}"
)
_UPSERT_BALANCE = (
    "INSERT INTO member_ledger (member_id, event_key, balance, debt, stamps, version, "
    f"updated_at) VALUES (?, {BALANCE_KEY}, ?, ?, ?, ?, ?) "
    "ON CONFLICT (member_id, event_key) DO UPDATE SET "
    "balance = excluded.balance, debt = excluded.debt, stamps = excluded.stamps, "
    "version = excluded.version, updated_at = excluded.updated_at"
)


def event_from_row(row: sqlite3.Row | tuple | dict) -> Event:
    """An Event from an `events` row (selected with `_EVENT_COLUMNS` order, or a dict)."""
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
        f"SELECT {_EVENT_COLUMNS} FROM events WHERE {OF_MEMBER}", (member_id,)
    ).fetchall()
    return sorted((event_from_row(r) for r in rows), key=lambda e: e.sort_key)


def build_state(
    conn: sqlite3.Connection, member_id: str, snapshot: dict | None = None
) -> MemberState:
    """What the terminal shows for a member: the hub snapshot (read from the database, or
    `snapshot` when the caller has just received it) plus this terminal's own events that
    the snapshot does not include yet."""
    if snapshot is None:
        row = conn.execute(
            "SELECT state FROM hub_snapshots WHERE member_id = ?", (member_id,)
        ).fetchone()
        snapshot = orjson.loads(row[0]) if row else None
    if snapshot is None:
        state = MemberState(member_id)
        for event in own_events(conn, member_id):
            apply(state, event)
        return state
    state = MemberState.from_dict(snapshot)
    # Only decode the events the snapshot does not hold yet: after a sync that is none.
    held = state.event_ids
    rows = [
        row for row in conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE {OF_MEMBER}", (member_id,))
        if row[0] not in held
    ]
    for event in sorted((event_from_row(r) for r in rows), key=lambda e: e.sort_key):
        apply(state, event)
    return state


def state_version(conn: sqlite3.Connection, member_id: str) -> int:
    row = conn.execute(_VERSION, (member_id,)).fetchone()
    return row[0] if row else 0


def cached_state(store: Store, conn: sqlite3.Connection, member_id: str) -> MemberState:
    """The member's state, from the process cache when the database says it is current.

    `member_balances.version` moves on every write for that member (by any process) and
    when a hub snapshot arrives, so a cached state with the same version is exact; any
    other case rebuilds from the ledger. Rebuilding is the truth; the cache only saves
    folding a long history on every sale.
    """
    return _versioned_state(store, conn, member_id)[1]


def _versioned_state(
    store: Store, conn: sqlite3.Connection, member_id: str
) -> tuple[int, MemberState]:
    version = state_version(conn, member_id)
    hit = store.states.get(member_id)
    store.verified.add(member_id)
    if hit is not None and hit[0] == version and version:
        return hit
    state = build_state(conn, member_id)
    store.states[member_id] = (version, state)
    return version, state


def write_balance(
    conn: sqlite3.Connection, state: MemberState, now_text: str, version: int | None = None
) -> int:
    """Write the cached balance row of a member; returns its new version."""
    if version is None:
        version = state_version(conn, state.member_id) + 1
    write_balance_row(conn, state.member_id, state.balance, state.debt, state.stamps,
                      now_text, version)
    return version


def write_balance_row(
    conn: sqlite3.Connection | sqlite3.Cursor, member_id: str, balance: int, debt: int,
    stamps: dict[str, int], now_text: str, version: int, *, exists: bool = False,
) -> None:
    """Write a member's cached balance row; `exists` when the caller knows the row is
    there (a version above 0 was read under the write lock): a plain UPDATE is cheaper
    than the upsert."""
    stamps_text = dumps({k: v for k, v in stamps.items() if v})
    if exists:
        conn.execute(_UPDATE_BALANCE,
                     (balance, debt, stamps_text, version, now_text, member_id))
        return
    conn.execute(_UPSERT_BALANCE, (member_id, balance, debt, stamps_text, version, now_text))


class Recorder:
    """Writes one operation inside an open transaction (made by `record`).

    `identity` is the terminal's identity as this operation found it; the serials and the
    clock this operation moves are `card_serial`, `receipt_serial` and `clock`, and its
    origin and epoch are `origin` and `epoch`."""

    def __init__(self, store: Store, conn: sqlite3.Connection, at: datetime,
                 cursor: sqlite3.Cursor | None = None) -> None:
        if at.tzinfo is None:
            raise StoreError("operation instants must be time-zone aware")
        self.store = store
        self.conn = conn
        # The operation's own statements go through one cursor: conn.execute makes a new
        # cursor for every statement, and a sale runs six.
        self.cursor = cursor or conn.cursor()
        self.at = at
        self.at_text = format_instant(at)
        # What parse_instant(at_text) gives: the instant the fold applies an event at.
        self.at_utc = at.astimezone(UTC)
        self.wall_ms = int(at.timestamp() * 1000)
        # Under the write lock: if nothing was written by anyone since this connection's
        # last operation committed, what that operation left (identity, chain head,
        # program, member states) is still exact and need not be read again.
        cache = store.writer_cache
        self.data_version = self.cursor.execute("PRAGMA data_version").fetchone()[0]
        self.fresh = cache is not None and cache.token == (self.data_version, conn.total_changes)
        if self.fresh:
            # The cached identity's serials and clock are those its head read found; the
            # cache carries the current ones beside it.
            self._identity, self.program = cache.identity, cache.program
            self.seq, self.prev_hash = cache.seq, cache.prev_hash
            self.card_serial, self.receipt_serial = cache.card_serial, cache.receipt_serial
            self.clock = HybridClock(cache.clock_ms, cache.clock_counter)
        else:
            store.writer_cache = None
            store.verified.clear()
            store.birthdays.clear()
            self._read_head(store, conn)
        self.origin, self.epoch = self._identity.origin, self._identity.epoch
        self._start = (self.card_serial, self.receipt_serial, self.clock.wall_ms,
                       self.clock.counter)
        self.events: list[Event] = []
        # Receipt numbers taken and not yet inserted as a receipt row (see finish()), and
        # their keys.
        self.unreceipted: dict[str, int] = {}
        self.touched: dict[str, MemberState] = {}
        # member_balances.version read under this transaction's write lock, so finish()
        # can write version + 1 without reading it again.
        self.versions: dict[str, int] = {}

    def _read_head(self, store: Store, conn: sqlite3.Connection) -> None:
        row = conn.execute(
            "SELECT origin, store, terminal, epoch, created_at, epoch_started_at, card_serial, "
            "receipt_serial, hlc, hub_url, hub_token, qr_key, card_issuer FROM identity "
            "WHERE id = 1"
        ).fetchone()
        if row is None:
            raise NotInitialised(
                "this terminal has no identity yet: run `pos init --store S001 --terminal T1`"
            )
        self._identity = identity = Identity(*row)
        self.program = store.active_program(conn)
        head = conn.execute(
            "SELECT origin_seq, content_hash FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? ORDER BY event_key DESC LIMIT 1",
            (*_after(identity.epoch, 0), identity.origin),
        ).fetchone()
        self.seq, self.prev_hash = head if head else (0, GENESIS)
        # The identity row's receipt serial and clock are floors, not written by every
        # operation (one b-tree page less in each commit): the last receipt number and the
        # newest event's stamp say where they are now.
        self.card_serial = identity.card_serial
        self.receipt_serial = max(identity.receipt_serial,
                                  _last_receipt_serial(conn, identity.epoch))
        self.clock = HybridClock(*parse_hlc(identity.hlc)) if identity.hlc else HybridClock()
        newest = conn.execute("SELECT hlc FROM events ORDER BY event_key DESC LIMIT 1").fetchone()
        if newest:
            self.clock.observe(newest[0])

    @property
    def identity(self) -> Identity:
        """The identity row as this operation found it (built on demand: a sale only
        needs its origin and epoch)."""
        card_serial, receipt_serial, wall_ms, counter = self._start
        i = self._identity
        return Identity(i.origin, i.store, i.terminal, i.epoch, i.created_at,
                        i.epoch_started_at, card_serial, receipt_serial,
                        format_hlc(wall_ms, counter) if (wall_ms or counter) else "",
                        i.hub_url, i.hub_token, i.qr_key, i.card_issuer)

    # -- numbers ---------------------------------------------------------------------
    def next_receipt_no(self) -> str:
        """`S001-T1-000042`; from epoch 2 on `S001-T1-E2-000042`, so a restored database
        never prints a number it already printed before the restore."""
        self.receipt_serial += 1
        if self.receipt_serial > SEQ_MAX:  # the key holds 32 bits of serial
            raise StoreError("this terminal has used all 4,294,967,295 receipt numbers: "
                             "tell HQ")
        receipt_no = f"{receipt_prefix(self.origin, self.epoch)}{self.receipt_serial:06d}"
        self.unreceipted[receipt_no] = receipt_key(self.epoch, self.receipt_serial)
        return receipt_no

    def next_card_serial(self) -> int:
        self.card_serial += 1
        return self.card_serial

    # -- members -----------------------------------------------------------------------
    def state(self, member_id: str) -> MemberState:
        """The member's current state; changes made by `append` are applied to it."""
        if member_id not in self.touched:
            hit = self.store.states.get(member_id) if self.fresh else None
            if hit is not None and member_id in self.store.verified:
                version, state = hit
            else:
                version, state = _versioned_state(self.store, self.conn, member_id)
            self.touched[member_id] = state
            self.versions[member_id] = version
        return self.touched[member_id]

    def birthday(self, member_id: str) -> date | None:
        """The member's birthday; MemberNotFound if the member is not on this terminal.
        Kept per connection while nobody writes (a profile only changes by a write)."""
        birthdays = self.store.birthdays
        if member_id in birthdays:
            return birthdays[member_id]
        row = self.conn.execute(
            "SELECT birthday FROM members WHERE member_id = ?", (member_id,)
        ).fetchone()
        if row is None:
            raise MemberNotFound(f"no member {member_id} on this terminal")
        birthdays[member_id] = day = date.fromisoformat(row[0]) if row[0] else None
        return day

    # -- events ------------------------------------------------------------------------
    def append(self, draft: EventDraft, *, approved_offline: bool = False) -> Event:
        """Seal `draft` as the next event of this origin, insert it, apply it."""
        state = self.touched.get(draft.member_id) or self.state(draft.member_id)
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
        content_hash = _content_hash(event)
        self.cursor.execute(
            _INSERT_EVENT,
            (event_key(event.origin_epoch, event.origin_seq),
             event.event_id, event.origin, event.origin_seq, event.origin_epoch,
             event.member_id, event.kind, event.points, dumps(event.stamps), event.amount,
             event.currency, event.program_version, event.prev_hash, event.ref,
             event.occurred_at, event.hlc, dumps(event.data), content_hash,
             int(approved_offline)),
        )
        self.seq, self.prev_hash = event.origin_seq, content_hash
        apply(state, event, None if draft.occurred_at else self.at_utc)
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
        """Insert the receipt row; `print_job=False`: a receipt never to print.

        The receipt is "to print" from its commit on, with no print job row yet: the
        printing code gives it one after the commit (`pos_agent.printing.queue_receipts`,
        which finds it past its epoch's print mark), so the sale's transaction writes
        neither the job nor the queue's index."""
        balance_after = self.touched[member_id].balance if member_id in self.touched else None
        key = self.unreceipted.pop(receipt_no, None)
        if key is None and (key := receipt_key_of(self.origin, receipt_no)) is None:
            raise StoreError(f"{receipt_no} is not a receipt number of this terminal")
        self.cursor.execute(
            "INSERT INTO receipts (receipt_key, receipt_no, kind, member_id, total, currency, "
            "lines, points_earned, points_spent, points_reversed, balance_after, details, "
            "reverses, approved_offline, created_at, no_print) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (key, receipt_no, kind, member_id, total, self.program.currency,
             dumps(lines or []), points_earned, points_spent, points_reversed, balance_after,
             dumps(details or {}), reverses, int(approved_offline), self.at_text,
             0 if print_job else 1),
        )

    # -- end -------------------------------------------------------------------------
    def finish(self) -> dict[str, tuple[int, MemberState]]:
        """Write serials and clock when the ledger cannot tell them, and cached balances;
        return the new cache entries.

        The receipt serial is read back from the last receipt's key (`_read_head`), so it
        needs writing only when a number was taken without a receipt row. The clock is
        read back from the newest event."""
        if self.card_serial != self._start[0] or self.unreceipted:
            self.conn.execute(
                "UPDATE identity SET card_serial = ?, receipt_serial = ?, hlc = ? "
                "WHERE id = 1",
                # The clock started from the stored stamp and only moves forward.
                (self.card_serial, self.receipt_serial,
                 format_hlc(self.clock.wall_ms, self.clock.counter)),
            )
        entries = {}
        changed = {e.member_id for e in self.events}
        for member_id, state in self.touched.items():
            if member_id in changed:
                version = self.versions[member_id] + 1
                write_balance_row(self.cursor, member_id, state.balance, state.debt,
                                  state.stamps, self.at_text, version, exists=version > 1)
                entries[member_id] = (version, state)
        return entries


def _content_hash(event: Event) -> str:
    # Same bytes as Event.content_hash(), without dataclasses.asdict's deep copy: an
    # Event's __dict__ holds exactly its fields (tests check the two hashes agree).
    return hashlib.sha256(canonical_bytes(vars(event))).hexdigest()


class record:  # noqa: N801 - used as `with record(store, at) as rec:`, like a function
    """One operation = one transaction; see the module docstring.

    A class rather than a generator context manager: this wraps every sale, and the
    generator machinery (three nested ones before) was a measurable part of its time."""

    __slots__ = ("store", "at", "rec")

    def __init__(self, store: Store, at: datetime | None = None) -> None:
        self.store = store
        self.at = at or datetime.now(UTC)
        self.rec: Recorder | None = None

    def __enter__(self) -> Recorder:
        conn = self.store.db.conn
        if conn.in_transaction:
            raise StoreError("a terminal transaction is already open on this connection")
        # BEGIN IMMEDIATE takes the write lock up front, so two processes serialise
        # instead of failing half-way with SQLITE_BUSY on their first write.
        cursor = conn.cursor()
        cursor.execute("BEGIN IMMEDIATE")
        try:
            self.rec = Recorder(self.store, conn, self.at, cursor)
        except BaseException:
            self._abandon(conn)
            raise
        return self.rec

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: object) -> None:
        rec = self.rec
        assert rec is not None
        conn = rec.conn
        if exc_type is not None:
            self._abandon(conn)
            return
        try:
            entries = rec.finish()
            rec.cursor.execute("COMMIT")
        except BaseException:
            self._abandon(conn)
            raise
        store = self.store
        store.states.update(entries)
        store.verified.update(entries)
        # Our own commit does not move data_version on this connection.
        store.writer_cache = WriterCache(
            (rec.data_version, conn.total_changes), rec._identity, rec.program, rec.seq,
            rec.prev_hash, rec.card_serial, rec.receipt_serial, rec.clock.wall_ms,
            rec.clock.counter,
        )

    def _abandon(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        # States in the cache were mutated by events that are now rolled back.
        store = self.store
        store.writer_cache = None
        if self.rec is not None:
            for member_id in self.rec.touched:
                store.states.pop(member_id, None)
                store.verified.discard(member_id)


class WriterCache(NamedTuple):
    """What this connection's last operation left, exact while its token has not moved:
    `PRAGMA data_version` moves when another connection commits, `total_changes` when
    this one writes. A sale then reads no identity, program, chain head, member version
    or birthday again. `identity` is the row its last read found; the serials and clock
    moved since are the fields beside it."""

    token: tuple[int, int]
    identity: Identity
    program: Program
    seq: int
    prev_hash: str
    card_serial: int
    receipt_serial: int
    clock_ms: int
    clock_counter: int


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


def pending_events(
    conn: sqlite3.Connection, limit: int, epoch: int | None = None, after_seq: int = 0
) -> list[Event]:
    """Unacknowledged events in (epoch, origin_seq) order, at most `limit` (one epoch: the
    oldest that has any, or `epoch`), optionally only those after `after_seq` (the agent
    reads the next batch while the current one is on its way)."""
    return [event_from_row(r) for r in _pending_rows(conn, limit, epoch, after_seq)]


def pending_wire(
    conn: sqlite3.Connection, limit: int, epoch: int | None = None, after_seq: int = 0
) -> list[dict]:
    """`pending_events` as the dicts a push sends (`Event.to_dict()`), made straight from
    the rows: `stamps` and `data` are the stored JSON text, embedded as it is
    (`orjson.Fragment`), never parsed and encoded again. Building Event objects only to
    encode them was most of the agent's own time in an end-of-day push."""
    return [dict(zip(_WIRE_FIELDS, (*r[:7], orjson.Fragment(r[7]), *r[8:15],
                                    orjson.Fragment(r[15])), strict=True))
            for r in _pending_rows(conn, limit, epoch, after_seq)]


_WIRE_FIELDS = tuple(c.strip() for c in _EVENT_COLUMNS.split(","))


def _pending_rows(
    conn: sqlite3.Connection, limit: int, epoch: int | None, after_seq: int
) -> list[tuple]:
    for origin, stream_epoch, acked in unacked_streams(conn):
        if epoch is not None and stream_epoch != epoch:
            continue
        rows = conn.execute(
            f"SELECT {_EVENT_COLUMNS} FROM events WHERE event_key > ? AND event_key <= ? "
            "AND origin = ? AND acked_hub_seq IS NULL ORDER BY event_key LIMIT ?",
            (*_after(stream_epoch, max(acked, after_seq)), origin, limit),
        ).fetchall()
        if rows:
            return rows
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
    """Problems found: seq gaps, broken chains, stored hashes, repeated event ids, a push
    mark past an unacknowledged event, or cached balances that do not match the ledger.
    An empty list means the ledger is sound."""
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
        events = [event_from_row(r) for r in rows]
        seqs = [e.origin_seq for e in events]
        if seqs != list(range(1, len(seqs) + 1)):
            problems.append(f"{origin} epoch {epoch}: origin_seq has gaps")
        if not verify_chain(events, GENESIS):
            problems.append(f"{origin} epoch {epoch}: prev_hash chain is broken")
        for event, row in zip(events, rows, strict=True):
            if event.content_hash() != row[16]:
                problems.append(f"event {event.event_id}: stored content hash differs")
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
        state = build_state(conn, member_id)
        if (state.balance, state.debt) != (balance, debt):
            problems.append(
                f"member {member_id}: cached balance {balance} but the ledger says {state.balance}"
            )
    return problems
