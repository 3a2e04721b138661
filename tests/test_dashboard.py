"""The whistle's dashboards (issue 18): on a generated stretch of the year, every number equals a direct count
over the accountability ledger and the cases (written here without the dashboards' code: ``ledger.obligations``
and the cases as ``show`` gives them), every number's link lists exactly that many cases, a street and a
department see only their own, and the tables export as CSV and XLSX. SQLite and PostgreSQL.
"""
from __future__ import annotations

import io
import math
import re
from collections import Counter
from datetime import date, datetime, timedelta

import openpyxl
import pytest

from engine.audit import ledger
from engine.casework.dashboard import DashboardQuery
from engine.casework.listing import CaseQuery
from engine.errors import Forbidden
from engine.queries.exports import XLSX_TYPE
from engine.store.models import ProcessInstance
from engine.time import clock, workdays
from webui import create_app

from process_helpers import Org

YEAR = 2026
COMMUNITY = {"wudadao": "sanshengli", "nanshi": "qingyouxili"}


class Year(Org):
    """Whistle cases of two streets with every ending: on time, late, never, handled by the street, rejected."""

    def report(self, situation: str, street: str, **extra) -> int:
        reporter = self.person(f"grid-worker-{street}")
        data = {"street": street, "community": COMMUNITY[street], "situation": situation, "location": "某路1号",
                "description": "居民反映的问题", "photos": [], "reporter": reporter, **extra}
        return self.w.start("whistle", data=data, user=reporter)

    def arrive(self, dept: str, case: int) -> None:
        self.do(f"liaison-{dept}", "签收哨令", {"signed_by": "值班员"}, case)
        self.do(f"liaison-{dept}", "到场报到", {"acted": True, "action": "到场处置"}, case)


@pytest.fixture
def year(whistle, manual_clock) -> Year:
    org = Year(whistle)
    for name in ("supervisor", "org-officer", "command-wudadao", "command-nanshi", "liaison-housing",
                 "liaison-fire", "grid-worker-nanshi", "resident-a"):
        org.person(name)
    w, clock = whistle, manual_clock
    # 1. wudadao: two departments on time, the lead handles, accepted, rated 5.
    a = org.report("building-repair-no-property", "wudadao", resident="resident-a")
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, a)
    clock.advance(timedelta(minutes=40))
    org.arrive("housing", a)
    clock.advance(timedelta(hours=2))
    org.arrive("fire", a)
    org.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复"}, a)
    org.do("command-wudadao", "街道核验", {"verification": "accepted"}, a)
    org.do("resident-a", "居民评价", {"satisfaction": 5}, a)
    # 2. nanshi, red: housing reports on time, fire late (after its deadline), rated 3.
    b = org.report("building-repair-no-property", "nanshi", resident="resident-a")
    org.do("command-nanshi", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, b)
    clock.advance(timedelta(minutes=10))
    org.arrive("housing", b)
    clock.advance(timedelta(minutes=45))
    w.fire_due_jobs()
    org.arrive("fire", b)
    org.do("liaison-housing", "牵头部门处置", {"handling_result": "已修复"}, b)
    org.do("command-nanshi", "街道核验", {"verification": "accepted"}, b)
    org.do("resident-a", "居民评价", {"satisfaction": 3, "feedback_comment": "慢"}, b)
    # 3. wudadao: handled by the street itself, rated 2; 4. nanshi: rejected; 5. wudadao: not reviewed yet.
    c = org.report("street-lighting", "wudadao", resident="resident-a")
    org.do("command-wudadao", "指挥中心审核", {"decision": "self"}, c)
    org.do("command-wudadao", "街道自行处置", {"handling_result": "已更换灯泡"}, c)
    org.do("resident-a", "居民评价", {"satisfaction": 2, "feedback_comment": "慢"}, c)
    d = org.report("garbage-dumping", "nanshi")
    org.do("command-nanshi", "指挥中心审核", {"decision": "reject", "reject_reason": "重复上报"}, d)
    org.report("street-lighting", "wudadao")
    # A month later: 6. wudadao red whistle nobody reports to (overdue now, still open).
    clock.advance(timedelta(days=35))
    f = org.report("building-repair-no-property", "wudadao")
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle", "tier_override": "red"}, f)
    org.do("liaison-housing", "签收哨令", {"signed_by": "值班员"}, f)
    clock.advance(timedelta(minutes=50))
    w.fire_due_jobs()
    return org


