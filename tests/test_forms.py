"""Task forms as data (engine.forms): checked at deploy, stored and versioned with their process, validated
on submission; and the engine queries the pages use (who may start, the inbox, drafts, diagram states)."""
from __future__ import annotations

import importlib.util
import json
import re
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from lxml import etree

from engine.errors import DeploymentInvalid, Forbidden
from engine.forms.checks import check_form
from engine.forms.labels import case_labels
from engine.forms.rows import cell_key
from engine.forms.validation import prefill, validate

PROJECT = Path(__file__).parent.parent
WHISTLE_DIR = PROJECT / "processes" / "whistle"
FORMS_DIR = WHISTLE_DIR / "forms"
DEMO = json.loads((PROJECT / "processes" / "demo-accounts.json").read_text(encoding="utf-8"))
GROUPS_OF = {u["username"]: u["groups"] for u in DEMO["users"]}
BPMN = "{http://www.omg.org/spec/BPMN/20100524/MODEL}"
CAMUNDA = "{http://camunda.org/schema/1.0/bpmn}"

REVIEW = {
    "key": "review", "title": "审核",
    "fields": [
        {"name": "decision", "label": "结论", "type": "radio", "required": True,
         "options": [{"value": "ok", "label": "通过"}, {"value": "reject", "label": "驳回"}]},
        {"name": "reason", "label": "理由", "type": "textarea", "visible_when": {"field": "decision", "equals": "reject"}},
        {"name": "deduction", "label": "扣分", "type": "number", "min": 0, "max": 10},
        {"name": "deduction_reason", "label": "扣分原因", "type": "text"},
        {"name": "count", "label": "人数", "type": "number", "integer": True},
        {"name": "when", "label": "时间", "type": "datetime"},
        {"name": "day", "label": "日期", "type": "date"},
        {"name": "urgent", "label": "紧急", "type": "checkbox"},
        {"name": "depts", "label": "部门", "type": "select", "multiple": True,
         "options": [{"value": "dept-a", "label": "甲"}, {"value": "dept-b", "label": "乙"}]},
        {"name": "kind", "label": "类别", "type": "select", "label_to": "kind_name",
         "options": [{"value": "k1", "label": "第一类"}]},
        {"name": "score", "label": "满意度", "type": "radio",
         "options": [{"value": 5, "label": "满意"}, {"value": 1, "label": "不满意"}]},
        {"name": "ok", "label": "到场", "type": "radio", "options": [{"value": True, "label": "是"},
                                                                     {"value": False, "label": "否"}]},
        {"name": "reporter", "type": "hidden", "prefill": "user"},
        {"name": "street", "label": "街道", "type": "text", "prefill": {"groups": ["grid-{}", "street-{}-command"]}},
    ],
    "rules": [
        {"when": {"field": "decision", "equals": "reject"}, "require": ["reason"], "message": "驳回必须填写理由"},
        {"when": {"field": "deduction", "gt": 0}, "require": ["deduction_reason"], "message": "扣分必须填写原因",
         "message_en": "A deduction needs a reason"},
        {"when": {"data": "locked", "equals": True}, "check": {"field": "urgent", "equals": False}, "field": "urgent",
         "message": "已锁定的案件不能标为紧急"},
    ],
}


def submit(**values) -> dict[str, list[str]]:
    return {k: v if isinstance(v, list) else [v] for k, v in values.items()}


# ---------------------------------------------------------------------------------------------------------
# Checking and validating (no database)

def test_a_good_form_passes_the_deploy_check():
    form, problems = check_form("review.form.json", json.dumps(REVIEW, ensure_ascii=False))
    assert problems == [] and form["key"] == "review"


