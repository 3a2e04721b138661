"""The whistle's dashboards (数据看板, issue 18): cases by tier, status, street, category and month; 吹哨率 per
street with its band; per department the on-time sign and on-site rates (响应率), the resolution rate (解决率),
satisfaction (满意率), average and p90 time to sign and to site; what is overdue now; the departments most often
late. Every number comes with the case-list filters (``CaseQuery``) that list its cases.

Who sees what is decided here (ADR 9's audiences): district supervision, the organisation department and
administrators see the district; a street's command centre (``street-<id>-command``) its own street; a
department (``dept-<id>``) its own department — another street or department is ``Forbidden``. The numbers are
grouped reads of the aggregates the engine keeps (``engine.store.facts``, ADR 13), never of case JSON.
"""
from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

from engine.casework.audiences import DISTRICT_GROUPS
from engine.casework.listing import day_range
from engine.casework.people import account_groups
from engine.dmn.literals import rule_outputs
from engine.errors import Forbidden, InvalidInput
from engine.queries.exports import Column, Sheet
from engine.store import casework as stored_casework
from engine.store import definitions as stored_definitions
from engine.store import facts
from engine.store.db import Database
from engine.time import clock, workdays

PROCESS = "whistle"
BAND_DECISION = "evaluation_weights"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}")
_STREET_COMMAND = re.compile(r"street-(?P<street>[A-Za-z0-9_.-]+)-command")
KINDS = ("sign", "on_site", "handle")
OUTCOMES = ("on_time", "late", "never", "decided", "done", "missed", "any", "overdue_now")
TABLES = ("by_tier", "by_status", "by_street", "by_category", "by_month", "streets", "departments", "overdue",
          "late")


@dataclass(frozen=True)
class DashboardQuery:
    """The period (``start``..``end``, days inclusive; a year by default) and the street and department."""

    start: date
    end: date
    street: str | None = None
    department: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> DashboardQuery:
        """From URL parameters ``year``, ``from``, ``to``, ``street``, ``department`` (``year`` or the dates;
        neither: this year)."""
        unknown = set(args) - {"year", "from", "to", "street", "department"}
        if unknown:
            raise InvalidInput(f"unknown query parameter '{sorted(unknown)[0][:40]}' (use year, from, to, street, "
                               f"department)")
        values = {k: str(v).strip() for k, v in args.items() if str(v).strip()}
        return cls.of(year=values.get("year"), start=values.get("from"), end=values.get("to"),
                      street=values.get("street"), department=values.get("department"))

    @classmethod
    def of(cls, *, year: object = None, start: object = None, end: object = None, street: str | None = None,
           department: str | None = None) -> DashboardQuery:
        if year is not None and not isinstance(year, int):
            if not re.fullmatch(r"\d{4}", str(year)):
                raise InvalidInput(f"year must be a year such as 2026, got '{str(year)[:20]}'")
            year = int(str(year))
        if year is None and start is None and end is None:
            year = clock.now().astimezone(workdays.timezone()).year
        low = _day("from", start) if start is not None else date(int(year), 1, 1) if year else None
        high = _day("to", end) if end is not None else date(int(year), 12, 31) if year else None
        if low is None or high is None:
            raise InvalidInput("give a year, or both 'from' and 'to'")
        day_range(low, high)
        for name, value in (("street", street), ("department", department)):
            if value is not None and not _NAME.fullmatch(value):
                raise InvalidInput(f"query parameter '{name}' must be an id, got '{value[:40]}'")
        return cls(low, high, street or None, department or None)

    def args(self) -> dict[str, str]:
        found = {"from": self.start.isoformat(), "to": self.end.isoformat()}
        if self.street:
            found["street"] = self.street
        if self.department:
            found["department"] = self.department
        return found


def _day(name: str, value: object) -> date:
    if isinstance(value, date):
        return value
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", str(value)):
            raise ValueError
        return date.fromisoformat(str(value))
    except ValueError:
        raise InvalidInput(f"query parameter '{name}' must be a date YYYY-MM-DD, got '{str(value)[:40]}'") from None


@dataclass(frozen=True)
class Viewer:
    """What a reader of the dashboards may see: ``district``, or one ``street`` or ``department``."""

    level: str
    streets: tuple[str, ...] = ()
    departments: tuple[str, ...] = ()


