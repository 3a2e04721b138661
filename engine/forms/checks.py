"""Checking a form file at deploy time: its JSON, its settings, fields, dynamiclist columns, conditions and
rules. Every problem names the file, the line and the field (the format: ``engine.forms.files``)."""
from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from engine.errors import Problem
from engine.forms import templates
from engine.forms.files import (
    CAPTURE_MODES,
    COLUMN_KEYS,
    COLUMN_TYPES,
    FIELD_KEYS,
    FIELD_TYPES,
    FORM_KEYS,
    FORM_SUFFIX,
    KEY_RE,
    LIST_KEYS,
    LIST_TYPE,
    LOCATION_TYPE,
    NAME_RE,
    OPERATORS,
    OPTION_TYPES,
    key_of_file,
    normalize,
    option_text,
)
from engine.forms.labels import AUDIENCES, FORMATS, VIEW_KEYS, VIEWS

# Reports one problem: its text, the field it is about (the line is where its name first appears after
# ``start``) and the element the problem names (the field, or the dynamiclist a column belongs to).
Report = Callable[..., None]


def _line_of(content: str, needle: str, start: int = 0) -> int | None:
    position = content.find(needle, max(start, 0))
    return content.count("\n", 0, position) + 1 if position >= 0 else None


def check_form(file_name: str, content: str) -> tuple[dict | None, list[Problem]]:  # noqa: C901 - a check per setting
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
        if setting == "case_title" and isinstance(value, str):  # a sentence: "{year} 年度街乡考核评价"
            for text in templates.problems(value, setting):
                problem(text, setting)
        elif not isinstance(value, list) or not all(isinstance(s, str) for s in value):
            problem(f"'{setting}' is a list of case data names" + (" or a template such as \"{year} 年度考核\""
                                                                   if setting == "case_title" else ""), setting)
    for setting in ("subject", "subject_en"):  # what a task is about: "{opinion.street}：{opinion.text}"
        if setting in form:
            for text in templates.problems(form[setting], setting):
                problem(text, setting)
    if "subject_en" in form and "subject" not in form:
        problem("'subject_en' translates 'subject': declare the Chinese one too", "subject_en")
    labels = form.get("case_labels", {})
    if not isinstance(labels, dict):
        problem("'case_labels' maps data names to a label or to {\"label\": …, \"options\": {…}}")
        labels = {}
    labels_at = content.find('"case_labels"')
    for name, entry in labels.items():
        for text in _case_label_problems(name, entry):
            problem(text, name, labels_at)
    return (form if not problems else None), problems


CASE_LABEL_KEYS = {"label", "label_en", "options", "file", *VIEW_KEYS}


def _case_label_problems(name: str, entry: object) -> list[str]:
    """What is wrong with one ``case_labels`` entry: a label, or a label with options, format and view."""
    where = f"case_labels '{name}'"
    if isinstance(entry, str):
        return [] if entry.strip() else [f"{where}: the label is empty"]
    if not isinstance(entry, dict):
        return [f"{where}: use a label or an object like {{\"label\": …, \"format\": \"group\"}}"]
    problems = [f"{where}: unknown setting '{key}' (use {', '.join(sorted(CASE_LABEL_KEYS))})"
                for key in sorted(set(entry) - CASE_LABEL_KEYS)]
    if "label" in entry and not (isinstance(entry["label"], str) and entry["label"].strip()):
        problems.append(f"{where}: 'label' must be a text")
    if "options" in entry and not isinstance(entry["options"], dict):
        problems.append(f"{where}: 'options' maps values to their labels")
    if "format" in entry and entry["format"] not in FORMATS:
        problems.append(f"{where}: unknown format '{entry['format']}' (use one of {', '.join(FORMATS)})")
    if "audience" in entry and entry["audience"] not in AUDIENCES:
        problems.append(f"{where}: unknown audience '{entry['audience']}' (use one of {', '.join(AUDIENCES)}: the "
                        f"lowest that may see it)")
    if "view" in entry and entry["view"] not in VIEWS:
        problems.append(f"{where}: unknown view '{entry['view']}' (use one of {', '.join(VIEWS)})")
    fields = entry.get("fields", [])
    if not isinstance(fields, list):
        fields = [None]
    for field in fields:
        if isinstance(field, dict):
            problems += _case_label_problems(f"{name}.{field.get('name')}", {k: v for k, v in field.items()
                                                                              if k != "name"})
        if not (isinstance(field, str) and NAME_RE.match(field)) and not (
                isinstance(field, dict) and isinstance(field.get("name"), str) and NAME_RE.match(field["name"])):
            problems.append(f"{where}: 'fields' lists the names shown, in order (a name, or an object with a "
                            f"name and its own label or format)")
    for key in ("key", "item", "item_en"):
        if key in entry and not (isinstance(entry[key], str) and entry[key].strip()):
            problems.append(f"{where}: '{key}' must be a text")
    if "item" in entry and entry.get("view", "list") != "list":
        problems.append(f"{where}: 'item' writes the lines of a list view")
    return problems


def _check_fields(fields: list, where: str, kinds: tuple, known: set,  # noqa: C901 - a check per setting
                  problem: Report, prefix: str = "", start: int = 0, element: str | None = None) -> dict[str, dict]:
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
            elif len({option_text(o["value"]) for o in options}) != len(options):
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
        if "capture" in field and kind != "file":
            say(f"{noun} '{name}': 'capture' applies to file fields only (a photo taken with the phone's camera)",
                name)
        elif "capture" in field and field["capture"] not in CAPTURE_MODES:
            say(f"{noun} '{name}': 'capture' is \"environment\" (the back camera) or \"user\" (the front camera)",
                name)
        if kind == LOCATION_TYPE and "default" in field:
            say(f"{noun} '{name}': a location has no default; the person sets it on the spot", name)
    for name, field in names.items():
        for setting in ("visible_when", "required_when"):
            if setting in field:
                for text in _condition_problems(field[setting], names):
                    say(f"{noun} '{name}': {setting}: {text}", name)
    return names


def _check_list(name: str, field: dict, content: str, problem: Report) -> None:
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


def _valid_prefill(prefill: Any) -> bool:
    if prefill in ("user", "display_name"):
        return True
    return (isinstance(prefill, dict) and isinstance(prefill.get("groups"), list)
            and all(isinstance(p, str) and p.count("{}") == 1 for p in prefill["groups"]))


def _condition_problems(condition: Any, names: Mapping[str, dict], noun: str = "field") -> list[str]:
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

