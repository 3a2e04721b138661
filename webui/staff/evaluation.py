"""考核结果: the year's evaluation explained — the ranking, and per department why its score (the ledger's cases,
the streets' deductions, the appeal) — and, for the district, what-if with other weights, bands or a DMN draft
(``engine.casework.evaluations``; nothing is published)."""
from __future__ import annotations

from flask import render_template, request

from engine.errors import InvalidInput
from webui.staff.frame import engine, login_required, pages, signed_in_user

FORM_PARAMETERS = ("w_completion", "w_satisfaction", "w_perceived", "band_excellent", "band_good", "band_average")


@pages.get("/evaluation")
@login_required
def evaluation() -> str:
    return _page(None, None)


@pages.post("/evaluation/whatif")
@login_required
def evaluation_whatif() -> str | tuple[str, int]:
    user = signed_in_user()["username"]
    year = _year()
    upload = request.files.get("dmn")
    try:
        if upload is not None and upload.filename:
            result = engine().evaluation_whatif(user, year, dmn=upload.read(512 * 1024 + 1))
        else:
            weights = {k: request.form[k] for k in FORM_PARAMETERS if request.form.get(k, "").strip()}
            result = engine().evaluation_whatif(user, year, weights=weights or None)
    except InvalidInput as exc:
        return _page(None, exc.message), 422
    return _page(result, None)


def _year() -> int:
    try:
        return int(request.values.get("year") or 0)
    except ValueError:
        raise InvalidInput("year must be a whole number") from None


def _page(whatif: dict | None, problem: str | None) -> str:
    w = engine()
    user = signed_in_user()
    years = w.evaluation_years(user["username"])
    year = _year() or (years[0] if years else 0)
    found = w.evaluation_explained(user["username"], year) if year in years else None
    return render_template("evaluation.html", years=years, year=year, found=found, whatif=whatif, problem=problem,
                           groups=w.group_labels(), district=found is not None and found["scope"] == "all",
                           parameters=FORM_PARAMETERS)
