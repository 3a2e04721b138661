"""The audit log (一次一留痕): append-only rows, each signed with the audit key over its content and a link to
the row before it in its chain.

Every case has its own chain: a row's ``prev_hash`` links it to the previous row *of the same instance*, and
the instance row keeps its chain's signed head (``audit_head``). Appends to a case's chain are serialised by
the instance row lock every command already holds, so commands on different cases never wait for each other
here. Events that belong to no case (deployments, accounts, timer schedules) form the system chain, whose
head is the ``audit_chain_head`` row ``system``, serialised on PostgreSQL by a transaction-scoped advisory
lock and on SQLite by the write transaction itself.

What a database writer without the key cannot do unseen (``verify``):

- change a row: a row's ``hash`` is HMAC-SHA256 under the key named by its ``key_id`` (``engine.audit.keys``);
- insert, reorder or remove a row inside a chain: a row's ``prev_hash`` is SHA-256 of the signed head of its
  chain as it was before the row, and that head covers the previous row's hash;
- remove a chain's newest rows, or the whole chain: a head is "rows:key id:tag", the tag an HMAC over the
  chain's name, its row count and its newest row's hash. A head is never stored in a row (only its SHA-256
  is), so the head of a shortened chain cannot be found in the database either;
- remove a case's chain with its head: a case always has a head, and its chain starts with ``started``.

Rows written before migration 0009 keep their plain SHA-256 hashes (``key_id`` NULL) and links; the
migration signed each chain's head over them, so they are covered from then on as signed rows are.
"""
from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from engine.audit import keys
from engine.store import Session, statements
from engine.store import audit as stored
from engine.store.models import ProcessInstance
from engine.time import clock

GENESIS = "0" * 64
SYSTEM_CHAIN = "system"
_HEAD_TAG_LENGTH = 40  # hex digits (160 bits): "rows:key id:tag" fits the 64 characters of a head column
_ADVISORY_LOCK_KEY = 0x5748_4953  # "WHIS"
_OPENING_EVENTS = ("started", "timer_fired")  # a case's chain begins with its start (a timer start fires first)


def canonical_json(value: object) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def row_hash(prev_hash: str, at: datetime, event_type: str, actor: str | None, instance_id: int | None,
             task_id: str | None, details: str) -> str:
    """The plain SHA-256 of a row written before migration 0009 (``key_id`` NULL)."""
    payload = canonical_json([prev_hash, at.isoformat(), event_type, actor, instance_id, task_id, details])
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def signed_row_hash(key: bytes, prev_hash: str, at: datetime, event_type: str, actor: str | None,
                    instance_id: int | None, task_id: str | None, details: str) -> str:
    """A row's HMAC-SHA256 under the audit key: the same content as ``row_hash``, keyed."""
    payload = canonical_json([prev_hash, at.isoformat(), event_type, actor, instance_id, task_id, details])
    return hmac.digest(key, payload.encode("utf-8"), "sha256").hex()


def chain_name(instance_id: int | None) -> str:
    return SYSTEM_CHAIN if instance_id is None else f"case:{instance_id}"


def sign_head(kid: str, key: bytes, chain: str, rows: int, last_hash: str) -> str:
    """The head of ``chain`` after ``rows`` rows, the newest hashing to ``last_hash``: "rows:key id:tag"."""
    tag = hmac.digest(key, f"head\x00{chain}\x00{rows}\x00{last_hash}".encode(), "sha256").hex()
    return f"{rows}:{kid}:{tag[:_HEAD_TAG_LENGTH]}"


def parse_head(head: str | None) -> tuple[int, str, str] | None:
    """(rows, key id, tag) of a signed head; None for no head or one that is not in the signed form."""
    parts = (head or "").split(":")
    if len(parts) != 3 or not parts[0].isdigit() or len(parts[2]) != _HEAD_TAG_LENGTH:
        return None
    return int(parts[0]), parts[1], parts[2]


def link_after(head: str | None) -> str:
    """The ``prev_hash`` of the row appended to a chain whose head is ``head``. Only the head's SHA-256 goes
    into the row: the head itself stays out of the table, so nobody can restore it after removing that row."""
    if head is None or head.startswith("0:"):
        return GENESIS
    return hashlib.sha256(head.encode("utf-8")).hexdigest()