@pytest.mark.parametrize("change, expected", [
    (lambda f: f["fields"].append({"name": "x", "label": "X", "type": "colour"}), "unknown type 'colour'"),
    (lambda f: f["fields"].append({"name": "y", "type": "text"}), "field 'y' needs a label"),
    (lambda f: f["fields"].append({"name": "z", "label": "Z", "type": "select"}), "a select needs options"),
    (lambda f: f["fields"].append(dict(f["fields"][0])), "field 'decision' is defined twice"),
    (lambda f: f["fields"][1].update(visible_when={"field": "nope", "equals": 1}), "'nope' is not a field"),
    (lambda f: f["rules"].append({"when": {"field": "decision", "equals": "ok"}, "require": ["ghost"],
                                  "message": "x"}), "requires 'ghost'"),
    (lambda f: f["rules"].append({"when": {"field": "decision", "equals": "ok"}, "require": ["reason"]}),
     "needs a message"),
    (lambda f: f.update(key="other"), "differs from the file name"),
    (lambda f: f.update(colour="red"), "unknown setting 'colour'"),
    (lambda f: f["fields"][0].update(required="yes"), "'required' is true or false"),
    (lambda f: f["fields"].append({"name": "h", "type": "hidden"}), "needs a prefill or a default"),
])
def test_form_problems_name_the_file_line_and_field(change, expected):
    form = json.loads(json.dumps(REVIEW))
    change(form)
    text = json.dumps(form, ensure_ascii=False, indent=2)
    checked, problems = check_form("forms/review.form.json", text)
    assert checked is None
    assert any(expected in p.message for p in problems), problems
    assert all(p.file == "forms/review.form.json" for p in problems)


def test_invalid_json_is_reported_with_its_line():
    _, [problem] = check_form("x.form.json", '{\n  "key": "x",\n  "title": "X"\n  "fields": []\n}')
    assert problem.line == 4 and "not valid JSON" in problem.message


def test_validation_types_values_and_keeps_messages_per_field():
    data, errors = validate(REVIEW, submit(decision="ok", deduction="3", deduction_reason="迟到", count="12",
                                                 when="2026-09-28T09:30", day="2026-09-28", urgent="true",
                                                 depts=["dept-b", "dept-a"], kind="k1", score="5", ok="false",
                                                 reporter="someone-else", street="overwritten?"),
                                  username="li.wei", groups=["street-wudadao-command"], tz=_zone())
    assert errors == {}
    assert data == {"decision": "ok", "deduction": 3, "deduction_reason": "迟到", "count": 12,
                    "when": "2026-09-28T09:30+08:00", "day": "2026-09-28", "urgent": True,
                    "depts": ["dept-b", "dept-a"], "kind": "k1", "kind_name": "第一类", "score": 5, "ok": False,
                    "reporter": "li.wei", "street": "overwritten?"}


def _zone():
    from engine.time.workdays import timezone

    return timezone()


def test_validation_messages():
    _, errors = validate(REVIEW, submit(decision="", deduction="11", count="1.5", day="28/9", kind="k9"))
    assert errors == {"decision": "请选择一项", "deduction": "不能大于 10", "count": "请输入整数",
                      "day": "请输入日期（年-月-日）", "kind": "所选内容不在可选范围内",
                      "deduction_reason": "扣分必须填写原因"}
    _, errors = validate(REVIEW, submit(decision="reject", deduction="2"))
    assert errors == {"reason": "驳回必须填写理由", "deduction_reason": "扣分必须填写原因"}
    _, errors = validate(REVIEW, submit(decision="ok", deduction="2"), lang="en")
    assert errors == {"deduction_reason": "A deduction needs a reason"}
    _, errors = validate(REVIEW, submit(decision="ok", deduction="abc"), lang="en")
    assert errors == {"deduction": "Enter a number"}
    _, errors = validate(REVIEW, submit(decision="ok", urgent="true"), context={"locked": True})
    assert errors == {"urgent": "已锁定的案件不能标为紧急"}


def test_hidden_fields_are_not_submitted_and_empty_choices_leave_case_data_alone():
    data, errors = validate(REVIEW, submit(decision="ok", reason="stale text from before"))
    assert errors == {} and "reason" not in data  # invisible: not required, not sent
    assert "kind" not in data and "deduction" not in data and "day" not in data  # empty: nothing overwritten
    assert data["urgent"] is False and data["depts"] == []


def test_prefill_takes_the_street_from_the_users_group():
    values = prefill(REVIEW, "w", ["residents", "grid-wudadao"])
    assert values == {"reporter": "w", "street": "wudadao"}
    assert prefill(REVIEW, "c", ["street-nanshi-command"])["street"] == "nanshi"


# ---------------------------------------------------------------------------------------------------------
# The whistle forms

