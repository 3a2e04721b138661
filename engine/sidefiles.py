"""Files deployed beside the diagrams — forms (``engine.forms``) and catalogs (``engine.scripting.catalogs``):
taken out of a deployment's sources and checked the same way, before the versions they belong to are built."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.errors import Problem


def take_checked(sources: list, kind: str, key_of: Callable[[str], str],
                 check: Callable[[str, str], tuple[Any, list[Problem]]], problems: list[Problem], label: str,
                 bad_key: Callable[[str], str | None] = lambda key: None) -> list:
    """Take the sources of ``kind`` out of ``sources`` (in place) and check each: a bad key (``bad_key`` says
    why), a key defined twice, or a file ``check`` finds problems in is reported as ``label: …``; returns the
    files that passed."""
    mine = [s for s in sources if s.kind == kind]
    sources[:] = [s for s in sources if s.kind != kind]
    good: list = []
    seen: dict[str, str] = {}  # key -> the file that defined it first
    for source in mine:
        key = key_of(source.name)
        why = bad_key(key)
        if why:
            problems.append(Problem(source.name, None, None, f"{label}: {why}"))
            continue
        if key in seen:
            problems.append(Problem(source.name, None, None, f"{label} '{key}' is also defined by {seen[key]}"))
            continue
        seen[key] = source.name
        parsed, found = check(source.name, source.content)
        problems.extend(found)
        if parsed is not None:
            good.append(source)
    return good
