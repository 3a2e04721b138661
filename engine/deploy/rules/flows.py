"""The structural rules of a BPMN scope (a process or a sub-process), after bpmnlint's recommended set: start
and end events, how elements are connected, how gateways split and join, duplicate flows, path lengths."""
from __future__ import annotations

from lxml import etree

from engine.bpmn.modelers import local
from engine.deploy.rules.common import (
    CONDITIONAL_GATEWAYS,
    EVENTS,
    FLOW_NODES,
    GATEWAYS,
    MAX_PATH_ELEMENTS,
    SUBPROCESSES,
    WHAT,
    Linter,
    condition_text,
    describe,
    event_definitions,
)
from engine.deploy.rules.elements import check_node


def check_scope(lint: Linter, scope: etree._Element) -> None:  # noqa: C901 - the structural rules of one scope
    """The structural rules of a process or sub-process, then those of each element in it (sub-processes in turn)."""
    kind = local(scope)
    adhoc = kind == "adHocSubProcess"
    event_sub = scope.get("triggeredByEvent") == "true"
    what = "process" if kind == "process" else ("event sub-process" if event_sub else WHAT[kind])
    nodes = [c for c in scope if isinstance(c.tag, str) and local(c) in FLOW_NODES]
    flows = [c for c in scope if isinstance(c.tag, str) and local(c) == "sequenceFlow"]
    incoming: dict[str, list] = {}
    outgoing: dict[str, list] = {}
    for flow in flows:
        outgoing.setdefault(flow.get("sourceRef"), []).append(flow)
        incoming.setdefault(flow.get("targetRef"), []).append(flow)

    starts = [n for n in nodes if local(n) == "startEvent"]
    if not adhoc:
        if not starts:
            lint.report(scope, "start-event-required", f"{what} '{scope.get('id')}' has no start event: it can "
                                                       f"never start; add a start event")
        if not any(local(n) == "endEvent" for n in nodes):
            # A process ends when its last path does; SpiffWorkflow refuses a sub-process without one.
            lint.report(scope, "end-event-required", f"{what} '{scope.get('id')}' has no end event; add one "
                                                     f"where the {what} finishes",
                        "warning" if kind == "process" else "error")
    blank = [s for s in starts if not event_definitions(s)]
    blank_ids = ", ".join(s.get("id") for s in blank)
    for extra in blank[1:]:
        lint.report(extra, "single-blank-start-event",
                    f"{what} '{scope.get('id')}' has {len(blank)} blank start events ({blank_ids}); "
                    f"keep one, or give the others a message/timer/signal")
    if event_sub:
        for start in blank:
            lint.report(start, "event-sub-process-typed-start-event",
                        f"start event '{start.get('id')}' of event sub-process '{scope.get('id')}' has no event "
                        f"type; give it a message, timer, signal, error or escalation")
    elif kind in SUBPROCESSES and not adhoc:
        for start in starts:
            if event_definitions(start):
                lint.report(start, "sub-process-blank-start-event",
                            f"start event '{start.get('id')}' of sub-process '{scope.get('id')}' has an event type; "
                            f"an embedded sub-process starts when it is reached: use a blank start event")

    seen_flows: dict[tuple, str] = {}
    for flow in flows:
        signature = (flow.get("sourceRef"), flow.get("targetRef"), condition_text(flow))
        if signature in seen_flows:
            lint.report(flow, "no-duplicate-sequence-flows",
                        f"sequence flow '{flow.get('id')}' duplicates '{seen_flows[signature]}' (same source, "
                        f"target and condition); delete one")
        else:
            seen_flows[signature] = flow.get("id")

    for node in nodes:
        node_id = node.get("id")
        _connections(lint, node, incoming.get(node_id, []), outgoing.get(node_id, []), adhoc)
        check_node(lint, node)
        if local(node) in SUBPROCESSES:
            check_scope(lint, node)

    successors: dict[str, list[str]] = {}
    for flow in flows:
        successors.setdefault(flow.get("sourceRef"), []).append(flow.get("targetRef"))
    for node in nodes:
        if local(node) == "boundaryEvent" and node.get("attachedToRef"):
            successors.setdefault(node.get("attachedToRef"), []).append(node.get("id"))
    longest = _longest_path({n.get("id") for n in nodes}, successors)
    if longest > MAX_PATH_ELEMENTS:
        lint.report(scope, "max-path-length",
                    f"{what} '{scope.get('id')}' has a path of {longest:,} elements in a row (the limit is "
                    f"{MAX_PATH_ELEMENTS:,}): SpiffWorkflow looks ahead along a path one nested call per "
                    f"element and would fail on it; move parts of it into sub-processes or call activities")

# -- one element ------------------------------------------------------------------------------------


