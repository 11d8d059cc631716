"""The program configuration: parsing, validation messages that name the key, versions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from loyalty.errors import ProgramError
from loyalty.program import load_program, load_program_text

from .conftest import BASE, make_program


def test_example_config_is_the_demo_program(example_program):
    p = example_program
    assert p.points_name == "Stars"
    assert [t.name for t in p.tiers] == ["Green", "Silver", "Gold"]
    assert [t.threshold for t in p.tiers] == [0, 30000, 50000]
    assert p.tiers[1].multiplier == Decimal("1.5")
    assert len(p.rewards) >= 8
    assert any(pr.weekdays for pr in p.promotions)
    assert p.stamp_card("coffee").stamps_to_complete == 10


def test_money_in_units_becomes_minor_units(program):
    assert program.tiers[2].threshold == 50000
    assert program.reward("gift").value == 1000
    assert isinstance(program.tiers[1].multiplier, Decimal)


def test_same_program_same_version_regardless_of_formatting():
    reordered = BASE.replace('name = "Test Rewards"\npoints_name = "Stars"',
                             'points_name = "Stars"\n# a comment\nname = "Test Rewards"')
    assert reordered != BASE
    assert make_program(base=reordered).version == make_program().version
    # 1.5 written as a float or a string is the same exact decimal
    floats = BASE.replace('multiplier = "1.5"', "multiplier = 1.5")
    assert make_program(base=floats).version == make_program().version


def test_changed_program_is_new_version():
    changed = BASE.replace("earn_rate = 10", "earn_rate = 11")
    assert make_program(base=changed).version != make_program().version


def test_load_program_from_file(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(BASE)
    assert load_program(str(path)).name == "Test Rewards"


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        (("earn_rate = 10", "earn_rate = -1"), "program.earn_rate", "greater than or equal"),
        (('threshold = 500', 'threshold = 200'), "program.tiers[2].threshold", "increase"),
        (('threshold = 300', 'threshold = "abc"'), "program.tiers[1].threshold", "not an amount"),
        (('rounding = "floor"', 'rounding = "up"'), "program.rounding", ""),
        (('name = "Test Rewards"', 'name = "Test Rewards"\nearn_rat = 3'), "program.earn_rat",
         "unknown key"),
        (('multiplier = "1.5"', 'multiplier = "0.5"'), "program.tiers[1].multiplier", "at least 1"),
        (('timezone = "UTC"', 'timezone = "Mars/Base"'), "program.timezone", "time zone"),
        (('reward = "free-coffee"', 'reward = "nope"'), "program.stamp_cards[0].reward",
         "no reward"),
        (('tiers = ["Gold"]', 'tiers = ["Platinum"]'), "program.rewards[2].tiers", "Platinum"),
    ],
)
def test_bad_configs_name_the_key(change, key, words):
    text = BASE.replace(*change, 1)
    assert text != BASE
    with pytest.raises(ProgramError) as info:
        load_program_text(text)
    assert str(info.value).startswith(key), str(info.value)
    assert words in str(info.value)


def test_reward_without_cost_is_rejected():
    text = BASE.replace('kind = "free_product"\ncost = 150', 'kind = "free_product"')
    with pytest.raises(ProgramError) as info:
        load_program_text(text)
    assert "program.rewards[1]" in str(info.value)
    assert "cost" in str(info.value)


def test_unknown_key_in_nested_table():
    with pytest.raises(ProgramError) as info:
        make_program("\n[program.stacking]\nmode = \"add\"\nmax_multipler = \"4\"\n")
    assert str(info.value).startswith("program.stacking.max_multipler: unknown key")


def test_first_tier_must_start_at_zero():
    with pytest.raises(ProgramError, match=r"program.tiers\[0\].threshold"):
        load_program_text(BASE.replace("threshold = 0", "threshold = 10", 1))


def test_not_toml():
    with pytest.raises(ProgramError, match="not valid TOML"):
        load_program_text("[program\nname=")


def test_missing_program_table():
    with pytest.raises(ProgramError, match=r"^program: the \[program\] table is missing"):
        load_program_text("[terminal]\nstore='S1'\n")


def test_percent_reward_needs_percent():
    with pytest.raises(ProgramError, match="percent"):
        make_program('\n[[program.rewards]]\nid="x"\nname="X"\nkind="percent_discount"\ncost=5\n')
