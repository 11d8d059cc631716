"""Members on the terminal: lookup by card, phone or QR; what to show; enrol; link a card.

    >>> match = find_member(store, "LOY2:6012345678901234:3WIZ47IU:6ELB...")  # or card, phone
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
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Literal

from loyalty.errors import QRError
from loyalty.events import EventDraft, Kind
from loyalty.fold import MemberState
from loyalty.ids import is_valid_card_number, make_card_number, new_member_id
from loyalty.member_qr import looks_like_payload
from loyalty.summary import MemberSummary, member_summary
from loyalty.validation import check_text, is_ascii_digits
from pos_agent.exceptions import MemberNotFound, StoreError
from pos_agent.keys import sign_member_card, verify_member_payload
from pos_agent.ledger import build_state, record

if TYPE_CHECKING:
    from pos_agent.ledger import Recorder
    from pos_agent.store import Store

FoundBy = Literal["card", "phone", "qr"]
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MAX_NAME = 80


@dataclass(frozen=True)
class MemberMatch:
    member_id: str
    card_number: str | None
    name: str
    found_by: FoundBy
    """How the cashier identified the member: a phone number is not enough to spend."""


@dataclass(frozen=True)
class Enrolment:
    member_id: str
    card_number: str
    qr_payload: str
    receipt_no: str
    points: int
    state: MemberState


def normalise_phone(text: str) -> str:
    """Digits only, a leading + kept: '+33 (0)6 12-34' -> '+330612...'. Refuses too short."""
    raw = text.strip()
    digits = re.sub(r"\D", "", raw)
    if not digits.isascii():  # \D keeps "٣٣٦..." (Arabic-Indic digits): refuse, not guess
        raise StoreError(f"'{text}' is not a phone number: type the digits 0-9, e.g. +33612345678")
    if not 6 <= len(digits) <= 15:
        raise StoreError(f"'{text}' is not a phone number: type 6 to 15 digits, e.g. +33612345678")
    return ("+" if raw.startswith("+") else "") + digits


def looks_like_card(text: str) -> bool:
    compact = re.sub(r"[\s-]", "", text)
    return len(compact) == 16 and is_ascii_digits(compact)


def find_member(store: Store, text: str) -> MemberMatch:
    """The member for a card number, a phone number or a member QR payload."""
    text = text.strip()
    if not text:
        raise MemberNotFound("no member given: scan the QR code or type the card or phone number")
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
    phone = normalise_phone(text)
    rows = store.conn.execute(
        "SELECT m.member_id, m.name, (SELECT c.card_number FROM cards c WHERE c.member_id = "
        "m.member_id ORDER BY c.added_at LIMIT 1) FROM members m WHERE m.phone = ? LIMIT 2",
        (phone,),
    ).fetchall()
    if not rows:
        raise MemberNotFound(
            f"no member with phone {phone}: check the number, use the card, or enrol them"
        )
    if len(rows) > 1:
        raise MemberNotFound(
            f"several members share phone {phone}: use the card number or QR code instead"
        )
    member_id, name, card = rows[0]
    return MemberMatch(member_id, card, name, "phone")


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
    phone = normalise_phone(phone)
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
