"""Every command and option of a CLI says what it is: the test both `pos` and `pos-hub`
run over their argparse trees.

    >>> undocumented(build_parser(), "pos")     # ([], []) when everything has help
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator


def walk(parser: argparse.ArgumentParser,
         path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """(command path, parser) for the program and each of its subcommands, nested ones too."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from walk(child, (*path, name))


def undocumented(parser: argparse.ArgumentParser, prog: str) -> tuple[list[str], list[str]]:
    """(options without help, commands without a description or help line)."""
    bare_options: list[str] = []
    bare_commands: list[str] = []
    for path, sub in walk(parser):
        if path and not sub.description:
            bare_commands.append(" ".join(path))
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                bare_commands += [f"{' '.join(path)} {c.dest}".strip()
                                  for c in action._choices_actions if not c.help]
            elif not action.help:
                bare_options.append(f"{prog} {' '.join(path)} "
                                    f"{'/'.join(action.option_strings) or action.dest}")
    return bare_options, bare_commands
