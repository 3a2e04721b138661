"""What a script's namespace holds besides its data: the safe builtins (guarded versions where a builtin could
run away, refusals where it could reach the process), and the guards RestrictedPython's compiled code calls
(``_getattr_``, ``_getitem_``, ``_write_``, ``_print_``… and the policy's own)."""
from __future__ import annotations

import builtins
import logging
from typing import Any

from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence

from engine.scripting.bounds import check_items, materialise
from engine.scripting.guards import (
    guarded_add,
    guarded_apply,
    guarded_compare,
    guarded_enumerate,
    guarded_filter,
    guarded_hash,
    guarded_inplacevar,
    guarded_iter,
    guarded_key,
    guarded_lshift,
    guarded_map,
    guarded_max,
    guarded_min,
    guarded_mod,
    guarded_mul,
    guarded_operand,
    guarded_pow,
    guarded_range,
    guarded_reversed,
    guarded_round,
    guarded_sorted,
    guarded_starred,
    guarded_sum,
    guarded_zip,
)
from engine.scripting.limits import MAX_CHARS, refuse
from engine.scripting.methods import (
    GuardedDict,
    GuardedFrozenset,
    GuardedList,
    GuardedSet,
    GuardedStr,
    GuardedTuple,
    fstring_value,
    guarded_ascii,
    guarded_format,
    guarded_getattr,
    guarded_hasattr,
    guarded_repr,
    make_str,
)

log = logging.getLogger("whistle.script")

def guarded_getitem(obj: Any, key: Any) -> Any:
    kind = type(key)
    if kind is slice and (type(obj) is list or type(obj) is tuple):
        check_items(len(range(*key.indices(len(obj)))), "this slice")
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
            value = materialise(value, "this slice assignment")
            removed = len(range(*key.indices(len(self.target))))
            grown = len(self.target) - removed + len(value)
            if grown > len(self.target):
                check_items(grown, "this slice assignment would make a list")
        self.target[key] = value

    def __delitem__(self, key):
        del self.target[key]


def guarded_write(obj: Any) -> Any:
    if type(obj) is list:
        return _ListWriter(obj)
    if isinstance(obj, (dict, list)):
        return obj
    refuse(f"changing attributes or items of {type(obj).__name__!r} values (only dicts and lists can be changed)")


class _PrintCollector:
    """``print`` in a script writes to the ``whistle.script`` log (and to ``printed``)."""

    def __init__(self, _getattr_=None):
        self.parts: list[str] = []
        self.size = 0

    def _call_print(self, *objects, sep=" ", end="\n", **_ignored):
        text = str(sep).join(make_str(obj) for obj in objects) + str(end)
        self.size += len(text)
        if self.size > MAX_CHARS:
            refuse(f"printing more than {MAX_CHARS:,} characters")
        self.parts.append(text)
        log.info("script printed: %s", text.rstrip("\n"))

    def __call__(self) -> str:
        return "".join(self.parts)


def _unavailable(name: str, reason: str):
    def refused(*args, **kwargs):
        refuse(f'"{name}" is not available in scripts: {reason}')
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


GUARDS = {
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
    "_format_": fstring_value,
    "_compare_": guarded_compare,
    "_operand_": guarded_operand,
    "_starred_": guarded_starred,
    "_key_": guarded_key,
}
