"""Task forms as data: ``<form-key>.form.json`` files deployed and versioned with the processes that use them.

A designer changes a form without code: edit the JSON file next to the BPMN file and deploy the folder.
A process version stores the form files its ``formKey`` attributes name (literal keys on user tasks, manual
tasks and start events, including those inside sub-processes), so the content hash covers them and a changed
form makes a new version; running cases keep the forms of the version they started on.

The format (documented for designers in ``docs/forms.md``)::

    {"key": "whistle-review", "title": "指挥中心审核", "title_en": "Command centre review",
     "description": "…", "show": ["situation_label", "location", "description", "photos"],
     "fields": [{"name": "decision", "label": "审核结论", "type": "radio", "required": true,
                 "options": [{"value": "whistle", "label": "吹哨"}, {"value": "reject", "label": "驳回"}]},
                {"name": "reject_reason", "label": "驳回理由", "type": "textarea",
                 "visible_when": {"field": "decision", "equals": "reject"}}],
     "rules": [{"when": {"field": "decision", "equals": "reject"}, "require": ["reject_reason"],
                "message": "驳回必须填写驳回理由", "message_en": "A rejection needs a reason"}]}

Field types: text, textarea, number, select, radio, checkbox, date, datetime, file, hidden, and ``dynamiclist``
(repeating rows, form-js's name: ``{"name": "scores", "type": "dynamiclist", "components": [columns…],
"rules": [per-row rules…], "min_rows": 0, "max_rows": 26, "unique": ["department"]}``; its value is a list of
dicts, one per row; the browser posts cells as ``scores[0][department]``). Conditions are
``{"field": NAME, OP: VALUE}`` with OP one of equals, not_equals, in, not_in, gt, gte, lt, lte, filled, or
``{"all": [...]}`` / ``{"any": [...]}`` / ``{"not": {...}}``.

This module knows nothing of the web: ``validate`` takes the submitted strings (a mapping of name to list
of strings, as an HTML form posts them) and returns typed data and per-field messages in Chinese or English.
"""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Iterable, Mapping

from engine import i18n
from engine.errors import Problem
from engine.sidefiles import take_checked

FORM_SUFFIX = ".form.json"
FIELD_TYPES = ("text", "textarea", "number", "select", "radio", "checkbox", "date", "datetime", "file", "hidden",
               "dynamiclist")
LIST_TYPE = "dynamiclist"
COLUMN_TYPES = ("text", "textarea", "number", "select", "radio", "checkbox", "date", "datetime")
OPTION_TYPES = ("select", "radio")
OPERATORS = ("equals", "not_equals", "in", "not_in", "gt", "gte", "lt", "lte", "filled")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
FIELD_KEYS = {"name", "label", "label_en", "type", "required", "required_when", "visible_when", "options",
              "multiple", "min", "max", "min_length", "max_length", "integer", "step", "help", "help_en",
              "placeholder", "placeholder_en", "default", "prefill", "label_to", "max_files", "rows",
              "from_account",  # the value states the actor's own organisation: one their groups give (engine.contracts)
              # form-js spellings, read by ``normalize`` (``key``/``path`` name a field, ``values`` are its options,
              # ``validate`` holds required/min/max/minLength/maxLength) or ignored (``id``, ``layout``)
              "key", "path", "values", "validate", "subtype", "id", "layout"}
# settings of a dynamiclist only (form-js: components, path, defaultRepetitions, allowAddRemove, isRepeating,
# nonCollapsedItems, showOutline)
LIST_KEYS = {"components", "rules", "min_rows", "max_rows", "unique", "add_label", "add_label_en",
             "defaultRepetitions", "allowAddRemove", "isRepeating", "nonCollapsedItems", "showOutline"}
COLUMN_KEYS = FIELD_KEYS - {"prefill", "label_to", "max_files", "path", "from_account"}
FORMJS_TYPES = {"textfield": "text", "checklist": "checkbox"}
ROW_LIMIT = 500  # rows a list accepts when its form sets no max_rows
CELL_RE = re.compile(r"^([A-Za-z][A-Za-z0-9_]*)\[(\d{1,4})\]\[([A-Za-z][A-Za-z0-9_]*)\]$")
FORM_KEYS = {"key", "title", "title_en", "description", "description_en", "fields", "rules", "show",
             "case_labels", "case_title", "case_fields", "submit", "submit_en", "business_key_prefix",
             "unknown_fields"}  # "ignore": names the form does not have are dropped, not refused (engine.contracts)
TEXT_LIMIT = {"text": 500, "textarea": 10000}
NUMBER_DIGITS = 30  # a number field takes magnitudes up to 10^30 (and as many decimals down)


def message(code: str, lang: str = "zh", **values) -> str:
    """A validation message in Chinese or English (the catalogs: ``engine.i18n``)."""
    return i18n.message("FORMS", code, lang, **values)


def is_form_file(name: str) -> bool:
    return str(name).lower().endswith(FORM_SUFFIX)


