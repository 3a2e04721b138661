"""The manifest of a case dossier (办理档案) and its verification: what the PDF says of the case's audit chain,
in a form a machine can check offline (with the audit key, no database) and against the record (docs/dossier.md).

A manifest lists the rows of one case's chain in order. Every row keeps what links the chain — its ``seq``
(position, from 1), ``id``, ``hash``, ``prev_hash`` and ``key_id`` — and, when the dossier's reader may see them,
its content: ``at``, ``event``, ``task_id``, ``actor`` and ``details`` (the stored JSON text, exactly as signed).
Content the reader's audience hides (ADR 9) is left out and named in ``withheld``; the hashes still show the
chain is whole. ``head`` is the chain's signed head when the dossier was made; ``digest`` is the SHA-256 of the
manifest without it, printed on the dossier's first page.

Offline with the keyring, every row whose content is present is re-signed and compared, every link is recomputed
from the head before it, and the head from the last row: a dossier that was edited, or rows left out, shows.
Against the record, each row is compared field by field with the database's, and the case's chain there is
verified as ``whistle audit verify`` does.
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any

from engine.audit import chain, keys
from engine.store import Session
from engine.store import audit as stored

FORMAT = "whistle-dossier/1"
ATTACHMENT_NAME = "whistle-dossier.json"  # the file the PDF embeds
CONTENT_FIELDS = ("at", "event", "actor", "task_id", "details")
LINK_FIELDS = ("id", "hash", "prev_hash", "key_id")


def build_manifest(instance_id: int, process_id: str, version: int, head: str | None, rows: list[Any],
                   visible: dict[int, dict], audience: str, generated_at: str) -> dict:
    """The manifest of a case's chain: ``rows`` as stored (``engine.store.audit.events_of``), ``visible`` the
    events the reader may see by row id (``engine.casework.audiences.visible_events``), the others withheld."""
    entries = []
    for seq, row in enumerate(rows, start=1):
        entry: dict[str, Any] = {"seq": seq, "id": row.id, "hash": row.hash, "prev_hash": row.prev_hash,
                                 "key_id": row.key_id}
        shown = visible.get(row.id)
        withheld = []
        if shown is None:
            withheld = list(CONTENT_FIELDS)
        else:
            entry.update({"at": row.at.isoformat(), "event": row.event_type, "task_id": row.task_id})
            if shown.get("actor") == row.actor:
                entry["actor"] = row.actor
            else:
                withheld.append("actor")
            if shown.get("details") == json.loads(row.details):
                entry["details"] = row.details
            else:
                withheld.append("details")
        if withheld:
            entry["withheld"] = withheld
        entries.append(entry)
    manifest = {"format": FORMAT, "instance_id": instance_id, "chain": chain.chain_name(instance_id),
                "process_id": process_id, "version": version, "audience": audience, "generated_at": generated_at,
                "rows": entries, "head": head}
    manifest["digest"] = digest_of(manifest)
    return manifest


def digest_of(manifest: dict) -> str:
    """SHA-256 (hex) of the manifest's canonical JSON without its ``digest``."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    return hashlib.sha256(chain.canonical_json(body).encode("utf-8")).hexdigest()


@dataclass
class DossierReport:
    """What a verification found: ``ok``, and else the first difference — ``reason``, the row (``row_id``,
    ``seq``) and the ``field``. ``checked`` names what was checked; ``notes`` what is worth knowing besides."""

    ok: bool
    instance_id: int | None = None
    rows: int = 0
    reason: str | None = None
    row_id: int | None = None
    seq: int | None = None
    field: str | None = None
    checked: list[str] = dataclasses.field(default_factory=list)
    notes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict:
        return {"ok": self.ok, "instance_id": self.instance_id, "rows": self.rows, "reason": self.reason,
                "row_id": self.row_id, "seq": self.seq, "field": self.field, "checked": self.checked,
                "notes": self.notes}


