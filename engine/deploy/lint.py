"""``whistle lint``: every problem ``whistle deploy`` would report for some files, errors and warnings, without
a database. It runs the deploy checks (``engine.deploy.checks``, the lint rules included) as a dry run in
which nothing is deployed yet."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from engine.deploy.checks import check_deployment
from engine.deploy.sources import SourceFile, read_sources
from engine.errors import DeploymentInvalid, Problem
from engine.store import Session

_UNRESOLVED = "which is neither in this deployment nor deployed"


class _Offline:
    """Stands in for a database session in the checks: nothing is deployed (every lookup of a deployed
    version finds none, so nothing reads further)."""

    class _Nothing:
        def scalar(self) -> None:
            return None

    def execute(self, *args: Any, **kwargs: Any) -> _Nothing:
        return self._Nothing()


def lint_paths(paths: list[str | Path]) -> list[Problem]:
    """Every problem ``whistle deploy`` would report for these files, errors and warnings, without a database.
    A call or decision that is not among the files is a warning (it may be deployed already)."""
    sources, problems = read_sources(paths)
    return lint_sources(sources, problems)


def lint_sources(sources: list[SourceFile], problems: list[Problem], session: Session | None = None) -> list[Problem]:
    """The same for sources already in memory (``problems``: those found reading them). With a ``session``,
    references are resolved against what is deployed there, exactly as a deployment would (the browser's
    modeler checks a diagram so); the session is only read."""
    try:
        check_deployment(session if session is not None else _Offline(),  # type: ignore[arg-type]  # nothing deployed
                         sources, problems)
    except DeploymentInvalid as exc:
        problems = list(exc.problems)
    found = []
    for problem in problems:
        if session is None and _UNRESOLVED in problem.message:
            problem = Problem(problem.file, problem.line, problem.element_id,
                              problem.message.replace(_UNRESOLVED, "which is not among the files linted; it must be "
                                                                   "deployed before this file, or with it"),
                              "warning")
        found.append(problem)
    return with_warnings(found, sources)


def with_warnings(problems: list[Problem], sources: list[SourceFile]) -> list[Problem]:
    """The problems of a check and the lint warnings it left on the sources, once each, in file and line order
    (errors first on a line): the report of ``whistle lint`` and of an upload's dry run."""
    found = list(problems)
    for source in sources:
        for warnings in source.warnings.values():
            found.extend(warnings)
    unique = list(dict.fromkeys(found))
    return sorted(unique, key=lambda p: (p.file, p.line or 0, p.severity != "error", p.message))
