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

import ast
import logging
import math
import operator
import os
import re
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import date, datetime, time as day_time, tzinfo
from functools import lru_cache

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence
from RestrictedPython.transformer import INSPECT_ATTRIBUTES, RestrictingNodeTransformer, copy_locations
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

log = logging.getLogger("whistle.script")

FILENAME = "<string>"  # SpiffWorkflow looks for this file name to report the failing line of a script
DEFAULT_TIMEOUT = 2.0
DEFAULT_MEMORY_MB = 256
MAX_CALL_DEPTH = 100
MAX_ITEMS = 1_000_000  # elements of a list/tuple, values in a structure
MAX_CHARS = 1_000_000  # characters of a text
MAX_INT_BITS = 100_000  # about 30,000 decimal digits
MAX_FORMAT_WIDTH = 10_000
MAX_ROUND_DIGITS = 100
MAX_MODPOW_BITS = 4096  # pow(b, e, m): modulus and exponent; 4096 bits take about 0.1 s here, 8192 bits 1 s
MAX_WORK = 10_000_000  # estimated element comparisons/hashes one uninterruptible operation may do (≈ 0.5 s)
BIG = 65_536  # results at least this large pass a check-point right away (the memory check sees them)
MAX_SOURCE_CHARS = 100_000  # of one expression or script
MAX_NESTING = 100  # nested operators, calls and brackets in one expression (the compiler recurses on them)
COMPILE_CACHE_SIZE = 2048

_THIS_FILE = __file__
_COMPREHENSIONS = frozenset({"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>"})


class SandboxError(Exception):
    """An expression or script was stopped by the sandbox."""


class ScriptRefused(SandboxError):
    """The expression or script tried something the sandbox does not allow."""


class ScriptTimeout(SandboxError):
    """The expression or script ran longer than its time limit."""


class _Deadline(BaseException):
    """Unwinds a script past its deadline. Scripts cannot name it or any base class of it."""


def _refuse(message: str):
    raise ScriptRefused(f"refused: {message}")


# ---------------------------------------------------------------------------------------------------------
# Compile-time policy

_BINOP_GUARDS = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_"}


def _name(identifier: str) -> ast.Name:
    return ast.Name(id=identifier, ctx=ast.Load())


def _call(identifier: str, args: list, where: ast.AST) -> ast.Call:
    node = ast.Call(func=_name(identifier), args=args, keywords=[])
    copy_locations(node, where)
    return node


def _call_stmt(identifier: str, where: ast.AST) -> ast.Expr:
    node = ast.Expr(value=_call(identifier, [], where))
    copy_locations(node, where)
    node.whistle_checkpoint = True
    return node


_COMPARE_OPS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)
_STATEMENT_LISTS = ("body", "orelse", "finalbody")


def _is_literal(node: ast.AST) -> bool:
    """A constant, or a display of constants: comparing with one costs at most its own (small) size."""
    if isinstance(node, ast.Constant):
        return True
    return isinstance(node, (ast.Tuple, ast.List, ast.Set)) and all(isinstance(e, ast.Constant) for e in node.elts)


def _key(node):
    """``_key_(node)``, unless the key is a literal or absent (``**d`` in a dict display)."""
    if node is None or _is_literal(node) or isinstance(node, ast.Starred):
        return node
    return _call("_key_", [node], node)


def _calls_something(statement: ast.stmt) -> bool:
    return any(getattr(node, "whistle_checkpoint", False) for node in ast.walk(statement))


def _add_statement_checkpoints(tree: ast.AST) -> None:
    # Every statement passes a check-point: its calls carry one each (visit_Call); a statement without a
    # call gets one in front, unless a check-point (a loop's, a function's) already comes just before it.
    for node in ast.walk(tree):
        for field in _STATEMENT_LISTS:
            statements = getattr(node, field, None)
            if not isinstance(statements, list) or not statements or not isinstance(statements[0], ast.stmt):
                continue
            result = []
            for statement in statements:
                checkpoint = getattr(statement, "whistle_checkpoint", False)
                after_checkpoint = bool(result) and getattr(result[-1], "whistle_checkpoint", False)
                if not checkpoint and not after_checkpoint and not _calls_something(statement):
                    result.append(_call_stmt("_tick_", statement))
                result.append(statement)
            setattr(node, field, result)


