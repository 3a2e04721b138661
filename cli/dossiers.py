"""``whistle dossier`` and ``whistle audit verify-dossier``: a case's dossier (办理档案) as a PDF, and the check
that a dossier matches the record (docs/dossier.md)."""
from __future__ import annotations

import argparse
from pathlib import Path

from cli.arguments import engine_for
from cli.output import emit
from cli.registry import Commands
from engine.api import Whistle
from engine.errors import InvalidInput
from webui.staff.dossier import dossier_pdf, read_manifest

EXIT_DIFFERENT = 7  # as `whistle audit verify`: the record and what was handed out disagree


def register(commands: Commands) -> None:
    p = commands.add("dossier", "write a case's dossier (办理档案) as a PDF: data, diagram, tasks, attachments, "
                                "the audit trail with its hash chain", dossier)
    p.add_argument("instance_id", type=int)
    p.add_argument("--out", required=True, help="the PDF file to write")
    p.add_argument("--user", help="as this person may see the case (default: the district's full record)")


def register_audit(audit: Commands) -> None:
    p = audit.add("verify-dossier", "check a dossier PDF: offline (its manifest, with this machine's audit key if "
                                    "any), or against the record with --db; exit 7 naming the first difference",
                  verify_dossier)
    p.add_argument("file")


def dossier(args: argparse.Namespace) -> int:
    content = dossier_pdf(engine_for(args), args.user, args.instance_id)
    Path(args.out).write_bytes(content)
    emit(args, {"instance_id": args.instance_id, "file": args.out, "bytes": len(content)},
         lambda v: f"dossier of instance {v['instance_id']} written to {v['file']} ({v['bytes']} bytes)")
    return 0


def verify_dossier(args: argparse.Namespace) -> int:
    try:
        content = Path(args.file).read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {args.file}: {exc.strerror}") from exc
    manifest = read_manifest(content, args.file)
    report = engine_for(args).verify_dossier(manifest) if args.db is not None \
        else Whistle.verify_dossier_offline(manifest)
    emit(args, report.to_dict(), _report_text)
    return 0 if report.ok else EXIT_DIFFERENT


def _report_text(r: dict) -> str:
    if r["ok"]:
        lines = [f"dossier of instance {r['instance_id']} verified: {r['rows']} rows"]
    else:
        where = f" at row {r['row_id']} (#{r['seq']})" if r["row_id"] is not None else ""
        lines = [f"dossier of instance {r['instance_id']} does NOT match{where}, field {r['field']}: {r['reason']}"]
    lines += [f"  checked: {c}" for c in r["checked"]] + [f"  note: {n}" for n in r["notes"]]
    return "\n".join(lines)
