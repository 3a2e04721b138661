"""The sandbox every expression and script of a process runs in.

SpiffWorkflow evaluates conditions and scripts with plain ``eval``/``exec``. Whistle replaces that
with :class:`SandboxEnvironment`, a SpiffWorkflow script environment that

* compiles each source once (a bounded LRU cache keyed by the text) with RestrictedPython and a
  stricter policy (:class:`WhistlePolicy`): no imports, no class definitions, no names or attributes
  starting with ``_``, no ``eval``/``exec``;
* runs it with guards: attribute access refuses private names and ``str.format``; ``*``, ``**``,
  ``<<``, ``+`` and ``%`` refuse results that would be huge; padding and joining string methods,
  ``range``, ``sum``, ``pow``, ``round``, ``str``/``repr``/f-strings are size-checked;
* bounds time: the policy puts a cheap deadline check at the top of every loop body, every
  comprehension step and every function call. It raises an exception a script cannot catch
  (``except Exception`` does not see it, ``BaseException`` is not available, and every later check
  raises again), so an endless loop stops within the limit (``WHISTLE_SCRIPT_TIMEOUT``, default 2 s
  of CPU time). Unlike a ``sys.settrace`` hook, which CPython removes as soon as it raises, the
  checks cannot be switched off by a ``try``/``finally`` around the loop, and they leave debuggers
  and coverage tools alone;
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
import time
from datetime import tzinfo
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
    return node


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
    tree = ast.parse(source, FILENAME, mode)  # a SyntaxError keeps its line number
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    result = compiler(tree, FILENAME, policy=WhistlePolicy)
    if result.errors:
        kind = "expression" if mode == "eval" else "script"
        errors = [_tidy(error) for error in result.errors]
        error = ScriptRefused(f"refused: {kind} not allowed: " + "; ".join(errors))
        error.errors = errors
        raise error
    return result.code


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


# -- operators ---------------------------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_mul(left, right) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, _SEQUENCES) and isinstance(count, int) and count > 1:
            _check_length(len(seq) * count, seq, f"repeating a {type(seq).__name__} of length {len(seq):,} "
                                                  f"{count:,} times")
    if _is_int(left) and _is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        _refuse(f"multiplying these numbers would make an integer of about {left.bit_length() + right.bit_length():,} "
                f"bits (the limit is {MAX_INT_BITS:,})")


def guarded_mul(left, right):
    _check_mul(left, right)
    return left * right


def guarded_pow(base, exponent, modulus=None):
    if modulus is None and _is_int(base) and _is_int(exponent) and exponent > 0 and abs(base) > 1:
        bits = exponent * math.log2(abs(base))
        if bits > MAX_INT_BITS:
            _refuse(f"{base} ** {exponent} would be an integer of about {bits:,.0f} bits (the limit is "
                    f"{MAX_INT_BITS:,})")
    return pow(base, exponent) if modulus is None else pow(base, exponent, modulus)


def guarded_lshift(value, shift):
    if _is_int(value) and _is_int(shift) and value and shift > 0 and value.bit_length() + shift > MAX_INT_BITS:
        _refuse(f"{value} << {shift} would be an integer of about {value.bit_length() + shift:,} bits "
                f"(the limit is {MAX_INT_BITS:,})")
    return value << shift


def _check_add(left, right) -> None:
    if isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _check_length(len(left) + len(right), left, f"joining two {type(left).__name__}s")


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
    items = list(iterable)
    total = len(self) * max(len(items) - 1, 0) + sum(len(item) for item in items if isinstance(item, _TEXT))
    _check_length(total, self, "this join()")
    return self.join(items)


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
_TEXT_METHODS.update(replace=_text_replace, join=_text_join, expandtabs=_text_expandtabs, translate=_text_translate)
_LIST_METHODS = {"extend": _list_extend}


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
    if name in _TEXT_METHODS and (text_type or isinstance(obj, _TEXT)):
        return _TEXT_METHODS[name] if text_type else _bind(_TEXT_METHODS[name], obj)
    if name in _LIST_METHODS and (obj is list or isinstance(obj, list)):
        return _LIST_METHODS[name] if obj is list else _bind(_LIST_METHODS[name], obj)
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
    return obj[key]


def guarded_write(obj):
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
    items = list(iterable)
    if all(isinstance(item, _NUMBERS) for item in items):
        return sum(items, start)
    total = start
    for item in items:
        total = guarded_add(total, item)
    return total


def guarded_round(number, ndigits=None):
    if ndigits is None:
        return round(number)
    if _is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        _refuse(f"round() to {ndigits} digits (the limit is {MAX_ROUND_DIGITS})")
    return round(number, ndigits)


def guarded_iter(obj):
    return iter(obj)


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
    "abs", "all", "any", "bin", "bool", "callable", "chr", "complex", "dict", "divmod", "enumerate", "filter",
    "float", "frozenset", "hash", "hex", "int", "isinstance", "issubclass", "len", "list", "map", "max", "min",
    "next", "oct", "ord", "reversed", "set", "slice", "sorted", "tuple", "zip",
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
}


# ---------------------------------------------------------------------------------------------------------
# Running

_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _resident_bytes() -> int | None:
    """The process's resident memory, or None where /proc is not available."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return None
    try:
        return int(os.read(fd, 128).split()[1]) * _PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return None
    finally:
        os.close(fd)


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
        self.next_check = min(self.deadline, now + self.CHECK_INTERVAL)
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
            from .helpers import HELPERS
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
