"""``whistle migrate | deploy | lint | definitions | diff``: the schema, the deployed versions and what changed
between two of them."""
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

    p = commands.add("diff", "what changed between two versions of a process or decision: elements added, "
                             "removed and changed, flows rerouted, decision rules and form fields", diff)
    p.add_argument("process_id", metavar="PROCESS_ID")
    p.add_argument("old", type=int, metavar="V1")
    p.add_argument("new", type=int, metavar="V2")


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


def diff(args: argparse.Namespace) -> int:
    """The semantic diff of two versions (``engine.deploy.diff``): tables, or the whole diff with ``--json``. The
    operator at the server's shell reads it (actor ``None``: the designers-only rule is for pages and HTTP)."""
    emit(args, engine_for(args).diff(args.process_id, args.old, args.new, None), diff_text)
    return 0


def diff_text(d: dict) -> str:
    """A diff as text: a heading and a table per kind of change, nothing for what did not change."""
    lines = [f"{d['process_id']}: version {d['from']['version']} -> {d['to']['version']}"]

    def section(title: str, rows: list[dict], columns: list[str]) -> None:
        if rows:
            lines.extend(["", f"{title}:", table(rows, columns)])

    section("added", d["added"], ["id", "type", "name"])
    section("removed", d["removed"], ["id", "type", "name"])
    section("changed", [{"id": e["id"], "type": e["type"], "name": e["name"], "property": key,
                         "old": _shown(old), "new": _shown(new)}
                        for e in d["changed"] for key, (old, new) in e["changes"].items()],
            ["id", "type", "name", "property", "old", "new"])
    section("flows rerouted", [{"id": f["id"], "name": f["name"], "from": f"{f['source'][0]} -> {f['target'][0]}",
                                "to": f"{f['source'][1]} -> {f['target'][1]}"} for f in d["flows"]],
            ["id", "name", "from", "to"])
    rules = []
    for decision in d["decisions"]:
        where = decision["id"]
        rules += [{"decision": where, "rule": "", "column": key, "old": _shown(old), "new": _shown(new)}
                  for key, (old, new) in decision["changes"].items()]
        rules += [{"decision": where, "rule": f"{r['index']} ({r['id']})", "column": "(added)", "old": "",
                   "new": " | ".join(_shown(c["value"]) for c in r["cells"])} for r in decision["rules"]["added"]]
        rules += [{"decision": where, "rule": f"{r['index']} ({r['id']})", "column": "(removed)",
                   "old": " | ".join(_shown(c["value"]) for c in r["cells"]), "new": ""}
                  for r in decision["rules"]["removed"]]
        rules += [{"decision": where, "rule": f"{r['index']} ({r['id']})", "column": c["label"] or c["column"],
                   "old": _shown(c["old"]), "new": _shown(c["new"])}
                  for r in decision["rules"]["changed"] for c in r["cells"]]
        rules += [{"decision": where, "rule": "", "column": f"{c['label']} ({what})", "old": "", "new": ""}
                  for what in ("added", "removed") for c in decision["columns"][what]]
        if decision["status"] != "changed":
            rules.append({"decision": where, "rule": "", "column": f"({decision['status']})", "old": "", "new": ""})
    section("decisions", rules, ["decision", "rule", "column", "old", "new"])
    fields = []
    for form in d["forms"]:
        fields += [{"form": form["key"], "field": "", "property": key, "old": _shown(old), "new": _shown(new)}
                   for key, (old, new) in form["changes"].items()]
        fields += [{"form": form["key"], "field": f["name"], "property": f"({what})", "old": "", "new": ""}
                   for what in ("added", "removed") for f in form["fields"][what]]
        fields += [{"form": form["key"], "field": f["name"], "property": key, "old": _shown(old), "new": _shown(new)}
                   for f in form["fields"]["changed"] for key, (old, new) in f["changes"].items()]
        if form["status"] != "changed":
            fields.append({"form": form["key"], "field": "", "property": f"({form['status']})", "old": "", "new": ""})
    section("forms", fields, ["form", "field", "property", "old", "new"])
    others = [f for f in d["files"] if f["kind"] not in ("bpmn", "dmn", "form")]
    section("other files", others, ["file", "kind", "status"])
    if len(lines) == 1:
        lines.append("no differences")
    return "\n".join(lines)


def _shown(value: object) -> str:
    """A value in one table cell: none as ``-``, text on one line."""
    if value is None:
        return "-"
    text = str(value).lower() if isinstance(value, bool) else str(value)
    text = " ".join(text.split())
    return text if len(text) <= 60 else text[:57] + "..."
