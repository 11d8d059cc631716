"""`[hub]` is checked like the terminal's settings: a misspelt or unknown key is an error
naming it (it used to be ignored, so its default silently applied)."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.exceptions import ConfigError
from hub.settings import load_settings

from .conftest import run_cli, write_config


def test_unknown_hub_key_is_an_error_naming_it(tmp_path: Path):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace("[hub]\n", "[hub]\nmax_body_byte = 1024\n", 1))
    with pytest.raises(ConfigError) as err:
        load_settings(str(config))
    assert str(err.value) == (f"{config}: hub.max_body_byte: unknown key (check its spelling "
                              "against config.example.toml)")
    out = run_cli(config, "report", "liability", ok=False)
    assert out.returncode == 1 and "hub.max_body_byte: unknown key" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_hub_key_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    config = write_config(tmp_path)
    assert load_settings(str(config)).hub.max_body_bytes == 16 * 1024 * 1024
    monkeypatch.setenv("POS_HUB__WEBHOOK_URLL", "https://hooks.example/x")
    with pytest.raises(ConfigError, match=r"hub\.webhook_urll: unknown key"):
        load_settings(str(config))
    monkeypatch.delenv("POS_HUB__WEBHOOK_URLL")
    monkeypatch.setenv("POS_HUB__MAX_BODY_BYTES", "4096")
    assert load_settings(str(config)).hub.max_body_bytes == 4096
