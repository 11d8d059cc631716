"""The settings base the hub and the terminal share: one TOML file (`config.example.toml`
documents every key) with `POS_<SECTION>__<KEY>` environment overrides, and the
`[program]` table both sides read the same way.

    >>> class MySettings(ConfigFile):
    ...     hub: HubSection = HubSection()
    >>> settings = load_config(MySettings, "hub.toml", ConfigError)

This is the one module of `loyalty` that reads a file (when a settings class is
instantiated from one): it lives here because both roles import `loyalty` and must parse
the program identically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

from pydantic import ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from loyalty.errors import ProgramError
from loyalty.program import Program, program_from_dict
from loyalty.validation import describe

S = TypeVar("S", bound="ConfigFile")


class ConfigFile(BaseSettings):
    """Sections are pydantic models (with `extra="forbid"`, so a misspelt key is an error
    naming it rather than a silently used default); precedence: values passed in code,
    then `POS_...` environment variables, then the file."""

    model_config = SettingsConfigDict(
        env_prefix="POS_", env_nested_delimiter="__", extra="ignore", toml_file=None
    )

    program: dict[str, Any] = {}
    """The `[program]` table: earning rules, tiers, rewards, promotions, stamp cards."""
    config_path: str = ""
    """The file these settings were read from ("" when built in code)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, TomlConfigSettingsSource(settings_cls))

    @property
    def base_dir(self) -> Path:
        """Relative paths in the file are relative to the file's folder."""
        return Path(self.config_path).resolve().parent if self.config_path else Path.cwd()

    def config_program(self) -> Program:
        """The program in this file (ProgramError names what is wrong with it)."""
        return program_from_dict(self.program)


def load_config(cls: type[S], path: str, error: type[Exception]) -> S:
    """Settings of class `cls` read from the TOML file at `path`; `error` (the role's
    ConfigError) with one sentence naming the file and the key when it cannot be."""
    if not Path(path).is_file():
        raise error(
            f"config file {path} not found: copy config.example.toml there or pass --config"
        )

    class _FromFile(cls):  # type: ignore[valid-type,misc]
        model_config = SettingsConfigDict(toml_file=path)

    try:
        return _FromFile(config_path=str(path))
    except ValidationError as exc:
        raise error(f"{path}: {describe(exc)}") from exc
    except (ValueError, ProgramError) as exc:  # TOML syntax errors
        raise error(f"{path}: {exc}") from exc
