"""The `pos` subcommands, one module per area; `pos_agent.cli` wires them together.

    >>> from pos_agent.cli import main
    >>> main(["sale", "--member", "6012345678901234", "--amount", "12.50", "--json"])
    0

Each module has `register(subparsers, common)` adding its commands; a command's handler
takes the parsed arguments and returns the exit code, printing through `output.emit`.

`AREAS` is the table of contents: which module registers which commands, and the one line
`pos --help` shows for each. The modules take their commands' one-line help from it, so
`pos --help` can list every command without importing a module or building its arguments.
"""

AREAS: dict[str, dict[str, str]] = {
    "setup": {"init": "create the terminal database and identity"},
    "members": {
        "enrol": "enrol a new member (offline)",
        "member": "show a member",
        "card": "member cards",
    },
    "sales": {
        "sale": "record a sale (and its points)",
        "redeem": "redeem a reward or use a voucher",
        "void": "void a sale or redemption",
        "refund": "refund part of a sale",
        "checkin": "store visit without a sale",
    },
    "catalog": {"rewards": "list the rewards catalog",
                "products": "list or search the product catalogue (by name, barcode, SKU)"},
    "admin": {
        "print": "the printer and the print queue",
        "report": "reports",
        "check": "verify the local ledger",
    },
    "sync": {"sync": "sync with the hub: end-of-day run, service, status"},
    "app": {"app": "open the cashier's terminal app"},
    "demo": {"demo": "run the demo: a local hub, a seeded terminal, then the app"},
}
"""area module -> {command: its one-line help}, in the order `pos --help` lists them."""

HELP: dict[str, str] = {name: text for commands in AREAS.values()
                        for name, text in commands.items()}
"""command -> its one-line help."""
