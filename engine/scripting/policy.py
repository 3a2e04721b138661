"""The sandbox's compile-time policy: RestrictedPython's, stricter (no imports, classes, private names,
``eval``/``exec``), plus the calls the run-time guards need — a check-point at every loop body, comprehension
step, function call and statement, and guarded operators, comparisons, keys and formatting — and the bounded
cache of compiled sources."""
from __future__ import annotations

import ast
import re
import textwrap
from functools import lru_cache
from types import CodeType
from typing import Any, cast

from RestrictedPython import compile_restricted_eval, compile_restricted_exec
from RestrictedPython.transformer import RestrictingNodeTransformer, copy_locations

from engine.scripting.limits import COMPILE_CACHE_SIZE, FILENAME, MAX_NESTING, MAX_SOURCE_CHARS, ScriptRefused, refuse

_BINOP_GUARDS = {ast.Mult: "_mul_", ast.Pow: "_pow_", ast.LShift: "_lshift_", ast.Add: "_add_", ast.Mod: "_mod_"}


def _name(identifier: str) -> ast.Name:
    return ast.Name(id=identifier, ctx=ast.Load())


def _call(identifier: str, args: list, where: Any) -> ast.Call:
    node = ast.Call(func=_name(identifier), args=args, keywords=[])
    copy_locations(node, where)
    return node


def _call_stmt(identifier: str, where: Any) -> ast.Expr:
    node = ast.Expr(value=_call(identifier, [], where))
    copy_locations(node, where)
    node.whistle_checkpoint = True  # type: ignore[attr-defined]  # a mark the policy reads back
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
            result: list[ast.stmt] = []
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
                       for key, value in zip(node.keys, node.values, strict=True)]
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
        compile_checked(normalise_source(source, mode), mode)
    except SyntaxError as exc:
        return [f"line {exc.lineno}: {exc.msg}"]
    except ScriptRefused as exc:
        return list(exc.errors) if hasattr(exc, "errors") else [str(exc)]
    return []


def normalise_source(source: str, mode: str) -> str:
    if not isinstance(source, str):
        raise TypeError(f"an expression or script must be text, got {type(source).__name__}")
    return source.strip() if mode == "eval" else textwrap.dedent(source)


@lru_cache(maxsize=COMPILE_CACHE_SIZE)
def compile_checked(source: str, mode: str) -> CodeType:
    kind = "expression" if mode == "eval" else "script"
    if len(source) > MAX_SOURCE_CHARS:
        refuse(f"{kind} of {len(source):,} characters (the limit is {MAX_SOURCE_CHARS:,})")
    try:
        tree = cast("ast.Module | ast.Expression", ast.parse(source, FILENAME, mode))  # a SyntaxError keeps its line
    except (MemoryError, RecursionError):  # CPython's parser gives up on very deep nesting this way
        refuse(f"{kind} nests too deeply to compile (the limit is {MAX_NESTING} levels)")
    _check_nesting(tree, kind)
    compiler = compile_restricted_eval if mode == "eval" else compile_restricted_exec
    try:
        result = compiler(tree, FILENAME, policy=WhistlePolicy)
    except (MemoryError, RecursionError):  # within the nesting limit, but called from deep in the stack
        refuse(f"{kind} nests too deeply to compile here (the limit is {MAX_NESTING} levels)")
    if result.errors:
        kind = "expression" if mode == "eval" else "script"
        errors = [_tidy(error) for error in result.errors]
        error = ScriptRefused(f"refused: {kind} not allowed: " + "; ".join(errors))
        error.errors = errors
        raise error
    return cast(CodeType, result.code)  # set whenever there are no errors


def _check_nesting(tree: ast.AST, kind: str) -> None:
    # RestrictedPython's transformer and CPython's compiler recurse once per level (a 100,000-term sum is
    # 100,000 levels): refuse deep trees here, walking without recursion, before either sees them.
    stack = [(tree, 0)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_NESTING:
            line = getattr(node, "lineno", None)
            refuse(f"{kind} nests operators, calls or brackets more than {MAX_NESTING} levels deep"
                    + (f" (line {line})" if line else "") + "; split it into several statements")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


def _tidy(message: str) -> str:
    return re.sub(r"^Line (\d+): ", r"line \1: ", message).rstrip(".")
