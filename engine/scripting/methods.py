"""Formatting, and the methods of values as scripts see them: ``str``, ``list``, ``dict``… stand-ins whose
construction is checked, text, list, dict and set methods that bound their result or their work, and the
attribute guard that hands them out (and refuses private names, ``str.format`` and time zones' internals)."""
from __future__ import annotations

import re
from datetime import date, datetime, tzinfo
from datetime import time as day_time
from typing import Any

from RestrictedPython.transformer import INSPECT_ATTRIBUTES

from engine.scripting.bounds import (
    TEXT,
    TEXT_KINDS,
    check_items,
    check_length,
    check_printable,
    check_work,
    materialise,
    weight,
)
from engine.scripting.guards import (
    check_hashing,
    dict_fromkeys,
    guarded_key,
    is_int,
    make_dict,
    make_frozenset,
    make_list,
    make_set,
    make_tuple,
    sorted_items,
)
from engine.scripting.limits import MAX_CHARS, MAX_FORMAT_WIDTH, MAX_WORK, refuse

# -- formatting and text ------------------------------------------------------------------------------------

_SPEC_NUMBER = re.compile(r"\d+")


def _check_format_spec(spec) -> None:
    if not isinstance(spec, str):
        return
    if len(spec) > MAX_FORMAT_WIDTH:  # a date's format spec is a strftime format: each code can grow
        refuse(f"a format spec of {len(spec):,} characters (the limit is {MAX_FORMAT_WIDTH:,})")
    for number in _SPEC_NUMBER.findall(spec):
        if len(number) > 6 or int(number) > MAX_FORMAT_WIDTH:
            refuse(f"a format width or precision of {number} (the limit is {MAX_FORMAT_WIDTH:,})")


def guarded_format(value: Any, spec: str = "") -> str:
    _check_format_spec(spec)
    check_printable(value)
    return format(value, spec)


def guarded_repr(value) -> str:
    check_printable(value)
    return repr(value)


def guarded_ascii(value) -> str:
    check_printable(value)
    return ascii(value)


def fstring_value(value, conversion: int, spec) -> str:
    if conversion == ord("s"):
        value = make_str(value)
    elif conversion == ord("r"):
        value = guarded_repr(value)
    elif conversion == ord("a"):
        value = guarded_ascii(value)
    return guarded_format(value, spec)


def make_str(*args, **kwargs) -> str:
    if args:
        check_printable(args[0])
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
    _make = staticmethod(make_str)


class GuardedList(metaclass=_GuardedTypeMeta):
    """``list`` as scripts see it: ``list(x)`` copies at most MAX_ITEMS items."""

    _real = list
    _make = staticmethod(make_list)


class GuardedTuple(metaclass=_GuardedTypeMeta):
    _real = tuple
    _make = staticmethod(make_tuple)


class GuardedSet(metaclass=_GuardedTypeMeta):
    """``set`` as scripts see it: the items are weighed before they are hashed."""

    _real = set
    _make = staticmethod(make_set)


class GuardedFrozenset(metaclass=_GuardedTypeMeta):
    _real = frozenset
    _make = staticmethod(make_frozenset)


class GuardedDict(metaclass=_GuardedTypeMeta):
    _real = dict
    _make = staticmethod(make_dict)


def _pad_check(name):
    def method(self, width, *args):
        if is_int(width) and width > MAX_CHARS:
            refuse(f"{type(self).__name__}.{name}({width:,}) would make a text of {width:,} characters "
                    f"(the limit is {MAX_CHARS:,})")
        return getattr(self, name)(width, *args)
    return method


def _text_replace(self, old, new, count=-1):
    if isinstance(old, TEXT) and isinstance(new, TEXT) and len(new) > len(old):
        found = self.count(old) if old else len(self) + 1
        if is_int(count) and count >= 0:
            found = min(found, count)
        check_length(len(self) + found * (len(new) - len(old)), self, "this replace()")
    return self.replace(old, new, count)


def _text_join(self, iterable):
    items = materialise(iterable, "join()")
    if set(map(type, items)) <= TEXT_KINDS:
        parts = sum(map(len, items))
    else:
        parts = sum(len(item) for item in items if isinstance(item, TEXT))
    check_length(len(self) * max(len(items) - 1, 0) + parts, self, "this join()")
    return self.join(items)


def _text_affix(name):
    # s.startswith(("…", "…")) compares s with every prefix in the tuple: up to their total length.
    def method(self, prefix, *args):
        if type(prefix) is tuple:
            check_work(weight(prefix), f"{type(self).__name__}.{name}() with these {len(prefix):,} prefixes")
        return getattr(self, name)(prefix, *args)
    return method