def test_every_form_key_of_the_whistle_process_has_a_form_with_chinese_labels():
    root = etree.parse(str(WHISTLE_DIR / "whistle.bpmn")).getroot()
    keys = {e.get(f"{CAMUNDA}formKey") for e in root.iter() if isinstance(e.tag, str) and e.get(f"{CAMUNDA}formKey")}
    assert keys == {p.name[: -len(".form.json")] for p in FORMS_DIR.glob("*.form.json")}
    for path in FORMS_DIR.glob("*.form.json"):
        form, problems = check_form(str(path), path.read_text(encoding="utf-8"))
        assert problems == [], problems
        assert re.search(r"[\u4e00-\u9fff]", form["title"])
        for field in form["fields"]:
            if field["type"] != "hidden":
                assert re.search(r"[\u4e00-\u9fff]", field["label"]), (path.name, field["name"])
    process = root.find(f"{BPMN}process")
    assert process.get(f"{CAMUNDA}candidateStarterGroups") == "grid-*,street-*-command"


def test_whistle_form_options_follow_the_catalogs():
    spec = importlib.util.spec_from_file_location("whistle_forms", PROJECT / "processes" / "tools" / "whistle_forms.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.main(["--check"]) == 0
    report = json.loads((FORMS_DIR / "whistle-report.form.json").read_text(encoding="utf-8"))
    situations = next(f for f in report["fields"] if f["name"] == "situation")["options"]
    assert len(situations) == 44 and situations[-1]["value"] == "other"


# ---------------------------------------------------------------------------------------------------------
# Deployed and versioned with the process (SQLite and PostgreSQL)

def _copy(tmp_path: Path) -> Path:
    target = tmp_path / "processes" / "whistle"
    shutil.copytree(WHISTLE_DIR, target)
    return target


def test_forms_are_stored_with_the_version_and_a_changed_form_makes_a_new_version(whistle, tmp_path):
    folder = _copy(tmp_path)
    assert {d.key: d.status for d in whistle.deploy([folder])}["whistle"] == "new"
    whistle.add_user("grid-worker-wudadao", GROUPS_OF["grid-worker-wudadao"])
    whistle.add_user("command-wudadao", GROUPS_OF["command-wudadao"])
    old = whistle.start_case("whistle", "grid-worker-wudadao", {"street": "wudadao", "situation": "garbage-dumping",
                                                                "location": "x", "description": "xxxxx",
                                                                 "reporter": "grid-worker-wudadao"})
    # Deploying the BPMN file alone keeps the forms: nothing changed.
    alone = {d.key: d.status for d in whistle.deploy([folder / "whistle.bpmn", folder / "tier-deadlines.dmn",
                                                      folder / "situation-routing.dmn"])}
    assert alone["whistle"] == "unchanged"
    review = folder / "forms" / "whistle-review.form.json"
    review.write_text(review.read_text(encoding="utf-8").replace("指挥中心审核", "吹哨办审核"), encoding="utf-8")
    deployed = {d.key: (d.version, d.status) for d in whistle.deploy([folder])}
    assert deployed == {"whistle": (2, "new"), "tier_deadlines": (1, "unchanged"),
                        "situation_routing": (1, "unchanged")}
    new = whistle.start_case("whistle", "grid-worker-wudadao", {"street": "wudadao", "situation": "garbage-dumping",
                                                                "location": "x", "description": "xxxxx",
                                                                 "reporter": "grid-worker-wudadao"})
    titles = {}
    for task in whistle.inbox("command-wudadao", "group")["tasks"]:
        titles[task["instance_id"]] = whistle.form(task["form_key"], task_id=task["task_id"])["title"]
    assert titles == {old: "指挥中心审核", new: "吹哨办审核"}  # a running case keeps its version's form
    assert whistle.form("whistle-review", instance_id=old)["title"] == "指挥中心审核"
    assert whistle.form("no-such-form", instance_id=old) is None


def test_bad_or_unused_forms_stop_the_deployment(whistle, tmp_path):
    folder = _copy(tmp_path)
    (folder / "forms" / "whistle-sign.form.json").write_text('{"key": "whistle-sign",\n "title": }', encoding="utf-8")
    (folder / "forms" / "nobody-uses-me.form.json").write_text('{"title": "无人使用", "fields": []}', encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder])
    problems = [str(p) for p in raised.value.problems]
    assert any("whistle-sign.form.json:2" in p and "not valid JSON" in p for p in problems), problems
    assert whistle.definitions() == []
    (folder / "forms" / "whistle-sign.form.json").write_text(
        (WHISTLE_DIR / "forms" / "whistle-sign.form.json").read_text(encoding="utf-8"), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder])
    assert "no process deployed with it has formKey 'nobody-uses-me'" in str(raised.value.problems[0])


