"""Guarded builtins and operators: iteration that passes a check-point per item, sorting, ``min``/``max``,
hashing and the constructors of collections weighed before they run, comparisons, and ``*``, ``**``, ``<<``,
``+``, ``%`` refusing results that would be huge."""
from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from engine.scripting.bounds import (
    HASHED,
    SEQUENCES,
    TEXT,
    WEIGHED,
    check_items,
    check_length,
    check_printable,
    check_work,
    checkpoint,
    current_run,
    materialise,
    no_tick,
    ticking,
    weight,
)
from engine.scripting.limits import (
    BIG,
    MAX_FORMAT_WIDTH,
    MAX_INT_BITS,
    MAX_ITEMS,
    MAX_MODPOW_BITS,
    MAX_ROUND_DIGITS,
    MAX_WORK,
    refuse,
)


def guarded_map(function: Callable, *iterables: Iterable) -> Iterator:
    return ticking(map(function, *iterables))


def guarded_filter(function: Callable | None, iterable: Iterable) -> Iterator:
    # Not ``ticking(filter(...))``: C's filter skips the items it drops in one uninterrupted loop.
    if function is not None and not callable(function):
        raise TypeError(f"'{type(function).__name__}' object is not callable")
    return _filtering(function, iter(iterable))


def _filtering(function, iterator):
    run = current_run()
    tick = run.tick if run is not None else no_tick
    for item in iterator:
        tick()
        if (item if function is None else function(item)):
            yield item


def guarded_zip(*iterables: Iterable, strict: bool = False) -> Iterator:
    return ticking(zip(*iterables, strict=strict))


def guarded_enumerate(iterable: Iterable, start: int = 0) -> Iterator:
    return ticking(enumerate(iterable, start))


def guarded_reversed(sequence) -> Iterator:
    return ticking(reversed(sequence))


def guarded_iter(obj: Iterable) -> Iterator:
    return ticking(iter(obj))


def _ticking_key(key):
    """A key function that passes a check-point per call and refuses keys too costly to compare."""
    def checked(value):
        checkpoint()
        result = key(value)
        if type(result) in WEIGHED:
            check_work(weight(result), "comparing these keys")
        return result
    return checked


def _log2(n: int) -> int:
    return max(n, 2).bit_length()


