"""Repeating rows (dynamiclist) through the staff pages, on SQLite and PostgreSQL: the evaluation's scoring sheet
(考核评价: streets score the departments, every deduction with a reason) rendered as rows, posted as
``scores[i][column]``, validated per row with the row named, added and removed without JavaScript, kept in a
draft, and shown read-only on the case page."""
from __future__ import annotations

import re

import pytest
from test_web_pages import PASSWORD, PEOPLE, PROCESSES, Client, Site, text

from webui import create_app

THREE = ["dept-police", "dept-housing", "dept-fire"]


class Evaluation(Site):
    """The staff pages over every process (the evaluation needs the organisation's whole set)."""

    def __init__(self, engine, tmp_path):
        super().__init__(engine, tmp_path, deploy=PROCESSES)

    def start(self) -> int:
        return self.w.start("evaluation", user=self.person("org-officer"),
                            data={"year": 2026, "departments": THREE, "streets": ["wudadao"]})

    def scoring_task(self, case: int) -> str:
        self.person("command-wudadao")
        [task] = [t for t in self.w.tasks("command-wudadao", limit=100)
                  if t["name"] == "街道为部门评分" and t["instance_id"] == case]
        return task["task_id"]


@pytest.fixture
def evaluation(whistle, tmp_path) -> Evaluation:
    return Evaluation(whistle, tmp_path)


def cells(*rows: dict, start: int = 0) -> dict:
    return {f"scores[{start + i}][{column}]": value for i, row in enumerate(rows) for column, value in row.items()}


def row_html(html: str, index: int) -> str:
    """The table row whose cells are scores[index][…]."""
    match = re.search(rf'<tr class="list-row" data-prefix="scores\[{index}\]">(.*?)</tr>', html, re.S)
    assert match, f"no row {index}"
    return match.group(1)


def cell_error(html: str, index: int, column: str) -> str | None:
    match = re.search(rf'<td class="cell[^"]*" data-column="{column}".*?</td>', row_html(html, index), re.S)
    assert match, f"no cell {column} in row {index}"
    error = re.search(r'<p class="field-error"[^>]*>(.*?)</p>', match.group(0), re.S)
    return error.group(1).strip() if error else None


def test_the_scoring_sheet_is_a_table_of_rows(evaluation):
    case = evaluation.start()
    task = evaluation.scoring_task(case)
    html = text(evaluation.client("command-wudadao").get(f"/tasks/{task}"))
    assert 'class="list-table"' in html and "扣分明细" in html
    for header in ("部门", "分数", "扣分原因"):
        assert f'<th scope="col">{header}' in html
    assert 'name="scores[0][department]"' in html and 'name="scores[0][score]"' in html  # one empty row to start
    assert 'name="scores[1][department]"' not in html
    assert 'name="scores[__index__][reason]"' in html  # the template the script copies for a new row
    assert 'value="add:scores"' in html and "添加扣分部门" in html and 'value="remove:scores:0"' in html
    assert "第 1 行" in html and "区消防救援支队" in html and "最多 26 行" in html
    english = text(evaluation.client("command-wudadao").get(f"/tasks/{task}?lang=en"))
    assert "Row 1" in english and "Add a department" in english


