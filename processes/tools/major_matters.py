"""Write processes/consultation/major-matters.dmn from processes/catalogs/major-matters.csv.

    .venv/bin/python processes/tools/major_matters.py          # rewrite the DMN file
    .venv/bin/python processes/tools/major_matters.py --check  # exit 1 if the DMN is out of step

The DMN file is what gets deployed (the consultation processes look the item up in it); the CSV is the
readable catalog with sources and examples. Edit the CSV and run this tool, or edit the DMN and copy the
change back; the test suite runs ``--check``.

Each catalog row becomes one rule: item id -> name, category (one of the six), usual initiating
department group. The last rule catches an empty or unknown item: it counts as 其他重大决策 and takes the
consultation's own title as its name. Hit policy FIRST, so that catch-all may come last.
"""
from __future__ import annotations

import csv
import sys
from pathlib import Path
from xml.sax.saxutils import escape

HERE = Path(__file__).resolve().parent
CATALOG = HERE.parent / "catalogs" / "major-matters.csv"
OUTPUT = HERE.parent / "consultation" / "major-matters.dmn"
CATEGORIES = ("规划", "重大建设项目", "城市设计", "民生项目", "街道自身建设", "其他重大决策")
OFFICES = {"org-dept": "org-dept", "district-supervision": "district-supervision"}

DESCRIPTION = """重大事项征求意见清单（major matters）。
输入：征求意见事项编号 item（见 processes/catalogs/major-matters.csv）。
输出：事项名称 item_name、类别 item_category（规划、重大建设项目、城市设计、民生项目、街道自身建设、其他重大决策）、
通常发起部门用户组 usual_initiator、是否清单内事项 item_listed。
来源：天津市和平区“明确重大规划、重点项目等6大类40项征求意见事项清单，细化征求流程，规定反馈时限”（seed:002）；
各条事项为示意（illustrative），与原文有关的注明 seed:002。
最后一条规则兜底：未填写或清单外的事项按“其他重大决策”，名称取征询标题 title。命中策略 FIRST（按顺序取第一条）。
This table is generated from the CSV by processes/tools/major_matters.py; the DMN file is the deployable source of truth.
Entries are Python expressions (strings in double quotes)."""


def _rule_id(item: str) -> str:
    return "item_" + item.replace("-", "_")


def _py_str(value: str) -> str:
    if '"' in value or "\\" in value:
        raise ValueError(f"catalog text may not contain quotes or backslashes: {value!r}")
    return f'"{value}"'


def _group(initiator: str) -> str:
    return OFFICES.get(initiator, "dept-" + initiator)


def load_catalog(path: Path = CATALOG) -> list[dict]:
    with path.open(encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    seen = set()
    for row in rows:
        if row["id"] in seen:
            raise ValueError(f"{path}: item '{row['id']}' appears twice")
        seen.add(row["id"])
        if row["category"] not in CATEGORIES:
            raise ValueError(f"{path}: item '{row['id']}' has category '{row['category']}', not one of {CATEGORIES}")
    return rows


def render(rows: list[dict]) -> str:
    out = ['<?xml version="1.0" encoding="UTF-8"?>',
           '<definitions xmlns="https://www.omg.org/spec/DMN/20191111/MODEL/"'
           ' xmlns:dmndi="https://www.omg.org/spec/DMN/20191111/DMNDI/"'
           ' xmlns:dc="http://www.omg.org/spec/DMN/20180521/DC/"'
           ' id="major_matters_definitions" name="重大事项征求意见清单"'
           ' namespace="http://whistle.example/processes/consultation">',
           '  <decision id="major_matters" name="重大事项征求意见清单">',
           f'    <description>{escape(DESCRIPTION)}</description>',
           '    <decisionTable id="major_matters_table" hitPolicy="FIRST">',
           '      <input id="major_matters_in_item" label="征求意见事项 item">',
           '        <inputExpression id="major_matters_in_item_expr" typeRef="string">',
           '          <text>item</text>',
           '        </inputExpression>',
           '      </input>',
           '      <output id="major_matters_out_name" label="事项名称 item_name" name="item_name" typeRef="string"/>',
           '      <output id="major_matters_out_category" label="类别 item_category" name="item_category" typeRef="string"/>',
           '      <output id="major_matters_out_initiator" label="通常发起部门 usual_initiator" name="usual_initiator" typeRef="string"/>',
           '      <output id="major_matters_out_listed" label="清单内事项 item_listed" name="item_listed" typeRef="boolean"/>']
    for row in rows:
        rid = _rule_id(row["id"])
        note = row["source"] + ("：" + row["example"] if row["example"] else "")
        entries = [("name", _py_str(row["name"])), ("category", _py_str(row["category"])),
                   ("initiator", _py_str(_group(row["usual_initiator"]))), ("listed", "True")]
        out.append(f'      <rule id="{rid}">')
        out.append(f'        <description>{escape(note)}</description>')
        out.append(f'        <inputEntry id="{rid}_in"><text>{escape(_py_str(row["id"]))}</text></inputEntry>')
        for key, text in entries:
            out.append(f'        <outputEntry id="{rid}_{key}"><text>{escape(text)}</text></outputEntry>')
        out.append('      </rule>')
    out += ['      <rule id="item_other">',
            '        <description>清单外或未填写的事项：按“其他重大决策”，名称取征询标题 title</description>',
            '        <inputEntry id="item_other_in"><text>-</text></inputEntry>',
            '        <outputEntry id="item_other_name"><text>title</text></outputEntry>',
            '        <outputEntry id="item_other_category"><text>"其他重大决策"</text></outputEntry>',
            '        <outputEntry id="item_other_initiator"><text>""</text></outputEntry>',
            '        <outputEntry id="item_other_listed"><text>False</text></outputEntry>',
            '      </rule>',
            '    </decisionTable>',
            '  </decision>',
            '  <dmndi:DMNDI>',
            '    <dmndi:DMNDiagram id="major_matters_diagram">',
            '      <dmndi:DMNShape id="major_matters_shape" dmnElementRef="major_matters">',
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
