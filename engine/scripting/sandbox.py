"""The sandbox every expression and script of a process runs in.

SpiffWorkflow evaluates conditions and scripts with plain ``eval``/``exec``. Whistle replaces that
with :class:`SandboxEnvironment`, a SpiffWorkflow script environment that

* compiles each source once (a bounded LRU cache keyed by the text) with RestrictedPython and a
  stricter policy (:class:`WhistlePolicy`): no imports, no class definitions, no names or attributes
  starting with ``_``, no ``eval``/``exec``;
* runs it with guards: attribute access refuses private names and ``str.format``; ``*``, ``**``,
  ``<<``, ``+`` and ``%`` refuse results that would be huge; padding and joining string methods,
  ``range``, ``sum``, ``pow``, ``round``, ``str``/``repr``/f-strings are size-checked;
* bounds time: the policy puts a cheap deadline check (a *check-point*) at the top of every loop body,
  every comprehension step, every function call, before every call a script makes and before every
  statement that makes none. It raises an exception a script cannot catch (``except Exception`` does
  not see it, ``BaseException`` is not available, and every later check raises again), so an endless
  loop stops within the limit (``WHISTLE_SCRIPT_TIMEOUT``, default 2 s of CPU time). Unlike a
  ``sys.settrace`` hook, which CPython removes as soon as it raises, the checks cannot be switched off
  by a ``try``/``finally`` around the loop, and they leave debuggers and coverage tools alone;
* bounds the work between two check-points: one C-level operation cannot be interrupted, so each is
  bounded before it starts — sizes (1M items, 1M characters, 100,000-bit integers, ``pow(b, e, m)`` to
  4,096 bits), and an estimate of the comparisons and hashing that ``in``, ``==``, ``sorted``, ``min``,
  ``max``, ``set``, ``dict`` and dict/set keys would do (``MAX_WORK``). Builtins that call back or produce
  items one by one (``map``, ``filter``, ``zip``, ``enumerate``, ``reversed``, ``iter``, key functions)
  pass a check-point per item, so ``any(map(y.append, y))`` stops like a loop;
* bounds memory: besides the size checks above, the same check-points refuse a run during which the
  process's resident memory grows by more than ``WHISTLE_SCRIPT_MEMORY_MB`` (default 256 MB), and
  the values a script leaves in task data (or an expression returns) are measured, shared parts
  counted every time they occur, before anything is saved;
* bounds recursion (``MAX_CALL_DEPTH`` nested function calls);
* shows task data as variables and writes new or changed variables back to the task data, like
  SpiffWorkflow's ``TaskDataEnvironment`` (functions are not kept; names starting with ``_`` are
  neither read nor written).

Refusals raise :class:`ScriptRefused`, time-outs :class:`ScriptTimeout`; both name what was stopped.
Ordinary Python errors in scripts propagate unchanged (SpiffWorkflow wraps them, and the engine
turns them into incidents).
"""
from __future__ import annotations

import os
import sys
import threading
import time
from types import FrameType

from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from engine.scripting import bounds, guards, methods, script_builtins
from engine.scripting.bounds import CONTAINERS, measure, running
from engine.scripting.helpers import HELPERS
from engine.scripting.limits import (
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT,
    FILENAME,
    MAX_CALL_DEPTH,
    Deadline,
    SandboxError,
    ScriptRefused,
    ScriptTimeout,
    refuse,
)
from engine.scripting.policy import compile_checked, normalise_source
from engine.scripting.script_builtins import GUARDS, safe_builtins

# The files of the sandbox's own code: a frame of one of them between two frames of script code (a guarded
# ``map`` calling a script's function) does not end the count of nested script calls.
_SANDBOX_FILES = frozenset({__file__, bounds.__file__, guards.__file__, methods.__file__, script_builtins.__file__})
_COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm: dict[str, int | None] = {"pid": None, "fd": None}
_statm_lock = threading.Lock()


