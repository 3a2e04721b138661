"""Turning command-line arguments into what the engine takes: JSON objects, and the engine ``--db`` names."""
from __future__ import annotations

import argparse
import json

from engine.api import Whistle
from engine.errors import WhistleError


def json_object(text: str | None, what: str) -> dict | None:
    """The JSON object in ``text`` (an option named ``what``), or None when the option was not given."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WhistleError(f"{what} is not valid JSON: {exc.msg} at character {exc.pos}") from exc
    if not isinstance(value, dict):
        raise WhistleError(f"{what} must be a JSON object, like '{{\"key\": \"value\"}}'")
    return value


def engine_for(args: argparse.Namespace, *, check_schema: bool = True) -> Whistle:
    """The engine on the database of ``--db`` (else WHISTLE_DATABASE_URL or var/whistle.sqlite)."""
    return Whistle(args.db, check_schema=check_schema)
