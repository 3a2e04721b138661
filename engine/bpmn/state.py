"""An instance's state without its spec: the task tree and data as JSON (``whistle-1``), read back onto the spec
rebuilt from the version's stored sources (ADR 5: the spec is never stored per instance), and task data as
plain JSON for projections and the audit log."""
from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from uuid import UUID

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter
from SpiffWorkflow.spiff.serializer.config import SPIFF_CONFIG

from engine.bpmn import timers


class _SpecFreeWorkflowConverter(BpmnWorkflowConverter):
    def to_dict(self, workflow):
        dct = super(BpmnWorkflowConverter, self).to_dict(workflow)  # the task tree and data only
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct, spec=None, subprocess_specs=None):
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


def _make_registry():
    config = dict(SPIFF_CONFIG)
    config[BpmnWorkflow] = _SpecFreeWorkflowConverter
    registry = BpmnWorkflowSerializer.configure(config)
    registry.register(Decimal, lambda v: {"value": str(v)}, lambda v: Decimal(v["value"]))
    registry.register(date, lambda v: {"value": v.isoformat()}, lambda v: date.fromisoformat(v["value"]))
    timers.register_converters(registry)
    return registry


_registry = _make_registry()
STATE_FORMAT = "whistle-1"


def spec_registry():
    """The serializer registry (its converters turn task specs and event definitions into dicts: what
    ``engine.bpmn.migration`` compares)."""
    return _registry


def dump_state(workflow: BpmnWorkflow) -> str:
    """The instance's task tree and data as JSON text, without its spec."""
    dct = _registry.convert(workflow)
    dct["format"] = STATE_FORMAT
    return json.dumps(dct, separators=(",", ":"), ensure_ascii=False)


def load_state(state: str, spec, subprocess_specs: dict) -> BpmnWorkflow:
    """The workflow :func:`dump_state` saved, on the (cached) ``spec`` and ``subprocess_specs`` of its version."""
    dct = json.loads(state)
    fmt = dct.pop("format", None)
    if fmt != STATE_FORMAT:
        raise ValueError(f"unknown instance state format {fmt!r}")
    return _registry.restore(dct, spec=spec, subprocess_specs=subprocess_specs)


def to_json_value(value: object) -> object:
    """Task data as plain JSON (for projections and the audit log)."""
    return json.loads(json.dumps(_registry.convert(_registry.clean(value)) if isinstance(value, dict) else value,
                                 default=str, ensure_ascii=False))