def _statm_fd() -> int | None:
    # Kept open (a re-read costs half of open+read+close); reopened in a forked child, whose /proc/self
    # is another file.
    pid = os.getpid()
    if _statm["pid"] != pid:
        with _statm_lock:
            if _statm["pid"] != pid:
                try:
                    _statm["fd"] = os.open("/proc/self/statm", os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
                except OSError:
                    _statm["fd"] = None
                _statm["pid"] = pid
    return _statm["fd"]


def _resident_bytes() -> int | None:
    """The process's resident memory, or None where /proc is not available."""
    fd = _statm_fd()
    if fd is None:
        return None
    try:
        return int(os.pread(fd, 128, 0).split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None


class _Run:
    """The time, memory and call-depth checks of one evaluation; the policy calls them as ``_tick_`` and
    ``_enter_``.

    Each check compares the monotonic clock with the next check-point (cheap). Every ``CHECK_INTERVAL``
    the real checks run: CPU time used by this thread (so a thread that waited for the GIL is not charged
    for the wait) and growth of the process's resident memory since the first check-point.
    """

    CHECK_INTERVAL = 0.005

    __slots__ = ("timeout", "max_depth", "memory_limit", "deadline", "next_check", "cpu_start", "rss_start",
                 "stopped", "active")

    def __init__(self, timeout: float, max_depth: int, memory_limit: int | None):
        self.timeout = timeout
        self.max_depth = max_depth
        self.memory_limit = memory_limit
        self.cpu_start = time.thread_time()
        now = time.monotonic()
        self.deadline = now + timeout
        # The first check-point measures the starting memory (so nothing allocated before it goes uncounted);
        # an expression that reaches none costs nothing extra.
        self.next_check = now if memory_limit else min(self.deadline, now + self.CHECK_INTERVAL)
        self.rss_start: int | None = None
        self.stopped: str | None = None  # "time" or "memory" once the run has been stopped
        self.active = True

    def tick(self) -> bool:
        if time.monotonic() > self.next_check:
            self._check()
        return True

    def _check(self) -> None:
        if not self.active:
            refuse("script code ran after its evaluation ended")
        if self.stopped:
            raise Deadline()
        now = time.monotonic()
        if now > self.deadline:
            used = time.thread_time() - self.cpu_start
            if used >= self.timeout:
                self.stopped = "time"
                raise Deadline()
            self.deadline = now + (self.timeout - used)
        if self.memory_limit:
            resident = _resident_bytes()
            if resident is not None:
                if self.rss_start is None:
                    self.rss_start = resident
                elif resident - self.rss_start > self.memory_limit:
                    self.stopped = "memory"
                    raise Deadline()
        self.next_check = min(self.deadline, now + self.CHECK_INTERVAL)

    def enter(self) -> None:
        if time.monotonic() > self.next_check:
            self._check()
        depth = 0
        frame: FrameType | None = sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if code.co_filename == FILENAME:
                if code.co_name not in _COMPREHENSIONS:
                    depth += 1
            elif code.co_filename not in _SANDBOX_FILES:
                break
            frame = frame.f_back
        if depth > self.max_depth:
            refuse(f"calls nested more than {self.max_depth} deep (endless recursion?)")


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that runs everything in the sandbox.

    ``environment_globals`` are the helper functions (default: ``engine.scripting.helpers.HELPERS``). ``timeout``
    is the CPU time one evaluation may use, in seconds (default: ``WHISTLE_SCRIPT_TIMEOUT`` or 2);
    ``memory_mb`` how far the process's resident memory may grow while it runs (default:
    ``WHISTLE_SCRIPT_MEMORY_MB`` or 256; 0 turns the check off).
    """

    def __init__(self, environment_globals: dict | None = None, *, timeout: float | None = None,
                 memory_mb: float | None = None, max_depth: int = MAX_CALL_DEPTH):
        if environment_globals is None:
            environment_globals = HELPERS
        super().__init__(dict(environment_globals))
        self.timeout = _timeout_setting(timeout)
        self.memory_mb = _memory_setting(memory_mb)
        self.max_depth = max_depth
        self._builtins = {**safe_builtins(), **self.globals, **GUARDS}

    # -- SpiffWorkflow's interface --------------------------------------------------------------------

    def evaluate(self, expression, context, external_context=None):
        code = compile_checked(normalise_source(expression, "eval"), "eval")
        namespace = self._namespace(context, external_context)
        return self._run(code, namespace, "expression", self._finish_value)

    def execute(self, script, context, external_context=None):
        code = compile_checked(normalise_source(script, "exec"), "exec")
        namespace = self._namespace(context, external_context)
        visible = set(namespace)
        self._run(code, namespace, "script")
        self._write_back(namespace, visible, context, external_context or {})
        return True

    def call_service(self, context, **kwargs):
        raise NotImplementedError("service tasks are not supported by Whistle's script environment")

    # -- internals ------------------------------------------------------------------------------------

    def _namespace(self, context, external_context) -> dict:
        namespace = {"__builtins__": self._builtins}
        for source in (external_context, context):
            if source:
                namespace.update((key, value) for key, value in source.items()
                                 if isinstance(key, str) and not key.startswith("_"))
        return namespace

    def _run(self, code, namespace: dict, kind: str, finish=None):
        run = _Run(self.timeout, self.max_depth, int(self.memory_mb * 2**20) or None)
        namespace["_tick_"] = run.tick
        namespace["_enter_"] = run.enter
        outer = getattr(running, "run", None)
        running.run = run  # the guards' check-points (engine code a script calls may evaluate again)
        try:
            result = eval(code, namespace)
            if finish is not None:
                result = finish(result)
            if run.stopped:  # the script caught the stop with a bare ``except:`` and went on
                raise Deadline()
            return result
        except BaseException as exc:
            if run.stopped or isinstance(exc, Deadline):
                error: SandboxError
                if run.stopped == "memory":
                    error = ScriptRefused(f"refused: {kind} used more than {self.memory_mb:g} MB of memory")
                else:
                    error = ScriptTimeout(f"{kind} exceeded its {self.timeout:g} s time limit")
                raise error.with_traceback(exc.__traceback__) from None
            raise
        finally:
            run.active = False
            running.run = outer
            namespace.pop("_tick_", None)
            namespace.pop("_enter_", None)

    @staticmethod
    def _finish_value(value):
        # Lazy results would run script code later, outside the sandbox's watch: materialise them now.
        if hasattr(value, "__next__") or isinstance(value, (map, filter, zip, enumerate, reversed)):
            value = list(value)
        measure(value, "the expression's value", allow_callables=False)
        return value

    @staticmethod
    def _write_back(namespace: dict, visible: set, context: dict, external_context: dict) -> None:
        updates = {}
        for key, value in namespace.items():
            if key == "__builtins__" or key.startswith("_"):
                continue
            if key in external_context and key not in context:
                continue
            if callable(value):
                context.pop(key, None)  # as SpiffWorkflow does: functions are not task data
                continue
            if key in context and context[key] is value and not isinstance(value, CONTAINERS):
                continue
            measure(value, f'task data "{key}"', allow_callables=False)
            updates[key] = value
        for key in visible - namespace.keys():
            if key in context:
                del context[key]  # ``del name`` in the script
        context.update(updates)


def _memory_setting(memory_mb: float | None) -> float:
    if memory_mb is None:
        text = os.environ.get("WHISTLE_SCRIPT_MEMORY_MB", "").strip()
        if not text:
            return DEFAULT_MEMORY_MB
        try:
            memory_mb = float(text)
        except ValueError:
            raise ValueError(f"WHISTLE_SCRIPT_MEMORY_MB={text!r} is not a number of megabytes") from None
    if not (isinstance(memory_mb, (int, float)) and memory_mb >= 0):
        raise ValueError(f"a script memory limit must be a positive number of megabytes (0: off), got {memory_mb!r}")
    return float(memory_mb)


def _timeout_setting(timeout: float | None) -> float:
    if timeout is None:
        text = os.environ.get("WHISTLE_SCRIPT_TIMEOUT", "").strip()
        if not text:
            return DEFAULT_TIMEOUT
        try:
            timeout = float(text)
        except ValueError:
            raise ValueError(f"WHISTLE_SCRIPT_TIMEOUT={text!r} is not a number of seconds") from None
    if not (isinstance(timeout, (int, float)) and 0 < timeout < 3600):
        raise ValueError(f"a script time limit must be between 0 and 3600 seconds, got {timeout!r}")
    return float(timeout)
