"""The evaluation, explained (考核结果, issue 18 part 3): a year's ranking with its parts and grades, and for each
department why it got its score — the whistle cases behind the completion part (on time, late, never reported),
the streets' deductions with their written reasons, its appeal and the review. And what-if: the same year
recomputed with other weights or bands (a draft of ``evaluation-weights.dmn``), showing who would move, with
nothing written.

Everything is read from the evaluation case's own data (what ``evaluation.bpmn`` computed from the
accountability ledger, ``whistle.assessment_figures``); the recomputation follows the process's scripts
(``objective_scores``, ``compute_totals``, ``finalize``), so with the deployed weights it gives the published
ranking exactly (tests/test_evaluation_explained.py).

Who may read: the district (supervision, the organisation department, administrators) every department; a
department its own rows only. What-if is the district's."""
from __future__ import annotations

import ast
from collections.abc import Iterable
from typing import Any

from lxml import etree

from engine.casework.audiences import DISTRICT_GROUPS
from engine.casework.people import account_groups
from engine.dmn.entries import entry_test
from engine.errors import Forbidden, InvalidInput, NotFound
from engine.scripting.helpers import median, rank_and_grade
from engine.store import evaluations as stored
from engine.store.db import Database

GRADES = ("优秀", "良好", "一般")
ORDER = ["total", "completion", "perceived", "satisfaction"]
PARAMETERS = ("full_marks", "w_completion", "w_satisfaction", "w_perceived", "w_on_time", "w_acted", "w_resolved",
              "band_excellent", "band_good", "band_average", "absent_completion", "absent_satisfaction")
WEIGHTS = ("w_completion", "w_satisfaction", "w_perceived")
BANDS = ("band_excellent", "band_good", "band_average")
DMN = "{https://www.omg.org/spec/DMN/20191111/MODEL/}"
DECISION_ID = "evaluation_weights"
MAX_DMN_BYTES = 512 * 1024


