"""The ``whistle`` argument parser. Each command module registers its commands, their arguments and the
function that runs them (``args.handler``), so a command's options and its code sit side by side."""
from __future__ import annotations

import argparse

from cli import accounts, batches, case_admin, cases, deployment, incidents, operations, repairs, reports, services
from cli.registry import Commands


def build_parser() -> argparse.ArgumentParser:
    """The parser of every ``whistle`` command; ``--db`` and ``--json`` go before or after the command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", default=argparse.SUPPRESS, help="database URL (default: WHISTLE_DATABASE_URL "
                                                                "or var/whistle.sqlite)")
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")

    parser = argparse.ArgumentParser(prog="whistle", description="Whistle workflow service", parents=[common])
    commands = Commands(parser.add_subparsers(dest="command", required=True, metavar="COMMAND"), common)
    # the order of `whistle --help`
    for module in (deployment, accounts, cases, case_admin, incidents, repairs, batches, reports, services,
                   operations):
        module.register(commands)
    return parser
