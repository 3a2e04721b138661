"""Which form files a process version is stored with: those its BPMN files name by a literal ``formKey`` (on
user tasks, manual tasks and start events, inside sub-processes too), so the version's content hash covers
them and a changed form makes a new version."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from lxml import etree

from engine.bpmn.assignments import expression_of, read_assignment
from engine.bpmn.namespaces import bpmn_tag
from engine.errors import Problem
from engine.forms.checks import check_form
from engine.forms.files import is_form_file, key_of_file
from engine.sidefiles import take_checked
from engine.store import Session
from engine.store import definitions as stored


def referenced_keys(process_node: etree._Element) -> set[str]:
    """Literal form keys of the user tasks, manual tasks and start events inside a process element."""
    keys = set()
    for tag in ("userTask", "manualTask", "startEvent"):
        for node in process_node.iter(bpmn_tag(tag)):
            key = read_assignment(node, None).form_key
            if key and expression_of(key) is None:
                keys.add(key)
    return keys


def wanted_keys(files: Mapping[str, Any]) -> set[str]:
    """Form keys named by the BPMN files of one version's file set."""
    keys: set[str] = set()
    for source in files.values():
        if getattr(source, "kind", None) == "bpmn" and source.tree is not None:
            for process in source.tree.getroot().iter(bpmn_tag("process")):
                keys |= referenced_keys(process)
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


def carry_over(session: Session, plan: dict) -> None:
    """Forms a process names but this deployment lacks are taken from its latest deployed version, so that
    deploying just the changed BPMN file keeps the forms (and an unchanged process stays unchanged)."""
    for (kind, key), entry in plan.items():
        if kind != "process":
            continue
        files = entry[2]
        have = {key_of_file(name) for name in files if is_form_file(name)}
        missing = wanted_keys(files) - have
        if not missing:
            continue
        for file_name, content in stored.latest_process_files(session, key):
            if is_form_file(file_name) and key_of_file(file_name) in missing:
                files[file_name] = type(entry[1])(file_name, content, "form")