def forms_in(files: Iterable[tuple[str, str]]) -> dict[str, dict]:
    """The forms among a version's stored files (name, content), normalized, by form key."""
    found: dict[str, dict] = {}
    for name, content in files:
        if is_form_file(name):
            try:
                found[key_of_file(name)] = normalize(json.loads(content))
            except json.JSONDecodeError:  # checked at deploy; never stored broken
                continue
    return found


def key_of_file(name: str) -> str:
    base = str(name).replace("\\", "/").rsplit("/", 1)[-1]
    return base[: -len(FORM_SUFFIX)]


# ---------------------------------------------------------------------------------------------------------
# Checking a form file (at deploy time)

def _line_of(content: str, needle: str, start: int = 0) -> int | None:
    position = content.find(needle, max(start, 0))
    return content.count("\n", 0, position) + 1 if position >= 0 else None


def normalize(form):
    """Read the form-js spellings of a form in place (returns the form): a field named by ``key`` (or, for a
    dynamiclist, ``path``), ``textfield``/``checklist`` types, options as ``values``, and ``validate`` holding
    required/min/max/minLength/maxLength. Forms written for Whistle are left as they are."""
    if isinstance(form, dict):
        for field in form.get("fields") or []:
            _normalize_field(field)
    return form


def _normalize_field(field) -> None:
    if not isinstance(field, dict):
        return
    if "name" not in field:
        for alias in ("path", "key"):
            if isinstance(field.get(alias), str):
                field["name"] = field[alias]
                break
    kind = field.get("type")
    if kind in FORMJS_TYPES:
        field["type"] = FORMJS_TYPES[kind]
    elif kind == "datetime" and field.get("subtype") == "date":
        field["type"] = "date"
    if "options" not in field and isinstance(field.get("values"), list):
        field["options"] = field["values"]
    checks = field.get("validate")
    if isinstance(checks, dict):
        for source, target in (("required", "required"), ("min", "min"), ("max", "max"),
                               ("minLength", "min_length"), ("maxLength", "max_length")):
            if source in checks and target not in field:
                field[target] = checks[source]
    for column in field.get("components") or [] if isinstance(field.get("components"), list) else []:
        _normalize_field(column)


def check_form(file_name: str, content: str) -> tuple[dict | None, list[Problem]]:
    """Parse and check one form file; every problem names the file, the line and the field."""
    problems: list[Problem] = []

    def problem(text: str, field: str | None = None, start: int = 0, element: str | None = None) -> None:
        line = _line_of(content, f'"{field}"', start) if field else None
        problems.append(Problem(file_name, line, element or field, f"form: {text}"))

    try:
        form = json.loads(content)
    except json.JSONDecodeError as exc:
        return None, [Problem(file_name, exc.lineno, None, f"form: not valid JSON ({exc.msg})")]
    if not isinstance(form, dict):
        return None, [Problem(file_name, 1, None, "form: the file must hold one JSON object")]
    normalize(form)
    key = key_of_file(file_name)
    if not KEY_RE.match(key):
        problem(f"'{key}' is not a usable form key (letters, digits, '-', '_', '.')")
    if form.get("key", key) != key:
        problem(f"key '{form.get('key')}' differs from the file name; name the file {form.get('key')}{FORM_SUFFIX}")
    for unknown in sorted(set(form) - FORM_KEYS):
        problem(f"unknown setting '{unknown}' (known: {', '.join(sorted(FORM_KEYS))})", unknown)
    if not isinstance(form.get("title"), str) or not form.get("title", "").strip():
        problem("needs a title (shown to the clerk, in Chinese)")
    fields = form.get("fields", [])
    if not isinstance(fields, list):
        problem("'fields' must be a list")
        fields = []
    names = _check_fields(fields, "fields", FIELD_TYPES, FIELD_KEYS | LIST_KEYS, problem)
    for name, field in names.items():
        if field.get("type") == LIST_TYPE:
            _check_list(name, field, content, problem)
    rules = form.get("rules", [])
    if not isinstance(rules, list):
        problem("'rules' must be a list")
        rules = []
    for text in _rule_problems(rules, names, "rules"):
        problem(text)
    for setting in ("show", "case_fields", "case_title"):
        value = form.get(setting, [])
        if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            problem(f"'{setting}' is a list of case data names", setting)
    labels = form.get("case_labels", {})
    if not isinstance(labels, dict):
        problem("'case_labels' maps data names to a label or to {\"label\": …, \"options\": {…}}")
    return (form if not problems else None), problems