class WhistlePolicy(RestrictingNodeTransformer):
    """RestrictedPython's policy, stricter, plus the hooks the run-time guards need."""

    def visit_Import(self, node):
        names = ", ".join(alias.name for alias in node.names)
        self.error(node, f'"import {names}" is not allowed: scripts cannot import modules '
                         f'(the helper functions are already available)')
        return node

    def visit_ImportFrom(self, node):
        self.error(node, f'"from {node.module or "."} import …" is not allowed: scripts cannot import modules '
                         f'(the helper functions are already available)')
        return node

    def visit_ClassDef(self, node):
        self.error(node, f'class definitions are not allowed ("class {node.name}")')
        return node

    def visit_BinOp(self, node):
        node = self.node_contents_visit(node)
        guard = _BINOP_GUARDS.get(type(node.op))
        if guard is None:
            return node
        return _call(guard, [node.left, node.right], node)

    def visit_AugAssign(self, node):
        # RestrictedPython refuses ``d[k] += 1``; designers write it, so rewrite it with the guards:
        #   _tmpA = d; _tmpB = k; _write_(_tmpA)[_tmpB] = _inplacevar_('+=', _getitem_(_tmpA, _tmpB), 1)
        target = node.target
        if not isinstance(target, ast.Subscript) or isinstance(target.slice, ast.Slice):
            return super().visit_AugAssign(node)
        container, key = self.gen_tmp_name(), self.gen_tmp_name()
        obj = self.visit(target.value)
        index = self.visit(target.slice)
        value = self.visit(node.value)
        operator_text = ast.Constant({ast.Add: "+=", ast.Sub: "-=", ast.Mult: "*=", ast.Div: "/=", ast.Mod: "%=",
                                      ast.Pow: "**=", ast.LShift: "<<=", ast.RShift: ">>=", ast.BitOr: "|=",
                                      ast.BitXor: "^=", ast.BitAnd: "&=", ast.FloorDiv: "//=",
                                      ast.MatMult: "@="}[type(node.op)])
        first = ast.Assign(targets=[ast.Name(container, ast.Store())], value=obj)
        second = ast.Assign(targets=[ast.Name(key, ast.Store())], value=index)
        current = _call("_getitem_", [_name(container), _name(key)], node)
        store = ast.Subscript(value=_call("_write_", [_name(container)], node), slice=_name(key), ctx=ast.Store())
        third = ast.Assign(targets=[store], value=_call("_inplacevar_", [operator_text, current, value], node))
        for statement in (first, second, third):
            copy_locations(statement, node)
        return [first, second, third]

    def visit_FunctionDef(self, node):
        node = super().visit_FunctionDef(node)
        node.body.insert(0, _call_stmt("_enter_", node))
        return node

    def visit_Lambda(self, node):
        node = super().visit_Lambda(node)
        # ``lambda x: body`` becomes ``lambda x: _enter_() or body`` (``_enter_`` returns None).
        node.body = ast.BoolOp(op=ast.Or(), values=[_call("_enter_", [], node), node.body])
        copy_locations(node.body, node)
        return node

    def visit_While(self, node):
        node = super().visit_While(node)
        node.body.insert(0, _call_stmt("_tick_", node))
        return node

    def visit_For(self, node):
        node = super().visit_For(node)
        node.body.insert(0, _call_stmt("_tick_", node))
        return node

    def visit_comprehension(self, node):
        node = super().visit_comprehension(node)
        node.ifs.insert(0, _call("_tick_", [], node.iter))  # ``_tick_`` returns True
        return node

    def visit_Module(self, node):
        node = super().visit_Module(node)
        _add_statement_checkpoints(node)
        return node

    def visit_Call(self, node):
        node = super().visit_Call(node)
        # ``f(x)`` becomes ``(_tick_() and f)(x)``: a check-point before every call, so a statement of many
        # C-level calls (``dict.fromkeys(...)`` twelve times) is watched between them. ``_tick_`` returns True.
        func = ast.BoolOp(op=ast.And(), values=[_call("_tick_", [], node), node.func])
        copy_locations(func, node)
        node.func = func
        node.whistle_checkpoint = True
        return node

    def visit_Compare(self, node):
        node = self.node_contents_visit(node)
        if len(node.ops) == 1:
            if not isinstance(node.ops[0], _COMPARE_OPS):
                return node
            left, right = node.left, node.comparators[0]
            container = right if isinstance(node.ops[0], (ast.In, ast.NotIn)) else None
            if (container is not None and _is_literal(container)) or \
                    (container is None and (_is_literal(left) or _is_literal(right))):
                return node  # comparing with a literal costs at most the literal's size
            operator_index = ast.Constant(_COMPARE_OPS.index(type(node.ops[0])))
            return _call("_compare_", [left, right, operator_index], node)
        # A chain (``0 < x < 10``): each operand that is a container is weighed first.
        node.left = node.left if _is_literal(node.left) else _call("_operand_", [node.left], node.left)
        node.comparators = [c if _is_literal(c) else _call("_operand_", [c], c) for c in node.comparators]
        return node

    def visit_Starred(self, node):
        node = self.node_contents_visit(node)
        if isinstance(node.ctx, ast.Load):  # ``[*y]``, ``f(*y)``: the copy is size-checked first
            node.value = _call("_starred_", [node.value], node.value)
        return node

    def visit_Dict(self, node):
        node = self.node_contents_visit(node)
        node.values = [_call("_starred_", [value], value) if key is None else value
                       for key, value in zip(node.keys, node.values)]
        node.keys = [_key(key) for key in node.keys]
        return node

    # Hashing a tuple visits every value in it, shared parts each time: a tuple doubled thirty times is
    # cheap to build and takes hours to hash. Keys that may be tuples are weighed first (``_key_``).

    def visit_Set(self, node):
        node = self.node_contents_visit(node)
        node.elts = [_key(element) for element in node.elts]
        return node

    def visit_SetComp(self, node):
        node = super().visit_SetComp(node)
        node.elt = _key(node.elt)
        return node

    def visit_DictComp(self, node):
        node = super().visit_DictComp(node)
        node.key = _key(node.key)
        return node

    def visit_Subscript(self, node):
        node = super().visit_Subscript(node)
        if isinstance(node, ast.Subscript) and not isinstance(node.slice, ast.Slice) and not (
                isinstance(node.slice, ast.Tuple) and any(isinstance(e, ast.Slice) for e in node.slice.elts)):
            node.slice = _key(node.slice)  # ``d[k] = v``, ``del d[k]`` (loads go through _getitem_)
        return node

    def visit_keyword(self, node):
        node = self.node_contents_visit(node)
        if node.arg is None:  # ``f(**d)``
            node.value = _call("_starred_", [node.value], node.value)
        return node

    def visit_FormattedValue(self, node):
        # f"{value!r:>10}" becomes f"{_format_(value, conversion, spec)}" so widths and sizes are checked.
        node = self.node_contents_visit(node)
        spec = node.format_spec if node.format_spec is not None else ast.Constant("")
        node.value = _call("_format_", [node.value, ast.Constant(node.conversion), spec], node.value)
        node.conversion = -1
        node.format_spec = None
        return node


def compile_errors(source: str, mode: str = "exec") -> list[str]:
    """The sandbox's objections to ``source`` (``mode`` "exec" for scripts, "eval" for expressions);
    empty when it compiles. For deploy-time lint."""
    try:
        _compile(_normalise(source, mode), mode)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: {exc.msg}"]
    except ScriptRefused as exc:
        return list(exc.errors) if hasattr(exc, "errors") else [str(exc)]
    return []


def _normalise(source: str, mode: str) -> str:
    if not isinstance(source, str):
        raise TypeError(f"an expression or script must be text, got {type(source).__name__}")
    return source.strip() if mode == "eval" else textwrap.dedent(source)


@lru_cache(maxsize=COMPILE_CACHE_SIZE)
def _compile(source: str, mode: str):
    kind = "expression" if mode == "eval" else "script"
    if len(source) > MAX_SOURCE_CHARS:
        _refuse(f"{kind} of {len(source):,} characters (the limit is {MAX_SOURCE_CHARS:,})")
    try:
        tree = ast.parse(source, FILENAME, mode)  # a SyntaxError keeps its line number
    except (MemoryError, RecursionError):  # CPython's parser gives up on very deep nesting this way
        _refuse(f"{kind} nests too deeply to compile (the limit is {MAX_NESTING} levels)")
    _check_nesting(tree, kind)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, FILENAME, policy=WhistlePolicy)
    except (MemoryError, RecursionError):  # within the nesting limit, but called from deep in the stack
        _refuse(f"{kind} nests too deeply to compile here (the limit is {MAX_NESTING} levels)")
    if result.errors:
        kind = "expression" if mode == "eval" else "script"
        errors = [_tidy(error) for error in result.errors]
        error = ScriptRefused(f"refused: {kind} not allowed: " + "; ".join(errors))
        error.errors = errors
        raise error
    return result.code


def _check_nesting(tree: ast.AST, kind: str) -> None:
    # RestrictedPython's transformer and CPython's compiler recurse once per level (a 100,000-term sum is
    # 100,000 levels): refuse deep trees here, walking without recursion, before either sees them.
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            line = getattr(node, "lineno", None)
            _refuse(f"{kind} nests operators, calls or brackets more than {MAX_NESTING} levels deep"
                    + (f" (line {line})" if line else "") + "; split it into several statements")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _tidy(message: str) -> str:
    return re.sub(r"^Line (\d+): ", r"line \1: ", message).rstrip(".")


