"""What a task is about and what a case is called, declared with the process (issue 14): a form's ``subject``
template over the task's own data tells the parallel tasks of one case apart on the inbox cards and the task page
(研究采纳意见 names its opinion, 街道为部门评分 its street, 签收哨令 its department); a ``case_title`` template
names the case (the candidate, not the post; the year's evaluation by name). Bad templates stop the deployment
with the file, the line and the setting."""
from __future__ import annotations

import json
import re
import shutil

import pytest

from engine.errors import DeploymentInvalid
from engine.forms import templates
from engine.forms.checks import check_form
from webui import create_app

from process_helpers import PROCESSES, PROJECT, Org
from test_processes_consultation import complete, open_consultation
from test_processes_evaluation import start as start_evaluation
from test_processes_personnel import send_letter
from test_readable_pages import PASSWORD, assert_readable

LIAISON = "liaison-culture-tourism"
OPINIONS = {"wudadao": "海棠花节期间对睦南道实行错峰交通管制\n划定临时摊位区，规范商贩经营",
            "xiaobailou": "增加景区周边保洁频次"}


@pytest.fixture
def org(whistle) -> Org:
    whistle.import_users(PROCESSES / "demo-accounts.json")  # display names and the demo password
    return Org(whistle)


def sign_in(app, username: str):
    http = app.test_client()
    page = http.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    assert http.post("/login", data={"username": username, "password": PASSWORD, "csrf_token": token}).status_code == 302
    return http


def inbox_items(org: Org, user: str, name: str, case: int) -> list[dict]:
    return [t for view in ("mine", "group") for t in org.w.inbox(user, view)["tasks"]
            if t["name"] == name and t["instance_id"] == case]


# ---------------------------------------------------------------------------------------------------------
# Templates, and the deploy-time check


def test_a_template_names_data_by_dotted_paths_and_drops_what_is_empty():
    assert templates.paths("{opinion.street}：{opinion.text}（{opinion.street}）") == ["opinion.street", "opinion.text"]
    values = templates.values_of(["{opinion.street}：{opinion.text}"],
                                 {"opinion": {"street": "wudadao", "text": "  错峰交通管制 ", "id": "wudadao-1"}})
    assert values == {"opinion.street": "wudadao", "opinion.text": "错峰交通管制"}
    upper = lambda path, value: str(value).upper()  # noqa: E731
    assert templates.fill("{opinion.street}：{opinion.text}", values, upper) == "WUDADAO：错峰交通管制"
    assert templates.fill("{a}：{b}", {"b": "x"}, upper) == "X"  # no dangling colon in front
    assert templates.fill("{a}（{b}）", {"a": "王建平"}, upper) == "王建平"  # nor empty brackets
    assert templates.fill("{year} 年度街乡考核评价", {}, upper) == ""  # nothing to say: no title at all
    assert templates.values_of(["{text}"], {"text": "长" * 500})["text"].endswith("…")
    assert templates.values_of(["{a}"], {"a": {"nested": 1}}) is None  # records are named by their keys


@pytest.mark.parametrize("template,expected", [
    ("{opinion.street：{opinion.text}", "unbalanced braces"),
    ("{opinion street}", "is not a data name or a dotted path"),
    ("{}", "is not a data name"),
    ("{0}", "is not a data name"),
    ("{street!r}", "a hole names data only"),
    ("{score:>3}", "a hole names data only"),
    ("没有数据", "names no data"),
    ("", "is a text with data names in braces"),
    (["street"], "is a text with data names in braces"),
])
def test_a_bad_subject_names_the_file_the_line_and_the_setting(template, expected):
    form = {"key": "s", "title": "研究采纳意见", "subject": template,
            "fields": [{"name": "note", "label": "说明", "type": "textarea"}]}
    text = json.dumps(form, ensure_ascii=False, indent=2)
    checked, problems = check_form("forms/s.form.json", text)
    assert checked is None
    [problem] = problems
    assert expected in problem.message and problem.message.startswith("form: 'subject'")
    assert problem.file == "forms/s.form.json" and problem.element_id == "subject"
    assert text.splitlines()[problem.line - 1].strip().startswith('"subject"')


def test_case_title_is_a_list_of_names_or_a_template_and_subject_en_needs_subject():
    base = {"key": "t", "title": "发起", "fields": []}
    assert check_form("t.form.json", json.dumps(dict(base, case_title="{year} 年度街乡考核评价")))[1] == []
    assert check_form("t.form.json", json.dumps(dict(base, case_title=["title", "item_label"])))[1] == []
    _, problems = check_form("t.form.json", json.dumps(dict(base, case_title="{year!s} 年度"), ensure_ascii=False))
    assert [p.element_id for p in problems] == ["case_title"] and "a hole names data only" in problems[0].message
    _, problems = check_form("t.form.json", json.dumps(dict(base, case_title=3)))
    assert "'case_title' is a list of case data names or a template" in problems[0].message
    _, problems = check_form("t.form.json", json.dumps(dict(base, subject_en="{street}")))
    assert [p.element_id for p in problems] == ["subject_en"] and "declare the Chinese one too" in problems[0].message