@dataclass
class PendingEvent:
    event_type: str
    actor: str | None
    instance_id: int | None = None
    task_id: str | None = None
    details: dict | None = None


class AuditLog:
    """Collects a command's events and writes them, chained, when the command is about to commit."""

    def __init__(self) -> None:
        self.pending: list[PendingEvent] = []

    def record(self, event_type: str, actor: str | None, instance_id: int | None = None,
               task_id: str | None = None, **details: object) -> None:
        self.pending.append(PendingEvent(event_type, actor, instance_id, task_id, details))

    def flush(self, session: Session) -> None:
        if not self.pending:
            return
        session.flush()  # the rows these events refer to are written first
        heads: dict[int | None, str | None] = {}
        counts: dict[int | None, int] = {}
        instances: dict[int, ProcessInstance] = {}
        for instance_id in dict.fromkeys(e.instance_id for e in self.pending):
            if instance_id is None:
                statements(session).advisory_lock(session, _ADVISORY_LOCK_KEY)
                heads[None] = stored.chain_head(session, SYSTEM_CHAIN)
            else:
                instance = stored.locked_instance(session, instance_id)
                instances[instance_id] = instance
                heads[instance_id] = instance.audit_head
            counts[instance_id] = _rows_of(session, instance_id, heads[instance_id])
        had_system_head = heads.get(None) is not None
        stored.insert_events(session, _chain(self.pending, heads, counts))
        if None in heads:
            stored.write_chain_head(session, SYSTEM_CHAIN, counts[None], heads[None], clock.now(),
                                    exists_already=had_system_head)
        for instance_id, instance in instances.items():
            stored.set_case_head(session, instance, heads[instance_id])  # under the row lock
        self.pending.clear()

    def take_chain(self, instance: ProcessInstance) -> tuple[list[dict], str | None]:
        """Take this instance's pending events as chained rows, for the caller to insert together with the
        instance's own write (``engine.runtime.instances.write_step``); returns the rows and the instance's new
        chain head."""
        mine = [e for e in self.pending if e.instance_id == instance.id]
        if not mine:
            return [], instance.audit_head
        heads: dict[int | None, str | None] = {instance.id: instance.audit_head}
        parsed = parse_head(instance.audit_head)
        rows = parsed[0] if parsed else _rows_of(stored.session_of(instance), instance.id, instance.audit_head)
        counts: dict[int | None, int] = {instance.id: rows}
        self.pending = [e for e in self.pending if e.instance_id != instance.id]
        return _chain(mine, heads, counts), heads[instance.id]


def _rows_of(session: Session | None, instance_id: int | None, head: str | None) -> int:
    """How many rows the chain has, as its head says. A head not in the signed form is no head Whistle wrote:
    the rows are counted, and the next row links to that head's hash, so ``verify`` reports it there."""
    parsed = parse_head(head)
    if parsed is not None:
        return parsed[0]
    if head is None or session is None:
        return 0
    return stored.row_count(session, instance_id)


def _chain(events: list[PendingEvent], heads: dict[int | None, str | None],
           counts: dict[int | None, int]) -> list[dict]:
    """The rows for ``events``, each signed and linked to the head of its chain before it; ``heads`` and
    ``counts`` move along."""
    ring = keys.audit_keyring()
    kid, key = ring.current_id, ring.current
    at = clock.now()
    rows = []
    for event in events:
        instance_id = event.instance_id
        details = canonical_json(event.details or {})
        prev = link_after(heads[instance_id])
        digest = signed_row_hash(key, prev, at, event.event_type, event.actor, instance_id, event.task_id, details)
        rows.append({"at": at, "event_type": event.event_type, "actor": event.actor, "instance_id": instance_id,
                     "task_id": event.task_id, "details": details, "prev_hash": prev, "hash": digest,
                     "key_id": kid})
        counts[instance_id] += 1
        heads[instance_id] = sign_head(kid, key, chain_name(instance_id), counts[instance_id], digest)
    return rows


