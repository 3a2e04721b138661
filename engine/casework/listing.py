"""The query of a list page — the inbox (``InboxQuery``) and the case list (``CaseQuery``): which parameters
each takes and what values they may have, checked here once for the pages, the REST API and the command line.
A parameter not listed, or a value out of its set, is refused with ``InvalidInput`` naming the parameter; an
empty value is no filter (a GET form sends its empty selects). ``args()`` gives the query back as URL
parameters, so a link keeps the filters; the page number is the caller's (``webui.inputs.page_number``)."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from datetime import date, datetime, timedelta

from engine.errors import InvalidInput
from engine.time import workdays

INBOX_VIEWS = ("mine", "group", "done")
TIERS = ("red", "yellow", "blue")
DEADLINES = ("overdue", "today", "week", "none")
INBOX_SORTS = ("deadline", "newest", "oldest")  # deadline: due time first, none last (the open tabs' default)
# A case's status, and ``with_incident``: an incident of it not resolved yet (whatever its status).
CASE_STATUSES = ("running", "suspended", "completed", "terminated", "cancelled", "with_incident")
CASE_SORTS = ("newest", "oldest", "deadline")  # deadline: the case's earliest open due time first
TEXT_LENGTH = 100
# Process ids, street ids (wudadao) and department groups (dept-housing): a name, never SQL or markup.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")

# URL parameter -> field, for each list (the URL keeps the short names the pages have always used).
_INBOX_PARAMS = {"view": "view", "process": "process_id", "tier": "tier", "street": "street",
                 "department": "department", "deadline": "deadline", "from": "created_from", "to": "created_to",
                 "sort": "sort", "q": "text"}
_CASE_PARAMS = {"process": "process_id", "version": "version", "status": "status", "business_key": "business_key",
                "waiting_at": "waiting_at", "street": "street", "department": "department", "overdue": "overdue",
                "from": "started_from", "to": "started_to", "sort": "sort", "q": "text",
                # what a dashboard number links with (engine.casework.dashboard; the facts of ADR 13)
                "tier": "tier", "category": "category", "whistled": "whistled", "resolved": "resolved",
                "rated": "rated", "satisfied": "satisfied", "obligation": "obligation", "outcome": "outcome"}
# An obligation's outcome (engine.store.facts.OUTCOMES): on time, late, never done, open, done, decided (one of
# the three), missed (late or never), any, open past its due time now.
OUTCOMES = ("on_time", "late", "never", "open", "done", "decided", "missed", "any", "overdue_now")
CATEGORY_LENGTH = 64
FLAGS = ("overdue", "whistled", "resolved", "rated", "satisfied")
KEY_LENGTH = 255  # the width of process_instance.business_key


def _choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise InvalidInput(f"query parameter '{name}' must be one of {', '.join(allowed)}, got '{value[:40]}'")
    return value


def _name(name: str, value: str) -> str:
    if not _NAME.fullmatch(value):
        raise InvalidInput(f"query parameter '{name}' must be an id (letters, digits, '-', '_', '.'; at most 128), "
                           f"got '{value[:40]}'")
    return value


def _date(name: str, value: str) -> date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            raise ValueError
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"query parameter '{name}' must be a date YYYY-MM-DD, got '{value[:40]}'") from None


def _text(name: str, value: str) -> str | None:
    value = value.strip()
    if len(value) > TEXT_LENGTH:
        raise InvalidInput(f"query parameter '{name}' must be at most {TEXT_LENGTH} characters")
    return value or None


def _flag(name: str, value: str) -> bool:
    if value in ("1", "true", "yes"):
        return True
    if value in ("0", "false", "no"):
        return False
    raise InvalidInput(f"query parameter '{name}' must be 1 or 0, got '{value[:40]}'")


def _known(args: Mapping[str, str], params: dict[str, str]) -> dict[str, str]:
    """The non-empty parameters, each one of ``params``."""
    found = {}
    for name, value in args.items():
        if name not in params:
            raise InvalidInput(f"unknown query parameter '{name[:40]}' (use {', '.join(params)})")
        if not isinstance(value, str):
            raise InvalidInput(f"query parameter '{name}' must be text")
        if value.strip():
            found[name] = value.strip()
    return found


def day_range(start: date | None, end: date | None, name: str = "from") -> tuple[datetime | None, datetime | None]:
    """[start of ``start``, start of the day after ``end``) in the calendars' time zone (a day as clerks mean it)."""
    if start and end and start > end:
        raise InvalidInput(f"query parameter '{name}' ({start.isoformat()}) is after 'to' ({end.isoformat()})")
    zone = workdays.timezone()
    low = datetime(start.year, start.month, start.day, tzinfo=zone) if start else None
    high = datetime(end.year, end.month, end.day, tzinfo=zone) + timedelta(days=1) if end else None
    return low, high


