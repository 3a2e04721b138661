"""``whistle migrate | deploy | lint | definitions``: the schema and the deployed versions."""
from __future__ import annotations

import argparse

from cli.arguments import engine_for
from cli.output import emit, plural, problem_text, table
from cli.registry import Commands
from engine.deploy.lint import lint_paths


def register(commands: Commands) -> None:
    commands.add("migrate", "create or upgrade the database schema", migrate)

    p = commands.add("deploy", "deploy BPMN/DMN files or folders as new versions (all or nothing)", deploy)
    p.add_argument("paths", nargs="+", metavar="PATH")
    p.add_argument("--user", default="system", help="who deploys (recorded in the audit log)")

    p = commands.add("lint", "check BPMN/DMN files or folders as deploy would, without deploying (no database "
                             "needed); exit 1 if there are errors", lint)
    p.add_argument("paths", nargs="+", metavar="PATH")

    commands.add("definitions", "list deployed processes, decisions and their versions", definitions)


def migrate(args: argparse.Namespace) -> int:
    revision = engine_for(args, check_schema=False).migrate()
    emit(args, {"revision": revision}, lambda v: f"database is at revision {v['revision']}")
    return 0


def deploy(args: argparse.Namespace) -> int:
    results = [r.to_dict() for r in engine_for(args).deploy(args.paths, actor=args.user)]
    emit(args, results, lambda rows: "\n".join(
        [table(rows, ["process_id", "kind", "version", "status", "name", "file"])]
        + [f"warning: {problem_text(w)}" for r in rows if r["status"] == "new" for w in r["warnings"]]))
    return 0


def lint(args: argparse.Namespace) -> int:
    """Every problem deploy would report, errors and warnings; nothing is deployed."""
    problems = [p.to_dict() for p in lint_paths(args.paths)]
    errors = sum(p["severity"] == "error" for p in problems)
    warnings = len(problems) - errors
    summary = f"{plural(errors, 'error')}, {plural(warnings, 'warning')}" + ("" if errors else " — ready to deploy")
    emit(args, {"ok": not errors, "errors": errors, "warnings": warnings, "problems": problems},
         lambda v: "\n".join([f"{p['severity']}: {problem_text(p)}" for p in v["problems"]] + [summary]))
    return 1 if errors else 0


def definitions(args: argparse.Namespace) -> int:
    emit(args, engine_for(args).definitions(), lambda rows: table(
        rows, ["process_id", "kind", "version", "name", "running_instances", "deployed_at", "file"]))
    return 0