@dataclass
class VerifyReport:
    ok: bool
    rows: int
    first_bad_id: int | None = None
    reason: str | None = None
    instance_id: int | None = None  # the case whose chain is wrong, when it is one
    chains: int = 0

    def to_dict(self) -> dict:
        return {"ok": self.ok, "rows": self.rows, "first_bad_id": self.first_bad_id, "reason": self.reason,
                "instance_id": self.instance_id, "chains": self.chains}


@dataclass
class _ChainEnd:
    """What ``verify`` knows of a chain so far: its length, its newest row, how it began."""

    rows: int = 0
    last_id: int | None = None
    last_hash: str = GENESIS
    last_kid: str | None = None  # None: the newest row is a plain SHA-256 row (before migration 0009)
    signed: bool = False  # a signed row was seen: no plain row may follow
    opened: bool = False  # the case's "started" row was seen among its first rows
    deployed: int = 0  # "deployed" rows (system chain)
    label: str = field(default="")


class _Tampered(Exception):
    def __init__(self, reason: str, row_id: int | None = None, instance_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason, self.row_id, self.instance_id = reason, row_id, instance_id


def verify(session: Session, batch: int = 5000, keyring: keys.Keyring | None = None) -> VerifyReport:
    """Walk every chain with the keyring: each row's signature and link, then each chain against its signed
    head. The first thing found wrong is reported, naming the row or the case."""
    ring = keyring or keys.audit_keyring()
    chains: dict[int | None, _ChainEnd] = {}
    count = 0
    try:
        last_id = 0
        while True:
            rows = stored.rows_after(session, last_id, batch)
            if not rows:
                break
            for row in rows:
                count += 1
                end = chains.get(row.instance_id)
                if end is None:
                    end = chains[row.instance_id] = _ChainEnd(label=_label(row.instance_id))
                _check_row(ring, end, row)
                last_id = row.id
        _check_heads(session, ring, chains)
    except _Tampered as bad:
        return VerifyReport(False, count, bad.row_id, bad.reason, bad.instance_id, len(chains))
    return VerifyReport(True, count, chains=len(chains))


def verify_case(ring: keys.Keyring, instance_id: int, rows: list[Any], head: str | None) -> VerifyReport:
    """One case's chain as ``verify`` checks it: ``rows`` its rows in order (``engine.store.audit.events_of``),
    ``head`` the signed head on its instance row (a case dossier is checked against it, ``engine.audit.dossier``)."""
    end = _ChainEnd(label=_label(instance_id))
    try:
        for row in rows:
            _check_row(ring, end, row)
        _check_head(ring, instance_id, end, head)
        if end.rows and not end.opened:
            raise _Tampered(f"{end.label} does not begin with the case's 'started' row", end.last_id, instance_id)
    except _Tampered as bad:
        return VerifyReport(False, end.rows, bad.row_id, bad.reason, instance_id, 1)
    return VerifyReport(True, end.rows, instance_id=instance_id, chains=1)


def _label(instance_id: int | None) -> str:
    return "the system chain" if instance_id is None else f"instance {instance_id}'s chain"


def _check_row(ring: keys.Keyring, end: _ChainEnd, row: Any) -> None:  # a row of stored.rows_after
    instance_id = row.instance_id
    chain = chain_name(instance_id)
    if row.key_id is None:
        if end.signed:
            raise _Tampered("it is a plain SHA-256 row after signed rows of its chain (written or rewritten without "
                            "the audit key)", row.id, instance_id)
        linked = row.prev_hash == (end.last_hash if end.rows else GENESIS)
        genuine = row_hash(row.prev_hash, row.at, row.event_type, row.actor, instance_id, row.task_id,
                           row.details) == row.hash
    else:
        key = ring.get(row.key_id)
        if key is None:
            raise _Tampered(f"it is signed with audit key {row.key_id}, which is not in the keyring (a retired key "
                            f"missing from WHISTLE_AUDIT_OLD_KEYS or var/audit_key.old, or a forged row)",
                            row.id, instance_id)
        if not end.rows:
            linked = row.prev_hash == GENESIS
        else:
            # The head the writer saw was signed with the newest row's key; after the plain rows of before
            # migration 0009, with whichever key the migration had.
            kids = [end.last_kid] if end.last_kid is not None else list(ring.keys)
            linked = any(row.prev_hash == link_after(sign_head(k, ring.keys[k], chain, end.rows, end.last_hash))
                         for k in kids)
        genuine = hmac.compare_digest(signed_row_hash(key, row.prev_hash, row.at, row.event_type, row.actor,
                                                      instance_id, row.task_id, row.details), row.hash)
        end.signed = True
    if not linked:
        raise _Tampered("its link to the previous row of its chain is broken (a row before it was changed, removed "
                        "or inserted)", row.id, instance_id)
    if not genuine:
        raise _Tampered("its content does not match its hash (the row was modified)", row.id, instance_id)
    if instance_id is not None and not end.opened:
        if row.event_type == "started":
            end.opened = True
        elif end.rows > 0 or row.event_type not in _OPENING_EVENTS:
            raise _Tampered(f"{end.label} does not begin with the case's 'started' row (its first rows were "
                            f"removed)", row.id, instance_id)
    if instance_id is None and row.event_type == "deployed":
        end.deployed += 1
    end.rows += 1
    end.last_id, end.last_hash, end.last_kid = row.id, row.hash, row.key_id


def _check_heads(session: Session, ring: keys.Keyring, chains: dict[int | None, _ChainEnd]) -> None:
    """Every case has a signed head that its chain ends at; so has the system chain; no chain lost its case."""
    cases = set()
    for instance_id, head in stored.case_heads(session):
        cases.add(instance_id)
        end = chains.get(instance_id) or _ChainEnd(label=_label(instance_id))
        _check_head(ring, instance_id, end, head)
        if end.rows and not end.opened:
            raise _Tampered(f"{end.label} does not begin with the case's 'started' row (its first rows were "
                            f"removed)", end.last_id, instance_id)
    orphans = sorted(i for i in chains if i is not None and i not in cases)
    if orphans:
        end = chains[orphans[0]]
        raise _Tampered(f"instance {orphans[0]} is gone, but {end.rows} rows of its audit chain remain (the case "
                        f"was deleted)", end.last_id, orphans[0])
    system = chains.get(None) or _ChainEnd(label=_label(None))
    head = stored.chain_head(session, SYSTEM_CHAIN)
    if head is None and not system.rows:
        if stored.any_version_deployed(session):
            raise _Tampered("versions are deployed, but the system chain and its head are gone (the audit rows "
                            "were deleted)")
        return  # a database nothing was ever recorded in
    _check_head(ring, None, system, head)
    deployed = stored.deployed_versions(session)
    if system.deployed < deployed:
        raise _Tampered(f"{deployed} versions are deployed, but the system chain records {system.deployed} "
                        f"deployments (its rows were deleted and the chain begun again)", system.last_id)


def _check_head(ring: keys.Keyring, instance_id: int | None, end: _ChainEnd, head: str | None) -> None:
    label, found = end.label, end.rows
    if head is None:
        what = f"but {found} rows" if found else "and no rows: its chain and its head were removed"
        raise _Tampered(f"{label} has no head {what}", end.last_id, instance_id)
    parsed = parse_head(head)
    if parsed is None:
        raise _Tampered(f"the head of {label} is not signed (written without the audit key)", end.last_id, instance_id)
    rows, kid, _ = parsed
    key = ring.get(kid)
    if key is None:
        raise _Tampered(f"the head of {label} is signed with audit key {kid}, which is not in the keyring",
                        end.last_id, instance_id)
    if found < rows:
        gone = "all of them are missing" if not found else f"{rows - found} are missing"
        raise _Tampered(f"{label} has {found} rows but its signed head says {rows}: {gone} (removed from the "
                        f"database)", end.last_id, instance_id)
    if found > rows:
        raise _Tampered(f"{label} has {found} rows but its signed head says {rows} (rows added after its head)",
                        end.last_id, instance_id)
    if not hmac.compare_digest(sign_head(kid, key, chain_name(instance_id), rows, end.last_hash), head):
        raise _Tampered(f"the signed head of {label} does not match its newest row (the row or the head was replaced)",
                        end.last_id, instance_id)


def events_for_instance(session: Session, instance_id: int) -> list[dict]:
    rows = stored.events_of(session, instance_id)
    return [{"id": r.id, "at": r.at.isoformat(), "event": r.event_type, "actor": r.actor,
             "task_id": r.task_id, "details": json.loads(r.details)} for r in rows]
