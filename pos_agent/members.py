"""Members on the terminal: lookup by card, phone, QR, name or e-mail; what to show;
enrol; link a card.

    >>> match = find_member(store, "LOY2:6012345678901234:3WIZ47IU:6ELB...")  # or card, phone
    >>> find_member(store, "06 11 22 33 44").found_by      # [terminal] region = "FR"
    'phone'
    >>> [m.name for m in search_members(store, "cam dup")]  # prefix of any word, no accents
    ['Camille Dupont', 'Camille Dupré']
    >>> state, summary = member_view(store, match.member_id)
    >>> summary.balance, summary.tier
    >>> enrolled = enrol(store, name="Ann", phone="+33 6 12 34 56 78")
    >>> enrolled.card_number, enrolled.qr_payload

`member_view` is the one answer to "what does this member have": the hub's snapshot plus
this terminal's own events the snapshot does not include yet. The app, `pos member` and
receipts all call it.
"""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal

from loyalty.contact import (
    PhoneError,
    fold_name,
    looks_like_phone,
    name_words,
    normalise_email,
)
from loyalty.contact import normalise_phone as _e164
from loyalty.errors import QRError
from loyalty.events import EventDraft, Kind
from loyalty.fold import MemberState
from loyalty.ids import is_valid_card_number, make_card_number, new_member_id
from loyalty.member_qr import looks_like_payload
from loyalty.summary import MemberSummary, member_summary
from loyalty.validation import check_text, is_ascii_digits
from pos_agent.exceptions import MemberNotFound, SeveralMembers, StoreError
from pos_agent.keys import sign_member_card, verify_member_payload
from pos_agent.ledger import build_state, record

if TYPE_CHECKING:
    from pos_agent.ledger import Recorder
    from pos_agent.store import Store