def _url_args(query: object, params: dict[str, str]) -> dict[str, str]:
    values = asdict(query)  # type: ignore[call-overload]
    out = {}
    for name, attribute in params.items():
        value = values[attribute]
        if value is None or value is False:
            continue
        out[name] = "1" if value is True else value.isoformat() if isinstance(value, date) else str(value)
    return out


@dataclass(frozen=True)
class InboxQuery:
    """The inbox's tab, filters and order. ``view`` None: the tab that holds work (``Worklist.inbox``);
    ``sort`` None: by deadline on the open tabs, newest first on ``done``."""

    view: str | None = None
    process_id: str | None = None
    tier: str | None = None
    street: str | None = None
    department: str | None = None
    deadline: str | None = None
    created_from: date | None = None
    created_to: date | None = None
    sort: str | None = None
    text: str | None = None

    def __post_init__(self) -> None:
        if self.view is not None:
            _choice("view", self.view, INBOX_VIEWS)
        for name, value, allowed in (("tier", self.tier, TIERS), ("deadline", self.deadline, DEADLINES),
                                     ("sort", self.sort, INBOX_SORTS)):
            if value is not None:
                _choice(name, value, allowed)
        for name, value in (("process", self.process_id), ("street", self.street), ("department", self.department)):
            if value is not None:
                _name(name, value)
        if self.text is not None and len(self.text) > TEXT_LENGTH:
            raise InvalidInput(f"query parameter 'q' must be at most {TEXT_LENGTH} characters")
        day_range(self.created_from, self.created_to)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> InboxQuery:
        """The query of these URL parameters (``view process tier street department deadline from to sort q``)."""
        given = _known(args, _INBOX_PARAMS)
        values: dict[str, object] = {}
        for name, value in given.items():
            attribute = _INBOX_PARAMS[name]
            if name in ("from", "to"):
                values[attribute] = _date(name, value)
            elif name == "q":
                values[attribute] = _text(name, value)
            else:
                values[attribute] = value
        return cls(**values)  # type: ignore[arg-type]

    def args(self) -> dict[str, str]:
        """The query as URL parameters (what ``from_args`` reads back)."""
        return _url_args(self, _INBOX_PARAMS)

    @property
    def filtered(self) -> bool:
        """Does any filter narrow the tab (the tab and the order are not filters)?"""
        return any(getattr(self, f.name) is not None for f in fields(self) if f.name not in ("view", "sort"))


def _positive(name: str, value: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]{0,8}", value):
        raise InvalidInput(f"query parameter '{name}' must be a whole number from 1, got '{value[:40]}'")
    return int(value)