def test_a_bad_subject_stops_the_deployment(whistle, tmp_path):
    folder = tmp_path / "processes" / "consultation"
    shutil.copytree(PROJECT / "processes" / "consultation", folder)
    path = folder / "forms" / "consultation-adoption.form.json"
    source = path.read_text(encoding="utf-8")
    assert '"subject": "{opinion.street}：{opinion.text}"' in source
    path.write_text(source.replace('"subject": "{opinion.street}：{opinion.text}"',
                                   '"subject": "{opinion.street}：{opinion.text"'), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder])
    [problem] = raised.value.problems
    assert problem.file.endswith("consultation-adoption.form.json") and problem.element_id == "subject"
    assert "form: 'subject': unbalanced braces" in problem.message
    assert path.read_text(encoding="utf-8").splitlines()[problem.line - 1].strip().startswith('"subject"')
    assert whistle.definitions() == []


# ---------------------------------------------------------------------------------------------------------
# Parallel tasks read apart


def test_each_adoption_card_names_its_opinion_and_each_feedback_its_street(org, tmp_path):
    case = open_consultation(org, ["wudadao", "nanyingmen", "xiaobailou"])
    replies = {r["subject"]["text"] for street in ("wudadao", "nanyingmen", "xiaobailou")
               for r in inbox_items(org, org.person(f"party-{street}"), "街道回复意见", case)}
    assert replies == {"五大道街", "南营门街", "小白楼街"}  # each street's reply task names the street
    [wudadao] = inbox_items(org, "party-wudadao", "街道回复意见", case)
    complete(org, "party-wudadao", wudadao, {"opinions": OPINIONS["wudadao"]})
    org.do("party-nanyingmen", "街道回复意见", {"no_opinion": True}, case)
    org.do("party-xiaobailou", "街道回复意见", {"opinions": OPINIONS["xiaobailou"]}, case)

    cards = inbox_items(org, org.person(LIAISON), "研究采纳意见", case)
    assert sorted(t["subject"]["text"] for t in cards) == [
        "五大道街：划定临时摊位区，规范商贩经营", "五大道街：海棠花节期间对睦南道实行错峰交通管制",
        "小白楼街：增加景区周边保洁频次"]
    first = next(t for t in cards if "错峰" in t["subject"]["text"])
    assert first["subject"]["values"] == {"opinion.street": "wudadao", "opinion.text": "海棠花节期间对睦南道实行错峰交通管制"}
    assert first["subject"]["text_en"].startswith("Wudadao") or first["subject"]["text_en"].startswith("五大道街")
    assert org.w.task_view(LIAISON, first["task_id"])["subject"]["text"] == first["subject"]["text"]

    # The pages say the same, with the values as the case page writes them.
    app = create_app({"ENGINE": org.w, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
    http = sign_in(app, LIAISON)
    inbox = http.get("/inbox?view=group").get_data(as_text=True)
    assert_readable(inbox, "zh", "the liaison's inbox")
    subjects = re.findall(r'<p class="asks task-subject"><strong>([^<]+)</strong></p>', inbox)
    assert sorted(subjects) == sorted(t["subject"]["text"] for t in cards)
    page = http.get(f"/tasks/{first['task_id']}").get_data(as_text=True)
    assert "<strong>五大道街：海棠花节期间对睦南道实行错峰交通管制</strong>" in page
    assert "<title>研究采纳意见 · 五大道街：海棠花节期间对睦南道实行错峰交通管制" in page
    assert "研究采纳意见（小白楼街：增加景区周边保洁频次）" in page  # the case's other open tasks, told apart too
    assert "研究采纳意见（五大道街：划定临时摊位区，规范商贩经营）" in inbox

    for card in cards:
        complete(org, LIAISON, card, {"adoption": "adopted"})
    feedback = inbox_items(org, LIAISON, "书面反馈街道", case)
    assert sorted(t["subject"]["text"] for t in feedback) == ["五大道街", "小白楼街"]


def test_scoring_and_result_tasks_name_their_street_and_department(org):
    case = start_evaluation(org, departments=("dept-police", "dept-fire"), streets=("wudadao", "nanshi"))
    scoring = [t for street in ("wudadao", "nanshi")
               for t in inbox_items(org, org.person(f"command-{street}"), "街道为部门评分", case)]
    assert sorted(t["subject"]["text"] for t in scoring) == ["五大道街", "南市街"]


def test_the_departments_called_sign_each_under_its_own_name(org):
    reporter = org.person("grid-worker-wudadao")
    case = org.w.start("whistle", user=reporter, data={
        "street": "wudadao", "community": "sanshengli", "situation": "building-repair-no-property",
        "location": "睦南道12号", "description": "楼顶漏水，消防设施损坏", "photos": ["att-1"], "reporter": reporter})
    org.do("command-wudadao", "指挥中心审核", {"decision": "whistle"}, case)
    responders = org.data(case)["responders"]
    assert len(responders) >= 1
    signs = {t["subject"]["values"]["department"]: t["subject"]["text"]
             for dept in responders for t in inbox_items(org, org.person(f"liaison-{dept.removeprefix('dept-')}"),
                                                        "签收哨令", case)}
    assert set(signs) == set(responders)
    assert all(not text.startswith("dept-") for text in signs.values())  # a department by its name


# ---------------------------------------------------------------------------------------------------------
# Titles that name the case


def test_titles_name_the_candidate_and_the_year(org):
    personnel = send_letter(org)
    evaluation = start_evaluation(org, year=2026)
    [reply] = inbox_items(org, org.person("party-wudadao"), "街道党工委研究复函", personnel)
    assert reply["case"]["title"] == "王建平（五大道市场监管所所长）"
    [scoring] = inbox_items(org, org.person("command-wudadao"), "街道为部门评分", evaluation)
    assert scoring["case"]["title"] == "2026 年度街乡考核评价"
