"""Every translated text in one place: Chinese first, English on request.

A catalog per language holds data only (``zh``, ``en``); the engine reads its messages here (it cannot read the
web layer), and the web layer reads the same catalogs for its pages (``webui.i18n``). Sections:

* page texts — keyed by the Chinese text itself (``translate``: ``'我的任务'`` → ``'My tasks'``), English only;
* ``FORMS`` (form validation), ``CONTRACTS`` (data contracts), ``EVENTS`` (a case's timeline), ``MIGRATION``
  (whether a case can move to another version) — keyed by a code, in every language (``message``).

A language other than English reads Chinese. A leaf package: it imports nothing of Whistle.
"""
from __future__ import annotations

from types import ModuleType

from engine.i18n import en, zh

LANGS = ("zh", "en")
SECTIONS = ("FORMS", "CONTRACTS", "EVENTS", "MIGRATION", "NOTIFY_EVENTS")


def catalog(lang: str) -> ModuleType:
    """The language's catalog module: English for ``"en"``, Chinese for anything else."""
    return en if lang == "en" else zh


def translate(text: str, lang: str, **values: object) -> str:
    """A page text (written in Chinese) in ``lang``, formatted with ``values``; a text English lacks stays Chinese."""
    translated = en.PAGES.get(text) if lang == "en" else None
    result = translated if translated is not None else text
    return result.format(**values) if values else result


def template(section: str, code: str, lang: str) -> str | None:
    """The unformatted text of ``code`` in a section (``SECTIONS``), None when unknown."""
    texts: dict[str, str] = getattr(catalog(lang), section)
    return texts.get(code)


def message(section: str, code: str, lang: str, **values: object) -> str:
    """The message ``code`` of a section in ``lang``, formatted with ``values``; KeyError for an unknown code."""
    text = template(section, code, lang)
    if text is None:
        raise KeyError(code)
    return text.format(**values)
