"""Keep the option lists of the consultation, personnel and evaluation forms in step with the data files.

    .venv/bin/python processes/tools/governance_forms.py          # rewrite the option lists
    .venv/bin/python processes/tools/governance_forms.py --check  # exit 1 if a form is out of step

The forms (``processes/{consultation,personnel,evaluation}/forms/*.form.json``) are hand-written and deployed with
their processes; only these option lists come from data files:

* streets and departments (as their ``dept-<id>`` groups): ``organisation/district.json``
* major-matter items (征求意见事项): ``catalogs/major-matters.csv``

A column of a repeating list (``dynamiclist``) is named ``<list>.<column>`` (the scoring sheet's
``scores.department``); a list may also take its ``max_rows`` from an option list (one row per department).

Everything else in the files is left as written; they are re-indented in the style of ``whistle_forms.py``.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCESSES = HERE.parent
FOLDERS = ("consultation", "personnel", "evaluation")


def _dump():
    spec = importlib.util.spec_from_file_location("whistle_forms", HERE / "whistle_forms.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.dump


def option_lists() -> dict[str, list[dict]]:
    district = json.loads((PROCESSES / "organisation" / "district.json").read_text(encoding="utf-8"))
    with (PROCESSES / "catalogs" / "major-matters.csv").open(encoding="utf-8", newline="") as handle:
        items = list(csv.DictReader(handle))
    return {
        "streets": [{"value": s["id"], "label": s["short_name"]} for s in district["streets"]],
        "departments": [{"value": f"dept-{d['id']}", "label": d["short_name"]} for d in district["departments"]],
        "items": [{"value": r["id"], "label": f"【{r['category']}】{r['name']}"} for r in items],
    }


# form key -> field name -> option list
SOURCES = {
    "consultation-open": {"department": "departments", "item": "items", "streets": "streets"},
    "consultation-proposal": {"street": "streets", "department": "departments", "item": "items"},
    "unconsulted-report": {"street": "streets", "department": "departments", "item": "items"},
    "personnel-letter": {"department": "departments", "street": "streets"},
    "personnel-suggestion": {"street": "streets", "department": "departments"},
    "evaluation-start": {"departments": "departments", "streets": "streets"},
    # the scoring sheet: one row per department a street deducts (the process reads the list ``scores``)
    "evaluation-score": {"scores.department": "departments"},
}
# form key -> list name -> the option list whose length is the list's max_rows
ROW_LIMITS = {
    "evaluation-score": {"scores": "departments"},
}


def render(path: Path, lists: dict[str, list[dict]], dump) -> str:
    form = json.loads(path.read_text(encoding="utf-8"))
    sources = SOURCES.get(form.get("key"), {})
    limits = ROW_LIMITS.get(form.get("key"), {})
    for field in form.get("fields", []):
        source = sources.get(field["name"])
        if source:
            field["options"] = lists[source]
        if field.get("type") == "dynamiclist":
            if field["name"] in limits:
                field["max_rows"] = len(lists[limits[field["name"]]])
            for column in field.get("components", []):
                source = sources.get(f"{field['name']}.{column['name']}")
                if source:
                    column["options"] = lists[source]
    return dump(form) + "\n"


def main(argv: list[str]) -> int:
    lists = option_lists()
    dump = _dump()
    stale = []
    for folder in FOLDERS:
        for path in sorted((PROCESSES / folder / "forms").glob("*.form.json")):
            text = render(path, lists, dump)
            if path.read_text(encoding="utf-8") != text:
                stale.append(path)
                if "--check" not in argv:
                    path.write_text(text, encoding="utf-8")
                    print(f"wrote {path}")
    if stale and "--check" in argv:
        print("out of step with the data files: " + ", ".join(p.name for p in stale)
              + f"; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