# ---------------------------------------------------------------------------------------------------------
# Engine queries behind the pages

def test_who_may_start_what(whistle, fixtures):
    whistle.deploy([WHISTLE_DIR, fixtures / "review.bpmn"])
    for username in ("grid-worker-nanshi", "command-xinxing", "liaison-police", "admin"):
        whistle.add_user(username, GROUPS_OF[username])
    assert [p["process_id"] for p in whistle.startable("grid-worker-nanshi")] == ["whistle"]
    assert whistle.startable("command-xinxing")[0]["form_key"] == "whistle-report"
    assert whistle.startable("liaison-police") == [] and whistle.startable("admin") == []
    with pytest.raises(Forbidden):
        whistle.start_case("whistle", "liaison-police", {"street": "wudadao"})


def test_inbox_views_and_drafts(whistle, manual_clock):
    whistle.deploy([WHISTLE_DIR])
    for username in ("grid-worker-wudadao", "command-wudadao", "liaison-fire"):
        whistle.add_user(username, GROUPS_OF[username])
    case = whistle.start_case("whistle", "grid-worker-wudadao", {"street": "wudadao", "situation": "open-burning",
                                                                 "location": "x", "description": "xxxxx",
                                                                 "reporter": "grid-worker-wudadao"})
    [review] = whistle.inbox("command-wudadao", "group")["tasks"]
    assert review["case"]["instance_id"] == case and review["deadline"] is None
    whistle.save_draft(review["task_id"], "command-wudadao", {"values": {"decision": ["whistle"]}})
    assert whistle.draft(review["task_id"], "command-wudadao")["data"] == {"values": {"decision": ["whistle"]}}
    whistle.claim(review["task_id"], "command-wudadao")
    assert whistle.inbox("command-wudadao", "group")["tasks"] == []
    assert [t["task_id"] for t in whistle.inbox("command-wudadao", "mine")["tasks"]] == [review["task_id"]]
    whistle.complete_task(review["task_id"], "command-wudadao", {"decision": "whistle"})
    assert whistle.draft(review["task_id"], "command-wudadao") is None
    [done] = whistle.inbox("command-wudadao", "done")["tasks"]
    assert done["status"] == "completed" and done["completed_by"] == "command-wudadao"
    tasks = whistle.inbox("liaison-fire", "group")["tasks"]
    assert {t["name"] for t in tasks} == {"签收哨令", "到场报到"}
    sign = next(t for t in tasks if t["name"] == "签收哨令")
    assert sign["deadline"] == {"state": "blue", "seconds": 15 * 60}
    assert sign["next_timer"]["name"] == "报到提醒"
    manual_clock.advance(timedelta(minutes=12))
    sign = next(t for t in whistle.inbox("liaison-fire", "group")["tasks"] if t["name"] == "签收哨令")
    assert sign["deadline"]["state"] == "red"
    manual_clock.advance(timedelta(minutes=4))
    assert [t["name"] for t in whistle.inbox("liaison-fire", "group", deadline="overdue")["tasks"]] == ["签收哨令"]
    manual_clock.advance(timedelta(minutes=5))  # 21 minutes: the red reminder (PT20M) is due
    whistle.fire_due_jobs()
    states = whistle.element_states(case)
    assert states["remind_timer"]["state"] == "done" and states["remind_pending"]["state"] == "done"
    assert states["onsite_timer"]["state"] == "timer" and states["sign_order"]["state"] == "active"


def test_a_closed_case_is_done_everywhere(whistle):
    whistle.deploy([WHISTLE_DIR])
    for username in ("grid-worker-wudadao", "command-wudadao"):
        whistle.add_user(username, GROUPS_OF[username])
    case = whistle.start_case("whistle", "grid-worker-wudadao", {"street": "wudadao", "situation": "garbage-dumping",
                                                                 "location": "x", "description": "xxxxx",
                                                                 "reporter": "grid-worker-wudadao"})
    [review] = whistle.inbox("command-wudadao", "group")["tasks"]
    whistle.complete_task(review["task_id"], "command-wudadao", {"decision": "reject", "reject_reason": "重复"})
    [notice] = whistle.inbox("grid-worker-wudadao", "group")["tasks"]
    whistle.complete_task(notice["task_id"], "grid-worker-wudadao", {})
    states = whistle.element_states(case)
    assert set(states) == {"start_report", "register_case", "command_review", "gw_review", "record_rejection",
                           "notify_rejection", "end_rejected"}
    assert {s["state"] for s in states.values()} == {"done"}


