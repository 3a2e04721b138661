"""The script engine every workflow runs with. SpiffWorkflow does not serialize it, so it is re-attached
after every load (see ``runtime.Runtime.load``)."""
from __future__ import annotations

from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine

_engine: PythonScriptEngine | None = None


def script_engine() -> PythonScriptEngine:
    global _engine
    if _engine is None:
        _engine = PythonScriptEngine()
    return _engine