class Evaluations:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- reading --------------------------------------------------------------------------------------------

    def years(self, user: str) -> list[int]:
        """The years an evaluation was run for, newest first."""
        self._reader(user)
        with self.db.read() as session:
            return sorted({int((data or {}).get("year") or 0) for _i, _s, data, _t in stored.evaluation_cases(session)
                           if (data or {}).get("year")}, reverse=True)

    def explained(self, user: str | None, year: int) -> dict:
        """The year's evaluation as ``user`` may read it (None: the district, the command line): ``instance_id``,
        ``status``, ``stage`` (scoring, review, published, final), ``weights``, ``bands``, ``ranking`` (a row per
        department: parts, total, rank, grade, appeal) and ``departments`` (per department: its ledger cases
        ``on_time`` / ``late`` / ``never`` with their case ids, ``deductions`` with reasons, ``appeal``)."""
        mine = self._reader(user)
        instance_id, status, data = self._case_of(year)
        rows = _published_rows(data)
        shown = [r for r in rows if mine is None or r["department"] in mine]
        details = {r["department"]: _why(data, r["department"]) for r in shown}
        return {"year": year, "instance_id": instance_id, "status": status, "stage": _stage(data, status),
                "weights": {k: data.get(k) for k in WEIGHTS}, "bands": {k: data.get(k) for k in BANDS},
                "full_marks": data.get("full_marks"), "ranking": shown, "departments": details,
                "scope": "all" if mine is None else sorted(mine), "not_scored": data.get("not_scored") or []}

    # -- what-if --------------------------------------------------------------------------------------------

    def whatif(self, user: str | None, year: int, *, weights: object = None, dmn: object = None) -> dict:
        """The year recomputed with other parameters (``weights``: a JSON object of ``PARAMETERS``, or ``dmn``: a
        draft of evaluation-weights.dmn as text), beside the published ranking: per department its rank, grade
        and total before and after and whether it ``moved``. Nothing is written (a read transaction)."""
        if self._reader(user) is not None:
            raise Forbidden(f"{user} may not run a what-if: the district's supervision, the organisation "
                            f"department and administrators only")
        instance_id, status, data = self._case_of(year)
        base = {k: data.get(k) for k in PARAMETERS}
        if (weights is None) == (dmn is None):
            raise InvalidInput("give either weights (a JSON object) or a draft of evaluation-weights.dmn")
        changed = weights_from_dmn(dmn, year) if dmn is not None else _checked_weights(weights)
        parameters = {**base, **changed}
        _check_shares(parameters)
        before = {r["department"]: r for r in _published_rows(data)}
        after = {r["department"]: r for r in recompute(data, parameters)}
        rows = []
        for department, now in sorted(after.items(), key=lambda kv: kv[1]["rank"]):
            then = before.get(department) or {}
            rows.append({"department": department, "rank_before": then.get("rank"), "rank_after": now["rank"],
                         "grade_before": then.get("grade"), "grade_after": now["grade"],
                         "total_before": then.get("total"), "total_after": now["total"],
                         "moved": then.get("rank") != now["rank"] or then.get("grade") != now["grade"]})
        return {"year": year, "instance_id": instance_id, "status": status, "parameters": parameters,
                "changed": {k: v for k, v in changed.items() if base.get(k) != v}, "rows": rows,
                "moved": [r["department"] for r in rows if r["moved"]], "published": False}

    # -- helpers --------------------------------------------------------------------------------------------

    def _reader(self, user: str | None) -> set[str] | None:
        """None for the district (every department), else the departments the user belongs to."""
        if user is None:
            return None
        with self.db.read() as session:
            groups = account_groups(session, user)
        if groups & DISTRICT_GROUPS:
            return None
        mine = {g for g in groups if g.startswith("dept-") and not g.endswith("-party")}
        if not mine:
            raise Forbidden(f"{user} may not read the evaluation: the district and the departments assessed only")
        return mine

    def _case_of(self, year: int) -> tuple[int, str, dict]:
        with self.db.read() as session:
            for instance_id, status, data, _started in stored.evaluation_cases(session):
                if str((data or {}).get("year")) == str(year):
                    return instance_id, status, data
        raise NotFound(f"no evaluation for the year {year}")


def _stage(data: dict, status: str) -> str:
    if data.get("evaluation_record"):
        return "final"
    if data.get("published_at"):
        return "published"
    if data.get("results"):
        return "review"
    return "scoring"


def _published_rows(data: dict) -> list[dict]:
    """The ranking as the process has it: final results, else the results under review, else the objective
    parts alone (scoring still under way)."""
    record = data.get("evaluation_record") or {}
    rows = record.get("results") or data.get("results")
    if rows:
        return [{k: r.get(k) for k in ("department", "completion", "satisfaction", "perceived", "total", "rank",
                                       "grade", "tied", "appeal")} for r in rows]
    objective = data.get("objective") or {}
    return [{"department": d, "completion": o.get("completion"), "satisfaction": o.get("satisfaction"),
             "perceived": None, "total": None, "rank": None, "grade": None, "tied": None, "appeal": None}
            for d, o in objective.items()]


def _why(data: dict, department: str) -> dict:
    """One department's reasons: the ledger's cases behind its completion part, the streets' deductions and
    its appeal."""
    objective = (data.get("objective") or {}).get(department) or {}
    cases = objective.get("cases") or {}
    records = list(cases.get("records") or [])
    late = list(cases.get("late") or [])
    never = list(cases.get("never") or [])
    late_came = [c for c in late if c not in never]
    on_time = [c for c in records if c not in late]
    deductions = []
    for result in data.get("street_results") or []:
        entry = (result.get("scores") or {}).get(department)
        if entry is not None and data.get("full_marks") is not None and entry["score"] < data["full_marks"]:
            deductions.append({"street": result["street"], "score": entry["score"], "reason": entry.get("reason"),
                               "deducted": round(data["full_marks"] - entry["score"], 2)})
    appeals = [a for a in (data.get("appeals_made") or []) if a.get("department") == department]
    return {"department": department, "records": objective.get("records", 0), "on_time": on_time,
            "late": late_came, "never": never, "not_acted": list(cases.get("not_acted") or []),
            "returned": list(cases.get("returned") or []), "rated": objective.get("rated", 0),
            "basis": objective.get("basis") or {}, "deductions": deductions,
            "appeal": appeals[0] if appeals else None}