FoundBy = Literal["card", "phone", "qr", "name", "email"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 80


@dataclass(frozen=True)
class MemberMatch:
    member_id: str
    card_number: str | None
    name: str
    found_by: FoundBy
    """How the cashier identified the member: only "qr" (or a PIN) is enough to spend;
    a phone number, a name or an e-mail never is (pos_agent.pins.prove_possession)."""


@dataclass(frozen=True)
class Enrolment:
    member_id: str
    card_number: str
    qr_payload: str
    receipt_no: str
    points: int
    state: MemberState


def normalise_phone(text: str, region: str = "") -> str:
    """E.164 with the store's region (loyalty.contact.normalise_phone), a StoreError for
    what cannot be a phone number.

        >>> normalise_phone("06 11 22 33 44", "FR")
        '+33611223344'
    """
    try:
        return _e164(text, region)
    except PhoneError as exc:
        raise StoreError(str(exc)) from None


def _legacy_phone(text: str) -> str:
    # The rule before migration 14 (digits, a leading + kept): a stored number phonenumbers
    # could not read was kept in this form, and is still found by it.
    raw = text.strip()
    return ("+" if raw.startswith("+") else "") + re.sub(r"\D", "", raw)


def looks_like_card(text: str) -> bool:
    compact = re.sub(r"[\s-]", "", text)
    return len(compact) == 16 and is_ascii_digits(compact)


def find_member(store: Store, text: str) -> MemberMatch:
    """The member for a card number, a phone number (any usual format, read with
    `[terminal] region`), a member QR payload, an e-mail address (case-insensitive) or a
    name (prefix of any word, accents and case ignored). A name that fits several
    members raises SeveralMembers with the candidates (`search_members`) to choose from.

        >>> find_member(store, "dupónt").found_by
        'name'
    """
    text = text.strip()
    if not text:
        raise MemberNotFound("no member given: scan the QR code or type the card or phone "
                             "number, a name or an e-mail")
    if looks_like_payload(text):
        try:
            card = verify_member_payload(store, text)  # public keys only (pos_agent.keys)
        except QRError as exc:
            raise MemberNotFound(str(exc)) from exc
        return _by_card(store, card, "qr")
    if looks_like_card(text):
        card = re.sub(r"[\s-]", "", text)
        if not is_valid_card_number(card):
            raise MemberNotFound(
                f"card number {card} is not valid (check digit): retype it or scan the card"
            )
        return _by_card(store, card, "card")
    if "@" in text:
        return _by_email(store, text)
    if not looks_like_phone(text):
        return _by_name(store, text)
    phone = normalise_phone(text, store.settings.terminal.region)
    rows = store.conn.execute(
        "SELECT m.member_id, m.name, (SELECT c.card_number FROM cards c WHERE c.member_id = "
        "m.member_id ORDER BY c.added_at LIMIT 1) FROM members m WHERE m.phone IN (?, ?) "
        "LIMIT 2",
        (phone, _legacy_phone(text)),
    ).fetchall()
    if not rows:
        raise MemberNotFound(
            f"no member with phone {phone}: check the number, use the card, or enrol them"
        )
    if len(rows) > 1:
        raise SeveralMembers(
            f"several members share phone {phone}: use the card number or QR code instead",
            [MemberMatch(r[0], r[2], r[1], "phone") for r in rows])
    member_id, name, card = rows[0]
    return MemberMatch(member_id, card, name, "phone")


_FIRST_CARD = ("(SELECT c.card_number FROM cards c WHERE c.member_id = m.member_id "
               "ORDER BY c.added_at LIMIT 1)")


def _by_email(store: Store, text: str) -> MemberMatch:
    email = normalise_email(text)
    # The index is NOCASE (ASCII); the casefold compare below settles the rest.
    rows = [r for r in store.conn.execute(
        f"SELECT m.member_id, m.name, {_FIRST_CARD}, m.email FROM members m "
        "WHERE m.email = ? COLLATE NOCASE LIMIT 3", (email,),
    ) if normalise_email(r[3] or "") == email]
    if not rows:
        raise MemberNotFound(f"no member with e-mail {email}: check it, use the card, or "
                             "enrol them")
    if len(rows) > 1:
        raise SeveralMembers(
            f"several members share e-mail {email}: use the card number or QR code",
            [MemberMatch(r[0], r[2], r[1], "email") for r in rows])
    return MemberMatch(rows[0][0], rows[0][2], rows[0][1], "email")


def _by_name(store: Store, text: str) -> MemberMatch:
    found = search_members(store, text, limit=10)
    if not found:
        raise MemberNotFound(f"no member named like '{text}': check the spelling, try the "
                             "phone number or card, or enrol them")
    if len(found) > 1:
        raise SeveralMembers(
            f"{len(found)}{'+' if len(found) == 10 else ''} members match '{text}': choose "
            "one, or type more of the name", found)
    return found[0]


def search_members(store: Store, text: str, limit: int = 10) -> list[MemberMatch]:
    """Members whose name has, for every word typed, a word starting with it (accents
    and case ignored), by name, at most `limit`: the candidates the cashier chooses from.

        >>> [m.name for m in search_members(store, "Dupónt")]
        ['Camille Dupont']
    """
    words = name_words(text)
    if not words or limit < 1:
        return []
    # The longest typed word drives the index range; the others are checked on the
    # folded name (its words one space apart, so ' ' || name LIKE '% dup%').
    lead = max(words, key=len)
    others = [w for w in words if w is not lead]
    sql = (f"SELECT DISTINCT m.member_id, m.name, {_FIRST_CARD} FROM member_name_words w "
           "JOIN members m ON m.member_id = w.member_id WHERE w.word >= ? AND w.word < ?")
    params: list[object] = [lead, lead + "\U0010ffff"]
    for word in others:  # folded words are letters and digits only: no LIKE wildcards
        sql += " AND (' ' || m.name_folded) LIKE ?"
        params.append(f"% {word}%")
    sql += " ORDER BY m.name_folded, m.member_id LIMIT ?"
    params.append(limit)
    return [MemberMatch(r[0], r[2], r[1], "name") for r in store.conn.execute(sql, params)]


def index_member_name(conn: sqlite3.Connection, member_id: str, name: str) -> None:
    """Keep a member's folded name and its words (migration 14) in step with `name`; call
    in the transaction that writes the name.

        >>> index_member_name(rec.conn, member_id, "Camille Dupont")
    """
    conn.execute("UPDATE members SET name_folded = ? WHERE member_id = ?",
                 (fold_name(name), member_id))
    conn.execute("DELETE FROM member_name_words WHERE member_id = ?", (member_id,))
    conn.executemany("INSERT OR IGNORE INTO member_name_words (word, member_id) VALUES (?, ?)",
                     [(word, member_id) for word in name_words(name)])


def _by_card(store: Store, card: str, found_by: FoundBy) -> MemberMatch:
    row = store.conn.execute(
        "SELECT c.member_id, m.name FROM cards c JOIN members m USING (member_id) "
        "WHERE c.card_number = ?",
        (card,),
    ).fetchone()
    if row is None:
        raise MemberNotFound(
            f"card {card} is not registered on this terminal: sync, or link it with "
            "`pos card link`"
        )
    return MemberMatch(row[0], card, row[1], found_by)


def member_state(store: Store, member_id: str) -> MemberState:
    """The folded state (hub snapshot + own events not in it)."""
    conn = store.conn
    conn.execute("BEGIN")  # one read snapshot for the snapshot and the events
    try:
        if not conn.execute(
            "SELECT 1 FROM members WHERE member_id = ?", (member_id,)
        ).fetchone():
            raise MemberNotFound(f"no member {member_id} on this terminal")
        return build_state(conn, member_id)
    finally:
        conn.execute("COMMIT")


def member_view(
    store: Store, member_id: str, at: datetime | None = None
) -> tuple[MemberState, MemberSummary]:
    """What the terminal shows for a member: (state, summary) under the active program."""
    state = member_state(store, member_id)
    return state, member_summary(store.active_program(), state, at or datetime.now(UTC))


def member_profile(store: Store, member_id: str) -> dict:
    rows = list(store.db.query("SELECT * FROM members WHERE member_id = ?", [member_id]))
    if not rows:
        raise MemberNotFound(f"no member {member_id} on this terminal")
    profile = rows[0]
    profile["cards"] = [
        r[0] for r in store.conn.execute(
            "SELECT card_number FROM cards WHERE member_id = ? ORDER BY added_at", (member_id,)
        )
    ]
    return profile


def qr_payload_for(store: Store, card_number: str) -> str:
    """The card's QR payload, signed with this terminal's key (valid at every till that
    pulled its certificate)."""
    return sign_member_card(store, card_number)


def enrol(
    store: Store,
    *,
    name: str,
    phone: str,
    email: str | None = None,
    birthday: date | None = None,
    card_number: str | None = None,
    referrer: str | None = None,
    consent_email: bool = False,
    consent_sms: bool = False,
    pin: str | None = None,
    at: datetime | None = None,
) -> Enrolment:
    """Enrol a new member offline: a new member_id, a card number made here (or the
    physical card given), the welcome bonus and, with a referrer (card/phone/QR), the
    referral bonus for both. The enrol event carries the profile so the hub learns it.
    With `pin`, the member's PIN is set in the same transaction (a `pin` event)."""
    from loyalty.earning import enrolment_drafts  # the earning rules: only enrolment here
    from loyalty.pins import hash_pin, pin_set_draft

    at = at or datetime.now(UTC)
    name = " ".join(check_text(name, "the name").split())
    if not name or len(name) > MAX_NAME:
        raise StoreError(f"the name must be 1 to {MAX_NAME} characters")
    phone = normalise_phone(phone, store.settings.terminal.region)
    if email is not None and not _EMAIL.match(check_text(email.strip(), "the email address")):
        raise StoreError(f"'{email}' is not an email address: leave it out or fix it")
    if birthday is not None and not date(1900, 1, 1) <= birthday <= at.date():
        raise StoreError(f"birthday {birthday} is not a plausible date of birth")
    if card_number is not None:
        card_number = re.sub(r"[\s-]", "", card_number)
        if not is_valid_card_number(card_number):
            raise StoreError(f"card number {card_number} is not valid: check the digits")
    referrer_match = find_member(store, referrer) if referrer else None
    pin_hash = hash_pin(pin) if pin is not None else None  # slow: before the write lock
    member_id = new_member_id()
    profile = {
        "name": name, "phone": phone, "email": email.strip() if email else None,
        "birthday": birthday.isoformat() if birthday else None,
        "consent_email": consent_email, "consent_sms": consent_sms,
    }
    with record(store, at) as rec:
        ident = rec.identity
        if card_number is None:
            card_number = _new_card_number(rec)
        elif rec.conn.execute(
            "SELECT 1 FROM cards WHERE card_number = ?", (card_number,)
        ).fetchone():
            raise StoreError(f"card {card_number} already belongs to a member: use another card")
        receipt_no = rec.next_receipt_no()
        rec.conn.execute(
            "INSERT INTO members (member_id, name, phone, email, birthday, consent_email, "
            "consent_sms, enrolled_here, enrolled_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (member_id, name, phone, profile["email"], profile["birthday"], int(consent_email),
             int(consent_sms), rec.at_text, rec.at_text),
        )
        index_member_name(rec.conn, member_id, name)
        rec.conn.execute(
            "INSERT INTO cards (card_number, member_id, source, added_at) "
            "VALUES (?, ?, 'issued', ?)",
            (card_number, member_id, rec.at_text),
        )
        referrer_state = rec.state(referrer_match.member_id) if referrer_match else None
        drafts = enrolment_drafts(
            rec.program, member_id, at, receipt_no=receipt_no, channel=f"store:{ident.origin}",
            referrer=referrer_state,
        )
        points = 0
        for draft in drafts:
            if draft.kind == Kind.ENROL:
                draft = replace(draft, data={**draft.data, "card_number": card_number,
                                             "profile": profile})
            event = rec.append(draft)
            if event.member_id == member_id:
                points += event.points
        if pin_hash is not None:
            rec.append(pin_set_draft(member_id, pin_hash))
        state = rec.state(member_id)
        rec.add_receipt(
            receipt_no, "enrolment", member_id=member_id, points_earned=points,
            details={"bonuses": [[d.data.get("reason", ""), d.points] for d in drafts
                                 if d.kind == Kind.BONUS and d.member_id == member_id],
                     "card_number": card_number,
                     "referrer": referrer_match.member_id if referrer_match else None},
        )
    return Enrolment(member_id, card_number, qr_payload_for(store, card_number), receipt_no,
                     points, state)


