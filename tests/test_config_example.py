"""`config.example.toml` documents every setting the code reads: each field of the settings
models appears in its section, set or commented out, with a comment saying what it is; and
the file loads unchanged on both sides (the demo runs with it)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from pydantic import BaseModel

from hub.settings import HubSection
from hub.settings import load_settings as load_hub_settings
from loyalty.program import Bonuses, Program, Promotion, Reward, Stacking, StampCard, Tier
from pos_agent.settings import SyncSettings, TerminalSettings, load_settings
from printers.settings import PrinterSettings

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
TEXT = EXAMPLE.read_text()


def section(name: str) -> list[str]:
    """The lines of `[name]` up to the next top-level section."""
    lines = TEXT.splitlines()
    start = lines.index(f"[{name}]")
    end = next((i for i in range(start + 1, len(lines))
                if re.match(r"^\[[a-z_]+\]$", lines[i])), len(lines))
    return lines[start + 1:end]


def key_line(lines: list[str], key: str) -> int | None:
    pattern = re.compile(rf"^#?\s*{re.escape(key)}\s*=")
    return next((i for i, line in enumerate(lines) if pattern.match(line)), None)


ASSIGNMENT = re.compile(r"^#?\s*[a-z_]+\s*=")


def documented(lines: list[str], at: int) -> bool:
    """A comment on the key's line, or a prose comment in its block (the lines since the
    last blank one: a comment may head a group of related keys)."""
    if "#" in lines[at].split("=", 1)[1]:
        return True
    start = max((i for i in range(at) if not lines[i].strip()), default=-1) + 1
    return any(line.startswith("#") and not ASSIGNMENT.match(line)
               for line in lines[start:at])


@pytest.mark.parametrize("name, model", [
    ("terminal", TerminalSettings), ("printer", PrinterSettings), ("sync", SyncSettings),
    ("hub", HubSection)])
def test_every_setting_is_in_its_section_with_a_comment(name: str, model: type[BaseModel]):
    lines = section(name)
    missing, bare = [], []
    for key in model.model_fields:
        at = key_line(lines, key)
        if at is None:
            missing.append(key)
            continue
        if not documented(lines, at):
            bare.append(key)
    assert missing == [], f"[{name}] settings missing from config.example.toml: {missing}"
    assert bare == [], f"[{name}] settings without a comment in config.example.toml: {bare}"


def test_every_program_field_is_shown_or_explained():
    program_text = TEXT[TEXT.index("\n[program]\n"):TEXT.index("\n[terminal]\n")]
    missing = [f"{model.__name__}.{key}"
               for model in (Program, Tier, StampCard, Reward, Bonuses, Promotion, Stacking)
               for key in model.model_fields
               if not re.search(rf"(^|[\s#,(.]){re.escape(key)}\b", program_text, re.M)]
    assert missing == []


def test_the_example_loads_on_both_sides_unchanged(tmp_path: Path):
    config = tmp_path / "config.toml"
    config.write_text(TEXT)
    terminal = load_settings(str(config))
    hub = load_hub_settings(str(config))
    raw = tomllib.loads(TEXT)
    assert terminal.terminal.store == raw["terminal"]["store"]
    assert terminal.printer.kind == "file"  # a new user sees real printer output
    assert hub.hub.port == raw["hub"]["port"]
