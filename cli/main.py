"""The ``whistle`` command line: a thin shell over ``engine.api.Whistle``.

Every command takes ``--json`` for machine-readable output. Errors go to stderr as one sentence with a
non-zero exit code (1 invalid input, 2 usage, 3 conflict, 4 not found, 5 forbidden, 6 incident, 7 the audit
log was tampered with). The commands live by concern in ``cli.deployment``, ``cli.accounts``, ``cli.cases``,
``cli.case_admin``, ``cli.incidents``, ``cli.repairs``, ``cli.batches``, ``cli.services`` and ``cli.operations``; each
registers its arguments and handler with ``cli.parser``.
"""
from __future__ import annotations

import json
import sys

from cli.parser import build_parser
from engine.errors import DeploymentInvalid, WhistleError


def run(argv: list[str] | None = None) -> int:
    """Run one ``whistle`` command; the exit code, never a traceback."""
    args = build_parser().parse_args(argv)
    args.json = getattr(args, "json", False)
    args.db = getattr(args, "db", None)
    try:
        return args.handler(args)
    except WhistleError as exc:
        if args.json:
            print(json.dumps(exc.to_dict(), ensure_ascii=False, indent=2))
        print(f"whistle: {exc.message}", file=sys.stderr)
        if isinstance(exc, DeploymentInvalid):
            for problem in exc.problems:
                print(f"  {problem}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # never a bare traceback
        print(f"whistle: unexpected error: {exc.__class__.__name__}: {exc}", file=sys.stderr)
        return 1


def main() -> None:
    sys.exit(run())


if __name__ == "__main__":
    main()
