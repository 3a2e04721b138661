"""What changed between two deployed versions, semantically: the BPMN elements added, removed and changed in
what Whistle reads of them, the sequence flows rerouted, the decision tables' rules cell by cell and the forms'
fields — never a textual diff (moving a shape on the diagram, reordering attributes or rewriting ``${x}`` as
``x`` changes nothing here).

Pure functions over parsed XML (lxml) and parsed forms; the stored files come from ``engine.store`` through
``engine.management.versions``. Elements are matched by id, as modelers keep them. Both sides are read the way
the parser reads them: ``engine.bpmn.modelers.normalise`` first (Camunda/Zeebe/SpiffArena spellings of the same
thing compare equal), the assignment of a human task through ``engine.bpmn.assignments.read_assignment``, a
business rule task's decision through ``engine.bpmn.business_rules.decision_ref``.

SpiffWorkflow has its own ``SpiffWorkflow.bpmn.util.diff.SpecDiff``; it is made for migrating running
workflows: it compares built task specs (so it needs every dependency parsed and a serializer registry), names
the changed attributes by their serialized keys without the old and new values, and knows nothing of sequence
flows, lanes, annotations, decision tables or forms. A designer needs those, with values, so this module reads
the files instead.

The result (``diff_versions``)::

    {"added": [{"id", "type", "name", "file"}], "removed": [...],
     "changed": [{"id", "type", "name", "file", "changes": {property: [old, new]}}],
     "flows": [{"id", "type", "name", "file", "source": [old, new], "target": [old, new]}],
     "decisions": [{"file", "id", "name", "status", "changes", "columns", "rules"}],
     "forms": [{"file", "key", "title", "status", "changes", "fields"}],
     "files": [{"file", "kind", "status"}]}

every list sorted by file and id (rules and fields in their table or form order), so the same two versions
always give the same diff.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from typing import Any

from lxml import etree

from engine.bpmn.assignments import read_assignment
from engine.bpmn.business_rules import decision_ref, result_mapping
from engine.bpmn.modelers import local, normalise
from engine.bpmn.namespaces import BPMN_NS, CAMUNDA_NS, SPIFF_NS
from engine.bpmn.reading import file_kind, read_xml
from engine.forms.files import is_form_file, key_of_file, normalize
from engine.scripting.catalogs import is_catalog_file

# The BPMN elements a diff reports (by local name); everything else is a property of one of them.
ELEMENT_TYPES = frozenset({
    "process", "subProcess", "transaction", "adHocSubProcess", "callActivity",
    "task", "userTask", "manualTask", "scriptTask", "serviceTask", "sendTask", "receiveTask", "businessRuleTask",
    "startEvent", "endEvent", "intermediateCatchEvent", "intermediateThrowEvent", "boundaryEvent",
    "exclusiveGateway", "inclusiveGateway", "parallelGateway", "eventBasedGateway", "complexGateway",
    "sequenceFlow", "messageFlow", "association", "dataInputAssociation", "dataOutputAssociation",
    "lane", "participant", "textAnnotation", "dataObjectReference", "dataStoreReference", "group",
    "message", "signal", "error", "escalation",
})
CONNECTIONS = frozenset({"sequenceFlow", "messageFlow", "association"})
HUMAN_TASKS = frozenset({"userTask", "manualTask"})
# The properties, in the order a change lists them (the pages translate each name).
PROPERTIES = ("name", "type", "documentation", "lane", "timer_type", "timer", "event", "message", "condition",
              "default", "script", "pre_script", "post_script", "candidate_groups", "candidate_users", "assignee",
              "form_key", "due_date", "priority", "outputs", "obligation", "called_decision", "result_variable",
              "called_element", "multi_instance", "attached_to", "interrupting", "starters", "properties", "text")
ASSIGNMENT_KEYS = {"candidateGroups", "candidateUsers", "assignee", "formKey", "dueDate", "priority", "outputs",
                   "obligation"}
TIMER_TYPES = {"timeDuration": "duration", "timeDate": "date", "timeCycle": "cycle"}
FORM_FIELD_ORDER = ("label", "label_en", "type", "required", "options")
# form-js spellings ``engine.forms.files.normalize`` reads into Whistle's (compared there), and layout only
FORM_JS_KEYS = frozenset({"key", "path", "values", "validate", "id", "layout"})
Change = dict[str, list]


# ---------------------------------------------------------------------------------------------------------
# BPMN

def _text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = "".join(element.itertext()).strip()
    return text or None


def _child(element: etree._Element, name: str) -> etree._Element | None:
    return element.find(f"{{{BPMN_NS}}}{name}")


def _event_kinds(element: etree._Element) -> list[etree._Element]:
    return [d for d in element if local(d).endswith("EventDefinition")]


def _lanes(root: etree._Element) -> dict[str, str | None]:
    lanes: dict[str, str | None] = {}
    for lane in root.iter(f"{{{BPMN_NS}}}lane"):
        for ref in lane.findall(f"{{{BPMN_NS}}}flowNodeRef"):
            if ref.text and ref.text.strip():
                lanes[ref.text.strip()] = (lane.get("name") or "").strip() or lane.get("id")
    return lanes


def _spiff_script(element: etree._Element, name: str) -> str | None:
    found = element.find(f"{{{BPMN_NS}}}extensionElements/{{{SPIFF_NS}}}{name}")
    return _text(found)


def _multi_instance(element: etree._Element) -> str | None:
    loop = _child(element, "multiInstanceLoopCharacteristics")
    if loop is None:
        return "loop" if _child(element, "standardLoopCharacteristics") is not None else None
    parts = ["sequential" if loop.get("isSequential") == "true" else "parallel"]
    item = _child(loop, "inputDataItem")
    for label, found in (("cardinality", _text(_child(loop, "loopCardinality"))),
                         ("collection", _text(_child(loop, "loopDataInputRef"))),
                         ("element", (item.get("name") or item.get("id")) if item is not None else None),
                         ("output", _text(_child(loop, "loopDataOutputRef"))),
                         ("completion", _text(_child(loop, "completionCondition")))):
        if found:
            parts.append(f"{label}={found}")
    return "; ".join(parts)


def _extension_properties(element: etree._Element) -> str | None:
    found = []
    ext = _child(element, "extensionElements")
    if ext is not None:
        for prop in ext.iter(f"{{{SPIFF_NS}}}property"):
            if prop.get("name") and prop.get("name") not in ASSIGNMENT_KEYS:
                found.append(f"{prop.get('name')}={prop.get('value') or ''}")
    return "; ".join(sorted(set(found))) or None


def _event_properties(element: etree._Element, props: dict[str, Any]) -> None:
    """An event's definitions: their kinds, a timer's type and value, a condition, the message (signal…) named."""
    definitions = _event_kinds(element)
    if definitions:
        props["event"] = ", ".join(sorted(local(d).removesuffix("EventDefinition") for d in definitions))
    for definition in definitions:
        what = local(definition)
        if what == "timerEventDefinition":
            for child in definition:
                if local(child) in TIMER_TYPES:
                    props["timer_type"] = TIMER_TYPES[local(child)]
                    props["timer"] = _text(child)
        elif what == "conditionalEventDefinition":
            props["condition"] = _text(_child(definition, "condition"))
        for attribute in ("messageRef", "signalRef", "errorRef", "escalationRef"):
            if definition.get(attribute):
                props["message"] = definition.get(attribute)
    if element.get("messageRef"):  # a receive or send task
        props["message"] = element.get("messageRef")
    if local(element) == "boundaryEvent":
        props["attached_to"] = element.get("attachedToRef")
        props["interrupting"] = element.get("cancelActivity", "true") != "false"


def _task_properties(element: etree._Element, kind: str, lane: str | None, props: dict[str, Any]) -> None:
    """What a task runs or asks: its script, who may do it and with which form, the decision or process it calls."""
    if kind == "scriptTask":
        props["script"] = _text(_child(element, "script"))
    props["pre_script"] = _spiff_script(element, "preScript")
    props["post_script"] = _spiff_script(element, "postScript")
    if kind in HUMAN_TASKS or kind == "startEvent":
        assignment = read_assignment(element, lane if kind in HUMAN_TASKS else None)
        props["form_key"] = assignment.form_key
        if kind in HUMAN_TASKS:
            props.update(candidate_groups=assignment.candidate_groups, candidate_users=assignment.candidate_users,
                         assignee=assignment.assignee, due_date=assignment.due_date, priority=assignment.priority,
                         outputs=", ".join(assignment.outputs) if assignment.outputs is not None else None,
                         obligation=assignment.obligation)
    if kind == "businessRuleTask":
        props["called_decision"] = decision_ref(element)
        props["result_variable"] = result_mapping(element).variable
    if kind == "callActivity":
        props["called_element"] = element.get("calledElement")
    props["multi_instance"] = _multi_instance(element)


def element_properties(element: etree._Element, lanes: Mapping[str, str | None]) -> dict[str, Any]:
    """What Whistle reads of one BPMN element, as comparable values (absent properties are left out)."""
    kind = local(element)
    element_id = element.get("id") or ""
    props: dict[str, Any] = {"name": (element.get("name") or "").strip() or None, "type": kind,
                             "documentation": _text(_child(element, "documentation"))}
    if element_id in lanes and kind != "lane":
        props["lane"] = lanes[element_id]
    _event_properties(element, props)
    if kind == "sequenceFlow":
        props["condition"] = _text(_child(element, "conditionExpression"))
    if element.get("default"):
        props["default"] = element.get("default")
    _task_properties(element, kind, lanes.get(element_id), props)
    if kind == "process":
        starters = [f"{k}={element.get(f'{{{CAMUNDA_NS}}}{k}')}" for k in ("candidateStarterGroups",
                                                                           "candidateStarterUsers")
                    if element.get(f"{{{CAMUNDA_NS}}}{k}")]
        props["starters"] = "; ".join(starters) or None
    if kind == "textAnnotation":
        props["text"] = _text(_child(element, "text"))
    props["properties"] = _extension_properties(element)
    return {k: v for k, v in props.items() if v is not None}


def bpmn_elements(tree: etree._ElementTree | etree._Element) -> dict[str, dict]:
    """The elements of a BPMN document by id: ``{"id", "type", "name", "source", "target", "props"}``, read from a
    normalised copy (the tree given is not changed)."""
    root = copy.deepcopy(tree.getroot() if isinstance(tree, etree._ElementTree) else tree)
    normalise(root)
    lanes = _lanes(root)
    found: dict[str, dict] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or etree.QName(element).namespace != BPMN_NS:
            continue
        kind = local(element)
        element_id = element.get("id")
        if kind not in ELEMENT_TYPES or not element_id or element_id in found:
            continue
        props = element_properties(element, lanes)
        found[element_id] = {"id": element_id, "type": kind, "name": props.get("name"),
                             "source": element.get("sourceRef"), "target": element.get("targetRef"), "props": props}
    return found


def diff_bpmn(old: etree._ElementTree | etree._Element, new: etree._ElementTree | etree._Element,
              file: str) -> dict[str, list]:
    """Elements added, removed and changed between two BPMN documents, and the connections rerouted (a
    connection's source or target: under ``flows``, not ``changed``)."""
    before, after = bpmn_elements(old), bpmn_elements(new)
    result: dict[str, list] = {"added": [], "removed": [], "changed": [], "flows": []}
    for element_id in sorted(after.keys() - before.keys()):
        result["added"].append(_entry(after[element_id], file))
    for element_id in sorted(before.keys() - after.keys()):
        result["removed"].append(_entry(before[element_id], file))
    for element_id in sorted(before.keys() & after.keys()):
        was, now = before[element_id], after[element_id]
        changes = _changes(was["props"], now["props"], PROPERTIES)
        if changes:
            result["changed"].append({**_entry(now, file), "changes": changes})
        if now["type"] in CONNECTIONS and (was["source"], was["target"]) != (now["source"], now["target"]):
            result["flows"].append({**_entry(now, file), "source": [was["source"], now["source"]],
                                    "target": [was["target"], now["target"]]})
    return result


def _entry(element: dict, file: str) -> dict:
    return {"id": element["id"], "type": element["type"], "name": element["name"], "file": file}


def _changes(before: Mapping[str, Any], after: Mapping[str, Any], order: Iterable[str]) -> Change:
    keys = list(dict.fromkeys([*order, *sorted(before.keys() | after.keys())]))
    return {k: [before.get(k), after.get(k)] for k in keys if before.get(k) != after.get(k)}


# ---------------------------------------------------------------------------------------------------------
# DMN (any DMN namespace: 1.1 to 1.5 read the same by local names)

def _dmn_children(element: etree._Element, name: str) -> list[etree._Element]:
    return [c for c in element if local(c) == name]


def _dmn_child(element: etree._Element, name: str) -> etree._Element | None:
    found = _dmn_children(element, name)
    return found[0] if found else None


def _dmn_text(element: etree._Element | None) -> str | None:
    if element is None:
        return None
    text = _dmn_child(element, "text")
    return _text(text if text is not None else element)


def _decision_table(decision: etree._Element) -> dict:
    table = _dmn_child(decision, "decisionTable")
    info: dict[str, Any] = {"name": (decision.get("name") or "").strip() or None, "props": {}, "columns": {},
                            "rules": {}}
    info["props"]["name"] = info["name"]
    literal = _dmn_child(decision, "literalExpression")
    if literal is not None:
        info["props"]["expression"] = _dmn_text(literal)
    if table is None:
        return info
    info["props"]["hit_policy"] = table.get("hitPolicy", "UNIQUE")
    if table.get("aggregation"):
        info["props"]["aggregation"] = table.get("aggregation")
    columns: list[tuple[str, str]] = []
    for index, column in enumerate(_dmn_children(table, "input")):
        column_id = column.get("id") or f"input{index + 1}"
        expression = _dmn_child(column, "inputExpression")
        label = column.get("label") or _dmn_text(expression) or column_id
        info["columns"][column_id] = {"id": column_id, "kind": "input", "label": label,
                                      "props": {"label": column.get("label"), "expression": _dmn_text(expression),
                                                "type": expression.get("typeRef") if expression is not None else None}}
        columns.append((column_id, "inputEntry"))
    for index, column in enumerate(_dmn_children(table, "output")):
        column_id = column.get("id") or f"output{index + 1}"
        label = column.get("label") or column.get("name") or column_id
        info["columns"][column_id] = {"id": column_id, "kind": "output", "label": label,
                                      "props": {"label": column.get("label"), "name": column.get("name"),
                                                "type": column.get("typeRef")}}
        columns.append((column_id, "outputEntry"))
    for index, rule in enumerate(_dmn_children(table, "rule")):
        rule_id = rule.get("id") or f"#{index + 1}"
        entries = {"inputEntry": _dmn_children(rule, "inputEntry"), "outputEntry": _dmn_children(rule, "outputEntry")}
        cells: dict[str, str | None] = {}
        position = {"inputEntry": 0, "outputEntry": 0}
        for column_id, tag in columns:
            found = entries[tag][position[tag]] if position[tag] < len(entries[tag]) else None
            position[tag] += 1
            cells[column_id] = _dmn_text(found)
        annotation = _dmn_child(rule, "annotationEntry")
        cells["annotation"] = _dmn_text(annotation) if annotation is not None else _dmn_text(
            _dmn_child(rule, "description"))
        info["rules"][rule_id] = {"id": rule_id, "index": index + 1, "cells": cells}
    return info


def dmn_decisions(tree: etree._ElementTree | etree._Element) -> dict[str, dict]:
    """The decisions of a DMN document by id, with their columns and rules."""
    root = tree.getroot() if isinstance(tree, etree._ElementTree) else tree
    return {d.get("id"): _decision_table(d) for d in root.iter() if isinstance(d.tag, str)
            and local(d) == "decision" and d.get("id")}


def diff_dmn(old: etree._ElementTree | etree._Element | None, new: etree._ElementTree | etree._Element | None,
             file: str) -> list[dict]:
    """Per decision: added, removed or changed — its name and hit policy, its columns, and its rules added,
    removed and changed cell by cell (``{"column", "label", "kind", "old", "new"}``; ``annotation`` too)."""
    before = dmn_decisions(old) if old is not None else {}
    after = dmn_decisions(new) if new is not None else {}
    found = []
    for decision_id in sorted(before.keys() | after.keys()):
        was, now = before.get(decision_id), after.get(decision_id)
        shown = now or was
        assert shown is not None
        entry: dict[str, Any] = {"file": file, "id": decision_id, "name": shown["name"],
                                 "status": "added" if was is None else "removed" if now is None else "changed",
                                 "changes": {}, "columns": {"added": [], "removed": [], "changed": []},
                                 "rules": {"added": [], "removed": [], "changed": []}}
        was = was or {"props": {}, "columns": {}, "rules": {}}
        now = now or {"props": {}, "columns": {}, "rules": {}}
        entry["changes"] = _changes(was["props"], now["props"], ("name", "hit_policy", "aggregation", "expression"))
        columns = {**was["columns"], **now["columns"]}
        for column_id in sorted(now["columns"].keys() - was["columns"].keys()):
            entry["columns"]["added"].append(_column(now["columns"][column_id]))
        for column_id in sorted(was["columns"].keys() - now["columns"].keys()):
            entry["columns"]["removed"].append(_column(was["columns"][column_id]))
        for column_id in sorted(was["columns"].keys() & now["columns"].keys()):
            changes = _changes(was["columns"][column_id]["props"], now["columns"][column_id]["props"],
                               ("label", "expression", "name", "type"))
            if changes:
                entry["columns"]["changed"].append({**_column(now["columns"][column_id]), "changes": changes})
        for rule in sorted(now["rules"].values(), key=lambda r: r["index"]):
            old_rule = was["rules"].get(rule["id"])
            if old_rule is None:
                entry["rules"]["added"].append({"id": rule["id"], "index": rule["index"],
                                                "cells": _cells(rule["cells"], columns)})
                continue
            cells = []
            for column_id in dict.fromkeys([*old_rule["cells"], *rule["cells"]]):
                before_cell, after_cell = old_rule["cells"].get(column_id), rule["cells"].get(column_id)
                if before_cell != after_cell:
                    column = columns.get(column_id)
                    cells.append({"column": column_id, "label": column["label"] if column else None,
                                  "kind": column["kind"] if column else "annotation",
                                  "old": before_cell, "new": after_cell})
            if cells:
                entry["rules"]["changed"].append({"id": rule["id"], "index": rule["index"],
                                                  "old_index": old_rule["index"], "cells": cells})
        for rule in sorted(was["rules"].values(), key=lambda r: r["index"]):
            if rule["id"] not in now["rules"]:
                entry["rules"]["removed"].append({"id": rule["id"], "index": rule["index"],
                                                  "cells": _cells(rule["cells"], columns)})
        if entry["status"] != "changed" or entry["changes"] or any(entry["columns"].values()) \
                or any(entry["rules"].values()):
            found.append(entry)
    return found


def _column(column: dict) -> dict:
    return {"id": column["id"], "kind": column["kind"], "label": column["label"]}


def _cells(cells: Mapping[str, str | None], columns: Mapping[str, dict]) -> list[dict]:
    return [{"column": column_id, "label": columns[column_id]["label"] if column_id in columns else None,
             "kind": columns[column_id]["kind"] if column_id in columns else "annotation", "value": value}
            for column_id, value in cells.items() if value is not None or column_id != "annotation"]


# ---------------------------------------------------------------------------------------------------------
# Forms

def _value(value: Any) -> Any:
    """A form property as it compares and reads: options as ``value=label`` lines, other structures as JSON."""
    if isinstance(value, list) and all(isinstance(o, dict) and "value" in o for o in value):
        return "; ".join(f"{o.get('value')}={o.get('label', '')}" for o in value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return value


def _form_fields(form: Mapping[str, Any]) -> dict[str, dict]:
    """A form's fields by name; a dynamiclist's columns as ``list.column``."""
    found: dict[str, dict] = {}
    for field in form.get("fields") or []:
        if not isinstance(field, dict) or not isinstance(field.get("name"), str):
            continue
        found[field["name"]] = _settings(field)
        for column in field.get("components") or []:
            if isinstance(column, dict) and isinstance(column.get("name"), str):
                found[f"{field['name']}.{column['name']}"] = _settings(column)
    return found


def _settings(field: Mapping[str, Any]) -> dict[str, Any]:
    return {k: _value(v) for k, v in field.items() if k not in FORM_JS_KEYS and k not in ("name", "components")}


def diff_form(old: Mapping[str, Any] | None, new: Mapping[str, Any] | None, file: str) -> dict | None:
    """A form's fields added, removed and changed (label, type, required, options and every other setting) and
    its own settings changed (title, rules, what it shows…); None when nothing changed."""
    was = normalize(copy.deepcopy(dict(old))) if old is not None else {}
    now = normalize(copy.deepcopy(dict(new))) if new is not None else {}
    before, after = _form_fields(was), _form_fields(now)
    fields: dict[str, list] = {"added": [], "removed": [], "changed": []}
    order = [*after, *(n for n in before if n not in after)]
    for name in order:
        if name not in before:
            fields["added"].append(_field(name, after[name]))
        elif name not in after:
            fields["removed"].append(_field(name, before[name]))
        else:
            changes = _changes(before[name], after[name], FORM_FIELD_ORDER)
            if changes:
                fields["changed"].append({**_field(name, after[name]), "changes": changes})
    settings = {k: _value(v) for k, v in was.items() if k != "fields"}, \
        {k: _value(v) for k, v in now.items() if k != "fields"}
    changes = _changes(settings[0], settings[1], ("title", "description"))
    status = "added" if old is None else "removed" if new is None else "changed"
    if status == "changed" and not changes and not any(fields.values()):
        return None
    title = (now or was).get("title")
    return {"file": file, "key": key_of_file(file), "title": title if isinstance(title, str) else None,
            "status": status, "changes": changes, "fields": fields}


def _field(name: str, field: Mapping[str, Any]) -> dict:
    return {"name": name, "label": field.get("label"), "type": field.get("type")}


# ---------------------------------------------------------------------------------------------------------
# Two versions

def _kind(name: str) -> str:
    if is_form_file(name):
        return "form"
    if is_catalog_file(name):
        return "catalog"
    return file_kind(name) or "other"


def _base(name: str) -> str:
    return name.replace("\\", "/").rsplit("/", 1)[-1]


def _pairing_keys(names: Iterable[str], own: str | None) -> dict[str, str]:
    """How a version's files are matched with the other's: the own file as such, any other by its base name
    (deployed from another folder, the same file has another path), by its whole name where two share one."""
    names = list(names)
    bases = [_base(n) for n in names]
    return {("\0own" if name == own else base if bases.count(base) == 1 else name): name
            for name, base in zip(names, bases, strict=True)}


def diff_versions(old_files: Mapping[str, str], new_files: Mapping[str, str], *, old_own: str | None = None,
                  new_own: str | None = None) -> dict:
    """The semantic diff of two versions given as their stored files (name → content). A version's own file is
    compared with the other's own file (``old_own``/``new_own``), any other file with the other's of the same
    name (``_pairing_keys``); files shown by the newer name. Files that are neither BPMN, DMN nor a form
    (catalogs, calendars) are listed as changed or not."""
    before_keys, after_keys = _pairing_keys(old_files, old_own), _pairing_keys(new_files, new_own)
    pairs: list[tuple[str, str | None, str | None]] = []
    for key in set(before_keys) | set(after_keys):
        old_name, new_name = before_keys.get(key), after_keys.get(key)
        shown = new_name or old_name
        assert shown is not None
        pairs.append((shown, old_name, new_name))
    result: dict[str, list] = {"added": [], "removed": [], "changed": [], "flows": [], "decisions": [],
                               "forms": [], "files": []}
    for shown, old_name, new_name in sorted(pairs):
        before = old_files.get(old_name) if old_name else None
        after = new_files.get(new_name) if new_name else None
        status = "added" if before is None else "removed" if after is None else \
            "unchanged" if before == after else "changed"
        kind = _kind(shown)
        if status == "unchanged":
            continue
        listed = {"file": shown, "kind": kind, "status": status}
        if old_name and _base(old_name) != _base(shown):
            listed["renamed_from"] = old_name
        result["files"].append(listed)
        if kind == "bpmn":
            empty = etree.Element(f"{{{BPMN_NS}}}definitions")
            part = diff_bpmn(read_xml(before).getroot() if before else empty,
                             read_xml(after).getroot() if after else empty, shown)
            for key in ("added", "removed", "changed", "flows"):
                result[key].extend(part[key])
        elif kind == "dmn":
            result["decisions"].extend(diff_dmn(read_xml(before) if before else None,
                                                read_xml(after) if after else None, shown))
        elif kind == "form":
            form = diff_form(json.loads(before) if before else None, json.loads(after) if after else None, shown)
            if form is not None:
                result["forms"].append(form)
    for key in ("added", "removed", "changed", "flows"):
        result[key].sort(key=lambda e: (e["file"], e["id"]))
    result["decisions"].sort(key=lambda d: (d["file"], d["id"]))
    result["forms"].sort(key=lambda f: f["file"])
    return result
