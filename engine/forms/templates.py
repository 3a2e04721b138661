"""Templates over case or task data, declared in a form: a task's ``subject`` (what this task is about, shown on
its inbox card and its page: ``"{opinion.street}：{opinion.text}"``) and a case's ``case_title`` written as a
sentence (``"{year} 年度街乡考核评价"``) instead of a list of data names.

A template is text with ``{name}`` or ``{dotted.path}`` holes (``{{`` and ``}}`` are literal braces); nothing
else is evaluated. Filling one formats each value as the caller says (``fill``'s ``text_of``: option labels,
group names…), drops the punctuation an empty value leaves dangling, and gives ``""`` when no hole has a value.
Checked at deploy (``problems``, from ``engine.forms.checks``)."""
from __future__ import annotations

import re
import string
from collections.abc import Callable, Mapping
from typing import Any

PATH_RE = re.compile(r"^[^\W\d]\w*(?:\.\w+)*$")  # data names and the keys inside them (Chinese keys too)
EMPTY: tuple[Any, ...] = (None, "", [], {})
MAX_TEXT = 200  # a captured text value is cut to this many characters (a subject is one line)
MAX_ITEMS = 10  # a captured list keeps this many items
DANGLING = re.compile(r"[，,；;、：:·—]\s*(?=[，,；;、。)）]|$)")
LEADING = re.compile(r"^[\s，,；;、：:·—]+")
EMPTY_BRACKETS = re.compile(r"[（(【\[]\s*[)）】\]]")


def paths(template: str) -> list[str]:
    """The data paths a template names, in order (each once); ValueError saying what is wrong."""
    found: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"unbalanced braces ({exc}); write {{{{ and }}}} for a literal brace") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion:
            raise ValueError(f"'{{{name}{'!' + conversion if conversion else ''}{':' + spec if spec else ''}}}': "
                             f"a hole names data only, e.g. {{opinion.street}} (no conversion or format)")
        if not PATH_RE.match(name):
            raise ValueError(f"'{{{name}}}' is not a data name or a dotted path such as {{opinion.street}}")
        if name not in found:
            found.append(name)
    return found


def problems(template: Any, setting: str) -> list[str]:
    """What is wrong with a template setting (empty: nothing)."""
    if not isinstance(template, str) or not template.strip():
        return [f"'{setting}' is a text with data names in braces, e.g. \"{{opinion.street}}：{{opinion.text}}\""]
    try:
        named = paths(template)
    except ValueError as exc:
        return [f"'{setting}': {exc}"]
    if not named:
        return [f"'{setting}' names no data: put a data name in braces, e.g. \"{{street}}\""]
    return []


def lookup(data: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (None where a step is missing or not a record)."""
    value: Any = data
    for step in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(step)
    return value


def values_of(templates: list[str | None], data: Mapping[str, Any]) -> dict[str, Any] | None:
    """The values the templates name, from ``data``, small enough to keep beside an inbox row: texts cut to
    ``MAX_TEXT`` characters, lists to ``MAX_ITEMS`` plain items; records are left out (a template names their
    keys). None when no template names a value that ``data`` holds."""
    found: dict[str, Any] = {}
    for template in templates:
        if not template:
            continue
        try:
            named = paths(template)
        except ValueError:  # checked at deploy
            continue
        for path in named:
            value = _small(lookup(data, path))
            if value not in EMPTY:
                found[path] = value
    return found or None


def _small(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 1] + "…"
    if isinstance(value, bool) or isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)):
        return [_small(v) for v in list(value)[:MAX_ITEMS] if not isinstance(v, (dict, list, tuple))]
    return None


def fill(template: str, values: Mapping[str, Any], text_of: Callable[[str, Any], str]) -> str:
    """The template with each hole's value as ``text_of(path, value)`` says; ``""`` when none has a value."""
    parts: list[str] = []
    filled = False
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError:  # checked at deploy
        return ""
    for literal, name, _spec, _conversion in parsed:
        parts.append(literal)
        if name is None:
            continue
        value = values.get(name)
        if value in EMPTY:
            continue
        text = text_of(name, value)
        if text and text != "—":
            parts.append(text)
            filled = True
    if not filled:
        return ""
    text = EMPTY_BRACKETS.sub("", "".join(parts))
    text = DANGLING.sub("", text)
    return " ".join(LEADING.sub("", text).split())