class _Different(Exception):
    def __init__(self, reason: str, entry: dict | None = None, what: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.what = reason, what
        self.row_id = entry.get("id") if entry else None
        self.seq = entry.get("seq") if entry else None


def check_shape(manifest: object) -> dict:
    """The manifest as a dict of the known format, or ``ValueError`` saying what is wrong with it."""
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ValueError(f"not a Whistle dossier manifest (format {FORMAT} expected)")
    rows = manifest.get("rows")
    if not isinstance(manifest.get("instance_id"), int) or not isinstance(rows, list) \
            or not all(isinstance(r, dict) for r in rows):
        raise ValueError("the manifest has no instance_id or no list of rows")
    return manifest


def verify_offline(manifest: dict, keyring: keys.Keyring | None) -> DossierReport:
    """Check a manifest by itself: its digest, the rows' order, and with the keyring every signature, link and
    the head. Without the keyring only the digest and the order can be checked (``notes`` says so)."""
    report = DossierReport(True, manifest["instance_id"], len(manifest["rows"]))
    try:
        _check_digest(manifest, report)
        _check_order(manifest, report)
        if keyring is None:
            report.notes.append("no audit key here: signatures, links and the head were not checked")
        else:
            _check_signatures(manifest, keyring, report)
    except _Different as bad:
        _failed(report, bad)
    return report


def verify_against(session: Session, manifest: dict, keyring: keys.Keyring) -> DossierReport:
    """``verify_offline``, then every row against the database's row of the same place in the case's chain, then
    the case's chain in the database (signatures, links, its head)."""
    report = verify_offline(manifest, keyring)
    if not report.ok:
        return report
    instance_id = manifest["instance_id"]
    try:
        head = stored.case_head(session, instance_id)
        if head is None and not stored.case_exists(session, instance_id):
            raise _Different(f"the record has no case {instance_id}")
        rows = stored.events_of(session, instance_id)
        _compare_rows(manifest, rows, report)
        if len(rows) == len(manifest["rows"]) and head != manifest.get("head"):
            raise _Different(f"the head differs: the dossier has {manifest.get('head')}, the record has {head}",
                             None, "head")
        _check_record_chain(keyring, instance_id, rows, head)
        report.checked.append("the case's chain in the database: signatures, links and signed head")
    except _Different as bad:
        _failed(report, bad)
    return report


def _failed(report: DossierReport, bad: _Different) -> None:
    report.ok, report.reason, report.row_id, report.seq, report.field = False, bad.reason, bad.row_id, bad.seq, bad.what


def _check_digest(manifest: dict, report: DossierReport) -> None:
    if manifest.get("digest") != digest_of(manifest):
        raise _Different("the manifest's digest does not match its content (the manifest was edited)", None, "digest")
    report.checked.append("the manifest's digest")


def _check_order(manifest: dict, report: DossierReport) -> None:
    last_id = 0
    for index, entry in enumerate(manifest["rows"], start=1):
        if entry.get("seq") != index:
            raise _Different(f"row #{index} of the manifest has seq {entry.get('seq')}", entry, "seq")
        if not isinstance(entry.get("id"), int) or entry["id"] <= last_id:
            raise _Different(f"row #{index} is out of order (id {entry.get('id')} after {last_id})", entry, "id")
        last_id = entry["id"]
    report.checked.append("the rows' order")


def _check_signatures(manifest: dict, ring: keys.Keyring, report: DossierReport) -> None:
    name = chain.chain_name(manifest["instance_id"])
    previous: dict | None = None
    signed = 0
    for entry in manifest["rows"]:
        kid = entry.get("key_id")
        if kid is not None and ring.get(kid) is None:
            raise _Different(f"row {entry['id']} is signed with audit key {kid}, which is not in this keyring",
                             entry, "key_id")
        if entry["prev_hash"] != _link_before(ring, name, previous):
            raise _Different(f"row {entry['id']} (#{entry['seq']}): its link to the row before it is broken (a row "
                             f"was left out, inserted or changed)", entry, "prev_hash")
        if all(f in entry for f in CONTENT_FIELDS):
            if entry["hash"] != _hash_of(ring, manifest["instance_id"], entry):
                raise _Different(f"row {entry['id']} (#{entry['seq']}): its content does not match its hash",
                                 entry, "hash")
            signed += 1
        previous = entry
    if previous is not None:
        kid = previous.get("key_id")
        expected = chain.sign_head(kid, ring.keys[kid], name, previous["seq"], previous["hash"]) if kid else None
        if expected is not None and manifest.get("head") != expected:
            raise _Different("the head does not match the last row (rows were left out at the end, or the head "
                             "was changed)", previous, "head")
    report.checked.append(f"signatures of the {signed} rows shown in full, every link and the head (audit key)")


def _link_before(ring: keys.Keyring, name: str, previous: dict | None) -> str:
    """The ``prev_hash`` the row after ``previous`` must carry (``engine.audit.chain.link_after``)."""
    if previous is None:
        return chain.GENESIS
    kid = previous.get("key_id")
    if kid is None:  # a plain row of before migration 0009: linked by its hash
        return str(previous["hash"])
    return chain.link_after(chain.sign_head(kid, ring.keys[kid], name, previous["seq"], previous["hash"]))


def _hash_of(ring: keys.Keyring, instance_id: int, entry: dict) -> str:
    payload = chain.canonical_json([entry["prev_hash"], entry["at"], entry["event"], entry["actor"], instance_id,
                                    entry["task_id"], entry["details"]]).encode("utf-8")
    kid = entry.get("key_id")
    if kid is None:
        return hashlib.sha256(payload).hexdigest()
    return hmac.digest(ring.keys[kid], payload, "sha256").hex()


def _compare_rows(manifest: dict, rows: list[Any], report: DossierReport) -> None:
    entries = manifest["rows"]
    for entry, row in zip(entries, rows, strict=False):
        record = {"id": row.id, "hash": row.hash, "prev_hash": row.prev_hash, "key_id": row.key_id,
                  "at": row.at.isoformat(), "event": row.event_type, "actor": row.actor, "task_id": row.task_id,
                  "details": row.details}
        for name in LINK_FIELDS + CONTENT_FIELDS:
            if name in entry and entry[name] != record[name]:
                raise _Different(f"row {entry['id']} (#{entry['seq']} of the case's chain): {name} differs — the "
                                 f"dossier has {_short(entry[name])}, the record has {_short(record[name])}",
                                 entry, name)
    if len(rows) < len(entries):
        missing = entries[len(rows)]
        raise _Different(f"row {missing['id']} (#{missing['seq']}) of the dossier is not in the record (the record has "
                         f"{len(rows)} rows)", missing, "id")
    report.checked.append(f"{len(entries)} rows against the database, field by field")
    if len(rows) > len(entries):
        report.notes.append(f"the case went on after the dossier: the record has {len(rows) - len(entries)} "
                            f"later rows")


def _check_record_chain(ring: keys.Keyring, instance_id: int, rows: list[Any], head: str | None) -> None:
    report = chain.verify_case(ring, instance_id, rows, head)
    if not report.ok:
        seq = next((i for i, r in enumerate(rows, start=1) if r.id == report.first_bad_id), None)
        raise _Different(f"the record's chain is broken at row {report.first_bad_id}: {report.reason}",
                         {"id": report.first_bad_id, "seq": seq}, "hash")


def _short(value: object) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return repr(text if len(text) <= 80 else text[:77] + "…")
