"""Whistle's forms as form-js schemas and back, so a designer edits a ``*.form.json`` in form-js's editor
(ADR 10). ``to_formjs(form)`` gives the schema the editor opens; ``from_formjs(schema, original)`` reads what it
saved back into Whistle's format, and ``from_formjs(to_formjs(form), form) == form`` for every form (the tests
run it over every form in ``processes/``).

What form-js has a setting for is written in its spelling: a field's ``name`` is ``key`` (a list's ``path``),
its ``type`` a form-js component type (``FIELD_TO_FORMJS``), ``help`` is ``description``, ``default`` is
``defaultValue``, ``options`` are ``values``, ``required``/``min``/``max``/``min_length``/``max_length`` sit in
``validate``, a number's ``step`` is ``increment`` and ``integer`` is ``decimalDigits: 0``. Everything only
Whistle reads (``label_en``, ``prefill``, ``from_account``, ``max_files``, ``visible_when``, ``capture`` …, and the
form's own ``title``, ``show``, ``subject``, ``case_labels``, ``case_title``, ``rules`` …) goes into the
component's (or the schema's) ``properties``, the key/value pairs form-js's editor shows under 自定义属性:
a text as it is, anything else (and a text that would read as JSON) as JSON. What form-js's editor adds on its
own (ids, layout rows, a list's outline) is dropped on the way back unless the original form had it; options'
typed values and English labels that the editor's value list cannot hold come back from the original form.
A form-js component Whistle cannot hold (text, image, button, group …) is refused, naming it.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from engine.errors import InvalidInput
from engine.forms.files import option_text

FORMJS_SCHEMA_VERSION = 19  # what @bpmn-io/form-js 1.23 writes (package.json pins it)
FIELD_TO_FORMJS = {"text": "textfield", "textarea": "textarea", "number": "number", "select": "select",
                   "radio": "radio", "checkbox": "checkbox", "date": "datetime", "datetime": "datetime",
                   "file": "filepicker", "hidden": "expression", "dynamiclist": "dynamiclist",
                   "location": "textfield"}  # no form-js counterpart: a text field with properties.type
MULTIPLE_SELECT, CHECK_GROUP = "taglist", "checklist"  # a select with multiple, a checkbox with options
FORMJS_TO_FIELD = {"textfield": "text", "textarea": "textarea", "number": "number", "select": "select",
                   MULTIPLE_SELECT: "select", "radio": "radio", "checkbox": "checkbox", CHECK_GROUP: "checkbox",
                   "datetime": "datetime", "filepicker": "file", "expression": "hidden",
                   "dynamiclist": "dynamiclist"}
WHISTLE_TYPE = "type"  # the property naming a Whistle type form-js has not (location)
VALIDATE = (("required", "required"), ("min", "min"), ("max", "max"), ("min_length", "minLength"),
            ("max_length", "maxLength"))
LIST_NATIVE = ("components", "defaultRepetitions", "allowAddRemove", "isRepeating", "nonCollapsedItems",
               "showOutline")
# What form-js's editor writes on its own, for its layout and bookkeeping: not Whistle's, dropped on the way back
# (unless the original form had it: ``engine.forms.files`` accepts and ignores ``id`` and ``layout``).
EDITOR_ONLY = frozenset({"id", "layout", "subtype", "dateLabel", "timeLabel", "expression", "computeOn",
                         "showOutline", "isRepeating", "nonCollapsedItems", "allowAddRemove", "defaultRepetitions",
                         "timeSerializingFormat", "timeInterval", "use24h", "disallowPassedDates", "searchable"})
FORM_ORDER = ("key", "title", "title_en", "subject", "subject_en", "description", "description_en", "show",
              "submit", "submit_en", "business_key_prefix", "case_title", "case_labels", "case_fields",
              "unknown_fields", "fields", "rules")
FIELD_ORDER = ("name", "label", "label_en", "type", "required", "required_when", "visible_when", "options",
               "multiple")


# -- Whistle to form-js ----------------------------------------------------------------------------------------

def to_formjs(form: Mapping[str, Any]) -> dict:
    """The form-js schema of a Whistle form (``type: default``, its ``id`` the form key)."""
    properties = {name: encode_property(value) for name, value in form.items() if name not in ("key", "fields")}
    schema: dict[str, Any] = {"type": "default", "id": form.get("key"),
                              "components": [_component(f, f"fields[{i}]") for i, f in
                                             enumerate(form.get("fields") or [])],
                              "schemaVersion": FORMJS_SCHEMA_VERSION}
    if properties:
        schema["properties"] = properties
    return schema


def _component(field: Any, where: str) -> dict:  # noqa: C901 - a mapping per setting
    if not isinstance(field, Mapping):
        raise InvalidInput(f"{where}: a field must be an object")
    kind = field.get("type")
    rest = dict(field)
    component: dict[str, Any] = {}
    name = rest.pop("name", None)
    rest.pop("type", None)
    if kind == "select" and rest.get("multiple") is True:
        component["type"] = MULTIPLE_SELECT
        rest.pop("multiple")
    elif kind == "checkbox" and rest.get("options"):
        component["type"] = CHECK_GROUP
    elif kind in FIELD_TO_FORMJS:
        component["type"] = FIELD_TO_FORMJS[kind]
    else:
        component["type"] = "textfield"
    if name is not None:
        component["path" if kind == "dynamiclist" else "key"] = name
    component["id"] = "Field_" + "".join(c if c.isalnum() else "_" for c in where).strip("_")  # unique by place
    if "label" in rest:
        component["dateLabel" if kind in ("date", "datetime") else "label"] = rest.pop("label")
    if kind in ("date", "datetime"):
        component["subtype"] = kind
    if "help" in rest:
        component["description"] = rest.pop("help")
    if "default" in rest:
        component["defaultValue"] = rest.pop("default")
    if "options" in rest and isinstance(rest["options"], list) and all(isinstance(o, Mapping)
                                                                      for o in rest["options"]):
        component["values"] = [dict(o) for o in rest.pop("options")]
    validate = {}
    for ours, theirs in VALIDATE:
        if ours not in rest:
            continue
        if ours == "required" and isinstance(rest[ours], bool) \
                or ours in ("min", "max") and kind == "number" and _is_number(rest[ours]) \
                or ours in ("min_length", "max_length") and kind in ("text", "textarea") and _is_number(rest[ours]):
            validate[theirs] = rest.pop(ours)
    if validate:
        component["validate"] = validate
    if kind == "number" and rest.get("integer") is True:
        component["decimalDigits"] = 0
        rest.pop("integer")
    if kind == "number" and _is_number(rest.get("step")):
        component["increment"] = rest.pop("step")
    if kind == "file" and isinstance(rest.get("multiple"), bool):
        component["multiple"] = rest.pop("multiple")
    if kind == "dynamiclist":
        for native in LIST_NATIVE:
            if native in rest and native != "components":
                component[native] = rest.pop(native)
        columns = rest.pop("components", None)
        if isinstance(columns, list):
            component["components"] = [_component(c, f"{where}.components[{i}]") for i, c in enumerate(columns)]
        elif columns is not None:
            rest["components"] = columns
    properties = {}
    if kind not in FIELD_TO_FORMJS or kind == "location":
        properties[WHISTLE_TYPE] = encode_property(kind)
    properties.update({setting: encode_property(value) for setting, value in rest.items()})
    if properties:
        component["properties"] = properties
    return component


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def encode_property(value: Any) -> str:
    """A setting as a form-js property (always text): a text as it is unless it would read as JSON, else JSON."""
    if isinstance(value, str) and not _reads_as_json(value):
        return value
    return json.dumps(value, ensure_ascii=False)


def decode_property(text: Any) -> Any:
    """The setting a property holds (``encode_property`` read back); a text that is not JSON is that text."""
    if not isinstance(text, str):
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text


def _reads_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


# -- form-js to Whistle ----------------------------------------------------------------------------------------

def from_formjs(schema: Any, original: Mapping[str, Any] | None = None) -> dict:
    """The Whistle form a form-js schema describes. ``original`` is the form it was opened from: its settings'
    order and what form-js cannot hold (options' typed values and English labels) are taken from it.
    ``InvalidInput`` naming the component for what Whistle's forms cannot hold."""
    if not isinstance(schema, Mapping):
        raise InvalidInput("schema: a form-js schema is a JSON object")
    components = schema.get("components")
    if not isinstance(components, list):
        raise InvalidInput("schema: components: a form-js schema lists its fields in 'components'")
    original = original or {}
    found: dict[str, Any] = {}
    key = schema.get("id") if isinstance(schema.get("id"), str) and schema.get("id") else original.get("key")
    if key is not None:
        found["key"] = key
    properties = schema.get("properties") or {}
    if not isinstance(properties, Mapping):
        raise InvalidInput("schema: properties: form-js properties are an object of texts")
    found.update({name: decode_property(value) for name, value in properties.items()})
    before = {f.get("name"): f for f in original.get("fields") or [] if isinstance(f, Mapping)}
    found["fields"] = [_field(c, f"fields[{i}]", before) for i, c in enumerate(components)]
    return _ordered(found, original, FORM_ORDER)


def _field(component: Any, where: str, before: Mapping[Any, Mapping[str, Any]]) -> dict:  # noqa: C901 - likewise
    if not isinstance(component, Mapping):
        raise InvalidInput(f"{where}: a form-js component is an object")
    kind = component.get("type")
    name = component.get("path") if kind == "dynamiclist" else component.get("key", component.get("path"))
    label = component.get("label", component.get("dateLabel"))
    named = f"{where} ({name or label or kind})"
    if kind not in FORMJS_TO_FIELD:
        raise InvalidInput(f"{named}: form-js '{kind}' components are not part of Whistle's forms; use a field "
                           f"({', '.join(sorted(FORMJS_TO_FIELD))}) or remove it")
    original = before.get(name) or {}
    rest = dict(component)
    properties = rest.pop("properties", None) or {}
    if not isinstance(properties, Mapping):
        raise InvalidInput(f"{named}: properties: form-js properties are an object of texts")
    settings = {setting: decode_property(value) for setting, value in properties.items()}
    field: dict[str, Any] = {}
    if name is not None:
        field["name"] = name
    if label is not None:
        field["label"] = label
    whistle_type = settings.pop(WHISTLE_TYPE, None)
    ours = whistle_type if whistle_type is not None else FORMJS_TO_FIELD[kind]
    if kind == "datetime":
        ours = "date" if rest.get("subtype", "date") == "date" else "datetime"
    field["type"] = ours
    if "description" in rest:
        field["help"] = rest["description"]
    if "defaultValue" in rest:
        field["default"] = rest["defaultValue"]
    if isinstance(rest.get("values"), list):
        field["options"] = _options(rest["values"], original.get("options"))
    checks = rest.get("validate")
    validate: Mapping[str, Any] = checks if isinstance(checks, Mapping) else {}
    for setting, theirs in VALIDATE:
        if theirs in validate and validate[theirs] is not None:
            field[setting] = validate[theirs]
    if field.get("required") is False and "required" not in original:
        field.pop("required")
    if kind == MULTIPLE_SELECT:
        field["multiple"] = True
    elif kind == "select" and original.get("multiple") is False:
        field["multiple"] = False
    if kind == "filepicker" and "multiple" in rest:
        if rest["multiple"] or "multiple" in original:
            field["multiple"] = rest["multiple"]
    if kind == "number" and rest.get("decimalDigits") == 0:
        field["integer"] = True
    if kind == "number" and "increment" in rest:
        field["step"] = rest["increment"]
    if kind == "dynamiclist":
        for native in LIST_NATIVE[1:]:  # kept when the original had it or the designer changed form-js's default
            if native in rest and (native in original or rest[native] != _LIST_DEFAULTS.get(native)):
                field[native] = rest[native]
        columns = {c.get("name"): c for c in original.get("components") or [] if isinstance(c, Mapping)}
        field["components"] = [_field(c, f"{where}.components[{i}]", columns)
                               for i, c in enumerate(rest.get("components") or [])]
    handled = {"type", "key", "path", "label", "dateLabel", "description", "defaultValue", "values", "validate",
               "multiple", "decimalDigits", "increment", "components", *LIST_NATIVE}
    for setting, value in rest.items():
        if setting in handled:
            continue
        if setting in EDITOR_ONLY:
            if setting in original:
                field[setting] = value
            continue
        field[setting] = value  # a form-js setting Whistle does not know: the deploy check names it
    field.update(settings)
    return _ordered(field, original, FIELD_ORDER)


# form-js's settings of a new list (its DynamicList.config.create)
_LIST_DEFAULTS = {"defaultRepetitions": 1, "allowAddRemove": True, "isRepeating": True, "showOutline": True}


def _options(values: list, before: Any) -> list:
    """form-js's values as Whistle's options: a value that reads as an original option's (``option_text``) takes
    that option's typed value, and its English label when the editor kept none."""
    known = {option_text(o.get("value")): o for o in before or [] if isinstance(o, Mapping)}
    options = []
    for value in values:
        if not isinstance(value, Mapping):
            options.append(value)
            continue
        option = dict(value)
        was = known.get(option_text(option.get("value")))
        if was is not None:
            option["value"] = was.get("value")
            for setting, kept in was.items():
                option.setdefault(setting, kept)
            option = _ordered(option, was, ("value", "label", "label_en"))
        options.append(option)
    return options


def _ordered(found: dict, original: Mapping[str, Any], order: tuple[str, ...]) -> dict:
    """``found`` with its settings in the original's order, then new ones in ``order``, then the rest."""
    ranked = [k for k in original if k in found]
    ranked += [k for k in order if k in found and k not in ranked]
    ranked += [k for k in found if k not in ranked]
    return {k: found[k] for k in ranked}


# -- the file ----------------------------------------------------------------------------------------------------

def form_text(form: Any, indent: int = 0) -> str:
    """A form file's text in the style of ``processes/``: small flat objects and lists on one line, everything
    else indented by two spaces (``processes/tools/whistle_forms.py`` writes the same)."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    flat = json.dumps(form, ensure_ascii=False, separators=(", ", ": "))
    if _scalar(form) or (all(_scalar(v) for v in (form.values() if isinstance(form, dict) else form))
                         and len(flat) + len(inner) <= 118):
        return flat
    if isinstance(form, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {form_text(v, indent + 1)}" for k, v in form.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{form_text(v, indent + 1)}" for v in form]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def _scalar(value: Any) -> bool:
    return not isinstance(value, (dict, list))
