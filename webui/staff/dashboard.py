"""The whistle's dashboards (数据看板): the engine's figures (``Whistle.dashboard``) as charts (Apache ECharts,
bundled from npm into ``webui/static/build/dashboard.js``) with a table beside each, every number a link to its
cases on the case list, and each table as CSV or XLSX. Who sees which street or department is the engine's
rule (``engine.casework.dashboard``); the page only shows what it answers."""
from __future__ import annotations

from flask import render_template, request, url_for

from engine.casework.dashboard import TABLE_COLUMNS, TABLES, DashboardQuery
from engine.errors import InvalidInput
from engine.time import clock
from webui.downloads import download
from webui.i18n import gettext as _
from webui.staff.frame import engine, login_required, pages, signed_in_user
from webui.staff.listing import refused, scope_labels

STATUS = {"running": "办理中", "suspended": "已挂起", "completed": "已办结", "terminated": "已终止",
          "cancelled": "已取消"}
TIER = {"red": "红色", "yellow": "黄色", "blue": "蓝色"}
BAND_CLASS = {"偏低": "band-low", "适中": "band-ok", "偏高": "band-high", "样本不足": "band-few"}


def _query() -> DashboardQuery:
    args = {k: v for k, v in request.args.items() if k in ("year", "from", "to", "street", "department")}
    return DashboardQuery.from_args(args)


def _href(args: dict | None) -> str | None:
    return url_for("pages.cases", **args) if args else None


@pages.get("/dashboard")
@login_required
def dashboard() -> str | tuple[str, int]:
    user = signed_in_user()
    w = engine()
    try:
        figures = w.dashboard(user["username"], _query())
    except InvalidInput as exc:
        return refused(exc)
    scopes = scope_labels(w.scope_options())
    names = {**scopes["streets"], **scopes["departments"]}

    def label(table: str, value: object) -> str:
        if value is None:
            return _("未填")
        text = str(value)
        if table == "by_status":
            return _(STATUS.get(text, text))
        if table == "by_tier":
            return _(TIER.get(text, text))
        return names.get(text, text)

    charts = _charts(figures, label)
    return render_template("dashboard.html", figures=figures, t=figures["tables"], charts=charts, label=label,
                           href=_href, scopes=scopes, names=names, band_class=BAND_CLASS, tables=TABLES,
                           titles={k: v[0] for k, v in TABLE_COLUMNS.items()},
                           this_year=clock.now().year, query=figures["query"])


def _series(name: str, rows: list[dict], key: str, percent: bool = False, link: str | None = None) -> dict:
    data = [None if r.get(key) is None else round(r[key] * 100, 1) if percent else r[key] for r in rows]
    return {"name": name, "data": data, "links": [_href(r["links"].get(link or key)) for r in rows]}


def _charts(figures: dict, label) -> dict:
    t = figures["tables"]
    charts: dict[str, dict] = {}
    for table in ("by_tier", "by_status", "by_street", "by_category", "by_month"):
        rows = t[table]
        charts[table] = {"labels": [label(table, r["value"]) for r in rows], "kind": "line" if table == "by_month"
                         else "bar", "series": [_series(_("案件数"), rows, "cases")]}
    streets = t["streets"]
    charts["streets"] = {"labels": [label("by_street", r["street"]) for r in streets], "percent": True,
                         "series": [_series(_("吹哨率"), streets, "rate", True, "whistles")]}
    depts = t["departments"]
    charts["departments"] = {"labels": [label("departments", r["department"]) for r in depts], "percent": True,
                             "series": [_series(_("按时签收率"), depts, "sign_rate", True, "sign_on_time"),
                                        _series(_("响应率"), depts, "on_site_rate", True, "on_site_on_time"),
                                        _series(_("解决率"), depts, "resolution_rate", True, "resolved"),
                                        _series(_("满意率"), depts, "satisfaction_rate", True, "satisfied")]}
    charts["overdue"] = {"labels": [label("overdue", r["department"]) for r in t["overdue"]],
                         "series": [_series(_("超期案件"), t["overdue"], "overdue_now")]}
    charts["late"] = {"labels": [label("late", r["department"]) for r in t["late"]],
                      "series": [_series(_("迟到或未到"), t["late"], "missed")]}
    return charts


@pages.get("/dashboard/export")
@login_required
def dashboard_export():
    """A table of the dashboards (``table``; none: all, as one workbook) as ``format`` csv or xlsx."""
    user = signed_in_user()
    fmt = request.args.get("format", "xlsx")
    table = request.args.get("table") or None
    args = {k: v for k, v in request.args.items() if k in ("year", "from", "to", "street", "department")}
    if table is not None and table not in TABLES:
        raise InvalidInput(f"no dashboard table '{table[:40]}' (use {', '.join(TABLES)})")
    data = engine().dashboard_export(user["username"], DashboardQuery.from_args(args), fmt, (table,) if table else None)
    return download(data, f"吹哨报到数据看板-{table or 'all'}", fmt)