@dataclass(frozen=True)
class CaseQuery:
    """The case list's filters and order (``sort`` None: newest first): the staff case list and an
    administrator's search of every case (``engine.management.case_admin``). ``version`` is a version number (of
    ``process_id`` when given); ``waiting_at`` an element id an open task, a timer or a message subscription of the
    case waits at; ``business_key`` matches exactly. The dashboards link with the rest (ADR 13): ``tier``,
    ``category`` (the call situation's), ``whistled`` (a department was called), ``resolved`` (the street accepted
    the result), ``rated`` / ``satisfied`` (a resident's rating / of 4 or 5), and ``obligation`` (a kind of the
    ledger: sign, on_site, handle) with ``outcome`` (``OUTCOMES``), of the ``department`` when one is given."""

    process_id: str | None = None
    version: int | None = None
    status: str | None = None
    business_key: str | None = None
    waiting_at: str | None = None
    street: str | None = None
    department: str | None = None
    overdue: bool = False
    started_from: date | None = None
    started_to: date | None = None
    sort: str | None = None
    text: str | None = None
    tier: str | None = None
    category: str | None = None
    whistled: bool = False
    resolved: bool = False
    rated: bool = False
    satisfied: bool = False
    obligation: str | None = None
    outcome: str | None = None

    def __post_init__(self) -> None:
        if self.tier is not None:
            _choice("tier", self.tier, TIERS)
        if self.outcome is not None:
            _choice("outcome", self.outcome, OUTCOMES)
        if self.obligation is not None:
            _name("obligation", self.obligation)
        if self.category is not None and (len(self.category) > CATEGORY_LENGTH or "\x00" in self.category):
            raise InvalidInput(f"query parameter 'category' must be at most {CATEGORY_LENGTH} characters")
        if self.status is not None:
            _choice("status", self.status, CASE_STATUSES)
        if self.sort is not None:
            _choice("sort", self.sort, CASE_SORTS)
        for name, value in (("process", self.process_id), ("street", self.street), ("department", self.department),
                            ("waiting_at", self.waiting_at)):
            if value is not None:
                _name(name, value)
        if self.version is not None and (isinstance(self.version, bool) or not isinstance(self.version, int)
                                         or not 1 <= self.version < 10**9):
            raise InvalidInput(f"query parameter 'version' must be a whole number from 1, got '{self.version}'")
        if self.business_key is not None and (len(self.business_key) > KEY_LENGTH or "\x00" in self.business_key):
            raise InvalidInput(f"query parameter 'business_key' must be at most {KEY_LENGTH} characters")
        if self.text is not None and len(self.text) > TEXT_LENGTH:
            raise InvalidInput(f"query parameter 'q' must be at most {TEXT_LENGTH} characters")
        day_range(self.started_from, self.started_to)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CaseQuery:
        """The query of these URL parameters (``process version status business_key waiting_at street department
        overdue from to sort q``)."""
        given = _known(args, _CASE_PARAMS)
        values: dict[str, object] = {}
        for name, value in given.items():
            attribute = _CASE_PARAMS[name]
            if name in ("from", "to"):
                values[attribute] = _date(name, value)
            elif name == "q":
                values[attribute] = _text(name, value)
            elif name in FLAGS:
                values[attribute] = _flag(name, value)
            elif name == "version":
                values[attribute] = _positive(name, value)
            else:
                values[attribute] = value
        return cls(**values)  # type: ignore[arg-type]

    def args(self) -> dict[str, str]:
        return _url_args(self, _CASE_PARAMS)

    @property
    def filtered(self) -> bool:
        return any(getattr(self, f.name) not in (None, False) for f in fields(self) if f.name != "sort")


_STREET_GROUP = re.compile(r"street-(?P<street>.+)-command")
_ROLE_NOTE = re.compile(r"\s*[（(][^）)]*[）)]\s*$")  # "公安和平分局（联络员）" -> "公安和平分局"


def scope_options(from_forms: dict[str, dict[str, tuple[str, str | None]]],
                  group_labels: dict[str, str]) -> dict[str, dict[str, tuple[str, str | None]]]:
    """The streets and departments the filters offer: those the forms label (``VersionFacts.scope_options``),
    then those the account groups name (``street-<id>-command``, ``dept-<id>``, labelled by the group without
    its role note), each sorted by value as the forms list them first."""
    found = {kind: dict(values) for kind, values in from_forms.items()}
    streets, departments = found.setdefault("streets", {}), found.setdefault("departments", {})
    for name, label in sorted(group_labels.items()):
        match = _STREET_GROUP.fullmatch(name)
        if match and match.group("street") not in streets:
            streets[match.group("street")] = (_ROLE_NOTE.sub("", label.replace("指挥中心", "")) or name, None)
        elif name.startswith("dept-") and not name.endswith("-party") and name not in departments:
            departments[name] = (_ROLE_NOTE.sub("", label) or name, None)
    return found
