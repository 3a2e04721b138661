"""One field's value: the strings a browser posts for it turned into the typed value stored in the case
(``convert``), the bounds it must keep (``limit_problem``), and back (``as_posted``). Problems are message
codes; ``message`` gives their text in Chinese or English (the catalogs: ``engine.i18n``, section FORMS)."""
from __future__ import annotations

import json
import math
from datetime import date, datetime, tzinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from engine import i18n
from engine.forms.files import LOCATION_TYPE, OPTION_TYPES, option_text

TEXT_LIMIT = {"text": 500, "textarea": 10000}
LOCATION_KEYS = ("lat", "lng", "accuracy", "at")
NUMBER_DIGITS = 30  # a number field takes magnitudes up to 10^30 (and as many decimals down)


def message(code: str, lang: str = "zh", **values: Any) -> str:
    """A validation message in Chinese or English (the catalogs: ``engine.i18n``)."""
    return i18n.message("FORMS", code, lang, **values)


def as_posted(value: Any) -> list[str]:
    """A typed value as a browser would post it (the strings ``convert`` reads); a record (a location) as JSON."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    return [item if isinstance(item, str) else json.dumps(item, ensure_ascii=False) if isinstance(item, dict)
            else option_text(item) for item in items if item is not None]


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
    if kind == LOCATION_TYPE:
        return location(first, tz) if first != "" else None
    return first


def _coordinate(value: Any, low: float, high: float, code: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise InvalidValue(code)
    if not low <= value <= high:
        raise InvalidValue(code)
    return float(value)


def location(posted: str, tz: tzinfo | None) -> dict:
    """A position from browser geolocation, posted as JSON: ``{"lat": -90..90, "lng": -180..180, "accuracy": metres
    (optional, 0 or more), "at": ISO time (optional)}``. Stored with 7 decimals (about 1 cm) and the time with its
    offset; anything else is ``InvalidValue``."""
    try:
        value = json.loads(posted)
    except ValueError:
        raise InvalidValue("location") from None
    if not isinstance(value, dict) or "lat" not in value or "lng" not in value:
        raise InvalidValue("location")
    unknown = sorted(set(value) - set(LOCATION_KEYS))
    if unknown:
        raise InvalidValue("location_keys", keys=", ".join(str(k) for k in unknown))
    found: dict[str, Any] = {"lat": round(_coordinate(value["lat"], -90, 90, "location_lat"), 7),
                             "lng": round(_coordinate(value["lng"], -180, 180, "location_lng"), 7)}
    if value.get("accuracy") is not None:
        found["accuracy"] = round(_coordinate(value["accuracy"], 0, 10_000_000, "location_accuracy"), 1)
    if value.get("at") not in (None, ""):
        try:
            moment = datetime.fromisoformat(str(value["at"]))
        except ValueError:
            raise InvalidValue("location_at") from None
        if moment.tzinfo is None and tz is not None:
            moment = moment.replace(tzinfo=tz)
        if moment.tzinfo is None:
            raise InvalidValue("location_at")
        found["at"] = (moment.astimezone(tz) if tz is not None else moment).isoformat(timespec="seconds")
    return found


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