def _direct(w) -> dict:
    """The numbers counted straight from the ledger and the cases, as the evaluation reads them."""
    zone = workdays.timezone()
    start, end = datetime(YEAR, 1, 1, tzinfo=zone), datetime(YEAR + 1, 1, 1, tzinfo=zone)
    with w.db.read() as session:
        ids = [i for (i,) in session.query(ProcessInstance.id).filter(
            ProcessInstance.process_id == "whistle", ProcessInstance.started_at >= start,
            ProcessInstance.started_at < end)]
        cutoff = clock.now()
        found = ledger.obligations(session, cutoff, process_id="whistle", started_from=start, started_before=end)
        open_tasks = {o["task_id"] for i in ids for o in ledger.open_of_case(session, i)}
    cases = {i: w.show(i) for i in ids}
    return {"cases": cases, "obligations": found, "open": open_tasks, "cutoff": cutoff}


def _by_party(obligations, party, kind=None, states=None) -> set[int]:
    return {o.instance_id for o in obligations if o.party == party and (kind is None or o.kind == kind)
            and (states is None or o.state in states)}


def _p90_minutes(values: list[float]) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return round(values[max(0, math.ceil(0.9 * len(values)) - 1)] / 60, 1)


def _rows(figures: dict, table: str, key: str) -> dict:
    return {r[key]: r for r in figures["tables"][table]}


def test_every_number_equals_a_direct_count_and_links_to_its_cases(year):
    w = year.w
    figures = w.dashboard("supervisor", DashboardQuery.of(year=YEAR))
    direct = _direct(w)
    cases, obligations = direct["cases"], direct["obligations"]
    zone = workdays.timezone()
    assert figures["totals"]["cases"] == len(cases) == 6

    def counter(value_of) -> dict:
        return dict(Counter(value_of(c) for c in cases.values() if value_of(c)))

    for table, value_of in (
            ("by_tier", lambda c: c["data"].get("tier") or None),
            ("by_status", lambda c: c["status"]),
            ("by_street", lambda c: c["data"].get("street")),
            ("by_category", lambda c: c["data"].get("situation_category") or None),
            ("by_month", lambda c: datetime.fromisoformat(c["started_at"]).astimezone(zone).strftime("%Y-%m"))):
        shown = {r["value"]: r["cases"] for r in figures["tables"][table] if r["value"] is not None}
        assert shown == counter(value_of), table
    assert set(_rows(figures, "by_month", "value")) == {"2026-09", "2026-11"}

    whistled = {o.instance_id for o in obligations}
    streets = _rows(figures, "streets", "street")
    for street in ("wudadao", "nanshi"):
        of = [i for i, c in cases.items() if c["data"]["street"] == street]
        assert streets[street]["cases"] == len(of)
        assert streets[street]["whistles"] == len(set(of) & whistled)
        assert streets[street]["rate"] == round(len(set(of) & whistled) / len(of), 4)
        assert streets[street]["band"] == "样本不足"  # fewer than street_min_cases (5) in evaluation-weights.dmn

    departments = _rows(figures, "departments", "department")
    parties = sorted({o.party for o in obligations if o.party})
    assert sorted(departments) == parties and {"dept-housing", "dept-fire"} <= set(parties)
    decided = (ledger.DONE_ON_TIME, ledger.DONE_LATE, ledger.OVERDUE)
    for party in parties:
        row = departments[party]
        mine = {i for i in _by_party(obligations, party)}
        assert row["sign_on_time"] == len(_by_party(obligations, party, "sign", (ledger.DONE_ON_TIME,)))
        assert row["sign_decided"] == len(_by_party(obligations, party, "sign", decided))
        assert row["on_site_on_time"] == len(_by_party(obligations, party, "on_site", (ledger.DONE_ON_TIME,)))
        assert row["on_site_decided"] == len(_by_party(obligations, party, "on_site", decided))
        led = _by_party(obligations, party, "handle")
        assert row["led"] == len(led)
        assert row["resolved"] == sum(1 for i in led if cases[i]["status"] == "completed"
                                      and cases[i]["data"].get("verification") == "accepted")
        ratings = [cases[i]["data"]["satisfaction"] for i in mine
                   if cases[i]["status"] == "completed" and isinstance(cases[i]["data"].get("satisfaction"), int)]
        assert row["rated"] == len(ratings) and row["satisfied"] == sum(1 for r in ratings if r >= 4)
        assert row["missed"] == len(_by_party(obligations, party, None, (ledger.DONE_LATE, ledger.OVERDUE)))
        assert row["overdue_now"] == len({o.instance_id for o in obligations if o.party == party
                                          and o.state == ledger.OVERDUE and o.task_id in direct["open"]})
        for kind in ("sign", "on_site"):
            took = [(o.done_at - o.assigned_at).total_seconds() for o in obligations
                    if o.party == party and o.kind == kind and o.done_at is not None]
            assert row[f"{kind}_p90_minutes"] == _p90_minutes(took)
            assert row[f"{kind}_average_minutes"] == (round(sum(took) / len(took) / 60, 1) if took else None)
    housing, fire = departments["dept-housing"], departments["dept-fire"]
    assert (housing["on_site_on_time"], housing["on_site_decided"]) == (2, 3)  # case 6: never came
    assert (fire["on_site_on_time"], fire["on_site_decided"], fire["missed"]) == (1, 3, 2)
    assert housing["overdue_now"] == 1 and figures["totals"]["overdue_now"] == 1
    # case 2 is still running (the late department is supervised): neither resolved nor rated yet
    assert housing["resolution_rate"] == 0.5 and housing["satisfaction_rate"] == 1.0
    assert [r["department"] for r in figures["tables"]["late"]][:1] in (["dept-fire"], ["dept-housing"])

    # Every number lists exactly its cases in the case list.
    checked = 0
    for table, rows in figures["tables"].items():
        for row in rows:
            for column, args in row["links"].items():
                listed = w.case_list("supervisor", CaseQuery.from_args(args), limit=100)["total"]
                assert listed == row[column], (table, column, args)
                checked += 1
    assert checked > 40
    for column, args in figures["totals"]["links"].items():
        assert w.case_list("supervisor", CaseQuery.from_args(args), limit=100)["total"] == figures["totals"][column]


