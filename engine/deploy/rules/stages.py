"""The two stages of lint in a deploy's checks (``engine.deploy.checks``), and where their warnings are kept.

:func:`precheck` runs before SpiffWorkflow parses the files (files with errors there are not handed to
SpiffWorkflow, which would fail on them less clearly): modeler compatibility and decision tables.
:func:`check` runs after it: the BPMN rules. Errors block the deployment; warnings stay on the sources and
are stored with the new version (:func:`warnings_of`).
"""
from __future__ import annotations

from lxml import etree

from engine.bpmn import modeler_checks
from engine.bpmn.namespaces import bpmn_tag
from engine.deploy.rules.common import Finding, Linter, tagged
from engine.deploy.rules.elements import check_diagram, check_expression
from engine.deploy.rules.flows import check_scope
from engine.deploy.rules.reserved_ids import reserved_ids
from engine.deploy.rules.returns import check_returns
from engine.deploy.sources import SourceFile
from engine.dmn.checks import check_dmn
from engine.errors import Problem

# SpiffWorkflow's messages for problems a lint rule explains better: the lint problem replaces them.
_SUPERSEDED = ("Multiple outgoing flows are not supported", "Non-default exclusive outgoing sequence flow",
               "No start event found", "A SubWorkflow Must contain an End event", "timer's ", "timer has ")


def _keep_warnings(source: SourceFile, findings: list[Finding]) -> None:
    for finding in findings:
        if finding.problem.severity == "warning":
            source.warnings.setdefault(finding.key, []).append(finding.problem)


def warnings_of(source: SourceFile, key: str) -> list[dict]:
    """The lint warnings of one deployed definition (its own, and those of its file as a whole)."""
    found = list(source.warnings.get(key, [])) + list(source.warnings.get(None, []))
    return [p.to_dict() for p in sorted(found, key=lambda p: (p.line or 0, p.message))]


def precheck(sources: list[SourceFile], bad: set[str]) -> list[Problem]:
    """Before SpiffWorkflow parses: modeler compatibility (BPMN) and decision tables (DMN). Returns the
    errors; files with errors are added to ``bad`` (SpiffWorkflow would fail on them less clearly)."""
    errors: list[Problem] = []
    for source in sources:
        if source.tree is None or source.name in bad:
            continue
        root = source.tree.getroot()
        if source.kind == "dmn":
            decision = root.find("{*}decision")
            key = decision.get("id") if decision is not None else None
            findings = [Finding(tagged(p, "decision-table"), key) for p in check_dmn(source.name, root)]
        else:
            findings = [Finding(tagged(p, "modeler-compatibility"), _process_of(root, p.element_id))
                        for p in modeler_checks.check(source.name, root) + reserved_ids(source.name, root)]
        _keep_warnings(source, findings)
        found = [f.problem for f in findings if f.problem.severity == "error"]
        if found:
            bad.add(source.name)
            errors.extend(found)
    return errors


def check(sources: list[SourceFile], problems: list[Problem]) -> list[Problem]:
    """After SpiffWorkflow parsed: the BPMN lint rules. Returns the errors not already reported for the same
    element; a few of SpiffWorkflow's problems are replaced (removed from ``problems``) by clearer ones."""
    errors: list[Problem] = []
    for source in sources:
        if source.tree is None or source.kind != "bpmn":
            continue
        findings = lint_bpmn(source.name, source.tree.getroot())
        taken = {(p.file, p.element_id) for p in problems if p.element_id}
        kept = []
        for finding in findings:
            p = finding.problem
            if p.severity == "error":
                superseded = [q for q in problems if q.file == p.file and q.element_id == p.element_id
                              and q.message.startswith(_SUPERSEDED)]
                for q in superseded:
                    problems.remove(q)
                if (p.file, p.element_id) in taken and not superseded:
                    continue
            kept.append(finding)
        _keep_warnings(source, kept)
        errors.extend(f.problem for f in kept if f.problem.severity == "error")
    return errors


def lint_bpmn(file_name: str, root: etree._Element) -> list[Finding]:
    """Every BPMN rule's findings for one parsed file: each executable process, its lanes, message correlation
    expressions and the conditions of sequence flows."""
    lint = Linter(file_name, root)
    for process in root.findall(bpmn_tag("process")):
        if process.get("isExecutable") != "true":
            continue
        lint.key = process.get("id")
        check_scope(lint, process)
        check_diagram(lint, process)
        check_returns(lint, process)
        for lane in process.iter(bpmn_tag("lane")):
            if not (lane.get("name") or "").strip():
                lint.report(lane, "label-required", f"lane '{lane.get('id')}' has no name (a lane's name is "
                                                    f"the candidate group of the user tasks in it)")
    lint.key = None
    for expression in root.iter(bpmn_tag("correlationPropertyRetrievalExpression")):
        for child in expression:
            if isinstance(child.tag, str) and child.text and child.text.strip():
                check_expression(lint, child, child.text.strip(), "message correlation expression",
                                 owner=expression.getparent())
    # Conditions on sequence flows, wherever they are.
    for flow in root.iter(bpmn_tag("sequenceFlow")):
        condition = flow.find(bpmn_tag("conditionExpression"))
        if condition is not None and condition.text and condition.text.strip():
            process = next((a for a in flow.iterancestors(bpmn_tag("process"))), None)
            if process is None or process.get("isExecutable") != "true":
                continue
            lint.key = process.get("id")
            check_expression(lint, condition, condition.text, f"the condition of sequence flow '{flow.get('id')}'",
                             owner=flow)
    return lint.findings


def _process_of(root: etree._Element, element_id: str | None) -> str | None:
    if not element_id:
        return None
    for process in root.iter(bpmn_tag("process")):
        if process.get("id") == element_id or process.find(f".//*[@id='{element_id}']") is not None:
            return process.get("id")
    return None
