"""The rule ``no-call-cycle``: no call activity calls its own process, directly or through other processes
(deployed ones included), which would start it again at every start, without end."""
from __future__ import annotations

from collections import deque
from typing import Any

from engine.deploy.rules.common import describe
from engine.errors import Problem

# Process id -> its call activities as (called process id, file name, call activity element).
CallGraph = dict[str, list[tuple[str, str, Any]]]


def call_cycles(calls: CallGraph, own: set[str]) -> list[tuple[str, Problem]]:
    """Call activities of the processes in ``own`` that call their own process, directly or through others,
    as (calling process id, problem).

    ``calls`` maps each known process id to its call activities as (called process id, file name, element);
    processes already deployed are in it too, so a cycle through one of them is found."""
    problems = []
    for caller in sorted(own):
        for called, file_name, element in calls.get(caller, ()):
            path = _call_path(calls, called, caller)
            if path is None:
                continue
            label = describe(element)
            if called == caller:
                message = (f"{label} calls its own process '{caller}': every start would start it again, "
                           f"without end")
            else:
                route = " → ".join([f"{caller} [{element.get('id')}]"] + path + [caller])
                message = (f"{label} calls process '{called}', which calls '{caller}' again ({route}): a process "
                           f"cannot call itself through other processes, every start would go round without end")
            problems.append((caller, Problem(file_name, element.sourceline, element.get("id"),
                                             f"{message} [no-call-cycle]")))
    return problems


def _call_path(calls: CallGraph, start: str, goal: str) -> list[str] | None:
    """The processes and call activities from ``start`` back to ``goal`` (breadth first), or None."""
    if start == goal:
        return []
    came_from: dict[str, tuple[str, str] | None] = {start: None}
    queue = deque([start])
    while queue:
        current = queue.popleft()
        for called, _file, element in calls.get(current, ()):
            if called in came_from:
                continue
            came_from[called] = (current, element.get("id"))
            if called == goal:
                steps, node = [], called
                while (step := came_from[node]) is not None:
                    previous, element_id = step
                    steps.append(f"{previous} [{element_id}]")
                    node = previous
                return list(reversed(steps))
            queue.append(called)
    return None