def test_a_street_and_a_department_see_only_their_own(year):
    w = year.w
    street = w.dashboard("command-nanshi", DashboardQuery.of(year=YEAR))
    assert street["viewer"] == "street" and street["street"] == "nanshi"
    assert {r["value"] for r in street["tables"]["by_street"]} == {"nanshi"}
    assert street["totals"]["cases"] == 2
    with pytest.raises(Forbidden, match="nanshi"):
        w.dashboard("command-nanshi", DashboardQuery.of(year=YEAR, street="wudadao"))
    dept = w.dashboard("liaison-housing", DashboardQuery.of(year=YEAR))
    assert dept["viewer"] == "department" and dept["department"] == "dept-housing"
    assert [r["department"] for r in dept["tables"]["departments"]] == ["dept-housing"]
    assert dept["totals"]["cases"] == 3  # the cases it was called to
    with pytest.raises(Forbidden, match="dept-housing"):
        w.dashboard("liaison-housing", DashboardQuery.of(year=YEAR, department="dept-fire"))
    with pytest.raises(Forbidden, match="dashboards"):
        w.dashboard("grid-worker-nanshi", DashboardQuery.of(year=YEAR))
    # The organisation department sees the district, and the cases behind the numbers.
    org = w.dashboard("org-officer", DashboardQuery.of(year=YEAR))
    assert org["viewer"] == "district" and org["totals"]["cases"] == 6
    assert w.case_list("org-officer", CaseQuery.from_args(org["totals"]["links"]["cases"]))["total"] == 6


def test_the_tables_export_as_xlsx_and_csv_with_chinese_headers_and_real_dates(year):
    w = year.w
    book = openpyxl.load_workbook(io.BytesIO(w.dashboard_export("supervisor", DashboardQuery.of(year=YEAR), "xlsx")))
    assert "按月份 by month" in book.sheetnames and "部门履职 departments" in book.sheetnames
    months = book["按月份 by month"]
    assert [c.value for c in months[1]] == ["月份 month", "案件数 cases"]
    assert [c.value for c in months["A"][1:]] == [datetime(2026, 9, 1), datetime(2026, 11, 1)]
    assert months["A2"].is_date and months["A2"].number_format == "yyyy-mm"
    departments = book["部门履职 departments"]
    headers = [c.value for c in departments[1]]
    assert headers[0] == "部门 department" and "响应率（按时到场率） response rate" in headers
    assert "区住建委" in "".join(str(c.value) for c in departments["A"][1:])  # departments by their names
    csv_text = w.dashboard_export("supervisor", DashboardQuery.of(year=YEAR), "csv", ("streets",)).decode("utf-8")
    assert csv_text.startswith("\ufeff街道 street,上报案件 cases")
    with pytest.raises(Forbidden):
        w.dashboard_export("grid-worker-nanshi", DashboardQuery.of(year=YEAR), "xlsx")
    assert date(2026, 1, 1) == DashboardQuery.of(year=YEAR).start