def recompute(data: dict, p: dict) -> list[dict]:
    """The ranking of an evaluation case's data under parameters ``p`` (``PARAMETERS``): the process's
    objective_scores, compute_totals and finalize, in Python."""
    figures = (data.get("figures") or {}).get("departments") or {}
    departments = list(data.get("departments") or [])
    full = float(p["full_marks"])

    def counts(d: str) -> dict:
        return figures.get(d) or {}

    def completion_of(f: dict) -> float | None:
        if not f.get("records"):
            return None
        share = (p["w_on_time"] * f.get("on_time", 0) + p["w_acted"] * f.get("acted", 0)
                 + p["w_resolved"] * (f["records"] - f.get("returned", 0))) / f["records"]
        return round(full * share, 2)

    def satisfaction_of(f: dict) -> float | None:
        return round(full * f["rating_sum"] / f["rated"] / 5, 2) if f.get("rated") else None

    def absent(rule: Any, found: Iterable) -> float | None:
        if rule == "median":
            value = median(list(found))
            return round(value, 2) if value is not None else None
        return float(rule)

    completions = {d: completion_of(counts(d)) for d in departments}
    satisfactions = {d: satisfaction_of(counts(d)) for d in departments}
    completion_absent = absent(p["absent_completion"], completions.values())
    satisfaction_absent = absent(p["absent_satisfaction"], satisfactions.values())
    scored = [r for r in data.get("street_results") or [] if r.get("status") == "已评分"]

    def perceived_of(d: str) -> float | None:
        found = [r["scores"][d]["score"] if d in r["scores"] else full for r in scored]
        return round(sum(found) / len(found), 2) if found else None

    accepted = {a["department"]: a.get("revisions") or {} for a in data.get("appeals_made") or []
                if a.get("status") == "申诉成立"}
    rows = []
    for d in departments:
        row = {"department": d,
               "completion": completions[d] if completions[d] is not None else completion_absent,
               "satisfaction": satisfactions[d] if satisfactions[d] is not None else satisfaction_absent,
               "perceived": perceived_of(d)}
        row.update(accepted.get(d, {}))
        row["total"] = _total(row, p)
        rows.append(row)
    bands = [(g, float(p[b])) for g, b in zip(GRADES, BANDS, strict=True)]
    return rank_and_grade(rows, ORDER, bands)


def _total(parts: dict, p: dict) -> float | None:
    weighted = [(p["w_completion"], parts["completion"]), (p["w_satisfaction"], parts["satisfaction"]),
                (p["w_perceived"], parts["perceived"])]
    weight = sum(w for w, value in weighted if value is not None)
    if not weight:
        return None
    return round(sum(w * value for w, value in weighted if value is not None) / weight, 2)


def _checked_weights(weights: object) -> dict:
    """A what-if's parameters as given (a JSON object): numbers for the weights and bands, shares adding to 1."""
    if not isinstance(weights, dict) or not weights:
        raise InvalidInput("weights must be a JSON object, like {\"w_completion\": 0.6, \"w_perceived\": 0.2}")
    unknown = sorted(set(weights) - set(PARAMETERS))
    if unknown:
        raise InvalidInput(f"weights: unknown parameter {unknown[0]} (known: {', '.join(PARAMETERS)})")
    checked: dict[str, Any] = {}
    for name, value in weights.items():
        if name.startswith("absent_") and value == "median":
            checked[name] = value
            continue
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise InvalidInput(f"weights: {name} must be a number, got {value!r}") from None
        if number < 0 or (name != "full_marks" and not name.startswith("absent_") and number > 1):
            raise InvalidInput(f"weights: {name} must be between 0 and 1, got {value!r}")
        checked[name] = number
    return checked


