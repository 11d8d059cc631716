"""`config.example.toml` for tests that record sales at the real time.

    >>> text = example_config_text()               # without the day-dependent promotions
    >>> text = example_config_text(steady=False)   # exactly as shipped

The demo program doubles points on Tuesdays and runs a dated pastry week: a test that
rings up a sale "now" and expects a number of points would pass or fail with the day it
runs. Those tests use the steady program; the promotions themselves are tested with fixed
dates in tests/loyalty.
"""

from __future__ import annotations

import re
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "config.example.toml"
DAY_DEPENDENT = ("double-tuesday", "pastry-week")


def example_config_text(*, steady: bool = True) -> str:
    text = EXAMPLE.read_text()
    if not steady:
        return text
    for promotion in DAY_DEPENDENT:
        block = re.compile(rf'\[\[program\.promotions\]\]\nid = "{promotion}"\n(?:.+\n)*?\n')
        text, found = block.subn("", text)
        if found != 1:
            raise AssertionError(f"promotion {promotion} not found in config.example.toml")
    return text


def write_example_config(path: Path, *, steady: bool = True) -> Path:
    path.write_text(example_config_text(steady=steady))
    return path