# ---------------------------------------------------------------------------------------------------------
# Repeating rows (dynamiclist): the scoring sheet's shape

SHEET = {
    "key": "sheet", "title": "评分",
    "fields": [
        {"name": "note", "label": "说明", "type": "text"},
        {"name": "scores", "label": "扣分明细", "type": "dynamiclist", "max_rows": 3, "unique": ["department"],
         "components": [
             {"name": "department", "label": "部门", "label_en": "Department", "type": "select", "required": True,
              "options": [{"value": "dept-a", "label": "甲"}, {"value": "dept-b", "label": "乙"},
                          {"value": "dept-c", "label": "丙"}, {"value": "dept-d", "label": "丁"}]},
             {"name": "score", "label": "分数", "label_en": "Score", "type": "number", "required": True,
              "min": 0, "max": 100},
             {"name": "reason", "label": "扣分原因", "type": "textarea", "max_length": 20},
             {"name": "evidence", "label": "佐证", "type": "text", "visible_when": {"field": "score", "lt": 60}},
         ],
         "rules": [{"when": {"field": "score", "lt": 100}, "require": ["reason"], "message": "扣分需要填写理由",
                    "message_en": "a deduction needs a reason"}]},
    ],
    "rules": [{"when": {"field": "note", "filled": True}, "require": ["scores"], "message": "有说明时须列出部门"}],
}


def rows(*given: dict, start: int = 0) -> dict[str, list[str]]:
    """Rows as a browser posts them: scores[i][column]."""
    return {cell_key("scores", start + i, column): [value] for i, row in enumerate(given)
            for column, value in row.items()}


def test_a_dynamiclist_passes_the_deploy_check_and_reads_form_js_spelling():
    form, problems = check_form("sheet.form.json", json.dumps(SHEET, ensure_ascii=False))
    assert problems == [] and form["fields"][1]["type"] == "dynamiclist"
    # As the form-js editor writes it: path, components with key/textfield/values/validate, layout and ids.
    drawn = {"key": "drawn", "title": "评分", "fields": [{
        "type": "dynamiclist", "path": "scores", "label": "扣分明细", "id": "Field_1", "isRepeating": True,
        "allowAddRemove": True, "defaultRepetitions": 2, "showOutline": True, "layout": {"row": "Row_1"},
        "components": [
            {"type": "select", "key": "department", "label": "部门", "id": "Field_2", "validate": {"required": True},
             "values": [{"label": "甲", "value": "dept-a"}]},
            {"type": "textfield", "key": "reason", "label": "扣分原因", "validate": {"maxLength": 50}}]}]}
    form, problems = check_form("drawn.form.json", json.dumps(drawn, ensure_ascii=False))
    assert problems == []
    [field] = form["fields"]
    assert field["name"] == "scores"
    assert [(c["name"], c["type"], c.get("required"), c.get("max_length")) for c in field["components"]] == [
        ("department", "select", True, None), ("reason", "text", None, 50)]
    data, errors = validate(form, {"scores[0][department]": ["dept-a"], "scores[0][reason]": ["x"]})
    assert errors == {} and data == {"scores": [{"department": "dept-a", "reason": "x"}]}


def test_good_rows_are_typed_in_order_and_blank_rows_dropped():
    posted = {**rows({"department": "dept-b", "score": "90", "reason": "迟到"}),
              **rows({"department": "", "score": "", "reason": " "}, start=4),  # a blank row left on the page
              **rows({"department": "dept-a", "score": "100"}, start=12),
              **rows({"department": "dept-c", "score": "40", "reason": "未到场", "evidence": "照片"}, start=7)}
    data, errors = validate(SHEET, posted)
    assert errors == {}
    assert data["scores"] == [  # rows in the order of their numbers, gaps closed; hidden columns left out
        {"department": "dept-b", "score": 90, "reason": "迟到"},
        {"department": "dept-c", "score": 40, "reason": "未到场", "evidence": "照片"},
        {"department": "dept-a", "score": 100, "reason": ""}]
    # The same rows as JSON (a list of dicts under the list's name) validate the same way.
    again, errors = validate(SHEET, {"scores": data["scores"]})
    assert errors == {} and again["scores"] == data["scores"]
    # No rows at all is a value too: it replaces an earlier list.
    assert validate(SHEET, {})[0]["scores"] == []


