"""What one uninterruptible operation may cost, checked before it starts: sizes of texts and structures, and
an estimate of the comparisons and hashing a value would take (its weight); and the check-points the guards pass
(the evaluation running on this thread, ``running.run``).

A C-level operation (sorting, hashing, ``in``, ``pow``) cannot be interrupted: a check-point only runs between
operations. So every operation is either bounded in size by the checks here, or made of steps that pass a
check-point each (``ticking``: ``map``, ``filter``, ``zip``… tick per item; so does every key function handed
to ``sorted``/``min``/``max``).
"""
from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from datetime import date, datetime
from datetime import time as day_time
from typing import Any

from engine.scripting.limits import BIG, MAX_CHARS, MAX_ITEMS, MAX_WORK, refuse

CONTAINERS = (list, tuple, dict, set, frozenset)
TEXT = (str, bytes)
SEQUENCES = (str, bytes, list, tuple)


def _limit_for(value) -> tuple[int, str]:
    return (MAX_CHARS, "characters") if isinstance(value, TEXT) else (MAX_ITEMS, "items")


def check_length(size: int, like, what: str) -> None:
    limit, unit = _limit_for(like)
    if size > limit:
        refuse(f"{what} would make a {type(like).__name__} of {size:,} {unit} (the limit is {limit:,})")


def measure(value, what: str, *, max_nodes: int = MAX_ITEMS, max_chars: int = MAX_CHARS,
            allow_callables: bool = True) -> None:
    """Refuse ``value`` if it holds more than ``max_nodes`` values or ``max_chars`` characters, counting
    shared parts every time they occur (as printing or saving it would) — or if it contains itself."""
    if isinstance(value, TEXT):
        if len(value) > max_chars:
            refuse(f"{what} is too large ({len(value):,} characters; the limit is {max_chars:,})")
        return
    if not isinstance(value, CONTAINERS):
        if not allow_callables and callable(value):
            refuse(f"{what} is a function, which cannot be kept")
        return
    nodes = chars = 0
    stack = [value]
    while stack:
        item = stack.pop()
        nodes += 1
        if isinstance(item, TEXT):
            chars += len(item)
            if chars > max_chars:
                refuse(f"{what} is too large (more than {max_chars:,} characters of text)")
        elif isinstance(item, CONTAINERS):
            size = len(item) * (2 if isinstance(item, dict) else 1)
            if nodes + len(stack) + size > max_nodes:
                refuse(f"{what} is too large (more than {max_nodes:,} values, counting shared parts each time, "
                        f"or it contains itself)")
            if isinstance(item, dict):
                stack.extend(item.keys())
                stack.extend(item.values())
            else:
                stack.extend(item)
        elif not allow_callables and callable(item):
            refuse(f"{what} holds a function ({getattr(item, '__name__', type(item).__name__)}), "
                    f"which cannot be kept in task data")


def check_printable(value, what: str = "the text of this value") -> None:
    if isinstance(value, CONTAINERS):
        measure(value, what, max_nodes=MAX_CHARS // 4)


# -- work bounds ---------------------------------------------------------------------------------------------
#
# A C-level operation (sorting, hashing, ``in``, ``pow``) cannot be interrupted: a check-point only runs
# between operations. So every operation is either bounded in size by the checks here, or made of steps
# that pass a check-point each (``map``, ``filter``, ``zip``… are generators in this module that tick per
# item; so is every key function handed to ``sorted``/``min``/``max``).

running = threading.local()  # the _Run of the evaluation running on this thread, for the guards below


def current_run() -> Any:
    return getattr(running, "run", None)


def checkpoint() -> None:
    run = getattr(running, "run", None)
    if run is not None:
        run.tick()


def no_tick() -> bool:
    return True


_SMALL_SCALARS = frozenset({int, float, bool, type(None), complex, date, datetime, day_time})
TEXT_KINDS = frozenset({str, bytes})
_INT_KINDS = frozenset({int, bool})
HASHED: tuple[type, ...] = (dict, set, frozenset, type({}.keys()), type({}.items()))
WEIGHED: tuple[type, ...] = (list, tuple, dict, set, frozenset, type({}.keys()), type({}.values()), type({}.items()))


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
    if kind not in WEIGHED:
        return 1
    kinds = set(map(type, item))  # C-level: most containers are flat, of one or two kinds
    if kinds <= TEXT_KINDS:
        return 1 + len(item) + sum(map(len, item)) // 1024
    if kinds <= _INT_KINDS:
        return 1 + len(item) + sum(map(int.bit_length, item)) // 2048
    if kinds <= _SMALL_SCALARS:
        return 1 + len(item) + sum(v.bit_length() for v in item if type(v) is int) // 2048
    return None


def _children(item):
    return list(item.keys()) + list(item.values()) if type(item) is dict else item


def weight(value, limit: int = MAX_WORK) -> int:
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
                checkpoint()
            child_weight = _flat_weight(child)
            if child_weight is None:
                child_weight = memo.get(id(child))
                if child_weight is None:
                    if id(child) in open_ids:
                        return limit + 1  # it contains itself
                    open_ids.add(id(child))
                    frames.append([id(child), iter(_children(child)), 1])
                    counted += 1
                    break
            frame[2] += child_weight
            counted += child_weight
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


def check_work(work: int, what: str) -> None:
    if work > MAX_WORK:
        refuse(f"{what} would take about {work:,} steps at once (the limit is {MAX_WORK:,}, because it could "
                f"not be stopped half-way); work on fewer or smaller values")


def check_items(size: int, what: str) -> None:
    if size > MAX_ITEMS:
        refuse(f"{what} of {size:,} items (the limit is {MAX_ITEMS:,})")
    if size >= BIG:
        checkpoint()


def materialise(iterable, what: str) -> list | tuple:
    """The items of ``iterable`` as a list, refusing more than MAX_ITEMS (a list or tuple is used as is)."""
    if type(iterable) is list or type(iterable) is tuple:
        check_items(len(iterable), what)
        return iterable
    if hasattr(iterable, "__len__"):
        check_items(len(iterable), what)
    items = list(iterable)  # an unsized iterable is a generator or a guarded iterator: it ticks per item
    check_items(len(items), what)
    return items


def ticking(iterator: Iterable) -> Iterator:
    """``iterator``, passing a check-point before each item (C-level consumers never stop otherwise)."""
    run = current_run()
    tick = run.tick if run is not None else no_tick
    for item in iterator:
        tick()
        yield item