def viewer_of(groups: set[str]) -> Viewer | None:
    """The dashboards' audience of an account's groups; None: it may not see them."""
    if groups & DISTRICT_GROUPS:
        return Viewer("district")
    departments = tuple(sorted(g for g in groups if g.startswith("dept-") and not g.endswith("-party")))
    if departments:
        return Viewer("department", departments=departments)
    streets = tuple(sorted(m.group("street") for g in groups if (m := _STREET_COMMAND.fullmatch(g))))
    if streets:
        return Viewer("street", streets=streets)
    return None


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60, 1)


class Dashboards:
    """The figures of the whistle's dashboards for one reader."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def viewer(self, actor: str | None) -> Viewer | None:
        """``None`` is the operator at the command line (``whistle report``), who sees the district."""
        if actor is None:
            return Viewer("district")
        with self.db.read() as session:
            return viewer_of(account_groups(session, actor))

    def scoped(self, actor: str | None, query: DashboardQuery) -> tuple[Viewer, DashboardQuery]:
        """The query as ``actor`` may run it: a street's or department's own filled in, another refused."""
        viewer = self.viewer(actor)
        if viewer is None:
            raise Forbidden(f"user '{actor}' may not see the dashboards (district supervision, the organisation "
                            f"department, administrators, a street's command centre or a department)")
        if viewer.level == "street":
            if query.street is None:
                query = replace(query, street=viewer.streets[0])
            elif query.street not in viewer.streets:
                raise Forbidden(f"user '{actor}' may see the dashboards of street {', '.join(viewer.streets)} "
                                f"only, not '{query.street}'")
        if viewer.level == "department":
            if query.department is None:
                query = replace(query, department=viewer.departments[0])
            elif query.department not in viewer.departments:
                raise Forbidden(f"user '{actor}' may see the dashboards of {', '.join(viewer.departments)} only, "
                                f"not '{query.department}'")
        return viewer, query

    def figures(self, actor: str | None, query: DashboardQuery) -> dict:
        """Every table of the dashboards under ``query`` as ``actor`` may see it: ``tables`` {name: {"rows"}},
        each row with ``links`` {column: case-list URL parameters}; ``totals``; ``band`` (吹哨率's)."""
        viewer, query = self.scoped(actor, query)
        low, high = day_range(query.start, query.end)
        scope = facts.Scope(PROCESS, low, high, query.street, query.department)
        base = {"process": PROCESS, **query.args()}
        now = clock.now()
        with self.db.read() as session:
            band = self._band(session, query.start.year)
            tables: dict[str, list[dict]] = {}
            for name, dimension in (("by_tier", "tier"), ("by_status", "status"), ("by_street", "street"),
                                    ("by_category", "category"), ("by_month", "month")):
                tables[name] = self._case_rows(session, scope, dimension, base, query)
            tables["streets"] = self._street_rows(session, scope, base, band)
            departments = self._department_rows(session, scope, now, base, query)
            tables["departments"] = departments
            counts = {r["department"]: (int(r["missed"]), int(r["called"])) for r in departments}
            tables["overdue"] = sorted(
                ({"department": r["department"], "overdue_now": r["overdue_now"],
                  "links": {"overdue_now": r["links"]["overdue_now"]}} for r in departments if r["overdue_now"]),
                key=lambda r: (-r["overdue_now"], r["department"]))
            tables["late"] = sorted(
                ({"department": r["department"], "missed": r["missed"], "called": r["called"],
                  "missed_share": _share(*counts[r["department"]]),
                  "links": {"missed": r["links"]["missed"], "called": r["links"]["called"]}}
                 for r in departments if r["missed"]),
                key=lambda r: (-r["missed"], r["department"]))[:10]
            totals = {"cases": facts.scope_total(session, scope, now),
                      "overdue_now": facts.scope_total(session, scope, now, overdue=True)}
        links = {"cases": base, "overdue_now": {**base, "outcome": "overdue_now"}}
        return {"query": query.args(), "viewer": viewer.level, "street": query.street,
                "department": query.department, "band": band, "cutoff": now.isoformat(), "tables": tables,
                "totals": {**totals, "links": links}}

    # -- the tables -----------------------------------------------------------------------------------------

    def _case_rows(self, session: Any, scope: facts.Scope, dimension: str, base: dict,
                   query: DashboardQuery) -> list[dict]:
        rows = []
        for value, count in facts.case_counts(session, scope, dimension):
            link: dict | None = None
            if value is not None:
                link = {**base, **self._dimension_args(dimension, str(value), query)}
            rows.append({"value": value, "cases": count, "links": {"cases": link} if link else {}})
        return rows

    @staticmethod
    def _dimension_args(dimension: str, value: str, query: DashboardQuery) -> dict[str, str]:
        if dimension != "month":
            return {dimension: value}
        year, month = int(value[:4]), int(value[5:7])
        first, last = date(year, month, 1), date(year, month, calendar.monthrange(year, month)[1])
        return {"from": max(first, query.start).isoformat(), "to": min(last, query.end).isoformat()}

    def _band(self, session: Any, year: int) -> dict:
        """吹哨率's band from the deployed ``evaluation-weights.dmn`` (None values when it is not deployed)."""
        version = stored_definitions.latest_version(session, BAND_DECISION, kind="decision")
        outputs = {}
        if version is not None:
            xml = stored_casework.own_source(session, version)
            outputs = rule_outputs(xml, BAND_DECISION, year) if xml else {}
        return {"low": outputs.get("whistle_rate_low"), "high": outputs.get("whistle_rate_high"),
                "min_cases": outputs.get("street_min_cases")}

    @staticmethod
    def band_of(cases: int, rate: float | None, band: dict) -> str | None:
        """偏低 / 适中 / 偏高 / 样本不足, as the evaluation says it (``evaluation.bpmn``)."""
        low, high, least = band.get("low"), band.get("high"), band.get("min_cases")
        if low is None or high is None or least is None:
            return None
        if cases < least or rate is None:
            return "样本不足"
        if rate < low:
            return "偏低"
        if rate > high:
            return "偏高"
        return "适中"

    def _street_rows(self, session: Any, scope: facts.Scope, base: dict, band: dict) -> list[dict]:
        rows = []
        for street, cases, whistled in facts.street_rates(session, scope):
            rate = _share(whistled, cases)
            links = {"cases": {**base, "street": street}, "whistles": {**base, "street": street, "whistled": "1"}} \
                if street else {}
            rows.append({"street": street, "cases": cases, "whistles": whistled, "rate": rate,
                         "band": self.band_of(cases, rate, band), "links": links})
        return rows

    def _department_rows(self, session: Any, scope: facts.Scope, now: Any, base: dict,
                         query: DashboardQuery) -> list[dict]:
        counts = facts.obligation_counts(session, scope, now, OUTCOMES)
        p90 = facts.seconds_p90(session, scope, now, ("sign", "on_site"))
        leads = facts.resolved_leads(session, scope)
        parties = sorted({party for party, _kind in counts if party.startswith("dept-")})
        if query.department:
            parties = [p for p in parties if p == query.department]
        ratings = facts.rating_counts(session, scope, parties)
        rows = []
        for party in parties:
            of = {kind: counts.get((party, kind), {}) for kind in (*KINDS, "")}
            sign, on_site, every = of["sign"], of["on_site"], of[""]
            led, resolved = leads.get(party, (0, 0))
            rated, rating_sum, satisfied = ratings.get(party, (0, 0, 0))
            dept = {**base, "department": party}

            def link(kind: str | None, outcome: str, dept: dict = dept) -> dict:
                return {**dept, **({"obligation": kind} if kind else {}), "outcome": outcome}

            row: dict[str, Any] = {"department": party,
                   "sign_on_time": sign.get("on_time", 0), "sign_decided": sign.get("decided", 0),
                   "on_site_on_time": on_site.get("on_time", 0), "on_site_decided": on_site.get("decided", 0),
                   "led": led, "resolved": resolved, "rated": rated, "satisfied": satisfied,
                   "called": every.get("any", 0), "missed": every.get("missed", 0),
                   "overdue_now": every.get("overdue_now", 0),
                   "average_rating": round(rating_sum / rated, 2) if rated else None,
                   "sign_average_minutes": _minutes(sign["seconds"] / sign["done_count"])
                   if sign.get("done_count") else None,
                   "sign_p90_minutes": _minutes(p90.get((party, "sign"))),
                   "on_site_average_minutes": _minutes(on_site["seconds"] / on_site["done_count"])
                   if on_site.get("done_count") else None,
                   "on_site_p90_minutes": _minutes(p90.get((party, "on_site"))),
                   "links": {"sign_on_time": link("sign", "on_time"), "sign_decided": link("sign", "decided"),
                             "on_site_on_time": link("on_site", "on_time"),
                             "on_site_decided": link("on_site", "decided"), "led": link("handle", "any"),
                             "resolved": {**link("handle", "any"), "resolved": "1"},
                             "rated": {**dept, "rated": "1"}, "satisfied": {**dept, "satisfied": "1"},
                             "called": link(None, "any"), "missed": link(None, "missed"),
                             "overdue_now": link(None, "overdue_now")}}
            row["sign_rate"] = _share(sign.get("on_time", 0), sign.get("decided", 0))
            row["on_site_rate"] = _share(on_site.get("on_time", 0), on_site.get("decided", 0))
            row["resolution_rate"] = _share(resolved, led)
            row["satisfaction_rate"] = _share(satisfied, rated)
            rows.append(row)
        return rows


# -- the tables as files ------------------------------------------------------------------------------------------

def _c(key: str, zh: str, en: str, kind: str = "text") -> Column:
    return Column(key, f"{zh} {en}", kind)


TABLE_COLUMNS: dict[str, tuple[str, tuple[Column, ...]]] = {
    "by_tier": ("按响应级别 by tier", (_c("value", "响应级别", "tier"), _c("cases", "案件数", "cases", "int"))),
    "by_status": ("按状态 by status", (_c("value", "状态", "status"), _c("cases", "案件数", "cases", "int"))),
    "by_street": ("按街道 by street", (_c("value", "街道", "street"), _c("cases", "案件数", "cases", "int"))),
    "by_category": ("按情形类别 by category", (_c("value", "情形类别", "category"),
                                          _c("cases", "案件数", "cases", "int"))),
    "by_month": ("按月份 by month", (_c("value", "月份", "month", "month"), _c("cases", "案件数", "cases", "int"))),
    "streets": ("街道吹哨率 whistle rate", (
        _c("street", "街道", "street"), _c("cases", "上报案件", "cases", "int"),
        _c("whistles", "吹哨案件", "whistles", "int"), _c("rate", "吹哨率", "whistle rate", "rate"),
        _c("band", "区间", "band"))),
    "departments": ("部门履职 departments", (
        _c("department", "部门", "department"),
        _c("sign_on_time", "按时签收", "signed on time", "int"), _c("sign_decided", "应签收", "to sign", "int"),
        _c("sign_rate", "按时签收率", "on-time sign rate", "rate"),
        _c("on_site_on_time", "按时到场", "on site in time", "int"),
        _c("on_site_decided", "应到场", "to be on site", "int"),
        _c("on_site_rate", "响应率（按时到场率）", "response rate", "rate"),
        _c("led", "牵头案件", "cases led", "int"), _c("resolved", "已解决", "resolved", "int"),
        _c("resolution_rate", "解决率", "resolution rate", "rate"),
        _c("rated", "已评价", "rated", "int"), _c("satisfied", "满意（4–5分）", "satisfied", "int"),
        _c("satisfaction_rate", "满意率", "satisfaction rate", "rate"),
        _c("average_rating", "平均评分", "average rating", "number"),
        _c("sign_average_minutes", "平均签收用时（分钟）", "average minutes to sign", "number"),
        _c("sign_p90_minutes", "签收用时P90（分钟）", "p90 minutes to sign", "number"),
        _c("on_site_average_minutes", "平均到场用时（分钟）", "average minutes to site", "number"),
        _c("on_site_p90_minutes", "到场用时P90（分钟）", "p90 minutes to site", "number"),
        _c("overdue_now", "当前超期", "overdue now", "int"))),
    "overdue": ("当前超期 overdue now", (_c("department", "部门", "department"),
                                     _c("overdue_now", "超期案件", "overdue cases", "int"))),
    "late": ("迟到最多的部门 most often late", (
        _c("department", "部门", "department"), _c("missed", "迟到或未到", "late or never", "int"),
        _c("called", "被吹哨", "called", "int"), _c("missed_share", "占比", "share", "rate"))),
}


def sheets(figures: dict, names: tuple[str, ...] | None = None, labels: Mapping[str, str] | None = None) -> list[Sheet]:
    """The dashboards' tables as sheets for ``engine.queries.exports``; ``labels`` names streets and departments."""
    labels = labels or {}
    found = []
    for name in names or TABLES:
        if name not in TABLE_COLUMNS:
            raise InvalidInput(f"no dashboard table '{name[:40]}' (use {', '.join(TABLES)})")
        title, columns = TABLE_COLUMNS[name]
        rows = [{k: (labels.get(v, v) if k in ("street", "department") or (k == "value" and name in (
            "by_street",)) else v) for k, v in row.items()} for row in figures["tables"][name]]
        found.append(Sheet(title, columns, rows))
    return found
