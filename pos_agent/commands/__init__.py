"""The `pos` subcommands, one module per area; `pos_agent.cli` wires them together.

    >>> from pos_agent.cli import main
    >>> main(["sale", "--member", "6012345678901234", "--amount", "12.50", "--json"])
    0

Each module has `register(subparsers, common)` adding its commands; a command's handler
takes the parsed arguments and returns the exit code, printing through `output.emit`.
"""