def test_posted_rows_are_validated_per_row_then_complete_the_task(evaluation):
    case = evaluation.start()
    task = evaluation.scoring_task(case)
    street = evaluation.client("command-wudadao")
    refused = street.post(f"/tasks/{task}", {"_submit": "complete", **cells(
        {"department": "dept-police", "score": "90", "reason": "节假日联系不上值班人员"},
        {"department": "dept-fire", "score": "80", "reason": ""},
        {"department": "", "score": "", "reason": ""},  # a blank row: ignored
        {"department": "dept-police", "score": "100", "reason": ""},
        {"department": "dept-housing", "score": ""})})
    assert refused.status_code == 422
    html = text(refused)
    assert "请修改标红的内容后再提交" in html
    assert cell_error(html, 0, "reason") is None
    assert cell_error(html, 1, "reason") == "第2行：扣分必须填写扣分原因"
    assert cell_error(html, 2, "department") == "第3行「部门」：与第1行重复"  # the blank row left out: rows renumbered
    assert cell_error(html, 3, "score") == "第4行「分数」：此项必须填写"
    assert 'aria-invalid="true"' in html and "节假日联系不上值班人员" in html  # what was typed is kept
    assert 'name="scores[4][department]"' not in html
    assert evaluation.w.task(task)["status"] == "open" and evaluation.w.incidents() == []
    street.get(f"/tasks/{task}?lang=en")  # English from now on
    english = text(street.post(f"/tasks/{task}", {"_submit": "complete", **cells(
        {"department": "dept-fire", "score": "80"}, {"department": "dept-police"})}))
    assert cell_error(english, 0, "reason") == "row 1: A deduction needs a reason"
    assert cell_error(english, 1, "score") == "row 2, Score: This field is required"
    street.get(f"/tasks/{task}?lang=zh")
    done = street.post(f"/tasks/{task}", {"_submit": "complete", **cells(
        {"department": "dept-police", "score": "90", "reason": "节假日联系不上值班人员"},
        {"department": "dept-fire", "score": "80", "reason": "该部门很少到社区走访"},
        {"department": "dept-housing", "score": "100"}, start=3)})  # every department, explicitly
    assert done.status_code == 302, text(done)[:3000]
    assert evaluation.w.task(task)["status"] == "completed"
    results = {r["department"]: r for r in evaluation.w.show(case)["data"]["results"]}
    assert results["dept-fire"]["deductions"] == [{"street": "wudadao", "score": 80.0, "reason": "该部门很少到社区走访"}]
    assert {d: r["perceived"] for d, r in results.items()} == {"dept-police": 90.0, "dept-housing": 100.0,
                                                              "dept-fire": 80.0}


def test_rows_are_added_and_removed_without_javascript(evaluation):
    case = evaluation.start()
    task = evaluation.scoring_task(case)
    street = evaluation.client("command-wudadao")
    added = street.post(f"/tasks/{task}", {"_submit": "add:scores", **cells(
        {"department": "dept-fire", "score": "70", "reason": "多次逾期报到"})})
    assert added.status_code == 200
    html = text(added)
    assert "多次逾期报到" in row_html(html, 0) and 'name="scores[1][department]"' in row_html(html, 1)
    assert "field-error" not in html  # nothing validated yet
    assert evaluation.w.task(task)["status"] == "open" and evaluation.w.draft(task, "command-wudadao") is None
    again = text(street.post(f"/tasks/{task}", {"_submit": "add:scores", **cells(
        {"department": "dept-fire", "score": "70", "reason": "多次逾期报到"}, {"department": "", "score": ""})}))
    assert 'name="scores[2][score]"' in again  # the empty row stays while rows are being added
    removed = text(street.post(f"/tasks/{task}", {"_submit": "remove:scores:0", **cells(
        {"department": "dept-fire", "score": "70", "reason": "多次逾期报到"},
        {"department": "dept-police", "score": "95", "reason": "值班电话无人接听"})}))
    assert "多次逾期报到" not in removed and "值班电话无人接听" in row_html(removed, 0)
    assert 'name="scores[1][department]"' not in removed


def test_a_draft_keeps_the_rows(evaluation):
    case = evaluation.start()
    task = evaluation.scoring_task(case)
    street = evaluation.client("command-wudadao")
    saved = street.post(f"/tasks/{task}", {"_submit": "draft", **cells(
        {"department": "dept-housing", "score": "85", "reason": "整改不及时"},
        {"department": "", "score": ""},
        {"department": "dept-fire", "score": "100"}, start=2)})
    assert saved.status_code == 302
    assert evaluation.w.draft(task, "command-wudadao")["data"]["values"]["scores[1][department]"] == ["dept-fire"]
    page = text(street.get(f"/tasks/{task}"))
    assert "已载入" in page
    first, second = row_html(page, 0), row_html(page, 1)
    assert 'value="dept-housing" selected' in first and 'value="85"' in first and "整改不及时" in first
    assert 'value="dept-fire" selected' in second and 'value="100"' in second
    assert 'name="scores[2][department]"' not in page


# A start form with rows: the case keeps them and its page shows them read-only.
CHECKLIST_BPMN = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
                  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="checklist_definitions"
                  targetNamespace="http://whistle.example/tests">
  <bpmn:process id="checklist" name="隐患清单" isExecutable="true" camunda:candidateStarterGroups="grid-*">
    <bpmn:startEvent id="start" name="上报隐患清单" camunda:formKey="checklist-start">
      <bpmn:outgoing>f1</bpmn:outgoing>
    </bpmn:startEvent>
    <bpmn:scriptTask id="count" name="统计" scriptFormat="python">
      <bpmn:incoming>f1</bpmn:incoming>
      <bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>urgent_count = len([row for row in hazards if row.get("urgent")])</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:userTask id="review" name="核对清单" camunda:candidateGroups="street-wudadao-command">
      <bpmn:incoming>f2</bpmn:incoming>
      <bpmn:outgoing>f3</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end" name="结束">
      <bpmn:incoming>f3</bpmn:incoming>
    </bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="count"/>
    <bpmn:sequenceFlow id="f2" sourceRef="count" targetRef="review"/>
    <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""
