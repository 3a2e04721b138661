"""The script engine every workflow runs with: SpiffWorkflow's ``PythonScriptEngine`` over the sandbox
(``engine.scripting.sandbox``) and the designers' helper library (``engine.scripting.helpers``).

SpiffWorkflow does not serialize the script engine, so it is re-attached after every load (see
``engine.runtime.instances.Instances.load``). It is built once per process and is safe to share between threads:
what differs per instance — the catalogs of its version (``engine.scripting.catalogs``) — is made current for each
evaluation from the task's workflow.
"""
from __future__ import annotations

import threading

from SpiffWorkflow.bpmn.exceptions import WorkflowTaskException
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.exceptions import SpiffWorkflowException

from engine.scripting import catalogs, services
from engine.scripting.helpers import HELPERS
from engine.scripting.sandbox import SandboxEnvironment


class WhistleScriptEngine(PythonScriptEngine):
    """SpiffWorkflow's engine with error messages that say what went wrong, not only where."""

    def evaluate(self, task, expression, external_context=None):
        token = catalogs.enter(task)  # catalog() reads the catalogs of this task's version
        try:
            return self.environment.evaluate(expression, task.data, external_context)
        except SpiffWorkflowException as exc:
            exc.add_note(f"Error evaluating expression '{expression}'")
            raise
        except Exception as exc:
            raise WorkflowTaskException(f"Error evaluating expression '{expression}': {_describe(exc)}",
                                        task=task, exception=exc) from exc
        finally:
            catalogs.leave(token)

    def execute(self, task, script, external_context=None):
        token = catalogs.enter(task)
        try:
            return super().execute(task, script, external_context)
        finally:
            catalogs.leave(token)

    def call_service(self, task, operation_name=None, operation_params=None, **kwargs):
        """A BPMN service task: run the named Whistle service (``engine.scripting.services``) in this command's
        transaction. Returns JSON text, which SpiffWorkflow stores in the task's result variable."""
        try:
            return services.call(operation_name, operation_params or {})
        except SpiffWorkflowException:
            raise
        except Exception as exc:
            raise WorkflowTaskException(f"service '{operation_name}' failed: {_describe(exc)}", task=task,
                                        exception=exc) from exc

    def create_task_exec_exception(self, task, script, err):
        line_number, error_line = self.get_error_line_number_and_content(script, err)
        if isinstance(err, SpiffWorkflowException):
            return super().create_task_exec_exception(task, script, err)
        where = f" (line {line_number}: {error_line.strip()})" if line_number and error_line else ""
        return WorkflowTaskException(f"{_describe(err)}{where}", task=task, exception=err,
                                     line_number=line_number, error_line=error_line)


def _describe(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{exc.__class__.__name__}: {text}" if text else exc.__class__.__name__


_engine: PythonScriptEngine | None = None
_lock = threading.Lock()


def script_engine() -> PythonScriptEngine:
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                _engine = WhistleScriptEngine(environment=SandboxEnvironment(HELPERS))
    return _engine
