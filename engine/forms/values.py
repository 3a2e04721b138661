"""One field's value: the strings a browser posts for it turned into the typed value stored in the case
(``convert``), the bounds it must keep (``limit_problem``), and back (``as_posted``). Problems are message
codes; ``message`` gives their text in Chinese or English (the catalogs: ``engine.i18n``, section FORMS)."""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from engine import i18n
from engine.forms.files import OPTION_TYPES, option_text

TEXT_LIMIT = {"text": 500, "textarea": 10000}
NUMBER_DIGITS = 30  # a number field takes magnitudes up to 10^30 (and as many decimals down)


def message(code: str, lang: str = "zh", **values: Any) -> str:
    """A validation message in Chinese or English (the catalogs: ``engine.i18n``)."""
    return i18n.message("FORMS", code, lang, **values)


def as_posted(value: Any) -> list[str]:
    """A typed value as a browser would post it (the strings ``convert`` reads)."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else option_text(item) for item in items if item is not None]


class InvalidValue(ValueError):
    """The posted strings are not a value of the field's type: ``code`` names the message, ``values`` fill it."""

    def __init__(self, code: str, **values: Any) -> None:
        super().__init__(code)
        self.code = code
        self.values = values


def convert(field: dict, values: list[str], tz: tzinfo | None) -> Any:  # noqa: C901 - one case per field type
    """The typed value of a field from its posted strings; ``InvalidValue`` if they are not one."""
    kind = field.get("type", "text")
    values = [v.strip() if isinstance(v, str) else v for v in values]
    first = next((v for v in values if v not in ("", None)), "")
    if kind in ("text", "textarea"):
        return first
    if kind == "number":
        if first == "":
            return None
        try:
            number = Decimal(first.replace(",", ""))
        except InvalidOperation:
            raise InvalidValue("number") from None
        if not number.is_finite() or abs(number.adjusted()) > NUMBER_DIGITS:
            raise InvalidValue("number")  # 1e999999 would take int() half a minute: no form asks for such a number
        if field.get("integer"):
            if number != number.to_integral_value():
                raise InvalidValue("integer")
            return int(number)
        return int(number) if number == number.to_integral_value() and "." not in first else float(number)
    if kind in OPTION_TYPES or (kind == "checkbox" and field.get("options")):
        chosen = [v for v in values if v not in ("", None)]
        options = {option_text(o["value"]): o["value"] for o in field.get("options", [])}
        for value in chosen:
            if value not in options:
                raise InvalidValue("not_option")
        typed = list(dict.fromkeys(options[v] for v in chosen))
        if kind == "checkbox" or field.get("multiple"):
            return typed
        return typed[0] if typed else None
    if kind == "checkbox":
        return any(v in ("on", "true", "1", "yes") for v in values)
    if kind == "date":
        if first == "":
            return None
        try:
            return date.fromisoformat(first).isoformat()
        except ValueError:
            raise InvalidValue("date") from None
    if kind == "datetime":
        if first == "":
            return None
        try:
            moment = datetime.fromisoformat(first)
        except ValueError:
            raise InvalidValue("datetime") from None
        if moment.tzinfo is None and tz is not None:
            moment = moment.replace(tzinfo=tz)
        if moment.tzinfo is None:
            raise InvalidValue("datetime")
        return moment.isoformat(timespec="minutes")
    if kind == "file":
        return [v for v in dict.fromkeys(values) if v]
    return first


def limit_problem(field: dict, value: Any) -> str | None:
    """The message code of a bound the typed value breaks (min, max, lengths, files), or None."""
    kind = field.get("type", "text")
    if value in (None, "", []):
        return None
    if kind == "number":
        if "min" in field and value < field["min"]:
            return "min"
        if "max" in field and value > field["max"]:
            return "max"
    if kind in ("text", "textarea"):
        if "min_length" in field and len(value) < field["min_length"]:
            return "min_length"
        limit = field.get("max_length", TEXT_LIMIT[kind])
        if len(value) > limit:
            field.setdefault("max_length", limit)
            return "max_length"
    if kind in ("date", "datetime"):
        if "min" in field and str(value) < str(field["min"]):
            return "min"
        if "max" in field and str(value) > str(field["max"]):
            return "max"
    if kind == "file" and len(value) > int(field.get("max_files", 10)):
        field.setdefault("max_files", 10)
        return "files"
    return None


