"""Write processes/whistle/situation-routing.dmn from processes/catalogs/call-situations.csv.

    .venv/bin/python processes/tools/situation_routing.py          # rewrite the DMN file
    .venv/bin/python processes/tools/situation_routing.py --check  # exit 1 if the DMN is out of step

The DMN file is what gets deployed, and a designer may edit it directly in a DMN modeler. The CSV is
the readable catalog (with sources and examples). After editing either one, bring the other in step:
edit the CSV and run this tool, or copy the change from the DMN back into the CSV; the test suite
runs ``--check`` so the two cannot drift apart unnoticed.

Each catalog row becomes one rule: situation id -> lead department group (``dept-<id>``), co-responding
department groups (a list), default response tier (red / yellow / blue), name and category.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
CATALOG = HERE.parent / "catalogs" / "call-situations.csv"
OUTPUT = HERE.parent / "whistle" / "situation-routing.dmn"
TIERS = ("red", "yellow", "blue")

DESCRIPTION = """呼叫情形派单规则（situation routing）。
输入：上报的呼叫情形编号 situation（见 processes/catalogs/call-situations.csv）。
输出：牵头部门用户组 lead_department（dept-*），协同部门用户组列表 co_departments，默认响应级别 tier（red/yellow/blue），情形名称与类别。
来源：天津市和平区明确“矛盾排查、服务群众、综合执法、重点工作、应急处置”5方面43项呼叫情形，每项明确报到主责单位（seed:002）；
原文示例：群租房问题由区委政法委、公安和平分局、区住建委、区应急管理局、和平区消防救援支队共同解决。
其余情形为示意（illustrative），每条规则的注释写明来源。
This table is generated from the CSV by processes/tools/situation_routing.py; the DMN file is the deployable source of truth.
Entries are Python expressions evaluated by SpiffWorkflow (strings in double quotes, lists in brackets)."""


def _rule_id(situation: str) -> str:
    return "rule_" + situation.replace("-", "_")


def _py_str(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"catalog text may not contain quotes or backslashes: {value!r}")
    return f'"{value}"'


def _py_list(values: list[str]) -> str:
    return "[" + ", ".join(_py_str(v) for v in values) + "]"


def load_catalog(path: Path = CATALOG) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    seen = set()
    for row in rows:
        if row["id"] in seen:
            raise ValueError(f"{path}: situation '{row['id']}' appears twice")
        seen.add(row["id"])
        if row["tier"] not in TIERS:
            raise ValueError(f"{path}: situation '{row['id']}' has tier '{row['tier']}', not one of {TIERS}")
    return rows


def render(rows: list[dict]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"'
           ' xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/"'
           ' xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/"'
           ' id="situation_routing_definitions" name="呼叫情形派单规则"'
           ' namespace="http://whistle.example/processes/whistle">',
           '  <decision id="situation_routing" name="呼叫情形派单">',
           f'    <description>{escape(DESCRIPTION)}</description>',
           '    <decisionTable id="situation_routing_table" hitPolicy="UNIQUE">',
           '      <input id="situation_routing_in_situation" label="呼叫情形 situation">',
           '        <inputExpression id="situation_routing_in_situation_expr" typeRef="string">',
           '          <text>situation</text>',
           '        </inputExpression>',
           '      </input>',
           '      <output id="situation_routing_out_lead" label="牵头部门 lead_department" name="lead_department" typeRef="string"/>',
           '      <output id="situation_routing_out_co" label="协同部门 co_departments" name="co_departments"/>',
           '      <output id="situation_routing_out_tier" label="默认响应级别 tier" name="tier" typeRef="string"/>',
           '      <output id="situation_routing_out_name" label="情形名称 situation_name" name="situation_name" typeRef="string"/>',
           '      <output id="situation_routing_out_category" label="类别 situation_category" name="situation_category" typeRef="string"/>']
    for row in rows:
        rid = _rule_id(row["id"])
        co = [c for c in row["co_responders"].split(";") if c]
        note = row["source"] + ("：" + row["example"] if row["example"] else "")
        entries = [("lead", _py_str("dept-" + row["lead"])), ("co", _py_list(["dept-" + c for c in co])),
                   ("tier", _py_str(row["tier"])), ("name", _py_str(row["name"])),
                   ("category", _py_str(row["category"]))]
        out.append(f'      <rule id="{rid}">')
        out.append(f'        <description>{escape(note)}</description>')
        out.append(f'        <inputEntry id="{rid}_in"><text>{escape(_py_str(row["id"]))}</text></inputEntry>')
        for key, text in entries:
            out.append(f'        <outputEntry id="{rid}_{key}"><text>{escape(text)}</text></outputEntry>')
        out.append('      </rule>')
    out += ['    </decisionTable>',
            '  </decision>',
            '  <dmndi:DMNDI>',
            '    <dmndi:DMNDiagram id="situation_routing_diagram">',
            '      <dmndi:DMNShape id="situation_routing_shape" dmnElementRef="situation_routing">',
            '        <dc:Bounds height="80" width="180" x="160" y="100"/>',
            '      </dmndi:DMNShape>',
            '    </dmndi:DMNDiagram>',
            '  </dmndi:DMNDI>',
            '</definitions>']
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> int:
    text = render(load_catalog())
    if "--check" in argv:
        current = OUTPUT.read_text(encoding="utf-8") if OUTPUT.exists() else ""
        if current != text:
            print(f"{OUTPUT} is out of step with {CATALOG}; run {Path(__file__).name} "
                  f"(or copy the DMN change back into the CSV)", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUTPUT} ({text.count('<rule ')} rules)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