def _text_strip(name):
    # Stripping looks each character up in ``chars`` one by one: the cost is len(text) × len(chars).
    def method(self, chars=None):
        if chars is not None and hasattr(chars, "__len__") and len(chars) > 64:
            check_work(len(self) * len(chars) // 1024, f"{type(self).__name__}.{name}() with {len(chars):,} "
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
            refuse(f"{type(self).__name__}.{name}() with the codec {encoding!r} (available: utf-8, utf-16, "
                    f"utf-32, ascii, latin-1, gbk, gb2312, gb18030, big5)")
        return getattr(self, name)(encoding, errors)
    return method


def _needle(name):
    # count/index/remove compare the value with every item: len × the value's weight, bounded.
    def method(self, value, *args):
        if len(self) * weight(value, MAX_WORK) > MAX_WORK:
            check_work(weight(self), f"{type(self).__name__}.{name}() over these {len(self):,} values")
        return getattr(self, name)(value, *args)
    return method


def _list_sort(self, *, key=None, reverse=False):
    check_items(len(self), "sort()")
    self[:] = sorted_items(self, key, reverse, f"sorting {len(self):,} values")


def _copy(self):
    check_items(len(self), f"{type(self).__name__}.copy()")
    return self.copy()


def _dict_update(self, *args, **kwargs):
    if len(args) > 1:
        raise TypeError(f"update expected at most 1 argument, got {len(args)}")
    if args and not isinstance(args[0], dict):
        items = materialise(args[0], "dict.update()")
        check_hashing(items, f"updating a dict with {len(items):,} entries")
        args = (items,)
    elif args:
        check_items(len(args[0]), "dict.update()")
    return self.update(*args, **kwargs)


def _set_method(name):
    # Set operations hash every item of their arguments (and compare those with equal hashes).
    def method(self, *others):
        checked = []
        for other in others:
            if not isinstance(other, (set, frozenset, dict)):
                other = materialise(other, f"set.{name}()")
                check_hashing(other, f"set.{name}() with {len(other):,} values")
            checked.append(other)
        return getattr(self, name)(*checked)
    return method


def _keyed(name):
    def method(self, key, *args):
        guarded_key(key)
        return getattr(self, name)(key, *args)
    return method


def _int_to_bytes(self, length=1, byteorder="big", *, signed=False):
    if is_int(length) and length > MAX_CHARS:
        refuse(f"int.to_bytes({length:,}) would make {length:,} bytes (the limit is {MAX_CHARS:,})")
    return self.to_bytes(length, byteorder, signed=signed)


def _strftime(self, format):
    if isinstance(format, str) and len(format) > MAX_FORMAT_WIDTH:
        refuse(f"a strftime() format of {len(format):,} characters (the limit is {MAX_FORMAT_WIDTH:,})")
    return self.strftime(format)


def _text_expandtabs(self, tabsize=8):
    tab = "\t" if isinstance(self, str) else b"\t"
    if is_int(tabsize) and tabsize > 1:
        check_length(len(self) + self.count(tab) * tabsize, self, "this expandtabs()")
    return self.expandtabs(tabsize)


def _text_translate(self, table, *args):
    if isinstance(table, dict):
        longest = max((len(v) for v in table.values() if isinstance(v, TEXT)), default=1)
        check_length(len(self) * max(longest, 1), self, "this translate()")
    return self.translate(table, *args)


def _list_extend(self, iterable):
    items = iterable if isinstance(iterable, (list, tuple, dict, set, frozenset, str)) else list(iterable)
    check_length(len(self) + len(items), self, "this extend()")
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
_DICT_METHODS = {"fromkeys": dict_fromkeys, "update": _dict_update, "copy": _copy, "get": _keyed("get"),
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


def guarded_getattr(obj: Any, name: Any, *default: Any) -> Any:
    if type(name) is not str:
        raise TypeError("an attribute name must be text")
    if name.startswith("_"):
        refuse(f'access to the attribute "{name}": names starting with "_" are private')
    if name in _REFUSED_ATTRIBUTES:
        refuse(f'access to the attribute "{name}"')
    zone = isinstance(obj, tzinfo) or (isinstance(obj, type) and issubclass(obj, tzinfo))
    if zone and name not in _TZINFO_ATTRIBUTES:
        refuse(f'access to the attribute "{name}" of a time zone')
    text_type = obj is str or obj is bytes or obj is GuardedStr
    if name in ("format", "format_map") and (text_type or isinstance(obj, TEXT)):
        refuse(f'"str.{name}" (format strings can reach private attributes); use an f-string or %-formatting')
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