def _connections(lint: Linter, node: etree._Element, inc: list, out: list, adhoc: bool) -> None:
    kind = local(node)
    label = describe(node)
    compensation = node.get("isForCompensation") == "true"
    event_sub = node.get("triggeredByEvent") == "true"
    definitions = {local(d) for d in event_definitions(node)}
    exempt = adhoc or compensation or event_sub or (kind == "boundaryEvent"
                                                    and "compensateEventDefinition" in definitions)
    if exempt:
        return
    if not inc and not out:
        lint.report(node, "no-disconnected", f"{label} is not connected to anything: it would never run; "
                                             f"connect it with sequence flows or delete it")
        return
    if not inc and kind not in ("startEvent", "boundaryEvent"):
        lint.report(node, "no-implicit-start", f"{label} has no incoming sequence flow: it would never run; "
                                               f"connect it, or use a start event")
    if not out and kind != "endEvent":
        lint.report(node, "no-implicit-end", f"{label} has no outgoing sequence flow; end the path with an "
                                             f"end event")
    if kind in GATEWAYS:
        _gateway(lint, node, inc, out)
        return
    conditional = [f for f in out if condition_text(f) is not None]
    if conditional:
        lint.report(conditional[0], "conditional-flows",
                    f"sequence flow '{conditional[0].get('id')}' leaving {label} has a condition, which Whistle "
                    f"does not evaluate on flows leaving a {WHAT.get(kind, kind)}; put an exclusive gateway "
                    f"after it and the condition on the gateway's flow")
    if len(out) > 1:
        severity = "warning" if kind == "startEvent" else None
        lint.report(node, "no-implicit-split",
                    f"{label} has {len(out)} outgoing sequence flows; split explicitly with a gateway after it "
                    f"(parallel: all paths, exclusive: one path by condition)", severity)
    if len(inc) > 1 and kind not in EVENTS:
        lint.report(node, "fake-join", f"{label} has {len(inc)} incoming sequence flows; join them with a gateway "
                                       f"before it (exclusive: whichever arrives, parallel: wait for all)")


def _gateway(lint: Linter, node: etree._Element, inc: list, out: list) -> None:
    kind = local(node)
    label = describe(node)
    if len(out) > lint.max_branches:
        lint.report(node, "max-branches", f"{label} splits into {len(out):,} paths (the limit is "
                                          f"{lint.max_branches:,}, WHISTLE_DEPLOY_MAX_BRANCHES): every path "
                                          f"is a task the engine runs and stores; use a multi-instance "
                                          f"activity over a list, or fewer paths")
    if len(inc) == 1 and len(out) == 1:
        lint.report(node, "superfluous-gateway", f"{label} has one incoming and one outgoing flow: it does "
                                                 f"nothing; delete it")
    if len(inc) > 1 and len(out) > 1:
        lint.report(node, "no-gateway-join-fork", f"{label} both joins and splits; use two gateways (a join, "
                                                  f"then a split) so each does one thing")
    if len(out) > 1 and kind != "parallelGateway" and not (node.get("name") or "").strip():
        lint.report(node, "label-required", f"{label} splits the flow but has no name; name the question it "
                                            f"decides (like \"Whistle?\")")
    default = node.get("default")
    if default and default not in {f.get("id") for f in out}:
        lint.report(node, "conditional-flows", f"{label} names '{default}' as its default flow, which is not one "
                                               f"of its outgoing flows")
    if kind in CONDITIONAL_GATEWAYS:
        if len(out) > 1:
            for flow in out:
                if flow.get("id") == default:
                    if condition_text(flow) is not None:
                        lint.report(flow, "conditional-flows",
                                    f"default flow '{flow.get('id')}' of {label} has a condition, which is "
                                    f"ignored (the default is taken when no other condition is true)", "warning")
                elif condition_text(flow) is None:
                    lint.report(flow, "conditional-flows",
                                f"sequence flow '{flow.get('id')}' leaving {label} has no condition and is not the "
                                f"default; add a condition, or make it the gateway's default flow")
    else:
        for flow in out:
            if condition_text(flow) is not None:
                lint.report(flow, "conditional-flows",
                            f"sequence flow '{flow.get('id')}' leaving {label} has a condition, which a "
                            f"{'parallel' if kind == 'parallelGateway' else 'this kind of'} gateway ignores; "
                            f"use an exclusive or inclusive gateway, or remove the condition")


def _longest_path(node_ids: set[str], successors: dict[str, list[str]]) -> int:
    """The most elements on one path along ``successors``, loops cut where they close (no recursion)."""
    depth: dict[str, int] = {}
    on_path: set[str] = set()
    for root in node_ids:
        if root in depth:
            continue
        stack = [(root, iter(successors.get(root, ())))]
        on_path.add(root)
        while stack:
            node, children = stack[-1]
            for child in children:
                if child in node_ids and child not in depth and child not in on_path:
                    on_path.add(child)
                    stack.append((child, iter(successors.get(child, ()))))
                    break
            else:
                stack.pop()
                on_path.discard(node)
                depth[node] = 1 + max((depth[c] for c in successors.get(node, ()) if c in depth), default=0)
    return max(depth.values(), default=0)

