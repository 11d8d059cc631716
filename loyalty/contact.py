"""How members are looked up by what a person says at the counter: a phone number in any
usual format, a name typed without its accents, an e-mail address. The terminal and the hub
both call these, so a number stored at one is found at the other.

    >>> normalise_phone("06 11 22 33 44", "FR")
    '+33611223344'
    >>> normalise_phone("0033611223344", "FR")
    '+33611223344'
    >>> fold_name("  Camille DUPÓNT-Lefèvre ")
    'camille dupont lefevre'
    >>> name_words("Dupónt")
    ['dupont']
    >>> normalise_email(" Ann.Lee@Example.COM ")
    'ann.lee@example.com'
"""

from __future__ import annotations

import re
import unicodedata

from loyalty.errors import LoyaltyError

# phonenumbers is imported in the functions that read phone numbers: a lookup by card, QR
# or name never does, and `pos member` must start in <= 3x a bare python (issue 15).


class PhoneError(LoyaltyError, ValueError):
    """What was typed cannot be a phone number (other digits, too short or too long)."""


# \d on purpose: digits of other scripts look like a phone, so normalise_phone refuses
# them ("type the digits 0-9") instead of a name search finding nobody.
_NOT_PHONE = re.compile(r"[\d+\s().\-/]+")
_WORD = re.compile(r"[^\W_]+")  # letters and digits: a name's words, punctuation dropped


def looks_like_phone(text: str) -> bool:
    """True when `text` is made of what people write in phone numbers (digits, spaces,
    + ( ) . - /) and holds at least one digit; anything else is a name or an e-mail.

        >>> looks_like_phone("+33 (0)6 11-22"), looks_like_phone("Cam")
        (True, False)
    """
    text = text.strip()
    return bool(text) and _NOT_PHONE.fullmatch(text) is not None and any(
        c.isdigit() for c in text)


def check_region(region: str) -> str:
    """An ISO 3166 country code phonenumbers knows ("FR"), upper-cased; "" stays "" (no
    region: only international numbers are rewritten).

        >>> check_region("fr")
        'FR'
    """
    region = region.strip().upper()
    if not region:
        return region
    import phonenumbers
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region {region!r}: use an ISO country code such as FR")
    return region


def normalise_phone(text: str, region: str = "") -> str:
    """The E.164 form of a phone number ("+33611223344"), read with the store's `region`
    for national numbers ("0611223344") and international prefixes ("0033..."). A number
    phonenumbers cannot place (no region and no +, or an impossible length) keeps the
    rule from before: its digits, a leading + kept, so nothing typed is lost or guessed.
    Refuses non-ASCII digits and fewer than 6 or more than 15 digits (PhoneError).

        >>> normalise_phone("+33 6 11 22 33 44")
        '+33611223344'
        >>> normalise_phone("0611223344")          # no region: kept as typed digits
        '0611223344'
    """
    raw = text.strip()
    digits = re.sub(r"\D", "", raw)
    if not digits.isascii():  # \D keeps "٣٣٦..." (Arabic-Indic digits): refuse, not guess
        raise PhoneError(
            f"'{text}' is not a phone number: type the digits 0-9, e.g. +33612345678")
    if not 6 <= len(digits) <= 15:
        raise PhoneError(
            f"'{text}' is not a phone number: type 6 to 15 digits, e.g. +33612345678")
    plain = ("+" if raw.startswith("+") else "") + digits
    if not region and raw.startswith("00"):
        plain = "+" + digits[2:]  # 00 is the international prefix almost everywhere
    import phonenumbers
    try:
        number = phonenumbers.parse(raw, region or None)
    except phonenumbers.NumberParseException:
        return plain
    if not phonenumbers.is_possible_number(number):
        return plain
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_phone_or_keep(text: str | None, region: str = "") -> str | None:
    """`normalise_phone`, or `text` unchanged when it is not a phone number at all (a row
    stored before the rules, kept as it was rather than dropped).

        >>> normalise_phone_or_keep("call me", "FR")
        'call me'
    """
    if text is None:
        return None
    try:
        return normalise_phone(text, region)
    except PhoneError:
        return text


def phone_lookup_forms(text: str, region: str = "") -> tuple[str, ...]:
    """The stored forms a typed phone number may be under: its E.164 form, and the digits
    form of the rule before (a row stored then and not re-read, e.g. one phonenumbers
    could not place). PhoneError when it cannot be a phone number.

        >>> phone_lookup_forms("06 11 22 33 44", "FR")
        ('+33611223344', '0611223344')
    """
    e164 = normalise_phone(text, region)
    raw = text.strip()
    legacy = ("+" if raw.startswith("+") else "") + re.sub(r"\D", "", raw)
    return (e164,) if legacy == e164 else (e164, legacy)


def name_words(text: str) -> list[str]:
    """The words of a name, folded for search: accents off, case folded, punctuation
    dropped ("Dupónt-Lefèvre" -> ["dupont", "lefevre"])."""
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORD.findall(bare.casefold())


def fold_name(text: str) -> str:
    """The folded form of a name stored next to it for search: its words, one space apart."""
    return " ".join(name_words(text))


def normalise_email(text: str) -> str:
    """An e-mail address as compared: trimmed, case folded (case-insensitive exact)."""
    return text.strip().casefold()


__all__ = ["PhoneError", "check_region", "fold_name", "looks_like_phone", "name_words",
           "normalise_email", "normalise_phone", "normalise_phone_or_keep",
           "phone_lookup_forms"]