def test_a_missing_required_cell_names_the_row_and_the_column():
    _, errors = validate(SHEET, rows({"department": "dept-a", "score": "100"}, {"score": "100"},
                                           {"department": "dept-b", "score": "abc"}))
    assert errors == {"scores[1][department]": "第2行「部门」：请选择一项",
                      "scores[2][score]": "第3行「分数」：请输入数字"}
    _, errors = validate(SHEET, rows({"department": "dept-a"}, {"department": "dept-x", "score": "101"}),
                               lang="en")
    assert errors == {"scores[0][score]": "row 1, Score: This field is required",
                      "scores[1][department]": "row 2, Department: Not one of the options",
                      "scores[1][score]": "row 2, Score: Must be at most 100"}


def test_a_conditional_rule_is_checked_in_every_row():
    _, errors = validate(SHEET, rows({"department": "dept-a", "score": "100"},
                                           {"department": "dept-b", "score": "95", "reason": "迟到"},
                                           {"department": "dept-c", "score": "80"}))
    assert errors == {"scores[2][reason]": "第3行：扣分需要填写理由"}
    _, errors = validate(SHEET, rows({"department": "dept-c", "score": "80"}), lang="en")
    assert errors == {"scores[0][reason]": "row 1: a deduction needs a reason"}
    _, errors = validate(SHEET, rows({"department": "dept-c", "score": "80", "reason": "x" * 21}))
    assert errors == {"scores[0][reason]": "第1行「扣分原因」：最多填写 20 个字"}
    _, errors = validate(SHEET, rows({"department": "dept-a", "score": "100"},
                                           {"department": "dept-a", "score": "90", "reason": "重复"}))
    assert errors == {"scores[1][department]": "第2行「部门」：与第1行重复"}
    # A form rule can require the list itself: at least one row.
    _, errors = validate(SHEET, {"note": ["见附件"]})
    assert errors == {"scores": "有说明时须列出部门"}


def test_too_many_or_too_few_rows():
    four = rows(*({"department": d, "score": "100"} for d in ("dept-a", "dept-b", "dept-c", "dept-d")))
    _, errors = validate(SHEET, four)
    assert errors == {"scores": "最多填写 3 行"}
    bounded = json.loads(json.dumps(SHEET))
    bounded["fields"][1].update(min_rows=2, required=True)
    assert validate(bounded, {})[1] == {"scores": "至少填写一行"}
    assert validate(bounded, rows({"department": "dept-a", "score": "100"}), lang="en")[1] == {
        "scores": "Fill in at least 2 rows"}


@pytest.mark.parametrize("change, expected", [
    (lambda f: f.pop("components"), "field 'scores': a dynamiclist needs 'components'"),
    (lambda f: f["components"].append({"name": "colour", "label": "颜色", "type": "colour"}),
     "field 'scores': column 'colour': unknown type 'colour'"),
    (lambda f: f["components"].append({"name": "photo", "label": "照片", "type": "file"}),
     "column 'photo': a dynamiclist's columns are"),
    (lambda f: f["components"].append({"name": "reason", "label": "再写", "type": "text"}),
     "field 'scores': column 'reason' is defined twice"),
    (lambda f: f["components"].append({"name": "memo", "type": "text"}), "field 'scores': column 'memo' needs a label"),
    (lambda f: f["rules"].append({"when": {"field": "ghost", "gt": 0}, "require": ["reason"], "message": "x"}),
     "field 'scores': rules[1].when: 'ghost' is not a column of this list"),
    (lambda f: f["rules"].append({"when": {"field": "score", "gt": 0}, "require": ["ghost"], "message": "x"}),
     "requires 'ghost', which is not a column of this list"),
    (lambda f: f.update(min_rows=5), "'min_rows' (5) is more than 'max_rows' (3)"),
    (lambda f: f.update(max_rows=-1), "'max_rows' is a whole number of rows"),
    (lambda f: f.update(unique=["nope"]), "unique: 'nope' is not a column of this list"),
])
def test_a_bad_dynamiclist_names_the_file_the_line_and_the_field(change, expected):
    form = json.loads(json.dumps(SHEET))
    change(form["fields"][1])
    text = json.dumps(form, ensure_ascii=False, indent=2)
    checked, problems = check_form("forms/sheet.form.json", text)
    assert checked is None
    found = [p for p in problems if expected in p.message]
    assert found, problems
    assert all(p.file == "forms/sheet.form.json" and p.element_id == "scores" and p.line for p in found)
    assert all(text.splitlines()[p.line - 1].strip().startswith('"') for p in found)


