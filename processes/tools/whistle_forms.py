"""Keep the option lists of the whistle forms in step with the catalogs.

    .venv/bin/python processes/tools/whistle_forms.py          # rewrite the option lists in processes/whistle/forms/
    .venv/bin/python processes/tools/whistle_forms.py --check  # exit 1 if a form is out of step

The forms (``processes/whistle/forms/*.form.json``) are hand-written and deployed with the process; only these
option lists come from data files, so a new street, community, department or call situation reaches the forms
(and the ``subject`` of the parallel department tasks is set from ``SUBJECTS``):

* streets and communities: ``organisation/district.json``
* call situations: ``catalogs/call-situations.csv`` (plus ``other``: no situation fits; the centre names a lead)
* departments (as their ``dept-<id>`` groups): ``organisation/district.json``

The field work of the reporting and on-site forms comes from ``FIELD_WORK``: their location field (added when
missing, then kept as written) and the camera hint on their photo fields.

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


# form key -> field work on the spot (issue 14, docs/forms.md "location" and "capture"): the phone's position,
# placed after a field (optional: geolocation needs the person's consent and may fail), listed on the case page
# after another, and the file fields whose photos are taken with the back camera
FIELD_WORK = {
    "whistle-report": {
        "after": "location", "case_field_after": "location", "camera": ["photos"],
        "field": {"name": "report_position", "label": "现场定位", "label_en": "Position on the spot",
                  "type": "location",
                  "help": "在现场点“获取当前位置”，经你同意后记录手机的位置；获取不到可以不填，在“问题位置”中写明地点。",
                  "help_en": "On the spot, press the button to record the phone's position (with your consent); "
                             "if it cannot be had, leave it and describe the place above."}},
    "whistle-on-site": {
        "after": "action", "camera": ["onsite_photos"],
        "field": {"name": "onsite_position", "label": "到场定位", "label_en": "Position on arrival",
                  "type": "location",
                  "help": "到场后点“获取当前位置”，经你同意后记录手机的位置；获取不到可以不填。",
                  "help_en": "On arrival, press the button to record the phone's position (with your consent); "
                             "it may be left empty."}},
}


def with_field_work(form: dict) -> dict:
    """The form with its ``FIELD_WORK``: the location field (kept as written when present), the camera hint on the
    photo fields, the position on the case page."""
    work = FIELD_WORK.get(form.get("key"))
    if not work:
        return form
    fields = form.setdefault("fields", [])
    if not any(f.get("name") == work["field"]["name"] for f in fields):
        at = next((i + 1 for i, f in enumerate(fields) if f.get("name") == work["after"]), len(fields))
        fields.insert(at, dict(work["field"]))
    for field in fields:
        if field.get("name") in work["camera"]:
            field["capture"] = "environment"
    case_fields = form.get("case_fields")
    if work.get("case_field_after") and isinstance(case_fields, list) and work["field"]["name"] not in case_fields:
        after = work["case_field_after"]
        case_fields.insert(case_fields.index(after) + 1 if after in case_fields else len(case_fields),
                           work["field"]["name"])
    return form


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
    form = with_field_work(json.loads(path.read_text(encoding="utf-8")))
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