# ---------------------------------------------------------------------------------------------------------
# Size checks

_CONTAINERS = (list, tuple, dict, set, frozenset)
_TEXT = (str, bytes)
_SEQUENCES = (str, bytes, list, tuple)


def _limit_for(value) -> tuple[int, str]:
    return (MAX_CHARS, "characters") if isinstance(value, _TEXT) else (MAX_ITEMS, "items")


def _check_length(size: int, like, what: str) -> None:
    limit, unit = _limit_for(like)
    if size > limit:
        _refuse(f"{what} would make a {type(like).__name__} of {size:,} {unit} (the limit is {limit:,})")


def measure(value, what: str, *, max_nodes: int = MAX_ITEMS, max_chars: int = MAX_CHARS,
            allow_callables: bool = True) -> None:
    """Refuse ``value`` if it holds more than ``max_nodes`` values or ``max_chars`` characters, counting
    shared parts every time they occur (as printing or saving it would) — or if it contains itself."""
    if isinstance(value, _TEXT):
        if len(value) > max_chars:
            _refuse(f"{what} is too large ({len(value):,} characters; the limit is {max_chars:,})")
        return
    if not isinstance(value, _CONTAINERS):
        if not allow_callables and callable(value):
            _refuse(f"{what} is a function, which cannot be kept")
        return
    nodes = chars = 0
    stack = [value]
    while stack:
        item = stack.pop()
        nodes += 1
        if isinstance(item, _TEXT):
            chars += len(item)
            if chars > max_chars:
                _refuse(f"{what} is too large (more than {max_chars:,} characters of text)")
        elif isinstance(item, _CONTAINERS):
            size = len(item) * (2 if isinstance(item, dict) else 1)
            if nodes + len(stack) + size > max_nodes:
                _refuse(f"{what} is too large (more than {max_nodes:,} values, counting shared parts each time, "
                        f"or it contains itself)")
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        elif not allow_callables and callable(item):
            _refuse(f"{what} holds a function ({getattr(item, '__name__', type(item).__name__)}), "
                    f"which cannot be kept in task data")