def _check_fields(fields: list, where: str, kinds: tuple, known: set, problem, prefix: str = "",
                  start: int = 0, element: str | None = None) -> dict[str, dict]:
    """The checks every field (or dynamiclist column) gets; returns the fields by name. ``prefix`` names the
    list a column belongs to in each message ("field 'scores': column 'reason': …")."""
    names: dict[str, dict] = {}
    noun = "column" if prefix else "field"

    def say(text: str, name: str | None = None) -> None:
        problem(prefix + text, name, start, element or name)

    for index, field in enumerate(fields):
        if not isinstance(field, dict):
            say(f"{where}[{index}] must be an object")
            continue
        name = field.get("name")
        if not isinstance(name, str) or not NAME_RE.match(name):
            say(f"{where}[{index}] needs a name made of letters, digits and '_' (got {name!r})")
            continue
        if name in names:
            say(f"{noun} '{name}' is defined twice", name)
        names[name] = field
        kind = field.get("type", "text")
        for unknown in sorted(set(field) - known):
            say(f"{noun} '{name}': unknown setting '{unknown}'", name)
        if kind != LIST_TYPE:
            for setting in sorted(set(field) & LIST_KEYS):
                say(f"{noun} '{name}': '{setting}' applies to a dynamiclist only", name)
        if kind not in kinds:
            if prefix and kind in FIELD_TYPES:
                say(f"column '{name}': a dynamiclist's columns are {', '.join(kinds)} (not {kind})", name)
            else:
                say(f"{noun} '{name}': unknown type '{kind}' (use one of {', '.join(kinds)})", name)
        if kind != "hidden" and not (isinstance(field.get("label"), str) and field["label"].strip()):
            say(f"{noun} '{name}' needs a label", name)
        if "required" in field and not isinstance(field["required"], bool):
            say(f"{noun} '{name}': 'required' is true or false", name)
        options = field.get("options")
        if kind in OPTION_TYPES and not options:
            say(f"{noun} '{name}': a {kind} needs options", name)
        if options is not None:
            if kind not in OPTION_TYPES + ("checkbox",):
                say(f"{noun} '{name}': options only apply to select, radio and checkbox", name)
            elif not isinstance(options, list) or not all(
                    isinstance(o, dict) and "value" in o and isinstance(o.get("label"), str) for o in options):
                say(f"{noun} '{name}': options are a list of {{\"value\": …, \"label\": \"…\"}}", name)
            elif len({_text(o["value"]) for o in options}) != len(options):
                say(f"{noun} '{name}': two options have the same value", name)
        for bound in ("min", "max"):
            if bound in field and kind == "number" and not isinstance(field[bound], (int, float)):
                say(f"{noun} '{name}': '{bound}' must be a number", name)
        if kind == "hidden" and "prefill" not in field and "default" not in field:
            say(f"{noun} '{name}': a hidden field needs a prefill or a default", name)
        fill = field.get("prefill")
        if fill is not None and not _valid_prefill(fill):
            say(f"{noun} '{name}': prefill is \"user\", \"display_name\" or {{\"groups\": [\"grid-{{}}\", …]}}", name)
        if "label_to" in field and (kind not in OPTION_TYPES or not NAME_RE.match(str(field["label_to"]))):
            say(f"{noun} '{name}': label_to names a data field and applies to select and radio", name)
    for name, field in names.items():
        for setting in ("visible_when", "required_when"):
            if setting in field:
                for text in _condition_problems(field[setting], names):
                    say(f"{noun} '{name}': {setting}: {text}", name)
    return names


def _check_list(name: str, field: dict, content: str, problem) -> None:
    """A dynamiclist: its columns (``components``), per-row ``rules``, ``min_rows``/``max_rows``, ``unique``."""
    start = max(content.find(f'"{name}"'), 0)
    prefix = f"field '{name}': "

    def say(text: str) -> None:
        problem(prefix + text, name)

    columns = field.get("components")
    if not isinstance(columns, list) or not columns:
        say("a dynamiclist needs 'components': a list of its columns, e.g. "
            "[{\"name\": \"reason\", \"label\": \"扣分原因\", \"type\": \"textarea\"}]")
        return
    names = _check_fields(columns, "components", COLUMN_TYPES, COLUMN_KEYS, problem, prefix, start, name)
    bounds = {}
    for setting in ("min_rows", "max_rows", "defaultRepetitions"):
        if setting in field:
            value = field[setting]
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                say(f"'{setting}' is a whole number of rows, 0 or more")
            else:
                bounds[setting] = value
    if "min_rows" in bounds and "max_rows" in bounds and bounds["min_rows"] > bounds["max_rows"]:
        say(f"'min_rows' ({bounds['min_rows']}) is more than 'max_rows' ({bounds['max_rows']})")
    if "default" in field and not (isinstance(field["default"], list)
                                   and all(isinstance(row, dict) for row in field["default"])):
        say("the default of a dynamiclist is a list of rows ({column: value})")
    unique = field.get("unique", [])
    if not isinstance(unique, list) or not all(isinstance(u, str) for u in unique):
        say("'unique' is a list of column names (no two rows may share their values)")
    else:
        for column in unique:
            if column not in names:
                say(f"unique: '{column}' is not a column of this list")
    rules = field.get("rules", [])
    if not isinstance(rules, list):
        say("'rules' must be a list")
        rules = []
    for text in _rule_problems(rules, names, "rules", "column"):
        say(text)
    for setting in ("allowAddRemove", "isRepeating", "showOutline"):
        if setting in field and not isinstance(field[setting], bool):
            say(f"'{setting}' is true or false")