def test_list_settings_on_another_field_are_refused():
    form = json.loads(json.dumps(SHEET))
    form["fields"][0]["max_rows"] = 3
    _, problems = check_form("sheet.form.json", json.dumps(form, ensure_ascii=False))
    assert any("field 'note': 'max_rows' applies to a dynamiclist only" in p.message for p in problems)


def test_case_labels_keep_the_columns_of_a_list():
    labels = case_labels([SHEET])
    assert labels["scores"]["label"] == "扣分明细"
    assert labels["scores"]["columns"]["department"]["options"]["dept-a"] == ("甲", None)
    assert "department" not in labels  # columns are not case data names of their own


def test_a_bad_dynamiclist_stops_the_deployment(whistle, tmp_path):
    folder = tmp_path / "processes" / "evaluation"
    shutil.copytree(PROJECT / "processes" / "evaluation", folder)
    path = folder / "forms" / "evaluation-score.form.json"
    path.write_text(path.read_text(encoding="utf-8").replace('"type": "textarea"', '"type": "richtext"'),
                    encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder])
    [problem] = [p for p in raised.value.problems if "richtext" in p.message]
    assert problem.file.endswith("evaluation-score.form.json") and problem.element_id == "scores"
    assert "field 'scores': column 'reason': unknown type 'richtext'" in problem.message
    assert '"name": "reason"' in path.read_text(encoding="utf-8").splitlines()[problem.line - 1]
    assert whistle.definitions() == []


def test_case_label_views_are_checked_at_deploy_naming_the_line_and_the_entry():
    labels = {"reply_due": {"label": "回复截止", "format": "datetime"},
              "results": {"label": "考核结果", "view": "grid", "fields": ["rank", {"name": "total", "format": "money"}]},
              "opinion": {"label": "意见", "view": "record", "item": "{text}", "colour": "red"}}
    text = json.dumps({"key": "v", "title": "视图", "fields": [], "case_labels": labels}, ensure_ascii=False, indent=2)
    form, problems = check_form("v.form.json", text)
    assert form is None and all(p.file == "v.form.json" for p in problems)
    by_entry = {p.element_id: [] for p in problems}
    for p in problems:
        by_entry[p.element_id].append(p.message)
    assert by_entry["results"] == ["form: case_labels 'results': unknown view 'grid' (use one of record, table, list)",
                                   "form: case_labels 'results.total': unknown format 'money' (use one of text, group, "
                                   "user, datetime, date, number, score, percent, bool, files, duration, location)"]
    assert by_entry["opinion"] == ["form: case_labels 'opinion': unknown setting 'colour' (use audience, fields, file, format, "
                                   "item, item_en, key, label, label_en, options, view)",
                                   "form: case_labels 'opinion': 'item' writes the lines of a list view"]
    line = text.splitlines()[problems[0].line - 1]
    assert f'"{problems[0].element_id}"' in line  # the line of the entry, inside case_labels

    labels["results"] = {"label": "考核结果", "view": "table", "fields": ["rank", {"name": "total", "format": "score"}]}
    labels["opinion"] = {"label": "意见", "view": "list", "item": "{text}"}
    declared, none = check_form("v.form.json", json.dumps({"key": "v", "title": "视图", "fields": [],
                                                           "case_labels": labels}, ensure_ascii=False))
    assert none == [] and declared is not None
    merged = case_labels([declared])
    assert (merged["results"]["view"], merged["reply_due"]["format"], merged["opinion"]["item"]) == (
        "table", "datetime", "{text}")