def _check_printable(value, what: str = "the text of this value") -> None:
    if isinstance(value, _CONTAINERS):
        measure(value, what, max_nodes=MAX_CHARS // 4)


# -- work bounds ---------------------------------------------------------------------------------------------
#
# A C-level operation (sorting, hashing, ``in``, ``pow``) cannot be interrupted: a check-point only runs
# between operations. So every operation is either bounded in size by the checks here, or made of steps
# that pass a check-point each (``map``, ``filter``, ``zip``… are generators in this module that tick per
# item; so is every key function handed to ``sorted``/``min``/``max``).

_current = threading.local()  # the _Run of the evaluation running on this thread, for the guards below


def _current_run():
    return getattr(_current, "run", None)


def _checkpoint() -> None:
    run = getattr(_current, "run", None)
    if run is not None:
        run.tick()


def _no_tick() -> bool:
    return True


_SMALL_SCALARS = frozenset({int, float, bool, type(None), complex, date, datetime, day_time})
_TEXT_KINDS = frozenset({str, bytes})
_INT_KINDS = frozenset({int, bool})
_HASHED = (dict, set, frozenset, type({}.keys()), type({}.items()))
_ITERABLE_CONTAINERS = (list, tuple, set, frozenset, type({}.keys()), type({}.values()), type({}.items()))
_WEIGHED = (list, tuple, dict, set, frozenset, type({}.keys()), type({}.values()), type({}.items()))


def _flat_weight(item):
    """The weight of a scalar or of a container of scalars; None for a container of containers."""
    kind = type(item)
    if kind is str or kind is bytes:
        return 1 + len(item) // 1024
    if kind is int:
        return 1 + item.bit_length() // 2048
    if kind is dict:
        keys, values = _flat_weight(list(item.keys())), _flat_weight(list(item.values()))
        return None if keys is None or values is None else keys + values - 1
    if kind not in _WEIGHED:
        return 1
    kinds = set(map(type, item))  # C-level: most containers are flat, of one or two kinds
    if kinds <= _TEXT_KINDS:
        return 1 + len(item) + sum(map(len, item)) // 1024
    if kinds <= _INT_KINDS:
        return 1 + len(item) + sum(map(int.bit_length, item)) // 2048
    if kinds <= _SMALL_SCALARS:
        return 1 + len(item) + sum(v.bit_length() for v in item if type(v) is int) // 2048
    return None


def _children(item):
    return list(item.keys()) + list(item.values()) if type(item) is dict else item


def _weight(value, limit: int = MAX_WORK) -> int:
    """Roughly how many element comparisons comparing, sorting or hashing ``value`` can cost: one per value,
    shared parts counted each time they occur (as the C code visits them), plus one per KB of text and per
    2,000 bits of an integer. A shared part is weighed once and remembered, so a structure doubled thirty
    times is weighed in thirty steps. Stops once past ``limit``; passes a check-point every 65,536 steps."""
    flat = _flat_weight(value)
    if flat is not None:
        return flat
    memo: dict[int, int] = {}  # id -> weight of containers weighed in this call (alive: ``value`` holds them)
    open_ids = {id(value)}
    frames = [[id(value), iter(_children(value)), 1]]  # container id, children left, weight so far
    counted = 1  # everything weighed so far, all frames together
    steps = 0
    while frames:
        frame = frames[-1]
        for child in frame[1]:
            steps += 1
            if not steps & 0xFFFF:
                _checkpoint()
            weight = _flat_weight(child)
            if weight is None:
                weight = memo.get(id(child))
                if weight is None:
                    if id(child) in open_ids:
                        return limit + 1  # it contains itself
                    open_ids.add(id(child))
                    frames.append([id(child), iter(_children(child)), 1])
                    counted += 1
                    break
            frame[2] += weight
            counted += weight
            if counted > limit:
                return counted
        else:
            frames.pop()
            open_ids.discard(frame[0])
            memo[frame[0]] = frame[2]
            if not frames:
                return frame[2]
            frames[-1][2] += frame[2]
    return counted


def _check_work(work: int, what: str) -> None:
    if work > MAX_WORK:
        _refuse(f"{what} would take about {work:,} steps at once (the limit is {MAX_WORK:,}, because it could "
                f"not be stopped half-way); work on fewer or smaller values")


def _check_items(size: int, what: str) -> None:
    if size > MAX_ITEMS:
        _refuse(f"{what} of {size:,} items (the limit is {MAX_ITEMS:,})")
    if size >= BIG:
        _checkpoint()


def _materialise(iterable, what: str) -> list | tuple:
    """The items of ``iterable`` as a list, refusing more than MAX_ITEMS (a list or tuple is used as is)."""
    if type(iterable) is list or type(iterable) is tuple:
        _check_items(len(iterable), what)
        return iterable
    if hasattr(iterable, "__len__"):
        _check_items(len(iterable), what)
    items = list(iterable)  # an unsized iterable is a generator or a guarded iterator: it ticks per item
    _check_items(len(items), what)
    return items


def _ticking(iterator):
    """``iterator``, passing a check-point before each item (C-level consumers never stop otherwise)."""
    run = _current_run()
    tick = run.tick if run is not None else _no_tick
    for item in iterator:
        tick()
        yield item


def guarded_map(function: Callable, *iterables: Iterable) -> Iterator:
    return _ticking(map(function, *iterables))


def guarded_filter(function: Callable | None, iterable: Iterable) -> Iterator:
    # Not ``_ticking(filter(...))``: C's filter skips the items it drops in one uninterrupted loop.
    if function is not None and not callable(function):
        raise TypeError(f"'{type(function).__name__}' object is not callable")
    return _filtering(function, iter(iterable))


def _filtering(function, iterator):
    run = _current_run()
    tick = run.tick if run is not None else _no_tick
    for item in iterator:
        tick()
        if (item if function is None else function(item)):
            yield item


def guarded_zip(*iterables: Iterable, strict: bool = False) -> Iterator:
    return _ticking(zip(*iterables, strict=strict))


def guarded_enumerate(iterable: Iterable, start: int = 0) -> Iterator:
    return _ticking(enumerate(iterable, start))


def guarded_reversed(sequence) -> Iterator:
    return _ticking(reversed(sequence))


def guarded_iter(obj: Iterable) -> Iterator:
    return _ticking(iter(obj))


def _ticking_key(key):
    """A key function that passes a check-point per call and refuses keys too costly to compare."""
    def checked(value):
        _checkpoint()
        result = key(value)
        if type(result) in _WEIGHED:
            _check_work(_weight(result), "comparing these keys")
        return result
    return checked


def _log2(n: int) -> int:
    return max(n, 2).bit_length()


def _sorted_items(items, key, reverse: bool, what: str) -> list:
    if key is None:
        _check_work(_weight(items) * _log2(len(items)) // 2, what)
        return sorted(items, reverse=reverse)
    keys = [_ticking_key(key)(item) for item in items]
    _check_work(_weight(keys) * _log2(len(keys)) // 2, what)
    order = sorted(range(len(keys)), key=keys.__getitem__, reverse=reverse)  # stable, as sorted(key=) is
    return [items[index] for index in order]


def guarded_sorted(iterable: Iterable, /, *, key: Callable | None = None, reverse: bool = False) -> list:
    items = _materialise(iterable, "sorted()")
    return _sorted_items(items, key, reverse, f"sorting {len(items):,} values")


_MISSING = object()


def _extreme(function, name: str):
    def guarded(*args, key=None, default=_MISSING):
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        items = args[0] if len(args) == 1 else args
        options = {} if default is _MISSING else {"default": default}
        if key is not None:  # each key is computed between check-points, each comparison is of one key
            return function(guarded_iter(items), key=_ticking_key(key), **options)
        items = _materialise(items, f"{name}()")
        _check_work(_weight(items), f"{name}() of these {len(items):,} values")
        return function(items, **options)
    guarded.__name__ = name
    return guarded


guarded_min = _extreme(min, "min")
guarded_max = _extreme(max, "max")


def guarded_hash(value: object) -> int:
    if type(value) is tuple or type(value) is frozenset:
        _check_work(_weight(value), "hashing this value")
    return hash(value)


def _check_hashing(items, what: str) -> None:
    # Building a set or dict hashes every item and compares items with equal hashes: weigh them first.
    _check_work(_weight(items), what)


def _make_list(iterable=()) -> list:
    return list(_materialise(iterable, "list()"))


def _make_tuple(iterable=()) -> tuple:
    return tuple(_materialise(iterable, "tuple()"))


def _make_set(iterable=()) -> set:
    items = _materialise(iterable, "set()")
    _check_hashing(items, f"a set of {len(items):,} values")
    return set(items)


def _make_frozenset(iterable=()) -> frozenset:
    items = _materialise(iterable, "frozenset()")
    _check_hashing(items, f"a frozenset of {len(items):,} values")
    return frozenset(items)


def _make_dict(*args, **kwargs) -> dict:
    if len(args) > 1:
        raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
    if args and not isinstance(args[0], dict):
        items = _materialise(args[0], "dict()")
        _check_hashing(items, f"a dict of {len(items):,} entries")
        args = (items,)
    elif args:
        _check_items(len(args[0]) + len(kwargs), "dict()")
    return dict(*args, **kwargs)


def _dict_fromkeys(iterable, value=None) -> dict:
    items = _materialise(iterable, "dict.fromkeys()")
    _check_hashing(items, f"a dict of {len(items):,} keys")
    return dict.fromkeys(items, value)


def guarded_compare(left: object, right: object, op: int) -> bool:
    """``left <op> right`` for the comparison operators, refusing comparisons too costly to stop."""
    if op >= 6:  # in, not in
        kind = type(right)
        if kind is list or kind is tuple or kind is type({}.values()):
            if len(right) > MAX_ITEMS:
                _refuse(f"a membership test in {len(right):,} values (the limit is {MAX_ITEMS:,}); use a set")
            if len(right) * _weight(left, MAX_WORK) > MAX_WORK:
                _check_work(_weight(right), "this membership test")
        elif kind in _HASHED:
            if type(left) is tuple or type(left) is frozenset:
                _check_work(_weight(left), "hashing this value")
        elif kind is not str and kind is not bytes and kind is not range and _weight(left, 64) > 64:
            right = _ticking(iter(right))  # an iterator: one check-point per item compared
        found = left in right
        return found if op == 6 else not found
    if type(left) in _WEIGHED and type(right) in _WEIGHED:
        _check_work(min(_weight(left), _weight(right)), "comparing these values")
    return _COMPARE_FUNCTIONS[op](left, right)


_COMPARE_FUNCTIONS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


def guarded_operand(value: object) -> object:
    """An operand of a chained comparison: a container must be cheap to compare."""
    if type(value) in _WEIGHED:
        _check_work(_weight(value), "comparing this value")
    return value


def guarded_key(value: object) -> object:
    """A value about to be hashed as a dict key or set member."""
    if type(value) is tuple:
        _check_work(_weight(value), "hashing this key")
    return value


def guarded_starred(value: object) -> object:
    """``*value`` or ``**value`` in a display or a call: copies every item, so the size is checked first."""
    if hasattr(value, "__len__"):
        _check_items(len(value), "unpacking")
    return value


# -- operators ---------------------------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_mul(left, right) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, _SEQUENCES) and isinstance(count, int) and count > 1:
            _check_length(len(seq) * count, seq, f"repeating a {type(seq).__name__} of length {len(seq):,} "
                                                  f"{count:,} times")
            if len(seq) * count >= BIG:
                _checkpoint()
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        _refuse(f"multiplying these numbers would make an integer of about {left.bit_length() + right.bit_length():,} "
                f"bits (the limit is {MAX_INT_BITS:,})")


def guarded_mul(left, right):
    _check_mul(left, right)
    return left * right


_MODPOW_COST = MAX_MODPOW_BITS * (MAX_MODPOW_BITS // 30 + 1) ** 2  # exponent bits × modulus digits²


def guarded_pow(base, exponent, modulus=None):
    if modulus is None and _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        bits = exponent * math.log2(abs(base))
        if bits > MAX_INT_BITS:
            _refuse(f"{base} ** {exponent} would be an integer of about {bits:,.0f} bits (the limit is "
                    f"{MAX_INT_BITS:,})")
    if modulus is None:
        return pow(base, exponent)
    if _is_int(exponent) and _is_int(modulus):
        # Modular exponentiation is one C call: its time grows with the exponent's bits times the square of
        # the modulus's size, and nothing can stop it once started.
        exponent_bits, modulus_bits = abs(exponent).bit_length(), abs(modulus).bit_length()
        if exponent_bits * (modulus_bits // 30 + 1) ** 2 > _MODPOW_COST:
            _refuse(f"pow() with a {exponent_bits:,}-bit exponent and a {modulus_bits:,}-bit modulus would take "
                    f"too long (the limit is {MAX_MODPOW_BITS:,} bits each)")
    return pow(base, exponent, modulus)


def guarded_lshift(value, shift):
    if _is_int(value) and _is_int(shift) and value and shift > 0 and value.bit_length() + shift > MAX_INT_BITS:
        _refuse(f"{value} << {shift} would be an integer of about {value.bit_length() + shift:,} bits "
                f"(the limit is {MAX_INT_BITS:,})")
    return value << shift


def _check_add(left, right) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(len(left) + len(right), left, f"joining two {type(left).__name__}s")
        if len(left) + len(right) >= BIG:
            _checkpoint()


def guarded_add(left, right):
    _check_add(left, right)
    return left + right


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def guarded_mod(left, right):
    if isinstance(left, _TEXT):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        for width, precision in _PERCENT_SPEC.findall(text):
            for number in (width, precision):
                if number == "*":
                    _refuse("'*' widths in %-formatting are not allowed; write the width in the format")
                if number and int(number) > MAX_FORMAT_WIDTH:
                    _refuse(f"a %-format width or precision of {int(number):,} (the limit is {MAX_FORMAT_WIDTH:,})")
        for arg in (right if isinstance(right, tuple) else (right,)):
            _check_printable(arg)
    return left % right


def _checked(check, operation):
    def apply(target, value):
        check(target, value)
        return operation(target, value)
    return apply


_INPLACE = {
    "+=": _checked(_check_add, operator.iadd),
    "-=": operator.isub,
    "*=": _checked(_check_mul, operator.imul),
    "/=": operator.itruediv,
    "//=": operator.ifloordiv,
    "%=": guarded_mod,
    "**=": guarded_pow,
    "<<=": guarded_lshift,
    ">>=": operator.irshift,
    "|=": operator.ior,
    "&=": operator.iand,
    "^=": operator.ixor,
    "@=": operator.imatmul,
}


def guarded_inplacevar(op: str, target, value):
    try:
        function = _INPLACE[op]
    except KeyError:
        _refuse(f"the operator {op!r}")
    return function(target, value)


# -- formatting and text ------------------------------------------------------------------------------------

_SPEC_NUMBER = re.compile(r"\d+")


def _check_format_spec(spec) -> None:
    if not isinstance(spec, str):
        return
    if len(spec) > MAX_FORMAT_WIDTH:  # a date's format spec is a strftime format: each code can grow
        _refuse(f"a format spec of {len(spec):,} characters (the limit is {MAX_FORMAT_WIDTH:,})")
    for number in _SPEC_NUMBER.findall(spec):
        if len(number) > 6 or int(number) > MAX_FORMAT_WIDTH:
            _refuse(f"a format width or precision of {number} (the limit is {MAX_FORMAT_WIDTH:,})")


def guarded_format(value, spec: str = ""):
    _check_format_spec(spec)
    _check_printable(value)
    return format(value, spec)


def guarded_repr(value) -> str:
    _check_printable(value)
    return repr(value)


def guarded_ascii(value) -> str:
    _check_printable(value)
    return ascii(value)


def _fstring_value(value, conversion: int, spec) -> str:
    if conversion == ord("s"):
        value = _make_str(value)
    elif conversion == ord("r"):
        value = guarded_repr(value)
    elif conversion == ord("a"):
        value = guarded_ascii(value)
    return guarded_format(value, spec)


def _make_str(*args, **kwargs) -> str:
    if args:
        _check_printable(args[0])
    return str(*args, **kwargs)


class _GuardedTypeMeta(type):
    """A stand-in for a builtin type whose construction is checked; ``isinstance``/``issubclass`` and the
    type's methods (``str.upper``) behave as the real type's."""

    def __instancecheck__(cls, obj):
        return isinstance(obj, cls._real)

    def __subclasscheck__(cls, sub):
        return issubclass(sub, cls._real)

    def __call__(cls, *args, **kwargs):
        return cls._make(*args, **kwargs)

    def __getattr__(cls, name):
        return getattr(cls._real, name)

    def __repr__(cls):
        return repr(cls._real)


class GuardedStr(metaclass=_GuardedTypeMeta):
    """``str`` as scripts see it: ``str(x)`` refuses to print enormous structures."""

    _real = str
    _make = staticmethod(_make_str)


class GuardedList(metaclass=_GuardedTypeMeta):
    """``list`` as scripts see it: ``list(x)`` copies at most MAX_ITEMS items."""

    _real = list
    _make = staticmethod(_make_list)


class GuardedTuple(metaclass=_GuardedTypeMeta):
    _real = tuple
    _make = staticmethod(_make_tuple)


class GuardedSet(metaclass=_GuardedTypeMeta):
    """``set`` as scripts see it: the items are weighed before they are hashed."""

    _real = set
    _make = staticmethod(_make_set)


class GuardedFrozenset(metaclass=_GuardedTypeMeta):
    _real = frozenset
    _make = staticmethod(_make_frozenset)


class GuardedDict(metaclass=_GuardedTypeMeta):
    _real = dict
    _make = staticmethod(_make_dict)


def _pad_check(name):
    def method(self, width, *args):
        if _is_int(width) and width > MAX_CHARS:
            _refuse(f"{type(self).__name__}.{name}({width:,}) would make a text of {width:,} characters "
                    f"(the limit is {MAX_CHARS:,})")
        return getattr(self, name)(width, *args)
    return method


def _text_replace(self, old, new, count=-1):
    if isinstance(old, _TEXT) and isinstance(new, _TEXT) and len(new) > len(old):
        found = self.count(old) if old else len(self) + 1
        if _is_int(count) and count >= 0:
            found = min(found, count)
        _check_length(len(self) + found * (len(new) - len(old)), self, "this replace()")
    return self.replace(old, new, count)


def _text_join(self, iterable):
    items = _materialise(iterable, "join()")
    if set(map(type, items)) <= _TEXT_KINDS:
        parts = sum(map(len, items))
    else:
        parts = sum(len(item) for item in items if isinstance(item, _TEXT))
    _check_length(len(self) * max(len(items) - 1, 0) + parts, self, "this join()")
    return self.join(items)


def _text_affix(name):
    # s.startswith(("…", "…")) compares s with every prefix in the tuple: up to their total length.
    def method(self, prefix, *args):
        if type(prefix) is tuple:
            _check_work(_weight(prefix), f"{type(self).__name__}.{name}() with these {len(prefix):,} prefixes")
        return getattr(self, name)(prefix, *args)
    return method


def _text_strip(name):
    # Stripping looks each character up in ``chars`` one by one: the cost is len(text) × len(chars).
    def method(self, chars=None):
        if chars is not None and hasattr(chars, "__len__") and len(chars) > 64:
            _check_work(len(self) * len(chars) // 1024, f"{type(self).__name__}.{name}() with {len(chars):,} "
                                                        f"characters to strip")
        return getattr(self, name)(chars)
    return method


# Text codecs implemented in C. Others are Python code the check-points do not reach, some quadratic
# ("punycode"), and none is needed for case data.
_CODECS = frozenset({"utf-8", "utf_8", "utf8", "utf-16", "utf_16", "utf16", "utf-32", "utf_32", "utf32",
                     "utf-16-le", "utf-16-be", "utf_16_le", "utf_16_be", "ascii", "us-ascii", "latin-1",
                     "latin1", "latin_1", "iso-8859-1", "iso8859-1", "gbk", "gb2312", "gb18030", "big5",
                     "cp936", "cp1252"})


def _text_codec(name):
    def method(self, encoding="utf-8", errors="strict"):
        if not isinstance(encoding, str) or encoding.strip().lower() not in _CODECS:
            _refuse(f"{type(self).__name__}.{name}() with the codec {encoding!r} (available: utf-8, utf-16, "
                    f"utf-32, ascii, latin-1, gbk, gb2312, gb18030, big5)")
        return getattr(self, name)(encoding, errors)
    return method


def _needle(name):
    # count/index/remove compare the value with every item: len × the value's weight, bounded.
    def method(self, value, *args):
        if len(self) * _weight(value, MAX_WORK) > MAX_WORK:
            _check_work(_weight(self), f"{type(self).__name__}.{name}() over these {len(self):,} values")
        return getattr(self, name)(value, *args)
    return method


def _list_sort(self, *, key=None, reverse=False):
    _check_items(len(self), "sort()")
    self[:] = _sorted_items(self, key, reverse, f"sorting {len(self):,} values")


def _copy(self):
    _check_items(len(self), f"{type(self).__name__}.copy()")
    return self.copy()


def _dict_update(self, *args, **kwargs):
    if len(args) > 1:
        raise TypeError(f"update expected at most 1 argument, got {len(args)}")
    if args and not isinstance(args[0], dict):
        items = _materialise(args[0], "dict.update()")
        _check_hashing(items, f"updating a dict with {len(items):,} entries")
        args = (items,)
    elif args:
        _check_items(len(args[0]), "dict.update()")
    return self.update(*args, **kwargs)


def _set_method(name):
    # Set operations hash every item of their arguments (and compare those with equal hashes).
    def method(self, *others):
        checked = []
        for other in others:
            if not isinstance(other, (set, frozenset, dict)):
                other = _materialise(other, f"set.{name}()")
                _check_hashing(other, f"set.{name}() with {len(other):,} values")
            checked.append(other)
        return getattr(self, name)(*checked)
    return method


def _keyed(name):
    def method(self, key, *args):
        guarded_key(key)
        return getattr(self, name)(key, *args)
    return method


def _int_to_bytes(self, length=1, byteorder="big", *, signed=False):
    if _is_int(length) and length > MAX_CHARS:
        _refuse(f"int.to_bytes({length:,}) would make {length:,} bytes (the limit is {MAX_CHARS:,})")
    return self.to_bytes(length, byteorder, signed=signed)


def _strftime(self, format):
    if isinstance(format, str) and len(format) > MAX_FORMAT_WIDTH:
        _refuse(f"a strftime() format of {len(format):,} characters (the limit is {MAX_FORMAT_WIDTH:,})")
    return self.strftime(format)


def _text_expandtabs(self, tabsize=8):
    tab = "\t" if isinstance(self, str) else b"\t"
    if _is_int(tabsize) and tabsize > 1:
        _check_length(len(self) + self.count(tab) * tabsize, self, "this expandtabs()")
    return self.expandtabs(tabsize)


def _text_translate(self, table, *args):
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, _TEXT)), default=1)
        _check_length(len(self) * max(longest, 1), self, "this translate()")
    return self.translate(table, *args)


def _list_extend(self, iterable):
    items = iterable if isinstance(iterable, (list, tuple, dict, set, frozenset, str)) else list(iterable)
    _check_length(len(self) + len(items), self, "this extend()")
    return self.extend(items)


_TEXT_METHODS = {name: _pad_check(name) for name in ("ljust", "rjust", "center", "zfill")}
_TEXT_METHODS.update(replace=_text_replace, join=_text_join, expandtabs=_text_expandtabs, translate=_text_translate,
                     startswith=_text_affix("startswith"), endswith=_text_affix("endswith"),
                     strip=_text_strip("strip"), lstrip=_text_strip("lstrip"), rstrip=_text_strip("rstrip"))
_STR_METHODS = {**_TEXT_METHODS, "encode": _text_codec("encode")}
_BYTES_METHODS = {**_TEXT_METHODS, "decode": _text_codec("decode")}
_LIST_METHODS = {"extend": _list_extend, "count": _needle("count"), "index": _needle("index"),
                 "remove": _needle("remove"), "sort": _list_sort, "copy": _copy}
_TUPLE_METHODS = {"count": _needle("count"), "index": _needle("index")}
_DICT_METHODS = {"fromkeys": _dict_fromkeys, "update": _dict_update, "copy": _copy, "get": _keyed("get"),
                 "pop": _keyed("pop"), "setdefault": _keyed("setdefault")}
_FROZENSET_METHODS = {name: _set_method(name) for name in ("union", "intersection", "difference",
                                                           "symmetric_difference", "issubset", "issuperset",
                                                           "isdisjoint")}
_FROZENSET_METHODS["copy"] = _copy
_SET_METHODS = {**_FROZENSET_METHODS, **{name: _set_method(name) for name in (
    "update", "intersection_update", "difference_update", "symmetric_difference_update")},
    "add": _keyed("add"), "discard": _keyed("discard"), "remove": _keyed("remove")}
_INT_METHODS = {"to_bytes": _int_to_bytes}
_DATE_METHODS = {"strftime": _strftime}

# Methods that are checked, by the type of the value they are read from, and by the type itself
# (``str.join``, ``dict.fromkeys``: the first argument is the value, or the iterable for ``fromkeys``).
_METHODS_OF_VALUES = {str: _STR_METHODS, bytes: _BYTES_METHODS, list: _LIST_METHODS, tuple: _TUPLE_METHODS,
                      dict: _DICT_METHODS, set: _SET_METHODS, frozenset: _FROZENSET_METHODS, int: _INT_METHODS,
                      bool: _INT_METHODS, date: _DATE_METHODS, datetime: _DATE_METHODS, day_time: _DATE_METHODS}
_METHODS_OF_TYPES = {**_METHODS_OF_VALUES, GuardedStr: _STR_METHODS, GuardedList: _LIST_METHODS,
                     GuardedTuple: _TUPLE_METHODS, GuardedDict: _DICT_METHODS, GuardedSet: _SET_METHODS,
                     GuardedFrozenset: _FROZENSET_METHODS}
_CLASS_METHODS = frozenset({"fromkeys"})  # called on the type, not bound to a value


# -- attribute, item and write guards ----------------------------------------------------------------------

_REFUSED_ATTRIBUTES = frozenset(INSPECT_ATTRIBUTES) | {"mro"}
_TZINFO_ATTRIBUTES = frozenset({"utcoffset", "tzname", "dst", "fromutc", "key"})  # not no_cache/from_file/…


def guarded_getattr(obj, name, *default):
    if type(name) is not str:
        raise TypeError("an attribute name must be text")
    if name.startswith("_"):
        _refuse(f'access to the attribute "{name}": names starting with "_" are private')
    if name in _REFUSED_ATTRIBUTES:
        _refuse(f'access to the attribute "{name}"')
    zone = isinstance(obj, tzinfo) or (isinstance(obj, type) and issubclass(obj, tzinfo))
    if zone and name not in _TZINFO_ATTRIBUTES:
        _refuse(f'access to the attribute "{name}" of a time zone')
    text_type = obj is str or obj is bytes or obj is GuardedStr
    if name in ("format", "format_map") and (text_type or isinstance(obj, _TEXT)):
        _refuse(f'"str.{name}" (format strings can reach private attributes); use an f-string or %-formatting')
    methods = _METHODS_OF_VALUES.get(type(obj))
    if methods is not None:
        method = methods.get(name)
        if method is not None:
            return method if name in _CLASS_METHODS else _bind(method, obj)
    elif isinstance(obj, type):
        methods = _METHODS_OF_TYPES.get(obj)
        if methods is not None and name in methods:
            return methods[name]  # unbound: ``str.join(sep, items)``, ``dict.fromkeys(keys)``
    return getattr(obj, name, *default)


def _bind(method, obj):
    def bound(*args, **kwargs):
        return method(obj, *args, **kwargs)
    return bound


def guarded_hasattr(obj, name) -> bool:
    try:
        guarded_getattr(obj, name)
    except AttributeError:
        return False
    return True


def guarded_getitem(obj, key):
    kind = type(key)
    if kind is slice and (type(obj) is list or type(obj) is tuple):
        _check_items(len(range(*key.indices(len(obj)))), "this slice")
    elif kind is tuple and isinstance(obj, dict):
        guarded_key(key)
    return obj[key]


class _ListWriter:
    """What ``_write_`` gives for a list: item and slice assignment, with the growth of a slice checked."""

    __slots__ = ("target",)

    def __init__(self, target: list):
        self.target = target

    def __setitem__(self, key, value):
        if type(key) is slice:
            value = _materialise(value, "this slice assignment")
            removed = len(range(*key.indices(len(self.target))))
            grown = len(self.target) - removed + len(value)
            if grown > len(self.target):
                _check_items(grown, "this slice assignment would make a list")
        self.target[key] = value

    def __delitem__(self, key):
        del self.target[key]


def guarded_write(obj):
    if type(obj) is list:
        return _ListWriter(obj)
    if isinstance(obj, (dict, list)):
        return obj
    _refuse(f"changing attributes or items of {type(obj).__name__!r} values (only dicts and lists can be changed)")


def guarded_apply(function, *args, **kwargs):
    return function(*args, **kwargs)


def guarded_range(*args):
    result = range(*args)
    if len(result) > MAX_ITEMS:
        _refuse(f"range() of {len(result):,} numbers (the limit is {MAX_ITEMS:,})")
    return result


_NUMBERS = (int, float, complex)


def guarded_sum(iterable, start=0):
    if isinstance(start, _SEQUENCES):
        _refuse("sum() of texts, lists or tuples; use \"\".join(...) or a comprehension")
    items = _materialise(iterable, "sum()")
    if set(map(type, items)) <= _SUM_KINDS:
        # In slices, so that adding a million big integers passes check-points on the way.
        total = start
        for first in range(0, len(items), 4096):
            _checkpoint()
            total = sum(items[first:first + 4096], total)
        return total
    total = start
    for item in items:
        _checkpoint()
        total = guarded_add(total, item)
    return total


_SUM_KINDS = frozenset({int, float, complex, bool})


def guarded_round(number, ndigits=None):
    if ndigits is None:
        return round(number)
    if _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        _refuse(f"round() to {ndigits} digits (the limit is {MAX_ROUND_DIGITS})")
    return round(number, ndigits)


class _PrintCollector:
    """``print`` in a script writes to the ``whistle.script`` log (and to ``printed``)."""

    def __init__(self, _getattr_=None):
        self.parts: list[str] = []
        self.size = 0

    def _call_print(self, *objects, sep=" ", end="\n", **_ignored):
        text = str(sep).join(_make_str(obj) for obj in objects) + str(end)
        self.size += len(text)
        if self.size > MAX_CHARS:
            _refuse(f"printing more than {MAX_CHARS:,} characters")
        self.parts.append(text)
        log.info("script printed: %s", text.rstrip("\n"))

    def __call__(self) -> str:
        return "".join(self.parts)


def _unavailable(name: str, reason: str):
    def refused(*args, **kwargs):
        _refuse(f'"{name}" is not available in scripts: {reason}')
    refused.__name__ = name
    return refused


_NO_IO = "scripts cannot reach files, the network or the process"
_NO_CODE = "scripts cannot run or inspect code"

_UNAVAILABLE = {
    "open": _NO_IO, "input": _NO_IO, "exit": _NO_IO, "quit": _NO_IO, "breakpoint": _NO_IO, "help": _NO_IO,
    "memoryview": _NO_IO, "bytearray": _NO_IO,
    "eval": _NO_CODE, "exec": _NO_CODE, "compile": _NO_CODE, "globals": _NO_CODE, "locals": _NO_CODE,
    "vars": _NO_CODE, "dir": _NO_CODE, "type": _NO_CODE, "object": _NO_CODE, "super": _NO_CODE,
    "setattr": _NO_CODE, "delattr": _NO_CODE, "classmethod": _NO_CODE, "staticmethod": _NO_CODE,
    "property": _NO_CODE,
}

_PLAIN_BUILTINS = (
    "abs", "all", "any", "bin", "bool", "callable", "chr", "complex", "divmod", "float", "hex", "int",
    "isinstance", "issubclass", "len", "next", "oct", "ord", "slice",
    "ArithmeticError", "AssertionError", "AttributeError", "Exception", "IndexError", "KeyError", "LookupError",
    "NameError", "NotImplementedError", "OverflowError", "RuntimeError", "StopIteration", "TypeError",
    "UnicodeError", "ValueError", "ZeroDivisionError",
)


def safe_builtins() -> dict:
    """The builtins every script sees (before the helper library is added)."""
    import builtins

    names = {name: getattr(builtins, name) for name in _PLAIN_BUILTINS}
    names.update({"None": None, "True": True, "False": False})
    names.update({name: _unavailable(name, reason) for name, reason in _UNAVAILABLE.items()})
    names.update({
        "str": GuardedStr, "repr": guarded_repr, "ascii": guarded_ascii, "format": guarded_format,
        "range": guarded_range, "sum": guarded_sum, "pow": guarded_pow, "round": guarded_round,
        "getattr": guarded_getattr, "hasattr": guarded_hasattr, "iter": guarded_iter,
        "list": GuardedList, "tuple": GuardedTuple, "set": GuardedSet, "frozenset": GuardedFrozenset,
        "dict": GuardedDict, "map": guarded_map, "filter": guarded_filter, "zip": guarded_zip,
        "enumerate": guarded_enumerate, "reversed": guarded_reversed, "sorted": guarded_sorted,
        "min": guarded_min, "max": guarded_max, "hash": guarded_hash,
    })
    return names


_GUARDS = {
    "_getattr_": guarded_getattr,
    "_getitem_": guarded_getitem,
    "_getiter_": iter,
    "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
    "_unpack_sequence_": guarded_unpack_sequence,
    "_write_": guarded_write,
    "_inplacevar_": guarded_inplacevar,
    "_apply_": guarded_apply,
    "_print_": _PrintCollector,
    "_mul_": guarded_mul,
    "_pow_": guarded_pow,
    "_lshift_": guarded_lshift,
    "_add_": guarded_add,
    "_mod_": guarded_mod,
    "_format_": _fstring_value,
    "_compare_": guarded_compare,
    "_operand_": guarded_operand,
    "_starred_": guarded_starred,
    "_key_": guarded_key,
}


# ---------------------------------------------------------------------------------------------------------
# Running

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


_statm = {"pid": None, "fd": None}
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
            _refuse("script code ran after its evaluation ended")
        if self.stopped:
            raise _Deadline()
        now = time.monotonic()
        if now > self.deadline:
            used = time.thread_time() - self.cpu_start
            if used >= self.timeout:
                self.stopped = "time"
                raise _Deadline()
            self.deadline = now + (self.timeout - used)
        if self.memory_limit:
            resident = _resident_bytes()
            if resident is not None:
                if self.rss_start is None:
                    self.rss_start = resident
                elif resident - self.rss_start > self.memory_limit:
                    self.stopped = "memory"
                    raise _Deadline()
        self.next_check = min(self.deadline, now + self.CHECK_INTERVAL)

    def enter(self) -> None:
        if time.monotonic() > self.next_check:
            self._check()
        depth, frame = 0, sys._getframe(1)
        while frame is not None:
            code = frame.f_code
            if code.co_filename == FILENAME:
                if code.co_name not in _COMPREHENSIONS:
                    depth += 1
            elif code.co_filename != _THIS_FILE:
                break
            frame = frame.f_back
        if depth > self.max_depth:
            _refuse(f"calls nested more than {self.max_depth} deep (endless recursion?)")


class SandboxEnvironment(BasePythonScriptEngineEnvironment):
    """A SpiffWorkflow script environment that runs everything in the sandbox.

    ``environment_globals`` are the helper functions (default: ``engine.helpers.HELPERS``). ``timeout``
    is the CPU time one evaluation may use, in seconds (default: ``WHISTLE_SCRIPT_TIMEOUT`` or 2);
    ``memory_mb`` how far the process's resident memory may grow while it runs (default:
    ``WHISTLE_SCRIPT_MEMORY_MB`` or 256; 0 turns the check off).
    """

    def __init__(self, environment_globals: dict | None = None, *, timeout: float | None = None,
                 memory_mb: float | None = None, max_depth: int = MAX_CALL_DEPTH):
        if environment_globals is None:
            from engine.scripting.helpers import HELPERS
            environment_globals = HELPERS
        super().__init__(dict(environment_globals))
        self.timeout = _timeout_setting(timeout)
        self.memory_mb = _memory_setting(memory_mb)
        self.max_depth = max_depth
        self._builtins = {**safe_builtins(), **self.globals, **_GUARDS}

    # -- SpiffWorkflow's interface --------------------------------------------------------------------

    def evaluate(self, expression, context, external_context=None):
        code = _compile(_normalise(expression, "eval"), "eval")
        namespace = self._namespace(context, external_context)
        return self._run(code, namespace, "expression", self._finish_value)

    def execute(self, script, context, external_context=None):
        code = _compile(_normalise(script, "exec"), "exec")
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
        outer = getattr(_current, "run", None)
        _current.run = run  # the guards' check-points (engine code a script calls may evaluate again)
        try:
            result = eval(code, namespace)
            if finish is not None:
                result = finish(result)
            if run.stopped:  # the script caught the stop with a bare ``except:`` and went on
                raise _Deadline()
            return result
        except BaseException as exc:
            if run.stopped or isinstance(exc, _Deadline):
                if run.stopped == "memory":
                    error = ScriptRefused(f"refused: {kind} used more than {self.memory_mb:g} MB of memory")
                else:
                    error = ScriptTimeout(f"{kind} exceeded its {self.timeout:g} s time limit")
                raise error.with_traceback(exc.__traceback__) from None
            raise
        finally:
            run.active = False
            _current.run = outer
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
            if key in context and context[key] is value and not isinstance(value, _CONTAINERS):
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
