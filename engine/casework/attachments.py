"""Files attached to cases: uploads checked by their first bytes and extension, stored under a random name,
linked to their case in the transaction of the submission that names them, read by who may see the case.

iPhones send photos as HEIC (HEIF), which most browsers cannot show: such a file is converted to a JPEG when it
is uploaded (``pillow-heif``), stored under its name with ``.jpg``; one that does not decode is refused, asking
for a JPEG or PNG."""
from __future__ import annotations

import hashlib
import io
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

import pillow_heif
from PIL import Image

from engine.audit.chain import AuditLog
from engine.casework.people import People
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.identity.accounts import find_user
from engine.runtime.commands import Runtime
from engine.runtime.context import CommandContext
from engine.store import Session
from engine.store import casework as stored
from engine.store.db import PROJECT_ROOT, Database
from engine.store.models import Attachment
from engine.time import clock

MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
ATTACHMENT_TYPES = {  # content type: (magic prefixes, extensions)
    "image/jpeg": ((b"\xff\xd8\xff",), (".jpg", ".jpeg")),
    "image/png": ((b"\x89PNG\r\n\x1a\n",), (".png",)),
    "application/pdf": ((b"%PDF-",), (".pdf",)),
}
HEIC_EXTENSIONS = (".heic", ".heif")
# The ISO base media file's brands of HEIF still images and sequences (bytes 8-12, after the size and "ftyp").
HEIC_BRANDS = (b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1")
JPEG_QUALITY = 88
MAX_PIXELS = 100_000_000  # a 48-megapixel phone photo decodes; a file claiming 20,000 x 20,000 does not


class AttachmentRejected(InvalidInput):
    """An upload that is empty, too large, or not a JPEG/PNG/PDF (or a HEIC photo, converted to a JPEG).
    ``code``: empty | too_large | type | heic (a HEIC file that does not decode)."""

    def __init__(self, code: str, message: str, limit: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.limit = limit


class Attachments:
    """Uploads and the files of cases. ``directory`` and ``max_bytes`` override ``WHISTLE_ATTACHMENTS_DIR`` and
    ``WHISTLE_ATTACHMENT_MAX_MB`` (the web service's configuration sets them)."""

    def __init__(self, db: Database, runtime: Runtime, people: People) -> None:
        self.db, self.runtime, self.people = db, runtime, people
        self.directory: Path | None = None
        self.max_bytes: int | None = None

    def root(self) -> Path:
        configured = self.directory or os.environ.get("WHISTLE_ATTACHMENTS_DIR")
        return Path(configured) if configured else PROJECT_ROOT / "var" / "attachments"

    def limit(self) -> int:
        if self.max_bytes:
            return int(self.max_bytes)
        megabytes = os.environ.get("WHISTLE_ATTACHMENT_MAX_MB")
        return int(float(megabytes) * 1024 * 1024) if megabytes else MAX_ATTACHMENT_BYTES

    def add(self, user: str, file_name: str, content: bytes, *, instance_id: int | None = None,
            task_id: str | None = None, field: str | None = None) -> dict:
        """Store an uploaded JPEG, PNG or PDF (checked by its first bytes and its extension) under a random
        name; a HEIC photo is stored as the JPEG it converts to (``photo.heic`` → ``photo.jpg``). Without
        ``instance_id`` (a start form) only the uploader may read it until the case starts."""
        limit = self.limit()
        if not content:
            raise AttachmentRejected("empty", "the file is empty")
        if len(content) > limit:
            raise AttachmentRejected("too_large", f"the file is larger than {limit // (1024 * 1024)} MB", limit)
        extension = os.path.splitext(file_name or "")[1].lower()
        if extension in HEIC_EXTENSIONS or is_heic(content):
            content = heic_to_jpeg(content)
            file_name, extension = os.path.splitext(file_name or "photo")[0] + ".jpg", ".jpg"
            if len(content) > limit:
                raise AttachmentRejected("too_large", f"the file is larger than {limit // (1024 * 1024)} MB", limit)
        content_type = _sniff(content)
        if content_type is None or extension not in ATTACHMENT_TYPES[content_type][1]:
            raise AttachmentRejected("type", "only JPG, PNG, HEIC and PDF files can be attached")
        if instance_id is not None:
            self.people.require_case(user, instance_id)
        storage_name = secrets.token_hex(16)
        folder = self.root() / storage_name[:2]
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = folder / storage_name
        temporary = folder / f".{storage_name}.part"
        with open(temporary, "xb") as handle:
            handle.write(content)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
        safe_name = _safe_file_name(file_name, extension)
        sha256 = hashlib.sha256(content).hexdigest()
        attachment_id = secrets.token_hex(12)

        def work(session: Session, audit: AuditLog) -> dict:
            find_user(session, user)
            row = Attachment(id=attachment_id, instance_id=instance_id, task_id=task_id, field=field,
                             file_name=safe_name, content_type=content_type, size=len(content), sha256=sha256,
                             storage_name=storage_name, uploaded_by=user, uploaded_at=clock.now())
            session.add(row)
            session.flush()
            audit.record("attachment_added", user, instance_id, task_id if task_id and len(task_id) <= 36 else None,
                         attachment_id=attachment_id, file_name=safe_name, content_type=content_type,
                         size=len(content), sha256=sha256, field=field)
            return attachment_dict(row)

        try:
            return self.runtime.run_command(CommandContext("attach", user, instance_id=instance_id), work)
        except Exception:
            path.unlink(missing_ok=True)
            raise

    def read(self, user: str, attachment_id: str) -> tuple[dict, Path]:
        """An attachment's description and file, if the user may read it (uploader, or may see its case)."""
        with self.db.read() as session:
            row = session.get(Attachment, attachment_id)
            if row is None:
                raise NotFound(f"no attachment {attachment_id}")
            meta = attachment_dict(row)
            storage = row.storage_name
        if meta["uploaded_by"] != user:
            if meta["instance_id"] is None:
                raise Forbidden(f"{user} may not read attachment {attachment_id}")
            self.people.require_case(user, meta["instance_id"])
        return meta, self.root() / storage[:2] / storage

    def of_case(self, instance_id: int) -> list[dict]:
        with self.db.read() as session:
            return [attachment_dict(r) for r in stored.attachments_of(session, instance_id)]

    def by_id(self, ids: Iterable[str]) -> dict[str, dict]:
        ids = [i for i in ids if isinstance(i, str)]
        if not ids:
            return {}
        with self.db.read() as session:
            return {r.id: attachment_dict(r) for r in stored.attachments_by_id(session, ids)}

    def foreign(self, user: str, ids: Iterable[str], instance_id: int | None) -> list[str]:
        """Ids that are neither the user's own unlinked uploads nor already attached to this case."""
        ids = list(ids)
        known = self.by_id(ids)
        bad = []
        for attachment_id in ids:
            row = known.get(attachment_id)
            if row is None:
                bad.append(attachment_id)
            elif row["instance_id"] is None and row["uploaded_by"] == user:
                continue
            elif instance_id is not None and row["instance_id"] == instance_id:
                continue
            else:
                bad.append(attachment_id)
        return bad


def link_uploads(session: Session, audit: AuditLog, user: str, ids: list[str], instance_id: int,
                 task_id: str | None) -> int:
    """Attach the user's unlinked uploads among ``ids`` to a case, in the submission's transaction."""
    if not ids:
        return 0
    rows = stored.unlinked_uploads(session, user, ids)
    for row in rows:
        row.instance_id = instance_id
        row.task_id = row.task_id or task_id
    if rows:
        audit.record("attachments_linked", user, instance_id, task_id,
                     attachments=[r.id for r in rows], files=[r.file_name for r in rows])
    return len(rows)


def attachment_dict(row: Attachment) -> dict:
    return {"attachment_id": row.id, "instance_id": row.instance_id, "task_id": row.task_id, "field": row.field,
            "file_name": row.file_name, "content_type": row.content_type, "size": row.size, "sha256": row.sha256,
            "uploaded_by": row.uploaded_by, "uploaded_at": row.uploaded_at.isoformat()}


def is_heic(content: bytes) -> bool:
    """A HEIF file by its first bytes: a size, ``ftyp`` and one of the HEIF brands."""
    return len(content) >= 12 and content[4:8] == b"ftyp" and content[8:12] in HEIC_BRANDS


def heic_to_jpeg(content: bytes) -> bytes:
    """The JPEG of a HEIC photo (its first image, turned as the file says; no metadata is carried over, so the
    phone's GPS tags stay out of the case file). ``AttachmentRejected("heic")`` when it does not decode."""
    refused = AttachmentRejected("heic", "the HEIC photo could not be read; send it as a JPEG or PNG")
    try:
        heif = pillow_heif.open_heif(io.BytesIO(content), convert_hdr_to_8bit=True)
        width, height = heif.size
        if width * height > MAX_PIXELS:
            raise refused
        image = heif.to_pillow()
        if image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        out = io.BytesIO()
        image.save(out, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    except (ValueError, OSError, RuntimeError, EOFError, Image.DecompressionBombError) as exc:
        raise refused from exc
    return out.getvalue()


def _sniff(content: bytes) -> str | None:
    for content_type, (magics, _extensions) in ATTACHMENT_TYPES.items():
        if any(content.startswith(magic) for magic in magics):
            return content_type
    return None


def _safe_file_name(name: str, extension: str) -> str:
    base = os.path.basename(str(name or "").replace("\\", "/"))
    cleaned = "".join(ch for ch in base if ch.isprintable() and ch not in '<>:"/\\|?*').strip(" .")
    if not cleaned:
        cleaned = "attachment" + extension
    return cleaned[-120:]