def sorted_items(items, key, reverse: bool, what: str) -> list:
    if key is None:
        check_work(weight(items) * _log2(len(items)) // 2, what)
        return sorted(items, reverse=reverse)
    keys = [_ticking_key(key)(item) for item in items]
    check_work(weight(keys) * _log2(len(keys)) // 2, what)
    order = sorted(range(len(keys)), key=keys.__getitem__, reverse=reverse)  # stable, as sorted(key=) is
    return [items[index] for index in order]


def guarded_sorted(iterable: Iterable, /, *, key: Callable | None = None, reverse: bool = False) -> list:
    items = materialise(iterable, "sorted()")
    return sorted_items(items, key, reverse, f"sorting {len(items):,} values")


_MISSING = object()


def _extreme(function, name: str):
    def guarded(*args, key=None, default=_MISSING):
        if not args:
            raise TypeError(f"{name} expected at least 1 argument, got 0")
        items = args[0] if len(args) == 1 else args
        options = {} if default is _MISSING else {"default": default}
        if key is not None:  # each key is computed between check-points, each comparison is of one key
            return function(guarded_iter(items), key=_ticking_key(key), **options)
        items = materialise(items, f"{name}()")
        check_work(weight(items), f"{name}() of these {len(items):,} values")
        return function(items, **options)
    guarded.__name__ = name
    return guarded


guarded_min = _extreme(min, "min")
guarded_max = _extreme(max, "max")


def guarded_hash(value: object) -> int:
    if type(value) is tuple or type(value) is frozenset:
        check_work(weight(value), "hashing this value")
    return hash(value)


def check_hashing(items, what: str) -> None:
    # Building a set or dict hashes every item and compares items with equal hashes: weigh them first.
    check_work(weight(items), what)


def make_list(iterable=()) -> list:
    return list(materialise(iterable, "list()"))


def make_tuple(iterable=()) -> tuple:
    return tuple(materialise(iterable, "tuple()"))


def make_set(iterable=()) -> set:
    items = materialise(iterable, "set()")
    check_hashing(items, f"a set of {len(items):,} values")
    return set(items)


def make_frozenset(iterable=()) -> frozenset:
    items = materialise(iterable, "frozenset()")
    check_hashing(items, f"a frozenset of {len(items):,} values")
    return frozenset(items)


def make_dict(*args, **kwargs) -> dict:
    if len(args) > 1:
        raise TypeError(f"dict expected at most 1 argument, got {len(args)}")
    if args and not isinstance(args[0], dict):
        items = materialise(args[0], "dict()")
        check_hashing(items, f"a dict of {len(items):,} entries")
        args = (items,)
    elif args:
        check_items(len(args[0]) + len(kwargs), "dict()")
    return dict(*args, **kwargs)


def dict_fromkeys(iterable, value=None) -> dict:
    items = materialise(iterable, "dict.fromkeys()")
    check_hashing(items, f"a dict of {len(items):,} keys")
    return dict.fromkeys(items, value)


def guarded_compare(left: Any, right: Any, op: int) -> bool:
    """``left <op> right`` for the comparison operators, refusing comparisons too costly to stop."""
    if op >= 6:  # in, not in
        kind = type(right)
        if kind is list or kind is tuple or kind is type({}.values()):
            if len(right) > MAX_ITEMS:
                refuse(f"a membership test in {len(right):,} values (the limit is {MAX_ITEMS:,}); use a set")
            if len(right) * weight(left, MAX_WORK) > MAX_WORK:
                check_work(weight(right), "this membership test")
        elif kind in HASHED:
            if type(left) is tuple or type(left) is frozenset:
                check_work(weight(left), "hashing this value")
        elif kind is not str and kind is not bytes and kind is not range and weight(left, 64) > 64:
            right = ticking(iter(right))  # an iterator: one check-point per item compared
        found = left in right
        return found if op == 6 else not found
    if type(left) in WEIGHED and type(right) in WEIGHED:
        check_work(min(weight(left), weight(right)), "comparing these values")
    return _COMPARE_FUNCTIONS[op](left, right)


_COMPARE_FUNCTIONS = (operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge)


def guarded_operand(value: object) -> object:
    """An operand of a chained comparison: a container must be cheap to compare."""
    if type(value) in WEIGHED:
        check_work(weight(value), "comparing this value")
    return value


def guarded_key(value: object) -> object:
    """A value about to be hashed as a dict key or set member."""
    if type(value) is tuple:
        check_work(weight(value), "hashing this key")
    return value


def guarded_starred(value: object) -> object:
    """``*value`` or ``**value`` in a display or a call: copies every item, so the size is checked first."""
    if hasattr(value, "__len__"):
        check_items(len(value), "unpacking")
    return value


# -- operators ---------------------------------------------------------------------------------------------

def is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_mul(left, right) -> None:
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, SEQUENCES) and isinstance(count, int) and count > 1:
            check_length(len(seq) * count, seq, f"repeating a {type(seq).__name__} of length {len(seq):,} "
                                                  f"{count:,} times")
            if len(seq) * count >= BIG:
                checkpoint()
    if is_int(left) and is_int(right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
        refuse(f"multiplying these numbers would make an integer of about {left.bit_length() + right.bit_length():,} "
                f"bits (the limit is {MAX_INT_BITS:,})")


def guarded_mul(left: Any, right: Any) -> Any:
    _check_mul(left, right)
    return left * right


_MODPOW_COST = MAX_MODPOW_BITS * (MAX_MODPOW_BITS // 30 + 1) ** 2  # exponent bits × modulus digits²


def guarded_pow(base: Any, exponent: Any, modulus: Any = None) -> Any:
    if modulus is None and is_int(base) and is_int(exponent) and exponent > 0 and abs(base) > 1:
        bits = exponent * math.log2(abs(base))
        if bits > MAX_INT_BITS:
            refuse(f"{base} ** {exponent} would be an integer of about {bits:,.0f} bits (the limit is "
                    f"{MAX_INT_BITS:,})")
    if modulus is None:
        return pow(base, exponent)
    if is_int(exponent) and is_int(modulus):
        # Modular exponentiation is one C call: its time grows with the exponent's bits times the square of
        # the modulus's size, and nothing can stop it once started.
        exponent_bits, modulus_bits = abs(exponent).bit_length(), abs(modulus).bit_length()
        if exponent_bits * (modulus_bits // 30 + 1) ** 2 > _MODPOW_COST:
            refuse(f"pow() with a {exponent_bits:,}-bit exponent and a {modulus_bits:,}-bit modulus would take "
                    f"too long (the limit is {MAX_MODPOW_BITS:,} bits each)")
    return pow(base, exponent, modulus)


def guarded_lshift(value: Any, shift: Any) -> Any:
    if is_int(value) and is_int(shift) and value and shift > 0 and value.bit_length() + shift > MAX_INT_BITS:
        refuse(f"{value} << {shift} would be an integer of about {value.bit_length() + shift:,} bits "
                f"(the limit is {MAX_INT_BITS:,})")
    return value << shift


def _check_add(left, right) -> None:
    if isinstance(left, SEQUENCES) and isinstance(right, SEQUENCES):
        check_length(len(left) + len(right), left, f"joining two {type(left).__name__}s")
        if len(left) + len(right) >= BIG:
            checkpoint()


def guarded_add(left: Any, right: Any) -> Any:
    _check_add(left, right)
    return left + right


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def guarded_mod(left: Any, right: Any) -> Any:
    if isinstance(left, TEXT):
        text = left.decode("latin-1") if isinstance(left, bytes) else left
        for width, precision in _PERCENT_SPEC.findall(text):
            for number in (width, precision):
                if number == "*":
                    refuse("'*' widths in %-formatting are not allowed; write the width in the format")
                if number and int(number) > MAX_FORMAT_WIDTH:
                    refuse(f"a %-format width or precision of {int(number):,} (the limit is {MAX_FORMAT_WIDTH:,})")
        for arg in (right if isinstance(right, tuple) else (right,)):
            check_printable(arg)
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


def guarded_inplacevar(op: str, target: Any, value: Any) -> Any:
    try:
        function = _INPLACE[op]
    except KeyError:
        refuse(f"the operator {op!r}")
    return function(target, value)


def guarded_apply(function: Callable, *args: Any, **kwargs: Any) -> Any:
    return function(*args, **kwargs)


def guarded_range(*args: int) -> range:
    result = range(*args)
    if len(result) > MAX_ITEMS:
        refuse(f"range() of {len(result):,} numbers (the limit is {MAX_ITEMS:,})")
    return result


def guarded_sum(iterable: Iterable, start: Any = 0) -> Any:
    if isinstance(start, SEQUENCES):
        refuse("sum() of texts, lists or tuples; use \"\".join(...) or a comprehension")
    items = materialise(iterable, "sum()")
    if set(map(type, items)) <= _SUM_KINDS:
        # In slices, so that adding a million big integers passes check-points on the way.
        total = start
        for first in range(0, len(items), 4096):
            checkpoint()
            total = sum(items[first:first + 4096], total)
        return total
    total = start
    for item in items:
        checkpoint()
        total = guarded_add(total, item)
    return total


_SUM_KINDS = frozenset({int, float, complex, bool})


def guarded_round(number: Any, ndigits: Any = None) -> Any:
    if ndigits is None:
        return round(number)
    if is_int(ndigits) and abs(ndigits) > MAX_ROUND_DIGITS:
        refuse(f"round() to {ndigits} digits (the limit is {MAX_ROUND_DIGITS})")
    return round(number, ndigits)