def _check_shares(parameters: dict) -> None:
    for group, what in ((WEIGHTS, "the weights of the three parts"), (BANDS, "the grade bands")):
        given = [parameters.get(k) for k in group]
        if all(isinstance(v, (int, float)) for v in given) and abs(sum(given) - 1) > 1e-6:  # type: ignore[arg-type]
            raise InvalidInput(f"{what} ({', '.join(group)}) must add up to 1, they add up to "
                               f"{round(sum(given), 4)}")  # type: ignore[arg-type]


def weights_from_dmn(dmn: object, year: int) -> dict:
    """The parameters a draft of evaluation-weights.dmn gives for ``year``: the first rule whose year entry holds,
    its outputs read as literals (numbers, strings, lists, True/False)."""
    if isinstance(dmn, bytes):
        dmn = dmn.decode("utf-8", errors="replace")
    if not isinstance(dmn, str) or not dmn.strip():
        raise InvalidInput("the DMN draft is empty")
    if len(dmn) > MAX_DMN_BYTES:
        raise InvalidInput(f"the DMN draft is larger than {MAX_DMN_BYTES // 1024} KB")
    try:
        root = etree.fromstring(dmn.encode("utf-8"), etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as exc:
        raise InvalidInput(f"the DMN draft is not XML: {exc}") from exc
    table = root.find(f".//{DMN}decision[@id='{DECISION_ID}']/{DMN}decisionTable")
    if table is None:
        raise InvalidInput(f"the DMN draft has no decision table '{DECISION_ID}'")
    outputs = [o.get("name") for o in table.findall(f"{DMN}output")]
    for rule in table.findall(f"{DMN}rule"):
        entry = rule.find(f"{DMN}inputEntry/{DMN}text")
        if not _year_matches(entry.text if entry is not None else None, year, rule.get("id")):
            continue
        values: dict[str, Any] = {}
        for name, cell in zip(outputs, rule.findall(f"{DMN}outputEntry"), strict=False):
            text = (cell.findtext(f"{DMN}text") or "").strip()
            if name in PARAMETERS and text:
                try:
                    values[name] = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    raise InvalidInput(f"the DMN draft's rule {rule.get('id')}: {name} = {text!r} is not a "
                                       f"literal value") from None
        checked = _checked_weights(values)
        _check_shares(checked)
        return checked
    raise InvalidInput(f"no rule of the DMN draft applies to the year {year}")


def _year_matches(text: str | None, year: int, rule_id: str | None) -> bool:
    try:
        test = entry_test(text, "year")
    except ValueError as exc:
        raise InvalidInput(f"the DMN draft's rule {rule_id}: {exc}") from exc
    if test is None:
        return True
    try:
        tree = ast.parse(test, mode="eval")
    except SyntaxError:
        raise InvalidInput(f"the DMN draft's rule {rule_id}: cannot read the year entry {text!r}") from None
    allowed = (ast.Expression, ast.Compare, ast.BoolOp, ast.UnaryOp, ast.Name, ast.Constant, ast.Tuple, ast.List,
               ast.Load, ast.And, ast.Or, ast.Not, ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In,
               ast.NotIn, ast.USub)
    if not all(isinstance(node, allowed) for node in ast.walk(tree)):
        raise InvalidInput(f"the DMN draft's rule {rule_id}: the year entry {text!r} must be a plain comparison")
    return bool(eval(compile(tree, "<year>", "eval"), {"__builtins__": {}}, {"year": year}))  # noqa: S307 - checked
