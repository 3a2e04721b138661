"""The audit key: the secret that signs the audit chain, kept outside the database.

A database writer who does not hold it cannot write a row or a chain head that verifies (``engine.audit.chain``).

=================================  ================================================================================
``WHISTLE_AUDIT_KEY``               the current key (16 characters or more); when unset, a random key is created once
                                    and kept in ``var/audit_key`` (``WHISTLE_AUDIT_KEY_FILE``), readable only by
                                    its owner
``WHISTLE_AUDIT_OLD_KEYS``          retired keys, separated by commas or white space: rows they signed still verify
``var/audit_key.old``               retired keys too, one a line (the key file's name + ``.old``; ``rotate_key_file``)
=================================  ================================================================================

Every key has an id derived from it (``key_id``), stored on each row and in each head, so a key can be rotated:
new rows are signed with the current key, old rows verify with the retired key of their id (README, "Audit key").
The server, the CLI and the workers read the same key, so they must share the environment or the project folder.
"""
from __future__ import annotations

import hashlib
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from engine.store.db import PROJECT_ROOT

KEY_ENV = "WHISTLE_AUDIT_KEY"
OLD_KEYS_ENV = "WHISTLE_AUDIT_OLD_KEYS"
KEY_FILE_ENV = "WHISTLE_AUDIT_KEY_FILE"
MIN_KEY_LENGTH = 16


class AuditKeyError(RuntimeError):
    """The audit key is missing, too short, or cannot be read."""


def key_id(secret: bytes) -> str:
    """A short public name for a key (8 hex digits), so rows say which key signed them without revealing it."""
    return hashlib.sha256(b"whistle audit key id\x00" + secret).hexdigest()[:8]


@dataclass(frozen=True)
class Keyring:
    current_id: str
    keys: dict[str, bytes]  # every known key by id, the current one included
    source: str  # where the current key came from, for people ("environment" or the file's path)

    @property
    def current(self) -> bytes:
        return self.keys[self.current_id]

    def get(self, kid: str | None) -> bytes | None:
        return self.keys.get(kid) if kid is not None else None

    def describe(self) -> dict:
        return {"current": self.current_id, "source": self.source,
                "retired": sorted(k for k in self.keys if k != self.current_id)}


def key_file() -> Path:
    return Path(os.environ.get(KEY_FILE_ENV) or PROJECT_ROOT / "var" / "audit_key")


def old_keys_file(path: Path | None = None) -> Path:
    path = path or key_file()
    return path.with_name(path.name + ".old")


_cache: dict[tuple, Keyring] = {}


def audit_keyring() -> Keyring:
    """The keys, read once per process and configuration (a rotated key file is read at the next start)."""
    environ = os.environ
    config = (environ.get(KEY_ENV), environ.get(OLD_KEYS_ENV), environ.get(KEY_FILE_ENV))  # per step: kept cheap
    ring = _cache.get(config)
    if ring is None:
        ring = _cache[config] = _load(config[0], config[1], str(key_file()))
    return ring


def existing_keyring() -> Keyring | None:
    """The keys when there are any (the environment or the key file), without creating a key file: a dossier
    checked on a machine that has no key is checked without signatures (``engine.audit.dossier``)."""
    if not (os.environ.get(KEY_ENV) or "").strip() and not key_file().exists():
        return None
    return audit_keyring()


def reset_cache() -> None:
    _cache.clear()


def _load(env_key: str | None, env_old: str | None, path_text: str) -> Keyring:
    path = Path(path_text)
    if env_key is not None and env_key.strip():
        current, source = _checked(env_key.strip(), KEY_ENV), "environment"
    else:
        current, source = _checked(persistent_key(path), str(path)), str(path)
    retired = [_checked(k, OLD_KEYS_ENV) for k in re.split(r"[\s,]+", env_old or "") if k]
    retired += [_checked(k, str(old_keys_file(path))) for k in _key_lines(old_keys_file(path))]
    keys = {key_id(k): k for k in retired}
    keys[key_id(current)] = current
    return Keyring(key_id(current), keys, source)


def _checked(text: str, where: str) -> bytes:
    if len(text) < MIN_KEY_LENGTH:
        raise AuditKeyError(f"the audit key from {where} is shorter than {MIN_KEY_LENGTH} characters")
    return text.encode("utf-8")


def _key_lines(path: Path) -> list[str]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        return []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def persistent_key(path: Path) -> str:
    """The key in ``path``, created once (0600, exclusive create, so racing processes agree) when there is none.
    The audit key and the web session secret (``webui.config``) are both kept this way."""
    try:
        existing = path.read_text(encoding="utf-8").strip()
        if existing:
            return existing
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process created it a moment ago
        return path.read_text(encoding="utf-8").strip()
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(key + "\n")
    return key


def rotate_key_file() -> dict:
    """Retire the key file's key (appended to ``<file>.old``) and write a new one. Processes running now keep
    signing with the old key until they restart; its rows verify either way. Not for a key set in the environment."""
    if (os.environ.get(KEY_ENV) or "").strip():
        raise AuditKeyError(f"the audit key comes from {KEY_ENV}: rotate it there (README, 'Audit key')")
    path = key_file()
    old = persistent_key(path)
    retired_file = old_keys_file(path)
    descriptor = os.open(retired_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as handle:
        handle.write(old + "\n")
        handle.flush()
        os.fsync(handle.fileno())  # the old key is safe on disk before the file that held it changes
    new = secrets.token_hex(32)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(new + "\n")
    os.replace(temporary, path)
    reset_cache()
    return {"retired": key_id(old.encode("utf-8")), "current": key_id(new.encode("utf-8")), "file": str(path),
            "retired_file": str(retired_file)}