def test_the_page_shows_each_reader_their_own_and_downloads_the_tables(year):
    from test_web_pages import Client

    w = year.w
    for name, groups in (("boss-sup", ["district-supervision"]), ("nanshi-cc", ["street-nanshi-command"]),
                         ("housing-lo", ["dept-housing"]), ("gridder", ["grid-nanshi"])):
        w.add_user(name, groups, password="s3cret-pw")
    app = create_app({"ENGINE": w, "TESTING": True})
    supervisor = Client(app, "boss-sup")
    page = supervisor.get("/dashboard?year=2026")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "数据看板" in html and "全区" in html
    assert 'data-chart="departments"' in html and "build/dashboard.js" in html
    assert re.search(r'href="/cases\?[^"]*obligation=on_site[^"]*outcome=on_time', html.replace("&amp;", "&"))
    street = Client(app, "nanshi-cc").get("/dashboard").get_data(as_text=True)
    assert 'data-department="dept-housing"' in street and "五大道" not in street.split("dash-grid")[1]
    assert Client(app, "nanshi-cc").get("/dashboard?street=wudadao").status_code == 403
    department = Client(app, "housing-lo").get("/dashboard").get_data(as_text=True)
    assert re.findall(r'data-department="([^"]+)"', department) == ["dept-housing"]
    assert Client(app, "housing-lo").get("/dashboard?department=dept-fire").status_code == 403
    assert Client(app, "gridder").get("/dashboard").status_code == 403
    assert 'href="/dashboard"' not in Client(app, "gridder").get("/inbox").get_data(as_text=True)
    xlsx = supervisor.get("/dashboard/export?format=xlsx&table=departments&year=2026")
    assert xlsx.status_code == 200 and xlsx.mimetype == XLSX_TYPE
    assert "filename*=UTF-8''" in xlsx.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(xlsx.data)).sheetnames == ["部门履职 departments"]
    csv_file = supervisor.get("/dashboard/export?format=csv&table=by_month&year=2026")
    assert csv_file.data.decode("utf-8").splitlines()[1:] == ["2026-09,5", "2026-11,1"]
    assert supervisor.get("/dashboard/export?format=pdf").status_code in (400, 422)


def test_whistle_report_writes_the_workbook_and_one_table_as_csv(year, db_url, tmp_path, capsys):
    from cli.main import run as cli_run

    out = tmp_path / "whistle.xlsx"
    assert cli_run(["--db", db_url, "report", "whistle", "--year", "2026", "--format", "xlsx", "--out", str(out),
                    "--json"]) == 0
    book = openpyxl.load_workbook(out)
    assert len(book.sheetnames) == 9 and book["街道吹哨率 whistle rate"]["A1"].value == "街道 street"
    streets = [row[0].value for row in book["街道吹哨率 whistle rate"].iter_rows(min_row=2)]
    assert sorted(streets) == ["五大道街", "南市街"]
    csv_out = tmp_path / "nanshi.csv"
    assert cli_run(["--db", db_url, "report", "whistle", "--year", "2026", "--street", "nanshi", "--format", "csv",
                    "--table", "by_street", "--out", str(csv_out)]) == 0
    assert csv_out.read_text(encoding="utf-8-sig").splitlines() == ["街道 street,案件数 cases", "南市街,2"]
    capsys.readouterr()
    assert cli_run(["--db", db_url, "report", "whistle", "--year", "2026", "--street", "wudadao", "--user",
                    "command-nanshi", "--format", "csv", "--out", str(csv_out)]) != 0


def test_the_definition_view_counts_what_waits_at_each_element_and_links_to_it(year):
    from test_web_pages import Client

    w = year.w
    w.add_user("admin-x", ["admins"], password="s3cret-pw")
    number = w.versions_of("whistle", None)["versions"][0]["version"]
    counts = w.element_counts("whistle", number, "admin-x")["elements"]
    now = clock.now()
    waiting: dict[str, set] = {}
    overdue: dict[str, set] = {}
    for case in (w.show(i) for i in _direct(w)["cases"]):
        for task in case["open_tasks"]:
            waiting.setdefault(task["element_id"], set()).add(case["instance_id"])
            if task.get("due_at") and datetime.fromisoformat(task["due_at"]) < now:
                overdue.setdefault(task["element_id"], set()).add(case["instance_id"])
        for timer in case["timers"]:
            waiting.setdefault(timer["element_id"], set()).add(case["instance_id"])
    assert {k: v["waiting"] for k, v in counts.items() if v["waiting"]} == {k: len(v) for k, v in waiting.items()}
    assert {k: v["overdue"] for k, v in counts.items() if v["overdue"]} == {k: len(v) for k, v in overdue.items()}
    assert overdue  # case 6: the on-site report is overdue
    with pytest.raises(Forbidden):
        w.element_counts("whistle", number, "command-nanshi")
    client = Client(create_app({"ENGINE": w, "TESTING": True}), "admin-x")
    page = client.get(f"/definitions/whistle/versions/{number}/view").get_data(as_text=True)
    links = re.findall(r'<tr data-element="([^"]+)"><td>[^<]*</td>\s*<td><a href="([^"]+)" data-figure="waiting">(\d+)</a>', page)
    assert {e: int(n) for e, _href, n in links} == {k: len(v) for k, v in waiting.items()}
    for _element, href, n in links:
        listed = client.get(href.replace("&amp;", "&")).get_data(as_text=True)
        assert f'data-total="{n}"' in listed, href
    data = client.get(f"/definitions/whistle/versions/{number}/view.json").json
    assert data["xml"].startswith("<?xml") and data["elements"] == counts