def _new_card_number(rec: Recorder) -> str:
    # Unique across terminals by the issuer number; a card typed in here earlier (`--card`,
    # `pos card link`) may still hold the next number, so skip used ones.
    for _ in range(1000):
        candidate = make_card_number(rec.identity.issuer, rec.next_card_serial(),
                                     rec.identity.epoch)
        if not rec.conn.execute(
            "SELECT 1 FROM cards WHERE card_number = ?", (candidate,)
        ).fetchone():
            return candidate
    raise StoreError("could not make an unused card number: tell HQ")  # pragma: no cover


def link_card(
    store: Store, member_id: str, card_number: str, at: datetime | None = None
) -> str:
    """Register an existing physical card to a member (a `link` event); returns the card."""
    card_number = re.sub(r"[\s-]", "", card_number)
    if not is_valid_card_number(card_number):
        raise StoreError(f"card number {card_number} is not valid: check the digits")
    with record(store, at) as rec:
        if not rec.conn.execute(
            "SELECT 1 FROM members WHERE member_id = ?", (member_id,)
        ).fetchone():
            raise MemberNotFound(f"no member {member_id} on this terminal")
        owner = rec.conn.execute(
            "SELECT member_id FROM cards WHERE card_number = ?", (card_number,)
        ).fetchone()
        if owner:
            who = "this member" if owner[0] == member_id else "another member"
            raise StoreError(f"card {card_number} is already registered to {who}")
        rec.conn.execute(
            "INSERT INTO cards (card_number, member_id, source, added_at) "
            "VALUES (?, ?, 'linked', ?)",
            (card_number, member_id, rec.at_text),
        )
        rec.append(EventDraft(kind=Kind.LINK, member_id=member_id,
                              data={"card_number": card_number}))
    return card_number
