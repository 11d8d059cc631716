"""The terminal database's schema, as numbered migrations (applied by `migrations.migrate`).

    >>> [m.version for m in MIGRATIONS][:1]
    [1]

Never edit a migration that has shipped: add a new one. Every table name says what it
holds; money is integer minor units, instants are ISO-8601 UTC text, JSON is text.

| table | holds |
| --- | --- |
| identity | this terminal: origin, store, terminal, epoch, serials, HLC, hub url/token, keys |
| members | profiles known here (enrolled here or pulled from the hub) |
| cards | card numbers -> member (issued here, linked here, or from the hub) |
| events | this terminal's own ledger (sealed `loyalty.events.Event`s), keyed by epoch and seq |
| member_balances | per member, the fold of the ledger (rebuildable; `pos check` compares) |
| hub_snapshots | the hub's folded state of a member (`MemberState.to_dict`) |
| sync_state | pull cursor, last push/pull, last error (one row) |
| programs | program versions from the config file and from the hub |
| reward_stock | units of a reward left across all stores, as the hub last said |
| receipts | every receipt this terminal made, by receipt number |
| print_jobs | the print queue: one job per receipt to print, written with the receipt |
| acked_marks | per origin and epoch, the origin_seq up to which the hub acknowledged all |
| terminal_keys | every till's Ed25519 public key as the hub certified it, and revocations |
| staff | this store's cashiers and managers from the hub: PIN hash, role, wrong tries |
| member_name_words | each folded word of each member's name, for name search (migration 14) |

Migrations 6-9 traded this plainness for fewer pages per commit (print jobs written after
the sale, receipts and balances keyed by packed integers, triggers); migration 10 undid
them: a sale at the counter is bounded by the cashier, not by SQLite.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    description: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "initial schema",
        """
        CREATE TABLE identity (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            origin TEXT NOT NULL,
            store TEXT NOT NULL,
            terminal TEXT NOT NULL,
            epoch INTEGER NOT NULL,
            created_at TEXT NOT NULL,
            epoch_started_at TEXT NOT NULL,
            card_serial INTEGER NOT NULL DEFAULT 0,
            receipt_serial INTEGER NOT NULL DEFAULT 0,
            hlc TEXT NOT NULL DEFAULT '',
            hub_url TEXT,
            hub_token TEXT,
            qr_key TEXT
        );

        CREATE TABLE members (
            member_id TEXT PRIMARY KEY,
            name TEXT NOT NULL DEFAULT '',
            phone TEXT,
            email TEXT,
            birthday TEXT,
            consent_email INTEGER NOT NULL DEFAULT 0,
            consent_sms INTEGER NOT NULL DEFAULT 0,
            enrolled_here INTEGER NOT NULL DEFAULT 0,
            enrolled_at TEXT,
            updated_at TEXT NOT NULL
        );
        CREATE INDEX members_by_phone ON members (phone);

        CREATE TABLE cards (
            card_number TEXT PRIMARY KEY,
            member_id TEXT NOT NULL REFERENCES members (member_id),
            source TEXT NOT NULL CHECK (source IN ('issued', 'linked', 'hub')),
            added_at TEXT NOT NULL
        );
        CREATE INDEX cards_by_member ON cards (member_id);

        CREATE TABLE events (
            event_id TEXT NOT NULL UNIQUE,
            origin TEXT NOT NULL,
            origin_seq INTEGER NOT NULL,
            origin_epoch INTEGER NOT NULL,
            member_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            stamps TEXT NOT NULL,
            amount INTEGER NOT NULL,
            currency TEXT NOT NULL,
            program_version TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            ref TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            approved_offline INTEGER NOT NULL DEFAULT 0,
            acked_hub_seq INTEGER,
            PRIMARY KEY (origin, origin_epoch, origin_seq)
        ) WITHOUT ROWID;
        CREATE INDEX events_by_member ON events (member_id);
        CREATE INDEX events_unacked ON events (origin_epoch, origin_seq)
            WHERE acked_hub_seq IS NULL;

        CREATE TABLE member_balances (
            member_id TEXT PRIMARY KEY,
            balance INTEGER NOT NULL,
            debt INTEGER NOT NULL,
            stamps TEXT NOT NULL,
            version INTEGER NOT NULL,
            updated_at TEXT NOT NULL
        ) WITHOUT ROWID;

        CREATE TABLE hub_snapshots (
            member_id TEXT PRIMARY KEY,
            state TEXT NOT NULL,
            hub_seq INTEGER,
            change_seq INTEGER,
            received_at TEXT NOT NULL
        );

        CREATE TABLE sync_state (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            pull_cursor INTEGER NOT NULL DEFAULT 0,
            last_push_at TEXT,
            last_pull_at TEXT,
            last_success_at TEXT,
            last_error TEXT,
            last_error_at TEXT,
            flags TEXT NOT NULL DEFAULT '[]'
        );
        INSERT INTO sync_state (id) VALUES (1);

        CREATE TABLE programs (
            version TEXT NOT NULL,
            source TEXT NOT NULL CHECK (source IN ('config', 'hub')),
            content TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 0,
            received_at TEXT NOT NULL,
            PRIMARY KEY (version, source)
        );

        CREATE TABLE reward_stock (
            reward_id TEXT PRIMARY KEY,
            units_left INTEGER NOT NULL,
            change_seq INTEGER,
            updated_at TEXT NOT NULL
        );

        CREATE TABLE receipts (
            receipt_no TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            member_id TEXT,
            total INTEGER NOT NULL DEFAULT 0,
            currency TEXT NOT NULL,
            lines TEXT NOT NULL DEFAULT '[]',
            points_earned INTEGER NOT NULL DEFAULT 0,
            points_spent INTEGER NOT NULL DEFAULT 0,
            points_reversed INTEGER NOT NULL DEFAULT 0,
            balance_after INTEGER,
            details TEXT NOT NULL DEFAULT '{}',
            reverses TEXT REFERENCES receipts (receipt_no),
            refunded INTEGER NOT NULL DEFAULT 0,
            voided_by TEXT REFERENCES receipts (receipt_no),
            approved_offline INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        ) WITHOUT ROWID;
        CREATE INDEX receipts_by_day ON receipts (created_at);

        CREATE TABLE print_jobs (
            id INTEGER PRIMARY KEY,
            receipt_no TEXT REFERENCES receipts (receipt_no),
            kind TEXT NOT NULL,
            payload BLOB,
            text_preview TEXT,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'printed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            printed_at TEXT
        );
        CREATE INDEX print_jobs_not_printed ON print_jobs (id) WHERE status <> 'printed';
        """,
    ),
    Migration(
        2,
        "index for the active program lookup done by every operation",
        # Without it each sale scans `programs`, whose `active` column sits behind the
        # program's JSON content in overflow pages.
        """
        CREATE INDEX programs_active ON programs (source, active, received_at);
        """,
    ),
    Migration(
        3,
        "acknowledged high-water mark per stream instead of the unacknowledged-events index",
        # The partial index cost every event one more b-tree page in the sale's commit
        # (about one WAL frame per sale) only to find the push queue, which is always the
        # tail of each stream: the hub acknowledges in origin_seq order. The mark says
        # "every event up to acked_seq is acknowledged"; acked_hub_seq stays the truth per
        # event, the mark only tells the queue where to start reading the primary key.
        """
        CREATE TABLE acked_marks (
            origin TEXT NOT NULL,
            origin_epoch INTEGER NOT NULL,
            acked_seq INTEGER NOT NULL,
            PRIMARY KEY (origin, origin_epoch)
        ) WITHOUT ROWID;
        INSERT INTO acked_marks (origin, origin_epoch, acked_seq)
            SELECT origin, origin_epoch,
                   COALESCE(MIN(CASE WHEN acked_hub_seq IS NULL THEN origin_seq END) - 1,
                            MAX(origin_seq))
            FROM events GROUP BY origin, origin_epoch;
        DROP INDEX events_unacked;
        """,
    ),
    Migration(
        4,
        "events keyed by one integer (epoch, seq) in a rowid table; event_id not indexed",
        # Event rows are ~470 bytes. Appended to a WITHOUT ROWID b-tree they split by
        # rebalancing three siblings (measured: 2.5 pages written per insert); a rowid
        # table appends to its last page and only adds a page when it is full (1.25).
        # The key packs origin_epoch and origin_seq (the table holds this terminal's own
        # events: one origin), so it keeps (epoch, seq) unique and ordered; the CHECK
        # keeps it honest. event_id lost its UNIQUE index, one more b-tree page per event:
        # ids are UUIDv7 made here; acknowledgements find events by seq and check the id;
        # `pos check` reports a repeated event_id. The columns repeat migration 1's on
        # purpose: SQLite changes neither a table's key nor a UNIQUE constraint in place,
        # so the table is rebuilt, and a shipped migration is never edited.
        """
        CREATE TABLE events_v4 (
            event_key INTEGER PRIMARY KEY,
            event_id TEXT NOT NULL,
            origin TEXT NOT NULL,
            origin_seq INTEGER NOT NULL,
            origin_epoch INTEGER NOT NULL,
            member_id TEXT NOT NULL,
            kind TEXT NOT NULL,
            points INTEGER NOT NULL,
            stamps TEXT NOT NULL,
            amount INTEGER NOT NULL,
            currency TEXT NOT NULL,
            program_version TEXT NOT NULL,
            prev_hash TEXT NOT NULL,
            ref TEXT NOT NULL,
            occurred_at TEXT NOT NULL,
            hlc TEXT NOT NULL,
            data TEXT NOT NULL,
            content_hash TEXT NOT NULL,
            approved_offline INTEGER NOT NULL DEFAULT 0,
            acked_hub_seq INTEGER,
            CHECK (origin_seq BETWEEN 1 AND 4294967295
                   AND origin_epoch BETWEEN 1 AND 2147483647
                   AND event_key = origin_epoch * 4294967296 + origin_seq)
        );
        INSERT INTO events_v4
            SELECT origin_epoch * 4294967296 + origin_seq, event_id, origin, origin_seq,
                   origin_epoch, member_id, kind, points, stamps, amount, currency,
                   program_version, prev_hash, ref, occurred_at, hlc, data, content_hash,
                   approved_offline, acked_hub_seq
            FROM events ORDER BY origin_epoch, origin_seq;
        DROP TABLE events;
        ALTER TABLE events_v4 RENAME TO events;
        CREATE INDEX events_by_member ON events (member_id);
        """,
    ),
    Migration(
        5,
        "identity.card_issuer: the number the hub gave this terminal for its card numbers",
        # NULL: set up without the hub and without --card-issuer; card numbers then use a
        # hashed issuer number (loyalty.ids.unregistered_issuer).
        """
        ALTER TABLE identity ADD COLUMN card_issuer INTEGER;
        """,
    ),
    Migration(
        6,
        "print jobs made after the sale commits: a print mark per epoch, receipts.no_print",
        # The job row and its partial index were two more b-trees in every sale's commit
        # (2.1 of its 9.3 WAL frames). A receipt now gets its job when the printing code
        # first reaches it, after the commit; until then it is "to print" because it lies
        # past its epoch's mark (every receipt up to `queued_serial` has been given its
        # job). Receipts numbered before this migration all have theirs, so each epoch's
        # mark starts at its last receipt serial (the last six-digit one: text order finds
        # no other; a longer one past the mark has its job and is passed over).
        # `no_print` marks a receipt never to print (a cancelled redemption). Jobs are now
        # looked up by receipt: an index, written by the printing thread, not by the sale.
        """
        ALTER TABLE receipts ADD COLUMN no_print INTEGER NOT NULL DEFAULT 0;
        CREATE TABLE print_marks (
            epoch INTEGER PRIMARY KEY,
            queued_serial INTEGER NOT NULL
        );
        INSERT INTO print_marks (epoch, queued_serial)
            WITH RECURSIVE epochs (epoch, prefix) AS (
                SELECT 1, origin || '-' FROM identity WHERE id = 1
                UNION ALL
                SELECT e.epoch + 1, i.origin || '-E' || (e.epoch + 1) || '-'
                FROM epochs e JOIN identity i ON i.id = 1 WHERE e.epoch < i.epoch
            )
            SELECT epoch, COALESCE((
                SELECT MAX(CAST(substr(receipt_no, length(prefix) + 1) AS INTEGER))
                FROM receipts WHERE receipt_no > prefix || '0' AND receipt_no < prefix || ':'
                    AND length(receipt_no) = length(prefix) + 6), 0)
            FROM epochs;
        CREATE INDEX print_jobs_by_receipt ON print_jobs (receipt_no);
        """,
    ),
    Migration(
        7,
        "no index of receipts by time: the day report reads the table in one pass",
        # The index cost every sale's commit 1.2 of its ~7 WAL frames, for a report a
        # manager runs at closing. The report now reads each table once (it read the events
        # twice before, with no index either): 33 ms at 64,000 receipts, 43 ms before.
        """
        DROP INDEX receipts_by_day;
        """,
    ),
    Migration(
        8,
        "receipts keyed by one integer (epoch, serial) in a rowid table; print_jobs rebuilt",
        # A receipt row (~200 bytes) appended to the WITHOUT ROWID b-tree of receipt_no
        # split a page by rebalancing three siblings every ~16 receipts (1.64 pages written
        # per receipt, measured), where a rowid table appends to its last page (~1.07).
        # The key packs epoch and serial as events.event_key does, so it also orders
        # receipts exactly, whatever the serial's length (text order of receipt_no stops
        # doing so past six digits): the print queue reads from its mark along it, and
        # the last serial is its maximum. receipt_no stays, unindexed: a number is looked
        # up by its key, and must be written exactly. Foreign keys need a unique parent
        # key, so print_jobs.receipt_no and the receipts' reverses/voided_by lose theirs;
        # print_jobs is copied into a table without it (SQLite cannot drop one in place).
        # The key is read from each receipt_no with the identity's origin. Dropping the old
        # receipts checks their own reverses/voided_by references row by row: indexed for
        # the drop, or it scans the table once per receipt (9 minutes at 64,000).
        """
        PRAGMA defer_foreign_keys = ON;
        CREATE TABLE receipts_v8 (
            receipt_key INTEGER PRIMARY KEY,
            receipt_no TEXT NOT NULL,
            kind TEXT NOT NULL,
            member_id TEXT,
            total INTEGER NOT NULL DEFAULT 0,
            currency TEXT NOT NULL,
            lines TEXT NOT NULL DEFAULT '[]',
            points_earned INTEGER NOT NULL DEFAULT 0,
            points_spent INTEGER NOT NULL DEFAULT 0,
            points_reversed INTEGER NOT NULL DEFAULT 0,
            balance_after INTEGER,
            details TEXT NOT NULL DEFAULT '{}',
            reverses TEXT,
            refunded INTEGER NOT NULL DEFAULT 0,
            voided_by TEXT,
            approved_offline INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            no_print INTEGER NOT NULL DEFAULT 0,
            CHECK (receipt_key > 4294967296)
        );
        INSERT INTO receipts_v8
            WITH parsed AS (
                SELECT r.*, i.origin AS origin,
                       CASE WHEN substr(r.receipt_no, length(i.origin) + 2, 1) = 'E'
                            THEN CAST(substr(r.receipt_no, length(i.origin) + 3,
                                             instr(substr(r.receipt_no, length(i.origin) + 3),
                                                   '-') - 1) AS INTEGER)
                            ELSE 1 END AS epoch
                FROM receipts r JOIN identity i ON i.id = 1
            )
            SELECT epoch * 4294967296 + CAST(substr(receipt_no, length(
                       CASE WHEN epoch > 1 THEN origin || '-E' || epoch || '-'
                            ELSE origin || '-' END) + 1) AS INTEGER),
                   receipt_no, kind, member_id, total, currency, lines, points_earned,
                   points_spent, points_reversed, balance_after, details, reverses,
                   refunded, voided_by, approved_offline, created_at, no_print
            FROM parsed ORDER BY 1;
        CREATE TABLE print_jobs_v8 (
            id INTEGER PRIMARY KEY,
            receipt_no TEXT,
            kind TEXT NOT NULL,
            payload BLOB,
            text_preview TEXT,
            status TEXT NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'printed', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            created_at TEXT NOT NULL,
            printed_at TEXT
        );
        INSERT INTO print_jobs_v8 SELECT id, receipt_no, kind, payload, text_preview, status,
            attempts, last_error, created_at, printed_at FROM print_jobs ORDER BY id;
        DROP TABLE print_jobs;
        CREATE INDEX receipts_v7_reverses ON receipts (reverses);
        CREATE INDEX receipts_v7_voided_by ON receipts (voided_by);
        DROP TABLE receipts;
        ALTER TABLE receipts_v8 RENAME TO receipts;
        ALTER TABLE print_jobs_v8 RENAME TO print_jobs;
        CREATE INDEX print_jobs_not_printed ON print_jobs (id) WHERE status <> 'printed';
        CREATE INDEX print_jobs_by_receipt ON print_jobs (receipt_no);
        """,
    ),
    Migration(
        9,
        "member_ledger: a member's cached balance and its events' keys in one b-tree",
        # A sale wrote two pages at random places for its member: the entry in
        # events_by_member and the member_balances row (2.5 of its 5.1 WAL frames). One
        # WITHOUT ROWID table keyed by (member_id, event_key) now holds both: one row per
        # own event, then the cached balance at event_key 2^63 - 1. A new event's key is
        # above all earlier ones, so its row goes in just before the balance row it is
        # written with: one page (the balance first, at event_key 0, was a growing run of
        # rows away from it). The trigger keeps the rows as exactly as the index did (no
        # code path can insert an event and forget them); member_balances stays, as a
        # view, for the readers.
        """
        CREATE TABLE member_ledger (
            member_id TEXT NOT NULL,
            event_key INTEGER NOT NULL,
            balance INTEGER,
            debt INTEGER,
            stamps TEXT,
            version INTEGER,
            updated_at TEXT,
            PRIMARY KEY (member_id, event_key),
            CHECK ((event_key = 9223372036854775807) = (balance IS NOT NULL AND debt IS NOT NULL
                   AND stamps IS NOT NULL AND version IS NOT NULL AND updated_at IS NOT NULL))
        ) WITHOUT ROWID;
        INSERT INTO member_ledger
            SELECT member_id, event_key, NULL, NULL, NULL, NULL, NULL FROM events
            UNION ALL
            SELECT member_id, 9223372036854775807, balance, debt, stamps, version, updated_at
            FROM member_balances
            ORDER BY 1, 2;
        DROP TABLE member_balances;
        DROP INDEX events_by_member;
        CREATE VIEW member_balances AS
            SELECT member_id, balance, debt, stamps, version, updated_at
            FROM member_ledger WHERE event_key = 9223372036854775807;
        CREATE TRIGGER events_member_ledger_insert AFTER INSERT ON events BEGIN
            INSERT INTO member_ledger (member_id, event_key) VALUES (new.member_id, new.event_key);
        END;
        CREATE TRIGGER events_member_ledger_delete AFTER DELETE ON events BEGIN
            DELETE FROM member_ledger
            WHERE member_id = old.member_id AND event_key = old.event_key;
        END;
        CREATE TRIGGER events_member_ledger_update AFTER UPDATE OF member_id, event_key
        ON events BEGIN
            DELETE FROM member_ledger
            WHERE member_id = old.member_id AND event_key = old.event_key;
            INSERT INTO member_ledger (member_id, event_key) VALUES (new.member_id, new.event_key);
        END;
        """,
    ),
    Migration(
        10,
        "plain schema: member_balances a table, receipts by number, print job with the receipt",
        # Migrations 6-9 saved WAL pages per sale at the price of rules a reader had to
        # learn (print marks, packed receipt keys, a sentinel balance row kept by
        # triggers, serials re-derived from keys). None of it was needed for a till's
        # load, so the schema goes back to one table per thing:
        # - identity.receipt_serial and hlc become the plain truth, written by every
        #   operation: they start here from the last receipt and the newest event.
        # - every receipt still to print (past its epoch's print mark, not no_print,
        #   without a job) is given its job now; from here on the job is written in the
        #   receipt's own transaction, so print_marks and receipts.no_print go.
        # - receipts keyed by receipt_no again (rows copied in their old key's order).
        # - member_balances a plain table again; events indexed by member.
        """
        UPDATE identity SET
            receipt_serial = MAX(receipt_serial,
                                 COALESCE((SELECT MAX(receipt_key & 4294967295) FROM receipts), 0)),
            hlc = MAX(hlc, COALESCE((SELECT hlc FROM events ORDER BY event_key DESC LIMIT 1), ''));
        INSERT INTO print_jobs (receipt_no, kind, created_at)
            SELECT r.receipt_no, r.kind, r.created_at FROM receipts r
            WHERE r.no_print = 0
              AND (r.receipt_key & 4294967295) > COALESCE((SELECT m.queued_serial
                  FROM print_marks m WHERE m.epoch = r.receipt_key >> 32), 0)
              AND NOT EXISTS (SELECT 1 FROM print_jobs j WHERE j.receipt_no = r.receipt_no)
            ORDER BY r.receipt_key;
        DROP TABLE print_marks;
        CREATE TABLE receipts_v10 (
            receipt_no TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            member_id TEXT,
            total INTEGER NOT NULL DEFAULT 0,
            currency TEXT NOT NULL,
            lines TEXT NOT NULL DEFAULT '[]',
            points_earned INTEGER NOT NULL DEFAULT 0,
            points_spent INTEGER NOT NULL DEFAULT 0,
            points_reversed INTEGER NOT NULL DEFAULT 0,
            balance_after INTEGER,
            details TEXT NOT NULL DEFAULT '{}',
            reverses TEXT,
            refunded INTEGER NOT NULL DEFAULT 0,
            voided_by TEXT,
            approved_offline INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL
        );
        INSERT INTO receipts_v10
            SELECT receipt_no, kind, member_id, total, currency, lines, points_earned,
                   points_spent, points_reversed, balance_after, details, reverses, refunded,
                   voided_by, approved_offline, created_at
            FROM receipts ORDER BY receipt_key;
        DROP TABLE receipts;
        ALTER TABLE receipts_v10 RENAME TO receipts;
        CREATE TABLE member_balances_v10 (
            member_id TEXT PRIMARY KEY,
            balance INTEGER NOT NULL,
            debt INTEGER NOT NULL,
            stamps TEXT NOT NULL,
            updated_at TEXT NOT NULL
        );
        INSERT INTO member_balances_v10
            SELECT member_id, balance, debt, stamps, updated_at FROM member_ledger
            WHERE event_key = 9223372036854775807 ORDER BY member_id;
        DROP TRIGGER events_member_ledger_insert;
        DROP TRIGGER events_member_ledger_delete;
        DROP TRIGGER events_member_ledger_update;
        DROP VIEW member_balances;
        DROP TABLE member_ledger;
        ALTER TABLE member_balances_v10 RENAME TO member_balances;
        CREATE INDEX events_by_member ON events (member_id);
        """,
    ),
    Migration(
        11,
        "terminal signing key, the hub's public key, pulled terminal key certificates",
        """
        ALTER TABLE identity ADD COLUMN signing_key BLOB;
        ALTER TABLE identity ADD COLUMN hub_public_key BLOB;
        CREATE TABLE terminal_keys (
            key_id TEXT PRIMARY KEY,
            terminal TEXT NOT NULL,
            public_key BLOB NOT NULL,
            issued_at TEXT NOT NULL,
            signature BLOB NOT NULL,
            revoked_at TEXT,
            change_seq INTEGER,
            received_at TEXT NOT NULL
        );
        """,
    ),
    Migration(
        12,
        "staff pulled from the hub (member PINs are pin events: no table)",
        # Cashiers and managers of this store, as the hub last sent them, with the
        # argon2id hash of their PIN; the wrong tries in a row are counted here, per
        # terminal (pos_agent.staff).
        """
        CREATE TABLE staff (
            staff_id TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            role TEXT NOT NULL,
            store TEXT,
            pin_hash TEXT NOT NULL,
            active INTEGER NOT NULL DEFAULT 1,
            pin_failures INTEGER NOT NULL DEFAULT 0,
            pin_failed_at TEXT,
            change_seq INTEGER,
            updated_at TEXT NOT NULL
        );
        """,
    ),
    Migration(
        13,
        "product catalogue pulled from the hub: products and their barcodes",
        # As the hub last sent them (pos_agent.catalogue). A product the hub deactivated
        # stays (active = 0) so old receipts and returns still find its name. name_folded
        # is the name without accents, casefolded, with a leading space before each word
        # (" cafe creme"), so a word-prefix search is instr(name_folded, ' ' || prefix).
        # A barcode is keyed by its GTIN (a UPC-A as its 13-digit form): one scan, one row.
        """
        CREATE TABLE products (
            sku TEXT PRIMARY KEY,
            name TEXT NOT NULL,
            name_folded TEXT NOT NULL,
            category TEXT NOT NULL,
            price INTEGER NOT NULL,
            tax_rate INTEGER NOT NULL,
            barcodes TEXT NOT NULL DEFAULT '',
            active INTEGER NOT NULL DEFAULT 1,
            change_seq INTEGER,
            updated_at TEXT NOT NULL
        );
        CREATE TABLE product_barcodes (
            gtin TEXT PRIMARY KEY,
            code TEXT NOT NULL,
            sku TEXT NOT NULL
        );
        CREATE INDEX product_barcodes_by_sku ON product_barcodes (sku);
        CREATE INDEX products_by_sku_nocase ON products (sku COLLATE NOCASE);
        """,
    ),
    Migration(
        14,
        "member search: folded names and their words, e-mail without case, E.164 phones",
        # members.name_folded is the name with accents off and case folded, its words one
        # space apart (loyalty.contact.fold_name); member_name_words holds each word once
        # per member, so "prefix of any word" is an index range, not a scan. Phones are
        # re-read with the store's region (`loyalty_phone`, pos_agent.db): one that does not
        # parse is kept exactly as it was, and still found by its digits.
        """
        ALTER TABLE members ADD COLUMN name_folded TEXT NOT NULL DEFAULT '';
        UPDATE members SET name_folded = loyalty_fold_name(name);
        CREATE INDEX members_by_name_folded ON members (name_folded);
        CREATE TABLE member_name_words (
            word TEXT NOT NULL,
            member_id TEXT NOT NULL REFERENCES members (member_id),
            PRIMARY KEY (word, member_id)
        ) WITHOUT ROWID;
        CREATE INDEX member_name_words_by_member ON member_name_words (member_id);
        WITH RECURSIVE split (member_id, rest, word) AS (
            SELECT member_id, name_folded || ' ', '' FROM members
            UNION ALL
            SELECT member_id, substr(rest, instr(rest, ' ') + 1),
                   substr(rest, 1, instr(rest, ' ') - 1)
            FROM split WHERE rest <> ''
        )
        INSERT OR IGNORE INTO member_name_words (word, member_id)
            SELECT word, member_id FROM split WHERE word <> '';
        CREATE INDEX members_by_email ON members (email COLLATE NOCASE);
        UPDATE members SET phone = loyalty_phone(phone) WHERE phone IS NOT NULL;
        """,
    ),
    Migration(
        15,
        "parked baskets",
        # A basket the cashier parks (the customer went back for their wallet) is kept in
        # the database, not in the app: a restart or a crash does not lose it, and another
        # cashier on this till can recall it (pos_agent.parked).
        """
        CREATE TABLE parked_baskets (
            id INTEGER PRIMARY KEY,
            parked_at TEXT NOT NULL,
            staff_id TEXT,
            member_id TEXT,
            label TEXT NOT NULL,
            basket TEXT NOT NULL
        );
        """,
    ),
)