def _rule_problems(rules: list, names: Mapping[str, dict], where: str, noun: str = "field") -> list[str]:
    found: list[str] = []
    for index, rule in enumerate(rules):
        if not isinstance(rule, dict) or "when" not in rule or not ("require" in rule or "check" in rule):
            found.append(f"{where}[{index}] needs 'when' and 'require' (a list of {noun}s) or 'check' (a condition)")
            continue
        if not isinstance(rule.get("message"), str) or not rule["message"].strip():
            found.append(f"{where}[{index}] needs a message (in Chinese, e.g. \"扣分必须填写原因\")")
        for text in _condition_problems(rule["when"], names, noun):
            found.append(f"{where}[{index}].when: {text}")
        if "check" in rule:
            for text in _condition_problems(rule["check"], names, noun):
                found.append(f"{where}[{index}].check: {text}")
            if rule.get("field") not in names:
                found.append(f"{where}[{index}] with a check names the {noun} its message belongs to ('field')")
        require = rule.get("require", []) or []
        if not isinstance(require, list):
            found.append(f"{where}[{index}]: 'require' is a list of {noun}s")
            continue
        for target in require:
            if target not in names:
                found.append(f"{where}[{index}] requires '{target}', which is not a {noun} of this "
                             f"{'list' if noun == 'column' else 'form'}")
    return found


def _valid_prefill(prefill) -> bool:
    if prefill in ("user", "display_name"):
        return True
    return (isinstance(prefill, dict) and isinstance(prefill.get("groups"), list)
            and all(isinstance(p, str) and p.count("{}") == 1 for p in prefill["groups"]))


def _condition_problems(condition, names: Mapping[str, dict], noun: str = "field") -> list[str]:
    if not isinstance(condition, dict):
        return ["a condition is an object like {\"field\": \"decision\", \"equals\": \"reject\"}"]
    if "all" in condition or "any" in condition:
        items = condition.get("all", condition.get("any"))
        if not isinstance(items, list):
            return ["'all'/'any' take a list of conditions"]
        return [p for item in items for p in _condition_problems(item, names, noun)]
    if "not" in condition:
        return _condition_problems(condition["not"], names, noun)
    found = []
    if "data" in condition:
        if not isinstance(condition["data"], str) or not condition["data"]:
            found.append("'data' names a case data field")
    elif condition.get("field") not in names:
        found.append(f"'{condition.get('field')}' is not a {noun} of this {'list' if noun == 'column' else 'form'}"
                     + (" (a row's conditions name its columns)" if noun == "column" else ""))
    ops = [op for op in condition if op not in ("field", "data")]
    if len(ops) != 1 or ops[0] not in OPERATORS:
        found.append(f"use exactly one of {', '.join(OPERATORS)}")
    elif ops[0] in ("in", "not_in") and not isinstance(condition[ops[0]], list):
        found.append(f"'{ops[0]}' takes a list")
    return found


# ---------------------------------------------------------------------------------------------------------
# Which forms a process uses

def referenced_keys(process_node) -> set[str]:
    """Literal form keys of the user tasks, manual tasks and start events inside a process element."""
    from engine.bpmn.assignments import expression_of, read_assignment
    from engine.bpmn.namespaces import BPMN_NS

    keys = set()
    for tag in ("userTask", "manualTask", "startEvent"):
        for node in process_node.iter(f"{{{BPMN_NS}}}{tag}"):
            key = read_assignment(node, None).form_key
            if key and expression_of(key) is None:
                keys.add(key)
    return keys


def split_sources(sources: list, problems: list[Problem]) -> list:
    """Take the form files out of a deployment's sources (in place) and check them; returns the good ones."""
    return take_checked(sources, "form", key_of_file, check_form, problems, "form: key")


def attach(plan: dict, forms: list, problems: list[Problem]) -> None:
    """Add to each process's files the forms that its BPMN files name (so they are stored and hashed with it).

    A form that no process of the deployment uses is a problem: deploy a form together with its process
    (e.g. the whole folder).
    """
    by_key = {key_of_file(f.name): f for f in forms}
    used: set[str] = set()
    for (kind, _key), entry in plan.items():
        if kind != "process":
            continue
        files = entry[2]
        for form_key in sorted(wanted_keys(files)):
            if form_key in by_key:
                files[by_key[form_key].name] = by_key[form_key]
                used.add(form_key)
    for key, source in by_key.items():
        if key not in used:
            problems.append(Problem(source.name, None, None,
                                    f"form: no process deployed with it has formKey '{key}'; deploy a form together "
                                    f"with the process that uses it (e.g. the whole folder)"))


def carry_over(session, plan: dict) -> None:
    """Forms a process names but this deployment lacks are taken from its latest deployed version, so that
    deploying just the changed BPMN file keeps the forms (and an unchanged process stays unchanged)."""
    from sqlalchemy import select

    from engine.store.models import DefinitionVersion, SourceBlob, VersionSource

    for (kind, key), entry in plan.items():
        if kind != "process":
            continue
        files = entry[2]
        have = {key_of_file(name) for name in files if is_form_file(name)}
        missing = wanted_keys(files) - have
        if not missing:
            continue
        latest = session.execute(select(DefinitionVersion).where(
            DefinitionVersion.key == key, DefinitionVersion.kind == "process")
            .order_by(DefinitionVersion.version.desc()).limit(1)).scalar()
        if latest is None:
            continue
        rows = session.execute(select(VersionSource.file_name, SourceBlob.content)
                               .join(SourceBlob, SourceBlob.sha256 == VersionSource.blob_sha256)
                               .where(VersionSource.version_id == latest.id)).all()
        for file_name, content in rows:
            if is_form_file(file_name) and key_of_file(file_name) in missing:
                files[file_name] = type(entry[1])(file_name, content, "form")


