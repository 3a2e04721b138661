"""Messages from outside (a 12345 ticket update, a grid platform case): the subscription index.

A waiting message catch event or receive task is a ``message_subscription`` row with the message name and
its correlation key: the value of the message's correlation property retrieval expression over the
waiting task's data (e.g. ``ticket_id``), or the instance's business key when the message has no
correlation property. Delivery looks the index up, never broadcasts: ``workflow.catch()`` is not used.
"""
from __future__ import annotations

from datetime import datetime
from typing import Any

from SpiffWorkflow.bpmn import BpmnWorkflow
from SpiffWorkflow.bpmn.specs.event_definitions.message import MessageEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent

from engine.runtime.loaded import LoadedInstance
from engine.store import Session
from engine.store import messages as stored
from engine.store.models import DefinitionVersion, MessageStart, MessageSubscription


def correlation_key(task: Any, business_key: str | None) -> str | None:
    definition: MessageEventDefinition = task.task_spec.event_definition
    if definition.correlation_properties:
        expression = definition.correlation_properties[0].retrieval_expression
        value = task.workflow.script_engine.evaluate(task, expression)
        return None if value is None else str(value)
    return business_key


def waiting_message_tasks(workflow: BpmnWorkflow) -> list[Any]:
    return [task for task in workflow.event_manager.tasks.values()
            if isinstance(task.task_spec.event_definition, MessageEventDefinition)]


def sync_subscriptions(session: Session, loaded: LoadedInstance, now: datetime) -> None:
    """Make the instance's subscription rows match its waiting message catches."""
    instance, workflow = loaded.row, loaded.workflow
    waiting = {str(task.id): task for task in waiting_message_tasks(workflow)} if not workflow.completed else {}
    if not waiting and not loaded.waited_for_messages:
        return  # nothing waited before this command and nothing waits now: no rows to look at
    loaded.waited_for_messages = bool(waiting)
    existing = {row.task_id: row for row in stored.subscriptions_of(session, instance.id)}
    gone = [row.id for task_id, row in existing.items() if task_id not in waiting]
    if gone:
        stored.delete_subscriptions(session, gone)
    for task_id, task in waiting.items():
        if task_id in existing:
            continue
        session.add(MessageSubscription(instance_id=instance.id, task_id=task_id, element_id=task.task_spec.bpmn_id,
                                        message_name=task.task_spec.event_definition.name,
                                        correlation_key=correlation_key(task, instance.business_key),
                                        created_at=now))


def deliver_to_task(task: Any, payload: dict, key: str | None) -> None:
    """Hand the message to exactly this waiting task (what EventManager.catch does, minus the broadcast)."""
    definition: MessageEventDefinition = task.task_spec.event_definition
    payload = dict(payload)
    for prop in definition.correlation_properties:
        # The retrieval expression is evaluated on the payload too; a bare variable name gets the key.
        if key is not None and prop.retrieval_expression.strip().isidentifier():
            payload.setdefault(prop.retrieval_expression.strip(), key)
    if getattr(definition, "message_var", None) is None:
        # Without spiffworkflow:messageVariable SpiffWorkflow drops the payload; Whistle merges it into the
        # case data, as a Camunda correlation with variables does.
        task.data.update(payload)
    event = BpmnEvent(definition, payload=payload, correlations=dict(task.workflow.correlations))
    task.task_spec.catch(task, event)
    task.task_spec._update(task)


def message_start_events(spec: Any) -> list[Any]:
    return [ts for ts in spec.task_specs.values()
            if isinstance(ts, StartEvent) and isinstance(getattr(ts, "event_definition", None), MessageEventDefinition)]


def register_message_starts(session: Session, version: DefinitionVersion, spec: Any) -> None:
    """Only the newest version of a process is started by its messages."""
    stored.forget_starts(session, version.key)
    for start in message_start_events(spec):
        session.add(MessageStart(message_name=start.event_definition.name, process_key=version.key,
                                 version_id=version.id, element_id=start.bpmn_id))
