"""The web service's configuration from the environment: sessions, the secret key, request sizes, sign-in
limits, attachments. Values given to ``create_app`` win.

Environment (all optional):

=============================  ==================================================================================
``WHISTLE_SECRET_KEY``          signs the session cookie; when unset a random key is created once and kept in
                                ``var/secret_key`` (``WHISTLE_SECRET_KEY_FILE``) so sessions survive restarts
``WHISTLE_SESSION_HOURS``       how long a sign-in lasts (default 10: a working day)
``WHISTLE_SECURE_COOKIES``      ``1``: cookies only over HTTPS; default: on in production mode, off in demo/test
``WHISTLE_ATTACHMENTS_DIR``     where uploaded files are kept (default ``var/attachments``)
``WHISTLE_ATTACHMENT_MAX_MB``   the largest file one may attach (default 10)
``WHISTLE_MAX_REQUEST_MB``      the largest request (several files at once; default 64)
``WHISTLE_UPLOADS_DIR``         where 上传部署 keeps uploaded files between 检查 and 确认部署 (default ``var/uploads``)
``WHISTLE_UPLOAD_HOURS``        how long they are kept (default 2)
``WHISTLE_NODE_MODULES``        where ``npm ci`` put bpmn-js (default ``node_modules`` in the project)
``WHISTLE_POLL_SECONDS``        how often an open inbox asks for new tasks (default 10)
``WHISTLE_SIGNIN_MAX_FAILURES`` wrong passwords for one account name before it is locked (default 5; 0: off)
``WHISTLE_SIGNIN_MAX_ADDRESS_FAILURES``  failed sign-ins from one client address (IPv6: its /64) before the
                                address is locked (default 50; 0: off — do so behind a proxy that hides them)
``WHISTLE_SIGNIN_WINDOW_MINUTES``  the window those failures are counted in (default 15)
``WHISTLE_SIGNIN_LOCKOUT_MINUTES`` how long a locked name or address stays locked (default 15)
``WHISTLE_HSTS_SECONDS``        ``Strict-Transport-Security: max-age=N`` on every answer (default 0: not sent;
                                set it only when the service is reached over HTTPS alone)
=============================  ==================================================================================
"""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from engine.audit.keys import persistent_key
from engine.identity.accounts import SignInLimits
from engine.store.db import PROJECT_ROOT
from engine.time import clock


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def secret_key_file() -> Path:
    """Where the session key is kept when ``WHISTLE_SECRET_KEY`` is not set (``persistent_key``: a random key in a
    file only this user reads, created on first use)."""
    return Path(os.environ.get("WHISTLE_SECRET_KEY_FILE") or PROJECT_ROOT / "var" / "secret_key")


def configure(app: Flask) -> None:
    """Defaults from the environment; values given to ``create_app`` win."""
    config = app.config
    config.setdefault("SESSION_HOURS", float(os.environ.get("WHISTLE_SESSION_HOURS") or 10))
    config.setdefault("PERMANENT_SESSION_LIFETIME", timedelta(hours=config["SESSION_HOURS"]))
    config["SESSION_COOKIE_NAME"] = config.get("SESSION_COOKIE_NAME_OVERRIDE") or "whistle_session"
    config["SESSION_COOKIE_HTTPONLY"] = True
    config["SESSION_COOKIE_SAMESITE"] = "Lax"
    if "SECURE_COOKIES" not in config:
        config["SECURE_COOKIES"] = _flag("WHISTLE_SECURE_COOKIES", clock.mode() == "production")
    config["SESSION_COOKIE_SECURE"] = bool(config["SECURE_COOKIES"])
    config.setdefault("MAX_CONTENT_LENGTH", int(float(os.environ.get("WHISTLE_MAX_REQUEST_MB") or 64) * 1024 * 1024))
    config.setdefault("UPLOADS_DIR", os.environ.get("WHISTLE_UPLOADS_DIR") or str(PROJECT_ROOT / "var" / "uploads"))
    config.setdefault("UPLOAD_HOURS", float(os.environ.get("WHISTLE_UPLOAD_HOURS") or 2))
    config.setdefault("POLL_SECONDS", float(os.environ.get("WHISTLE_POLL_SECONDS") or 10))
    config.setdefault("NODE_MODULES", os.environ.get("WHISTLE_NODE_MODULES") or str(PROJECT_ROOT / "node_modules"))
    config.setdefault("SIGN_IN_LIMITS", SignInLimits(
        user_failures=int(os.environ.get("WHISTLE_SIGNIN_MAX_FAILURES") or 5),
        address_failures=int(os.environ.get("WHISTLE_SIGNIN_MAX_ADDRESS_FAILURES") or 50),
        window=timedelta(minutes=float(os.environ.get("WHISTLE_SIGNIN_WINDOW_MINUTES") or 15)),
        lockout=timedelta(minutes=float(os.environ.get("WHISTLE_SIGNIN_LOCKOUT_MINUTES") or 15))))
    config.setdefault("HSTS_SECONDS", int(os.environ.get("WHISTLE_HSTS_SECONDS") or 0))
    if not config.get("SECRET_KEY"):
        if config.get("TESTING"):
            config["SECRET_KEY"] = secrets.token_hex(32)
        else:
            config["SECRET_KEY"] = persistent_key(secret_key_file())
    engine = app.extensions["whistle"]
    if config.get("ATTACHMENTS_DIR"):
        engine.attachments_dir = Path(config["ATTACHMENTS_DIR"])
    if config.get("ATTACHMENT_MAX_BYTES"):
        engine.max_attachment_bytes = int(config["ATTACHMENT_MAX_BYTES"])
