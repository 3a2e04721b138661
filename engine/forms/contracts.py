"""Data contracts: what a person's submission may set, checked in the engine command for every channel.

The staff pages, the REST API and the CLI all end in ``Runtime.start`` / ``Runtime.complete``, and those run
``check`` before anything touches the case (docs/forms.md, "What a submission may set"):

* With a form, a submission may set exactly the form's fields. Values are typed and validated by the same
  code and messages as the pages (``engine.forms.validation``); JSON values are turned into what a browser
  would post first. A name the form does not have is refused naming it (a form opts out with
  ``"unknown_fields": "ignore"``: they are dropped, never merged). Case data a script computes (assessments,
  ledgers, results) is never a form field, so no submission can write it.
* Fields that state who is acting are the server's: ``hidden`` fields take their ``prefill`` (the account
  name…), and a field with ``"from_account": true`` must be one of the values the account's groups give
  (the street of a grid worker, the department of a liaison). A different value is refused.
* Without a form, a task may declare its outputs (an extension property ``outputs``: ``"a, b"``) and then
  accepts only those; a task with neither may only *add* names the case does not have yet.

A version's forms and its start facts (who may start it, the start form) hang on its parsed spec
(``bind``), so a command finds them without a query, and a fresh process rebuilds them with the spec.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

from lxml import etree

from engine import i18n
from engine.bpmn.assignments import read_assignment
from engine.bpmn.namespaces import BPMN_NS, CAMUNDA_NS, SPIFF_NS
from engine.bpmn.reading import read_xml
from engine.errors import InvalidInput
from engine.forms.files import LIST_TYPE, LOCATION_TYPE, forms_in, option_text
from engine.forms.validation import group_parts, prefill, validate
from engine.forms.values import as_posted

FORMS_ATTRIBUTE = "whistle_forms"
START_ATTRIBUTE = "whistle_start"
SCALARS = (str, int, float, bool, type(None))

_KIND_NAMES = {"text": ("文字", "text"), "list": ("列表", "a list"), "rows": ("行的列表", "a list of rows"),
               "value": ("单个值", "a single value"),
               "location": ("位置（含纬度 lat、经度 lng 的对象）", "a location object with lat and lng")}


def message(code: str, lang: str = "zh", **values: Any) -> str:
    """A contract message in Chinese or English (the catalogs: ``engine.i18n``)."""
    return i18n.message("CONTRACTS", code, lang, **values)


class InvalidSubmission(InvalidInput):
    """A submission its task or start does not accept: per-field messages and the names it does not know."""

    def __init__(self, field_errors: dict[str, str], unknown: list[str] | None = None, *,
                 what: str = "submission") -> None:
        self.field_errors = dict(field_errors)
        self.unknown = list(unknown or [])
        shown = "; ".join(f"{name}: {text}" for name, text in self.field_errors.items())
        super().__init__(f"{what} refused: {shown}")

    def to_dict(self) -> dict:
        found = super().to_dict()
        found["details"] = {"fields": self.field_errors, "unknown_fields": self.unknown}
        return found


@dataclass(frozen=True)
class Account:
    """Who submits: the account name, its groups and the person's name (for prefills)."""

    username: str
    groups: frozenset[str] = frozenset()
    display_name: str | None = None


@dataclass(frozen=True)
class StartFacts:
    """What a process's none start event says about people starting it."""

    starter_groups: tuple[str, ...] = ()
    starter_users: tuple[str, ...] = ()
    form_key: str | None = None
    start_event: str | None = None
    start_name: str | None = None
    documentation: str = ""

    @property
    def declares_starters(self) -> bool:
        return bool(self.starter_groups or self.starter_users)

    def admits(self, username: str, groups: Iterable[str]) -> bool:
        """The account is a candidate starter (group names may be globs like ``grid-*``)."""
        if username in self.starter_users:
            return True
        return any(fnmatch.fnmatchcase(group, pattern) for pattern in self.starter_groups for group in groups)


# -- what a version carries ------------------------------------------------------------------------------

