"""Turn a pydantic ValidationError into one sentence that names the key.

    >>> describe(exc, prefix="terminal")
    'terminal.manager_pin: String should have at least 4 characters'
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


def dotted(loc: tuple[Any, ...], prefix: str = "") -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif str(part).startswith(("function-", "constrained-", "literal[")):
            continue
        else:
            out += f".{part}" if out else str(part)
    return out


def describe(exc: ValidationError, prefix: str = "") -> str:
    err = exc.errors()[0]
    if err["type"] == "extra_forbidden":
        problem = "unknown key (check its spelling against config.example.toml)"
    elif err["type"] == "missing":
        problem = "is required"
    else:
        problem = err["msg"].removeprefix("Value error, ")
    return f"{dotted(err['loc'], prefix)}: {problem}"