def wanted_keys(files: Mapping[str, Any]) -> set[str]:
    """Form keys named by the BPMN files of one version's file set."""
    from engine.bpmn.namespaces import BPMN_NS

    keys: set[str] = set()
    for source in files.values():
        if getattr(source, "kind", None) == "bpmn" and source.tree is not None:
            for process in source.tree.getroot().iter(f"{{{BPMN_NS}}}process"):
                keys |= referenced_keys(process)
    return keys


# ---------------------------------------------------------------------------------------------------------
# Conditions, prefill and validation of a submission

def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _filled(value) -> bool:
    return value not in (None, "", [], False)


def _answered(field: dict, value) -> bool:
    """A required field is answered: a choice (``false`` is a choice), a ticked box, or a non-empty value."""
    kind = field.get("type", "text")
    if kind in OPTION_TYPES:
        return value is not None and value != []
    if kind == "checkbox" and not field.get("options"):
        return value is True
    return _filled(value)


def _compare(value, other, op) -> bool:
    try:
        if isinstance(other, (int, float)) and not isinstance(other, bool):
            value = float(value)
        return {"gt": value > other, "gte": value >= other, "lt": value < other, "lte": value <= other}[op]
    except (TypeError, ValueError):
        return False


def holds(condition: dict | None, values: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
    """Evaluate a form condition over typed values (missing values are empty); ``{"data": name, …}`` reads
    the case data (``context``) instead of the form."""
    if not condition:
        return True
    if "all" in condition:
        return all(holds(c, values, context) for c in condition["all"])
    if "any" in condition:
        return any(holds(c, values, context) for c in condition["any"])
    if "not" in condition:
        return not holds(condition["not"], values, context)
    value = (context or {}).get(condition["data"]) if "data" in condition else values.get(condition["field"])
    if "equals" in condition:
        return _text(value) == _text(condition["equals"]) if not isinstance(value, list) else \
            _text(condition["equals"]) in [_text(v) for v in value]
    if "not_equals" in condition:
        return _text(value) != _text(condition["not_equals"])
    if "in" in condition:
        return _text(value) in [_text(v) for v in condition["in"]]
    if "not_in" in condition:
        return _text(value) not in [_text(v) for v in condition["not_in"]]
    if "filled" in condition:
        return _filled(value) == bool(condition["filled"])
    for op in ("gt", "gte", "lt", "lte"):
        if op in condition:
            return value is not None and value != "" and _compare(value, condition[op], op)
    return False


def group_parts(pattern: str, groups: Iterable[str]) -> list[str]:
    """The part in place of ``{}`` of every group matching ``pattern`` (``grid-{}`` → the grid worker's street)."""
    regex = re.compile("^" + re.escape(pattern).replace(r"\{\}", "(.+?)") + "$")
    return [m.group(1) for m in (regex.match(g) for g in sorted(groups)) if m]


def as_posted(value) -> list[str]:
    """A typed value as a browser would post it (the strings ``validate`` reads)."""
    return _strings(value)


def option_text(value) -> str:
    """How an option value is compared: ``true``/``false`` for booleans, ``""`` for None, else ``str``."""
    return _text(value)


def prefill(form: dict, username: str | None, groups: Iterable[str], display_name: str | None = None) -> dict:
    """Initial values: defaults, the signed-in user (``"user"``: the account name, ``"display_name"``: the
    person's name), or a part of one of their groups (``{"groups": ["grid-{}"]}``: e.g. the street)."""
    values: dict[str, Any] = {}
    groups = sorted(groups)
    for field in form.get("fields", []):
        if "default" in field:
            values[field["name"]] = field["default"]
        source = field.get("prefill")
        if source == "user" and username:
            values[field["name"]] = username
        elif source == "display_name" and (display_name or username):
            values[field["name"]] = display_name or username
        elif isinstance(source, dict):
            for pattern in source.get("groups", []):
                parts = group_parts(pattern, groups)
                if parts:
                    values[field["name"]] = parts[0]
                    break
    return values


def option_label(field: dict, value, lang: str = "zh") -> str | None:
    for option in field.get("options") or []:
        if _text(option["value"]) == _text(value):
            return option.get("label_en") if lang == "en" and option.get("label_en") else option["label"]
    return None


def visible(field: dict, values: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> bool:
    return holds(field.get("visible_when"), values, context)


def validate(form: dict, submitted: Mapping[str, list[str]], *, username: str | None = None,
             groups: Iterable[str] = (), display_name: str | None = None, context: Mapping[str, Any] | None = None,
             lang: str = "zh", tz=None) -> tuple[dict, dict[str, str]]:
    """Typed data and per-field messages for a submission. File fields carry attachment ids (uploaded first).

    Fields hidden by ``visible_when`` are neither required nor submitted; an empty choice, number or date is
    left out (so it does not overwrite case data). Hidden fields take their prefill or default, never what the
    browser sent. ``context`` is the case data, for conditions that read it.

    A dynamiclist's cells come as ``name[i][column]`` (see :func:`submitted_rows`); its value is the list of
    rows (blank rows dropped, each row a dict of its visible columns), stored even when empty. A cell's message
    is keyed by the cell's name and says the row: ``{"scores[2][reason]": "第3行：扣分必须填写扣分原因"}``; the
    number of rows (``required``, ``min_rows``, ``max_rows``) is reported under the list's name.
    """
    fields = form.get("fields", [])
    fixed = prefill(form, username, groups, display_name)
    raw: dict[str, Any] = {}
    errors: dict[str, str] = {}
    cell_errors: dict[str, dict[str, str]] = {}
    for field in fields:
        name = field["name"]
        values = [v for v in submitted.get(name, [])] if field.get("type") != LIST_TYPE else []
        kind = field.get("type", "text")
        if kind == "hidden":
            raw[name] = fixed.get(name)
            continue
        if kind == LIST_TYPE:
            raw[name], cell_errors[name] = _convert_rows(field, submitted, tz, lang)
            continue
        try:
            raw[name] = _convert(field, values, tz)
        except _Invalid as exc:
            errors[name] = message(exc.code, lang, **{**field, **exc.values})
            raw[name] = None
    data: dict[str, Any] = {}
    for field in fields:
        name = field["name"]
        kind = field.get("type", "text")
        if not visible(field, raw, context):
            continue
        value = raw.get(name)
        if name in errors:
            continue
        if kind == LIST_TYPE:
            found = dict(cell_errors.get(name) or {})
            data[name] = _check_rows(field, value, found, context, lang)
            errors.update(found)
            count = _row_count_problem(field, value)
            if count:
                errors[name] = message(count[0], lang, **count[1])
            continue
        required = field.get("required", False) or (
            "required_when" in field and holds(field["required_when"], raw, context))
        if required and not _answered(field, value):
            errors[name] = message("choose" if kind in OPTION_TYPES else "required", lang)
            continue
        problem = _limits(field, value)
        if problem:
            errors[name] = message(problem, lang, **field)
            continue
        if value is None:
            continue
        data[name] = value
        if field.get("label_to") and value not in (None, ""):
            data[field["label_to"]] = option_label(field, value, "zh")
    for rule in form.get("rules", []):
        if not holds(rule["when"], raw, context):
            continue
        text = rule.get("message_en") if lang == "en" and rule.get("message_en") else rule.get("message")
        for target in rule.get("require", []) or []:
            if not _filled(raw.get(target)) and target not in errors:
                errors[target] = text or message("rule", lang)
        if "check" in rule and not holds(rule["check"], raw, context) and rule["field"] not in errors:
            errors[rule["field"]] = text or message("rule", lang)
    return data, errors


# ---------------------------------------------------------------------------------------------------------
# Repeating rows (dynamiclist)

def cell_key(name: str, index: int | str, column: str) -> str:
    """The name a row's cell is posted under: ``scores[0][department]`` (rows counted from 0)."""
    return f"{name}[{index}][{column}]"


def columns_of(field: dict) -> list[dict]:
    return [c for c in field.get("components") or [] if isinstance(c, dict) and "name" in c]


def _strings(value) -> list[str]:
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else _text(item) for item in items if item is not None]


def _blank(field: dict, row: Mapping[str, list[str]]) -> bool:
    """A row nobody filled in (every cell empty or as its default): dropped, like a spreadsheet's empty lines."""
    for column in columns_of(field):
        given = [v.strip() for v in row.get(column["name"], []) if isinstance(v, str) and v.strip()]
        if given and given != _strings(column.get("default")):
            return False
    return True


def submitted_rows(field: dict, submitted: Mapping[str, Any], keep_blank: bool = False) -> list[dict[str, list[str]]]:
    """A dynamiclist's rows as posted: cells ``name[i][column]`` in the order of ``i`` (gaps closed), or a list
    of dicts under the list's own name (the same values as JSON). Blank rows are dropped unless kept."""
    name = field["name"]
    known = {c["name"] for c in columns_of(field)}
    by_index: dict[int, dict[str, list[str]]] = {}
    for key, value in submitted.items():
        match = CELL_RE.match(key) if isinstance(key, str) and key.startswith(name + "[") else None
        if match and match.group(1) == name and match.group(3) in known:
            by_index.setdefault(int(match.group(2)), {})[match.group(3)] = _strings(value)
    rows = [by_index[i] for i in sorted(by_index)]
    if not by_index and isinstance(submitted.get(name), list):
        rows = [{c: _strings(v) for c, v in row.items() if c in known}
                for row in submitted[name] if isinstance(row, dict)]
    return rows if keep_blank else [row for row in rows if not _blank(field, row)]


def flat_rows(name: str, rows: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Rows as the cells a browser posts (``scores[0][department]``: ["dept-police"])."""
    return {cell_key(name, index, column): _strings(value)
            for index, row in enumerate(rows) for column, value in row.items()}


def _row_text(code_or_text: str, lang: str, row: int, label: str | None = None) -> str:
    if label:
        return message("row_cell", lang, row=row, label=label, text=code_or_text)
    return message("row", lang, row=row, text=code_or_text)


def _label(field: dict, lang: str) -> str:
    return (field.get("label_en") if lang == "en" and field.get("label_en") else field.get("label")) or field["name"]


def _convert_rows(field: dict, submitted: Mapping[str, Any], tz, lang: str) -> tuple[list[dict], dict[str, str]]:
    """Typed rows (every column; a cell that does not convert is None) and the conversion messages by cell."""
    typed: list[dict] = []
    errors: dict[str, str] = {}
    for index, row in enumerate(submitted_rows(field, submitted)):
        values: dict[str, Any] = {}
        for column in columns_of(field):
            try:
                values[column["name"]] = _convert(column, row.get(column["name"], []), tz)
            except _Invalid as exc:
                values[column["name"]] = None
                errors[cell_key(field["name"], index, column["name"])] = _row_text(
                    message(exc.code, lang, **{**column, **exc.values}), lang, index + 1, _label(column, lang))
        typed.append(values)
    return typed, errors


def _check_rows(field: dict, rows: list[dict], errors: dict[str, str], context, lang: str) -> list[dict]:
    """Per row and per column: visibility, required and required_when, limits, the list's rules, unique columns.
    Messages go to ``errors`` under the cell's name and say the row ("第3行：扣分必须填写扣分原因"). Returns the rows
    to store: the visible columns of each row."""
    name = field["name"]
    columns = columns_of(field)
    stored: list[dict] = []
    seen: dict[tuple, int] = {}
    for index, row in enumerate(rows):
        number = index + 1
        shown = [c for c in columns if visible(c, row, context)]
        for column in shown:
            key = cell_key(name, index, column["name"])
            if key in errors:
                continue
            value = row.get(column["name"])
            kind = column.get("type", "text")
            required = column.get("required", False) or (
                "required_when" in column and holds(column["required_when"], row, context))
            if required and not _answered(column, value):
                errors[key] = _row_text(message("choose" if kind in OPTION_TYPES else "required", lang), lang,
                                        number, _label(column, lang))
                continue
            problem = _limits(column, value)
            if problem:
                errors[key] = _row_text(message(problem, lang, **column), lang, number, _label(column, lang))
        visible_names = {c["name"] for c in shown}
        for rule in field.get("rules") or []:
            if not holds(rule["when"], row, context):
                continue
            text = rule.get("message_en") if lang == "en" and rule.get("message_en") else rule.get("message")
            text = _row_text(text or message("rule", lang), lang, number)
            for target in rule.get("require", []) or []:
                key = cell_key(name, index, target)
                if target in visible_names and not _filled(row.get(target)) and key not in errors:
                    errors[key] = text
            if "check" in rule and not holds(rule["check"], row, context):
                errors.setdefault(cell_key(name, index, rule["field"]), text)
        unique = [u for u in field.get("unique") or [] if u in visible_names]
        if unique:
            marker = tuple(_text(row.get(u)) for u in unique)
            if all(marker) and marker in seen:
                column = next(c for c in columns if c["name"] == unique[0])
                errors.setdefault(cell_key(name, index, unique[0]), _row_text(
                    message("duplicate", lang, other=seen[marker]), lang, number, _label(column, lang)))
            elif all(marker):
                seen[marker] = number
        stored.append({c["name"]: row.get(c["name"]) for c in shown})
    return stored


def _row_count_problem(field: dict, rows: list) -> tuple[str, dict] | None:
    if field.get("required") and not rows:
        return "rows_required", {}
    if "min_rows" in field and rows and len(rows) < field["min_rows"]:
        return "min_rows", {"min_rows": field["min_rows"]}
    if "min_rows" in field and not rows and field["min_rows"] > 0:
        return "min_rows", {"min_rows": field["min_rows"]}
    limit = field.get("max_rows", ROW_LIMIT)
    if len(rows) > limit:
        return "max_rows", {"max_rows": limit}
    return None


def row_errors(errors: Mapping[str, str], name: str) -> dict[str, str]:
    """The messages of a list's cells (``scores[2][reason]``: "第3行：…")."""
    return {k: v for k, v in errors.items() if k.startswith(name + "[")}


class _Invalid(ValueError):
    def __init__(self, code: str, **values):
        super().__init__(code)
        self.code = code
        self.values = values


def _convert(field: dict, values: list[str], tz):
    kind = field.get("type", "text")
    values = [v.strip() if isinstance(v, str) else v for v in values]
    first = next((v for v in values if v not in ("", None)), "")
    if kind in ("text", "textarea"):
        return first
    if kind == "number":
        if first == "":
            return None
        try:
            number = Decimal(first.replace(",", ""))
        except InvalidOperation:
            raise _Invalid("number")
        if not number.is_finite() or abs(number.adjusted()) > NUMBER_DIGITS:
            raise _Invalid("number")  # 1e999999 would take int() half a minute: no form asks for such a number
        if field.get("integer"):
            if number != number.to_integral_value():
                raise _Invalid("integer")
            return int(number)
        return int(number) if number == number.to_integral_value() and "." not in first else float(number)
    if kind in OPTION_TYPES or (kind == "checkbox" and field.get("options")):
        chosen = [v for v in values if v not in ("", None)]
        options = {_text(o["value"]): o["value"] for o in field.get("options", [])}
        for value in chosen:
            if value not in options:
                raise _Invalid("not_option")
        typed = list(dict.fromkeys(options[v] for v in chosen))
        if kind == "checkbox" or field.get("multiple"):
            return typed
        return typed[0] if typed else None
    if kind == "checkbox":
        return any(v in ("on", "true", "1", "yes") for v in values)
    if kind == "date":
        if first == "":
            return None
        try:
            return date.fromisoformat(first).isoformat()
        except ValueError:
            raise _Invalid("date")
    if kind == "datetime":
        if first == "":
            return None
        try:
            moment = datetime.fromisoformat(first)
        except ValueError:
            raise _Invalid("datetime")
        if moment.tzinfo is None and tz is not None:
            moment = moment.replace(tzinfo=tz)
        if moment.tzinfo is None:
            raise _Invalid("datetime")
        return moment.isoformat(timespec="minutes")
    if kind == "file":
        return [v for v in dict.fromkeys(values) if v]
    return first


def _limits(field: dict, value) -> str | None:
    kind = field.get("type", "text")
    if value in (None, "", []):
        return None
    if kind == "number":
        if "min" in field and value < field["min"]:
            return "min"
        if "max" in field and value > field["max"]:
            return "max"
    if kind in ("text", "textarea"):
        if "min_length" in field and len(value) < field["min_length"]:
            return "min_length"
        limit = field.get("max_length", TEXT_LIMIT[kind])
        if len(value) > limit:
            field.setdefault("max_length", limit)
            return "max_length"
    if kind in ("date", "datetime"):
        if "min" in field and str(value) < str(field["min"]):
            return "min"
        if "max" in field and str(value) > str(field["max"]):
            return "max"
    if kind == "file" and len(value) > int(field.get("max_files", 10)):
        field.setdefault("max_files", 10)
        return "files"
    return None


# ---------------------------------------------------------------------------------------------------------
# Labels for case data (the case page, the inbox)

def case_labels(forms: Iterable[dict]) -> dict[str, dict]:
    """Labels of data names and their values from a version's forms: field labels and options, then each
    form's ``case_labels`` (which win)."""
    labels: dict[str, dict] = {}
    explicit: dict[str, dict] = {}
    for form in forms:
        for field in form.get("fields", []):
            if field.get("type") == "hidden" and not field.get("label"):
                continue
            entry = labels.setdefault(field["name"], {"label": field.get("label") or field["name"],
                                                      "label_en": field.get("label_en"), "options": {}})
            for option in field.get("options") or []:
                entry["options"].setdefault(_text(option["value"]), (option["label"], option.get("label_en")))
            if field.get("type") == "file":
                entry["file"] = True
            if field.get("type") == LIST_TYPE:
                entry["columns"] = {
                    column["name"]: {"label": column.get("label") or column["name"], "label_en": column.get("label_en"),
                                     "options": {_text(o["value"]): (o["label"], o.get("label_en"))
                                                 for o in column.get("options") or []}}
                    for column in columns_of(field)}
        for name, value in (form.get("case_labels") or {}).items():
            if isinstance(value, str):
                value = {"label": value}
            entry = explicit.setdefault(name, {"label": value.get("label", name), "label_en": value.get("label_en"),
                                               "options": {}})
            for option_value, option_label_ in (value.get("options") or {}).items():
                if isinstance(option_label_, dict):
                    entry["options"][option_value] = (option_label_.get("label"), option_label_.get("label_en"))
                else:
                    entry["options"][option_value] = (option_label_, None)
            if value.get("file"):
                entry["file"] = True
    for name, entry in explicit.items():
        base = labels.get(name, {"options": {}})
        labels[name] = {**base, **{k: v for k, v in entry.items() if k != "options"},
                        "options": {**base.get("options", {}), **entry["options"]}}
    return labels


def case_fields(forms: Iterable[dict]) -> list[str]:
    """The case data a case page lists, in order (the forms' ``case_fields``; empty: every labelled name)."""
    keys: list[str] = []
    for form in forms:
        for key in form.get("case_fields") or []:
            if key not in keys:
                keys.append(key)
    return keys


def case_title_keys(forms: Iterable[dict]) -> list[str]:
    keys: list[str] = []
    for form in forms:
        for key in form.get("case_title") or []:
            if key not in keys:
                keys.append(key)
    return keys or ["title", "situation_name", "situation_label", "subject", "description"]