def start_facts(process: etree._Element | None) -> StartFacts:
    """Candidate starters (on the process or its none start event; Camunda attributes or spiffworkflow
    properties) and the start event's form."""
    if process is None:
        return StartFacts()
    groups, users = _starters(process)
    doc = process.find(f"{{{BPMN_NS}}}documentation")
    start = next((e for e in process.findall(f"{{{BPMN_NS}}}startEvent")  # message and timer starts: not people
                  if not any(isinstance(c.tag, str) and c.tag.endswith("EventDefinition") for c in e)), None)
    if start is None:
        return StartFacts(tuple(sorted(set(groups))), tuple(sorted(set(users))), documentation=_text_of(doc))
    more_groups, more_users = _starters(start)
    own_doc = start.find(f"{{{BPMN_NS}}}documentation")
    return StartFacts(tuple(sorted(set(groups + more_groups))), tuple(sorted(set(users + more_users))),
                      read_assignment(start, None).form_key, start.get("id"), start.get("name"),
                      _text_of(own_doc if own_doc is not None else doc))


def _text_of(element: etree._Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def bind(spec: Any, key: str, files: Iterable[tuple[str, str]]) -> None:
    """Hang a version's forms and start facts on its parsed top-level spec (next to its catalogs)."""
    files = list(files)
    process = None
    for name, content in files:
        if name.lower().endswith((".bpmn", ".bpmn20.xml")) and process is None:
            root = read_xml(content).getroot()  # stored sources passed the same reader at deploy
            process = next((p for p in root.iter(f"{{{BPMN_NS}}}process") if p.get("id") == key), None)
    setattr(spec, FORMS_ATTRIBUTE, forms_in(files))
    setattr(spec, START_ATTRIBUTE, start_facts(process))


def forms_of(spec: Any) -> dict[str, dict]:
    return getattr(spec, FORMS_ATTRIBUTE, {}) or {}


def start_of(spec: Any) -> StartFacts:
    return getattr(spec, START_ATTRIBUTE, None) or StartFacts()


# -- the check --------------------------------------------------------------------------------------------

def check(form: dict | None, outputs: list[str] | None, data: Mapping[str, Any], account: Account,
          context: Mapping[str, Any], *, what: str, lang: str = "zh", tz: tzinfo | None = None) -> dict:
    """The data to merge into the case for ``data`` submitted by ``account``, or ``InvalidSubmission``."""
    if form is None:
        return _check_without_form(outputs, data, context, what, lang)
    fields = {f["name"]: f for f in form.get("fields", [])}
    derived = {f["label_to"] for f in fields.values() if f.get("label_to")}  # recomputed from the option
    unknown = sorted(name for name in data if name not in fields and name not in derived)
    errors: dict[str, str] = {}
    if unknown and form.get("unknown_fields") != "ignore":
        allowed = ", ".join(name for name, f in fields.items() if f.get("type") != "hidden") or "-"
        errors.update({name: message("unknown", lang, names=name, allowed=allowed) for name in unknown})
    fixed = prefill(form, account.username, account.groups, account.display_name)
    submitted: dict[str, Any] = {}
    for name, f in fields.items():
        if name not in data:  # what the page would have posted: the account's own value, or the default
            own = own_values(f, account.groups) if f.get("from_account") else []
            if own:
                submitted[name] = [own[0]]
            elif name in fixed and f.get("type") not in ("hidden", LIST_TYPE):
                submitted[name] = as_posted(fixed[name])  # its prefill (the signer's name) or default
            continue
        value = data[name]
        kind = f.get("type", "text")
        if kind == "hidden":
            if name in fixed and option_text(value) != option_text(fixed[name]):
                errors[name] = message("server_set", lang)
            continue
        problem = _json_shape(f, value, lang)
        if problem:
            errors[name] = problem
            continue
        if f.get("from_account"):
            own = own_values(f, account.groups)
            if not own:
                errors[name] = message("no_own", lang)
                continue
            if option_text(value) not in own:
                errors[name] = message("not_own", lang, allowed=", ".join(own))
                continue
        submitted[name] = value if kind == LIST_TYPE else as_posted(value)
    clean, field_errors = validate(form, submitted, username=account.username, groups=account.groups,
                                   display_name=account.display_name, context=context, lang=lang, tz=tz)
    for name, text in field_errors.items():
        errors.setdefault(name, text)
    if errors:
        raise InvalidSubmission(errors, unknown, what=what)
    return clean


def own_values(field: dict, groups: Iterable[str]) -> list[str]:
    """The values a ``from_account`` field may take for these groups: what its ``prefill`` group patterns
    capture (``grid-{}`` → the street), and options that are one of the groups themselves (``dept-police``)."""
    source = field.get("prefill")
    found = [part for pattern in (source.get("groups", []) if isinstance(source, dict) else [])
             for part in group_parts(pattern, groups)]
    found += [option_text(o["value"]) for o in field.get("options") or []
              if option_text(o["value"]) in set(groups)]
    return list(dict.fromkeys(found))


def _check_without_form(outputs: list[str] | None, data: Mapping[str, Any], context: Mapping[str, Any],
                        what: str, lang: str) -> dict:
    bad = {name: value for name, value in data.items() if not _plain_json(value)}
    if bad:
        raise InvalidSubmission({name: message("type", lang, kind="JSON", kind_en="JSON") for name in bad}, what=what)
    if outputs is not None:
        unknown = sorted(name for name in data if name not in outputs)
        if unknown:
            text = message("unknown", lang, names="{}", allowed=", ".join(outputs)) if outputs \
                else message("unknown_none", lang, names="{}")
            raise InvalidSubmission({name: text.format(name) for name in unknown}, unknown, what=what)
        return dict(data)
    existing = sorted(name for name, value in data.items() if name in context and context[name] != value)
    if existing:
        text = message("exists", lang, names=", ".join(existing))
        raise InvalidSubmission({name: text for name in existing}, what=what)
    return dict(data)


def _json_shape(field: dict, value, lang: str) -> str | None:
    """A JSON value of the shape the field takes (the pages' own values always are)."""
    kind = field.get("type", "text")
    many = kind == "file" or field.get("multiple") or (kind == "checkbox" and field.get("options"))
    if kind == LOCATION_TYPE:  # {"lat": …, "lng": …} (or the JSON text a page posts); checked by its conversion
        ok = isinstance(value, (str, type(None))) or (isinstance(value, dict) and all(
            isinstance(k, str) and isinstance(v, SCALARS) for k, v in value.items()))
        shape = "location"
    elif kind == LIST_TYPE:
        ok = isinstance(value, list) and all(isinstance(row, dict) and all(
            isinstance(cell, SCALARS) or (isinstance(cell, list) and all(isinstance(c, SCALARS) for c in cell))
            for cell in row.values()) for row in value)
        shape = "rows"
    elif many:
        ok = isinstance(value, SCALARS) or (isinstance(value, list) and all(isinstance(v, SCALARS) for v in value))
        shape = "list"
    else:
        ok = isinstance(value, SCALARS) or (isinstance(value, list) and len(value) <= 1
                                            and all(isinstance(v, SCALARS) for v in value))
        shape = "text" if kind in ("text", "textarea") else "value"
    if ok:
        return None
    zh, en = _KIND_NAMES[shape]
    return message("type", lang, kind=zh, kind_en=en)


def _plain_json(value) -> bool:
    if isinstance(value, SCALARS):
        return True
    if isinstance(value, list):
        return all(_plain_json(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def _starters(node) -> tuple[list[str], list[str]]:
    def split(value: str | None) -> list[str]:
        return [item.strip() for item in (value or "").split(",") if item.strip()]

    groups = split(node.get(f"{{{CAMUNDA_NS}}}candidateStarterGroups"))
    users = split(node.get(f"{{{CAMUNDA_NS}}}candidateStarterUsers"))
    ext = node.find(f"{{{BPMN_NS}}}extensionElements")
    if ext is not None:
        for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") == "candidateStarterGroups":
                groups += split(prop.get("value"))
            elif prop.get("name") == "candidateStarterUsers":
                users += split(prop.get("value"))
    return groups, users
