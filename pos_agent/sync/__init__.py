"""The sync agent: pushes this terminal's events to the hub and pulls what the rest of the
world did (`client.py` talks HTTP, `agent.py` runs the push/pull cycle, `local.py` reads and
writes the terminal's side of it)."""