CHECKLIST_FORM = {
    "key": "checklist-start", "title": "上报隐患清单",
    "fields": [
        {"name": "place", "label": "地点", "type": "text", "required": True},
        {"type": "dynamiclist", "path": "hazards", "label": "隐患", "required": True, "max_rows": 5,
         "components": [
             {"key": "what", "label": "隐患内容", "type": "textfield", "validate": {"required": True}},
             {"key": "kind", "label": "类别", "type": "select",
              "values": [{"value": "fire", "label": "消防"}, {"value": "road", "label": "道路"}]},
             {"key": "urgent", "label": "紧急", "type": "checkbox"}],
         "rules": [{"when": {"field": "urgent", "equals": True}, "require": ["kind"],
                    "message": "紧急隐患须选择类别", "message_en": "An urgent hazard needs its kind"}]},
    ],
}


def test_a_start_form_with_rows_and_the_case_page_that_shows_them(whistle, tmp_path):
    import json

    folder = tmp_path / "checklist"
    (folder / "forms").mkdir(parents=True)
    (folder / "checklist.bpmn").write_text(CHECKLIST_BPMN, encoding="utf-8")
    (folder / "forms" / "checklist-start.form.json").write_text(json.dumps(CHECKLIST_FORM, ensure_ascii=False),
                                                                 encoding="utf-8")
    whistle.deploy([folder])
    app = create_app({"ENGINE": whistle, "TESTING": True, "ATTACHMENTS_DIR": str(tmp_path / "attachments")})
    for username in ("grid-worker-wudadao", "command-wudadao"):
        whistle.add_user(username, PEOPLE[username]["groups"], password=PASSWORD,
                         display_name=PEOPLE[username]["display_name"])
    worker = Client(app, "grid-worker-wudadao")
    assert 'name="hazards[0][what]"' in text(worker.get("/start/checklist"))
    missing = worker.post("/start/checklist", {"place": "睦南道", "_submit": "complete",
                                               "hazards[0][what]": "", "hazards[0][kind]": ""})
    assert missing.status_code == 422
    assert re.search(r'id="err-hazards"[^>]*>至少填写一行<', text(missing))
    urgent = worker.post("/start/checklist", {"place": "睦南道", "_submit": "complete",
                                              "hazards[0][what]": "楼道堆物", "hazards[0][kind]": "fire",
                                              "hazards[1][what]": "路面塌陷", "hazards[1][urgent]": "true"})
    assert urgent.status_code == 422 and "第2行：紧急隐患须选择类别" in text(urgent)
    added = worker.post("/start/checklist", {"place": "睦南道", "_submit": "add:hazards", "hazards[0][what]": "楼道堆物"})
    assert added.status_code == 200 and 'name="hazards[1][what]"' in text(added)
    done = worker.post("/start/checklist", {"place": "睦南道", "_submit": "complete",
                                            "hazards[0][what]": "楼道堆物", "hazards[0][kind]": "fire",
                                            "hazards[5][what]": "路面塌陷", "hazards[5][kind]": "road",
                                            "hazards[5][urgent]": "true"})
    assert done.status_code == 302, text(done)[:3000]
    case = int(done.headers["Location"].rsplit("/", 1)[1])
    data = whistle.show(case)["data"]
    assert data["hazards"] == [{"what": "楼道堆物", "kind": "fire", "urgent": False},
                               {"what": "路面塌陷", "kind": "road", "urgent": True}]
    assert data["urgent_count"] == 1  # a script reads the rows as a list of dicts
    page = text(Client(app, "command-wudadao").get(f"/cases/{case}"))
    table = re.search(r'<table class="grid rows-read">.*?</table>', page, re.S)
    assert table, page[:3000]
    shown = table.group(0)
    for seen in ("隐患内容", "类别", "紧急", "第 2 行", "楼道堆物", "消防", "路面塌陷", "道路", "是", "否"):
        assert seen in shown, seen
    assert "road" not in shown  # option labels, not values
    assert "隐患：2 行" in page  # the timeline sums the rows up
