"""Keep the option lists of the whistle forms in step with the catalogs.

    .venv/bin/python processes/tools/whistle_forms.py          # rewrite the option lists in processes/whistle/forms/
    .venv/bin/python processes/tools/whistle_forms.py --check  # exit 1 if a form is out of step

The forms (``processes/whistle/forms/*.form.json``) are hand-written and deployed with the process; only these
option lists come from data files, so a new street, community, department or call situation reaches the forms
(and the ``subject`` of the parallel department tasks is set from ``SUBJECTS``):

* streets and communities: ``organisation/district.json``
* call situations: ``catalogs/call-situations.csv`` (plus ``other``: no situation fits; the centre names a lead)
* departments (as their ``dept-<id>`` groups): ``organisation/district.json``

Everything else in the files is left as written; the files are re-indented in one stable style.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROCESSES = HERE.parent
FORMS = PROCESSES / "whistle" / "forms"
OTHER = {"value": "other", "label": "其他（以上都不符合，由指挥中心指定牵头部门）", "label_en": "Other"}


def option_lists() -> dict[str, list[dict]]:
    district = json.loads((PROCESSES / "organisation" / "district.json").read_text(encoding="utf-8"))
    with (PROCESSES / "catalogs" / "call-situations.csv").open(encoding="utf-8", newline="") as handle:
        situations = list(csv.DictReader(handle))
    streets = [{"value": s["id"], "label": s["short_name"]} for s in district["streets"]]
    communities = [{"value": c["id"], "label": f"{s['short_name']}·{c['name']}"}
                   for s in district["streets"] for c in s["communities"]]
    situation_options = [{"value": r["id"], "label": f"【{r['category']}】{r['name']}"} for r in situations] + [OTHER]
    departments = [{"value": f"dept-{d['id']}", "label": d["short_name"]} for d in district["departments"]]
    return {"streets": streets, "communities": communities, "situations": situation_options,
            "departments": departments}


# form key -> field name -> option list
SOURCES = {
    "whistle-report": {"street": "streets", "community": "communities", "situation": "situations"},
    "whistle-review": {"situation": "situations", "lead_override": "departments", "extra_departments": "departments"},
}


# form key -> what each of its tasks is about (docs/forms.md, "subject"): the departments called sign and report
# at once, so each card names its department
SUBJECTS = {
    "whistle-sign": {"subject": "{department}"},
    "whistle-on-site": {"subject": "{department}"},
}


def with_subject(form: dict) -> dict:
    """The form with its ``SUBJECTS`` entry, placed after its title."""
    subject = SUBJECTS.get(form.get("key"))
    if not subject:
        return form
    placed: dict = {}
    after = "title_en" if "title_en" in form else "title"
    for key, value in form.items():
        if key not in ("subject", "subject_en"):
            placed[key] = value
        if key == after:
            placed.update(subject)
    return placed


def _scalar(value) -> bool:
    return not isinstance(value, (dict, list))


def dump(value, indent: int = 0) -> str:
    """JSON with small flat objects and lists on one line, everything else indented by two spaces."""
    pad = "  " * indent
    inner = "  " * (indent + 1)
    flat = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    if _scalar(value) or (all(_scalar(v) for v in (value.values() if isinstance(value, dict) else value))
                          and len(flat) + len(inner) <= 118):
        return flat
    if isinstance(value, dict):
        items = [f"{inner}{json.dumps(k, ensure_ascii=False)}: {dump(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    items = [f"{inner}{dump(v, indent + 1)}" for v in value]
    return "[\n" + ",\n".join(items) + f"\n{pad}]"


def render(path: Path, lists: dict[str, list[dict]]) -> str:
    form = json.loads(path.read_text(encoding="utf-8"))
    for field in form.get("fields", []):
        source = SOURCES.get(form.get("key"), {}).get(field["name"])
        if source:
            field["options"] = lists[source]
    return dump(with_subject(form)) + "\n"


def main(argv: list[str]) -> int:
    lists = option_lists()
    stale = []
    for path in sorted(FORMS.glob("*.form.json")):
        text = render(path, lists)
        if path.read_text(encoding="utf-8") != text:
            stale.append(path)
            if "--check" not in argv:
                path.write_text(text, encoding="utf-8")
                print(f"wrote {path}")
    if stale and "--check" in argv:
        print("out of step with the catalogs: " + ", ".join(p.name for p in stale)
              + f"; run {Path(__file__).name}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
