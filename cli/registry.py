"""How a command module registers its commands: a name, a help text, the arguments and the handler."""
from __future__ import annotations

import argparse
from collections.abc import Callable

Handler = Callable[[argparse.Namespace], int]


class Commands:
    """A level of subcommands: ``add`` a command with its handler, or a ``group`` of actions under one name."""

    def __init__(self, sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self._sub = sub
        self._common = common

    def add(self, name: str, help_text: str, handler: Handler) -> argparse.ArgumentParser:
        parser = self._sub.add_parser(name, help=help_text, parents=[self._common], description=help_text)
        parser.set_defaults(handler=handler)
        return parser

    def group(self, name: str, help_text: str) -> Commands:
        parser = self._sub.add_parser(name, help=help_text, parents=[self._common], description=help_text)
        return Commands(parser.add_subparsers(dest=f"{name}_command", required=True, metavar="ACTION"),
                        self._common)
