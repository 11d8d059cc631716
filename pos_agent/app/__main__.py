"""`python -m pos_agent.app --config pos.toml`: the same as `pos app`."""

from __future__ import annotations

import argparse

from pos_agent.app import run_app
from pos_agent.settings import load_settings
from pos_agent.store import open_store
from pos_agent.sync.setup import build_agent

parser = argparse.ArgumentParser(prog="pos app")
parser.add_argument("--config")
args = parser.parse_args()
settings = load_settings(args.config)
run_app(settings, agent=build_agent(settings, open_store(settings)))
