"""The hub's schema as SQLAlchemy Core tables (the Alembic migrations create the same).

Instants are ISO-8601 UTC text with microseconds (`2026-11-22T10:00:00.000000+00:00`):
they sort as text on SQLite and PostgreSQL alike. Event content is kept verbatim as
canonical JSON (`Event.canonical()`): the ledger, from which every cached number
(member snapshots, stock, reports) can be rebuilt.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

# SQLite only auto-numbers an INTEGER PRIMARY KEY (the rowid); PostgreSQL wants BIGINT.
AutoId = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

credentials = Table(
    "credentials", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("kind", String(16), nullable=False),  # terminal | channel | admin
    Column("name", String(64), nullable=False),  # the origin, or the admin's name
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
)

origins = Table(
    "origins", metadata,
    Column("origin", String(64), primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("store", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("last_push_at", String(40)),
    Column("last_pull_at", String(40)),
    Column("last_cursor", BigInteger),
    Column("reported_high_seq", BigInteger),
    Column("reported_at", String(40)),
    # Pushes refused because they skipped origin_seqs / broke the hash chain (sync health).
    Column("refused_gaps", BigInteger, nullable=False, server_default="0"),
    Column("refused_chains", BigInteger, nullable=False, server_default="0"),
    Column("last_refused_at", String(40)),
)

streams = Table(
    "streams", metadata,
    Column("origin", String(64), primary_key=True),
    Column("origin_epoch", Integer, primary_key=True),
    Column("high_seq", BigInteger, nullable=False),
    Column("chain_hash", String(64), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

events = Table(
    "events", metadata,
    Column("hub_seq", AutoId, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("origin", String(64), nullable=False),
    Column("origin_epoch", Integer, nullable=False),
    Column("origin_seq", BigInteger, nullable=False),
    Column("member_id", String(36), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("amount", BigInteger, nullable=False),
    Column("program_version", String(32), nullable=False),
    Column("ref", String(80), nullable=False),
    Column("occurred_at", String(40), nullable=False),
    Column("hlc", String(32), nullable=False),
    Column("received_at", String(40), nullable=False),
    Column("reward_id", String(64)),
    # What the event does to a reward (hub.store.reports.rewards): redeem (bought with
    # points and used at once) | issue (a voucher bought with points: gift card, store
    # credit) | stamp (card completions issue vouchers) | voucher (a voucher used); and how
    # many rewards (NULL = 1; a sale can complete a stamp card more than once).
    Column("reward_action", String(16)),
    Column("reward_units", Integer),
    Column("tier", String(64)),
    Column("content", Text, nullable=False),
    UniqueConstraint("origin", "origin_epoch", "origin_seq", name="uq_events_stream_seq"),
    # (member_id, hub_seq): a member's events in order (a refold, the member's history).
    Index("ix_events_member_seq", "member_id", "hub_seq"),
    # Few events carry a reward: a partial index keeps the rewards report off a full scan
    # without slowing the ingest of ordinary sales.
    Index("ix_events_reward", "reward_id", sqlite_where=text("reward_id IS NOT NULL"),
          postgresql_where=text("reward_id IS NOT NULL")),
)

origin_totals = Table(
    "origin_totals", metadata,
    # Running sums per origin, updated with each batch (one row per batch): the liability
    # and sync-health reports read these instead of scanning the ledger.
    # `rebuild_totals` recomputes them from the events.
    Column("origin", String(64), primary_key=True),
    Column("events", BigInteger, nullable=False),
    Column("points", BigInteger, nullable=False),
    Column("credited", BigInteger, nullable=False),
    Column("debited", BigInteger, nullable=False),
)

members = Table(
    "members", metadata,
    Column("member_id", String(36), primary_key=True),
    Column("name", String(120)),
    Column("phone", String(20)),
    Column("email", String(254)),
    Column("birthday", String(10)),
    Column("consent_email", Boolean, nullable=False, default=False),
    Column("consent_sms", Boolean, nullable=False, default=False),
    Column("origin", String(64), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("merged_into", String(36)),
    # The fold (MemberState.to_dict()) of all the member's events, written in the same
    # transaction as they are (hub.store.fold); rebuildable from the ledger at any time.
    Column("state", Text, nullable=False),
    # Numbers of that fold that reports filter and sum on:
    Column("balance", BigInteger, nullable=False),
    Column("debt", BigInteger, nullable=False),
    # points in the balance held for HQ review (state.held): finance's liability shows them
    Column("held", BigInteger, nullable=False, server_default="0"),
    Column("last_tier", String(64)),
    Column("hub_seq", BigInteger, nullable=False),  # the member's newest event
    Column("last_hlc", String(32), nullable=False, server_default=""),
    # Soonest expiry of a lot with points left (the expiry job's index).
    Column("next_expiry", String(40)),
    Column("updated_at", String(40), nullable=False),
    Index("ix_members_phone", "phone"),
    Index("ix_members_next_expiry", "next_expiry"),
    Index("ix_members_email", "email"),
)

cards = Table(
    "cards", metadata,
    Column("card_number", String(16), primary_key=True),
    Column("member_id", String(36), nullable=False),
    Column("source", String(16), nullable=False),
    Column("added_at", String(40), nullable=False),
    Index("ix_cards_member", "member_id"),
)

changes = Table(
    "changes", metadata,
    # One row per thing that changed (a member, a program, a reward's stock); its
    # change_seq moves forward every time it changes, so a pull sends the latest state once.
    Column("kind", String(16), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("change_seq", BigInteger, nullable=False, unique=True),
)

counters = Table(
    "counters", metadata,
    Column("name", String(32), primary_key=True),
    Column("value", BigInteger, nullable=False),
)

programs = Table(
    "programs", metadata,
    Column("version", String(32), primary_key=True),
    Column("content", Text, nullable=False),  # the [program] table as published, JSON
    Column("published_at", String(40), nullable=False),
    Column("published_by", String(80), nullable=True),  # HQ username or "cli"; 0017
)

reward_stock = Table(
    "reward_stock", metadata,
    Column("reward_id", String(64), primary_key=True),
    Column("units_left", BigInteger, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

flags = Table(
    "flags", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("member_id", String(36)),
    Column("origin", String(64)),
    Column("store", String(64)),
    Column("event_ids", Text, nullable=False),  # JSON list
    Column("detail", Text, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("resolved_at", String(40)),
    Column("resolution_note", Text),
    Column("adjust_event_id", String(36)),
    Index("ix_flags_store", "store"),
)

notifications = Table(
    "notifications", metadata,
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("dedup_key", String(200), nullable=False, unique=True),
    Column("member_id", String(36), nullable=False),
    Column("kind", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("status", String(16), nullable=False),  # pending | sent | failed
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", String(40), nullable=False),
    Column("last_error", Text),
    Column("created_at", String(40), nullable=False),
    Column("sent_at", String(40)),
    Index("ix_notifications_due", "status", "next_attempt_at"),
)

online_orders = Table(
    "online_orders", metadata,
    Column("order_id", String(80), primary_key=True),
    Column("member_id", String(36), nullable=False),
    Column("created_at", String(40), nullable=False),
)

online_requests = Table(
    "online_requests", metadata,
    # The answer given to an online refund or redemption, by the client's request_id: a
    # retry after a lost answer gets it again instead of refunding or spending twice.
    Column("request_id", String(80), primary_key=True),
    Column("operation", String(16), nullable=False),  # refund | redeem
    Column("body_hash", String(64), nullable=False),  # the request it answered
    Column("member_id", String(36), nullable=False),
    Column("answer", Text, nullable=False),  # JSON
    Column("created_at", String(40), nullable=False),
)

# -- terminal keys (issue 16 part 2)
terminal_keys = Table(
    "terminal_keys", metadata,
    # A terminal's Ed25519 public key and the hub's certificate of it (signature over
    # origin, key and issued_at); terminals pull these, and their revocation, to verify
    # each other's member QR codes. Keys only: no private key is ever sent to the hub.
    Column("key_id", String(16), primary_key=True),
    Column("origin", String(64), nullable=False),
    Column("public_key", String(64), nullable=False, unique=True),  # base64url, 32 bytes
    Column("issued_at", String(40), nullable=False),
    Column("signature", String(128), nullable=False),  # base64url, 64 bytes
    Column("revoked_at", String(40)),
    Index("ix_terminal_keys_origin", "origin"),
)

# -- member PINs and staff (issue 16 parts 3-4)
# Member PINs need no table: they are `pin` events, folded into the member's snapshot.
staff = Table(
    "staff", metadata,
    # Cashiers and managers, set up at HQ (`pos-hub staff`) and pulled by the terminals of
    # their store (store NULL: every store). The PIN is only its argon2id hash; the
    # lockout after wrong tries is counted by each terminal.
    Column("staff_id", AutoId, primary_key=True, autoincrement=True),
    Column("name", String(80), nullable=False),
    Column("role", String(16), nullable=False),  # cashier | manager
    Column("store", String(12)),
    Column("pin_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# -- trust: held points (issue 16 part 1)
# A points_held flag resolved by releasing or cancelling its hold names the hub `release`
# event it recorded (a cancel also names its `adjust` in adjust_event_id).
flags.append_column(Column("release_event_id", String(36)))

# -- product catalogue (issue 17)
products = Table(
    "products", metadata,
    # HQ's catalogue (`pos-hub catalog import`), pulled by terminals. A product absent
    # from a newer import is made inactive, never deleted: old receipts keep its name.
    # Prices in the program currency's minor units, tax included; tax_rate in hundredths
    # of a percent (550 = 5.5%).
    Column("sku", String(40), primary_key=True),
    Column("name", String(80), nullable=False),
    Column("category", String(40), nullable=False),
    Column("price", BigInteger, nullable=False),
    Column("tax_rate", Integer, nullable=False),
    Column("barcodes", Text, nullable=False),  # as written, "|"-separated: export's order
    Column("active", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

product_barcodes = Table(
    "product_barcodes", metadata,
    # One row per barcode, keyed by its GTIN (a UPC-A as its 13-digit EAN form), so a
    # code can belong to one product only; an inactive product keeps its codes until
    # another product's import claims them.
    Column("gtin", String(14), primary_key=True),
    Column("code", String(14), nullable=False),
    Column("sku", String(40), nullable=False),
    Index("ix_product_barcodes_sku", "sku"),
)

# -- the member's own pages (issue 19)
member_sessions = Table(
    "member_sessions", metadata,
    # A member's session generation: every cookie of the member pages carries the
    # generation it was issued under, and "log out everywhere" moves it on, so every
    # cookie issued before is refused (hub.web.sessions). No row: generation 0.
    Column("member_id", String(36), primary_key=True),
    Column("generation", BigInteger, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

# -- online channels and retries that tell the truth (issue 18)
channels = Table(
    "channels", metadata,
    # The online channels HQ runs (`pos-hub channel add NAME`): the web shop, an app, a
    # marketplace. Each has its own tokens (credentials of kind channel whose `name` is
    # the channel's origin) and records its events as its own origin: `online` for the
    # channel named online, online-NAME by default (hub.store.credentials).
    Column("name", String(24), primary_key=True),
    Column("origin", String(64), nullable=False, unique=True),
    Column("created_at", String(40), nullable=False),
)
# Which channel recorded an order (order ids are one namespace for every channel: the
# order's ref WEB-<order_id> is one receipt of the member's), the hash of the order's body
# (hub.online._request_hash) and the first answer, JSON: a repeat with the same body gets
# that answer again, another body is 409 order_id_reused. NULL for orders recorded before
# migration 0013.
online_orders.append_column(Column("origin", String(64), nullable=False,
                                   server_default="online"))
online_orders.append_column(Column("body_hash", String(64)))
online_orders.append_column(Column("answer", Text))
# The channel that sent a request id: another channel's request with the same id is 409.
online_requests.append_column(Column("origin", String(64), nullable=False,
                                     server_default="online"))

# -- privacy: export and erase (issue 18)
erasures = Table(
    "erasures", metadata,
    # One row per erased member (hub.privacy.erase_member): the profile was pseudonymised
    # and the personal data of the member's events blanked (loyalty.erasure); the amounts
    # stay, so balances and liabilities add up as before. Who asked, why, how many events.
    Column("member_id", String(36), primary_key=True),
    Column("pseudonym", String(40), nullable=False),
    Column("reason", Text, nullable=False),
    Column("erased_by", String(64), nullable=False),
    Column("erased_at", String(40), nullable=False),
    Column("events", Integer, nullable=False),  # events whose content was blanked
)

# -- HQ's back office pages (issue 19, HQ side)
hq_users = Table(
    "hq_users", metadata,
    # People who sign in to /hq (`pos-hub hq-user add NAME --role ...`): admin (everything),
    # finance (reads everything, changes nothing), store_manager (their `store` only). The
    # password is only its argon2id hash; wrong tries in a row lock with the PINs' backoff
    # (hub.web.hq_users). A disabled user's cookies stop working on their next request.
    Column("username", String(64), primary_key=True),
    Column("role", String(16), nullable=False),  # admin | finance | store_manager
    Column("store", String(12)),  # a store manager's store; NULL for the others
    Column("password_hash", String(200), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("failures", Integer, nullable=False, server_default="0"),
    Column("failed_at", String(40)),
    Column("created_at", String(40), nullable=False),
)

hq_audit = Table(
    "hq_audit", metadata,
    # Every change made through the HQ pages (hub.web.hq_pages): who, when, what on what,
    # and the numbers before and after as JSON. Rows are only ever added.
    Column("id", AutoId, primary_key=True, autoincrement=True),
    Column("at", String(40), nullable=False),
    Column("username", String(64), nullable=False),
    Column("role", String(16), nullable=False),
    Column("action", String(32), nullable=False),  # adjust | resolve_flag | add_terminal ...
    Column("target", String(80), nullable=False),  # a member id, flag id, terminal id
    Column("before", Text, nullable=False),  # JSON
    Column("after", Text, nullable=False),  # JSON
    Index("ix_hq_audit_at", "at"),
)

# -- the member's own pages: notification consent (issue 19, member side)
consents = Table(
    "consents", metadata,
    # The newest consent of a member per channel (email, sms) with when and where it was
    # given or taken back (`web`: the member's page). The members row's consent_email and
    # consent_sms say the same (they are what the hub and its feed read); this says since
    # when and from where (hub.web.member_data.set_consent).
    Column("member_id", String(36), primary_key=True),
    Column("channel", String(8), primary_key=True),  # email | sms
    Column("granted", Boolean, nullable=False),
    Column("changed_at", String(40), nullable=False),
    Column("source", String(64), nullable=False),
)
