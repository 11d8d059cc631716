"""The edges' one rule (issue 16, part 6): amounts and numbers in ASCII digits only, no
control character in names and free text, and an escape for showing what is stored."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime
from typing import Annotated

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, TypeAdapter, ValidationError

from loyalty.errors import MoneyError, SaleError, TextError
from loyalty.ids import is_valid_card_number, make_card_number
from loyalty.money import parse_amount
from loyalty.sale import make_line, parse_line
from loyalty.validation import (
    NO_CONTROL,
    NO_CONTROL_MULTILINE,
    ascii_int,
    check_text,
    escape_text,
    is_ascii_digits,
    is_control,
    text_problem,
)

OTHER_DIGITS = ["\u0661\u0662.\u0665\u0660",  # Arabic-Indic ١٢.٥٠
                "\u06f1\u06f2.\u06f5\u06f0",  # Extended Arabic-Indic (Persian)
                "\u0967\u0968.\u096b\u0966",  # Devanagari
                "\uff11\uff12.\uff15\uff10",  # full-width
                "1\u0662.50", "12.5\u0660", "\U0001d7d9\U0001d7da"]  # mixed; mathematical


@pytest.mark.parametrize("text", OTHER_DIGITS)
def test_an_amount_in_other_digits_is_refused(text: str):
    assert int(text.split(".")[0]) >= 0  # Python itself would read it...
    with pytest.raises(MoneyError, match="is not an amount: type digits"):
        parse_amount(text)  # ...the till does not


def test_ascii_amounts_still_parse():
    assert parse_amount("12.50") == 1250
    assert parse_amount(" 12,5 ") == 1250
    assert parse_amount("7", exponent=0) == 7
    with pytest.raises(MoneyError):
        parse_amount("12.50\n3")


@pytest.mark.parametrize("text", ["\u0661\u0662", "\uff11", "\u00b2", "1_000", "", "1 2",
                                  "0x1f", "1.0", "\u0967"])
def test_whole_numbers_are_ascii_digits(text: str):
    with pytest.raises(ValueError, match="is not a whole number: type the digits 0-9"):
        ascii_int(text)
    assert not is_ascii_digits(text)


def test_whole_numbers():
    assert ascii_int("42") == 42 and ascii_int(" -3 ") == -3 and ascii_int("+7") == 7
    assert is_ascii_digits("0123") and not is_ascii_digits("-1")


def test_pydantic_lax_int_refuses_other_digits_itself():
    # the hub's query and header integers are pydantic's lax int: checked, it refuses them
    for text in ["\u0661\u0662", "\uff11\uff12", "\u0967"]:
        with pytest.raises(ValidationError):
            TypeAdapter(int).validate_python(text)


def test_a_sale_line_in_other_digits_is_refused():
    with pytest.raises(SaleError, match="quantity '\u0662' must be a whole number"):
        parse_line("LATTE,coffee,\u0662,3.50")
    with pytest.raises(SaleError, match="quantity '\u00b2' must be a whole number"):
        parse_line("LATTE,coffee,\u00b2,3.50")  # isdigit() is True, int() would crash
    with pytest.raises(SaleError, match="is not an amount"):
        parse_line("LATTE,coffee,2,\u0663.50")
    assert parse_line("LATTE,coffee,2,3.50").unit_price == 350


def test_a_card_number_in_other_digits_is_not_valid():
    card = make_card_number(17, 1, 1)
    assert is_valid_card_number(card)
    arabic = "".join(chr(0x0660 + int(d)) for d in card)
    assert not is_valid_card_number(arabic)
    assert not is_valid_card_number(card[:2] + arabic[2:])


# -- control characters -----------------------------------------------------------------------
REFUSED = ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\x9b", "\u2028", "\u2029", "\u202e",
           "\u202d", "\u2066", "\u2069", "\u200e", "\u061c", "\ud800", "\t", "\n", "\r"]
KEPT = ["a", "é", "ß", "Ω", "中", "😀", "\u200d", "\u200c", " ", "\u00a0", "-", "'"]


@pytest.mark.parametrize("ch", REFUSED)
def test_refused_characters(ch: str):
    assert is_control(ch)
    problem = text_problem(f"Ann{ch}Lee")
    assert problem == (f"holds a control character (U+{ord(ch):04X}, position 4); type it "
                       "again without it")
    with pytest.raises(TextError) as err:
        check_text(f"Ann{ch}Lee", "the name")
    assert str(err.value) == f"the name {problem}"
    assert isinstance(err.value, ValueError)  # request models report it as a field error


@pytest.mark.parametrize("ch", KEPT)
def test_kept_characters(ch: str):
    assert not is_control(ch)
    assert check_text(f"Ann{ch}Lee", "the name") == f"Ann{ch}Lee"


def test_free_text_may_span_lines_and_nothing_else():
    assert text_problem("line one\nline two", multiline=True) is None
    assert text_problem("a\r\nb", multiline=True) is not None
    assert text_problem("a\nb") is not None


@given(st.characters())
def test_the_regex_and_the_predicate_say_the_same(ch: str):
    # NO_CONTROL goes into request models (Rust regex) and the OpenAPI document (ECMA),
    # where $ is the end of the text; Python's $ also matches before a final newline, so
    # fullmatch here. Surrogates cannot be written in a pattern (JSON refuses lone ones).
    if unicodedata.category(ch) == "Cs":
        return
    assert (re.fullmatch(NO_CONTROL, ch) is None) == is_control(ch)
    assert (re.fullmatch(NO_CONTROL_MULTILINE, ch) is None) == (is_control(ch) and ch != "\n")


def test_pydantic_patterns_refuse_them_too():
    name = TypeAdapter(Annotated[str, Field(pattern=NO_CONTROL)])
    assert name.validate_python("Ann Lée 😀") == "Ann Lée 😀"
    for ch in ["\x1b", "\u202e", "\x85", "\u2028", "\n"]:
        with pytest.raises(ValidationError):
            name.validate_python(f"Ann{ch}")


def test_escape_shows_what_is_stored():
    assert escape_text("Ann Lee") == "Ann Lee"
    assert escape_text("Ann Lée 😀") == "Ann Lée 😀"
    assert escape_text("x\x1b[2J\u202eabc\x85") == "x\\x1b[2J\\u202eabc\\x85"
    assert escape_text("a\nb") == "a\\x0ab"
    assert escape_text("a\nb\x1b", keep_newlines=True) == "a\nb\\x1b"


def test_a_category_or_a_reason_with_a_control_character_is_refused():
    with pytest.raises(TextError, match="the category of LATTE holds a control character"):
        make_line("LATTE", "cof\x1bfee", 1, 350)
    with pytest.raises(SaleError, match="SKU 'LATTE\n'"):
        make_line("LATTE\n", "coffee", 1, 350)

    from loyalty.fold import MemberState, ReceiptRecord
    from loyalty.reversal import reverse_receipt

    state = MemberState(member_id="m")
    state.receipts["R1"] = ReceiptRecord(ref="R1", occurred_at=datetime.now(UTC), amount=500,
                                         points=5, event_ids=["e1"])
    with pytest.raises(TextError, match="the reason holds a control character"):
        reverse_receipt(state, "R1", reason="wrong\u202eitem")
    assert reverse_receipt(state, "R1", reason="wrong item").data["reason"] == "wrong item"
