"""The till every app test starts from: the example config with a dummy printer,
`pos init` done, and HQ's demo cafe catalogue pulled."""

from __future__ import annotations

from pathlib import Path

import pytest

from pos_agent.identity import init_terminal
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from tests.app.catalogue_seed import seed_catalogue
from tests.example_config import write_example_config


@pytest.fixture
def store(tmp_path: Path):
    config = tmp_path / "pos.toml"
    write_example_config(config)
    config.write_text(config.read_text().replace('kind = "file"', 'kind = "dummy"'))
    settings = load_settings(str(config))
    store = open_store(settings)
    init_terminal(store.db, "S001", "T1")
    seed_catalogue(store)  # the demo cafe catalogue, as pulled from HQ
    return store
