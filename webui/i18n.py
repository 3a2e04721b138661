"""Chinese first, English on request: the reader's language and the page texts in it.

Templates write ``_('我的任务')``; with English chosen (``?lang=en``, kept in the session) the catalog's
translation is shown, and any text without one stays Chinese. The catalogs are the engine's (``engine.i18n``),
shared with the engine's own messages; form labels come from the form files (``label`` / ``label_en``).
"""
from __future__ import annotations

from flask import Flask, request, session

from engine import i18n as catalogs

LANGS = catalogs.LANGS


def current() -> str:
    """The reader's language: ``en`` when chosen, else ``zh`` (also outside a request)."""
    lang = session.get("lang") if request else None
    return lang if lang in LANGS else "zh"


def gettext(text: str, **values: object) -> str:
    """A page text (written in Chinese) in the reader's language."""
    return catalogs.translate(text, current(), **values)


def pick(obj: dict | None, key: str, default: str = "") -> str:
    """A form setting in the current language (``label`` / ``label_en``)."""
    if not obj:
        return default
    if current() == "en" and obj.get(f"{key}_en"):
        return obj[f"{key}_en"]
    return obj.get(key) or default


def event_template(event: str) -> str:
    """The timeline's sentence for an audit event, unformatted; the event's name when it has none."""
    found = catalogs.template("EVENTS", event, current())
    return found if found is not None else event


def init_app(app: Flask) -> None:
    """``?lang=`` on a page chooses the language for the session (the API has none)."""
    @app.before_request
    def _language() -> None:
        if request.args.get("lang") in LANGS and request.method == "GET" and not request.path.startswith("/api/"):
            session["lang"] = request.args["lang"]
