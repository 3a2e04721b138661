"""The service ``whistle.monthly_analysis``: the month's cases together, per street (分析研判) — repeated
problems at one place, the call situations, the departments most often late."""
from __future__ import annotations

import unicodedata
from datetime import datetime

from engine.audit import ledger
from engine.scripting.assessment import department_groups
from engine.scripting.service_registry import ServiceError, service
from engine.store import Session, case_figures
from engine.time import clock, workdays


def _place_of(data: dict) -> tuple[str, str]:
    """Where a case is, for finding repeats: the community when the report names one, else the address, compared
    without spaces and with full-width characters folded (``睦南道 １２号`` is ``睦南道12号``).
    Returns (kind, place)."""
    community = str(data.get("community") or "").strip()
    if community:
        return "community", community
    return "location", "".join(unicodedata.normalize("NFKC", str(data.get("location") or "")).split())


@service("whistle.monthly_analysis", required=("year", "month"), optional=("min_repeats", "top", "process"),
         description="某月的吹哨案件按街道汇总：同一地点同一情形的重复问题、呼叫情形、"
                     "逾期或未报到最多的部门（分析研判）。"
                     "The month's cases per street: repeated problems by place and situation, late departments.")
def monthly_analysis(session: Session, year, month, min_repeats=2, top=5, process: str = "whistle") -> dict:
    """Every case of ``process`` reported in the month (deployment time zone), open or closed, as it stands now.

    Per street: ``cases``, ``whistles`` (the ledger has department obligations), ``self_handled``, ``rejected``,
    ``open``; ``situations`` (call situations, most frequent first); ``repeats`` — the same situation at the same
    place ``min_repeats`` times or more (the place is the community when the report names one, else the address as
    written, spaces and full-width forms aside), with the addresses as written and the case ids;
    ``late_departments`` — the departments whose on-site reports of the street's cases were late or never came
    (from the accountability ledger, an obligation still open past its due time counting as never), most first,
    at most ``top``. ``district`` has the same for the whole district.
    """
    try:
        year, month, min_repeats, top = int(year), int(month), int(min_repeats), int(top)
    except (TypeError, ValueError):
        raise ServiceError(f"year, month, min_repeats and top must be whole numbers, got {year!r}, {month!r}, "
                           f"{min_repeats!r}, {top!r}") from None
    if not 2000 <= year <= 2200 or not 1 <= month <= 12:
        raise ServiceError(f"{year}-{month} is not a month Whistle can analyse")
    if min_repeats < 2 or top < 1:
        raise ServiceError("min_repeats must be 2 or more (a repeat is a problem seen twice) and top 1 or more")
    zone = workdays.timezone()
    start = datetime(year, month, 1, tzinfo=zone)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=zone)
    cutoff = clock.now()
    cases = case_figures.cases_started(session, str(process), start, end)
    by_case: dict[int, list] = {}
    for obligation in ledger.obligations(session, cutoff, process_id=str(process), started_from=start,
                                         started_before=end):
        by_case.setdefault(obligation.instance_id, []).append(obligation)
    _, roster_streets = department_groups(session)
    gathered: dict[str, list] = {s: [] for s in roster_streets}
    for instance_id, data, status in cases:
        gathered.setdefault(str((data or {}).get("street") or ""), []).append((instance_id, data or {}, status))
    gathered.pop("", None)
    everything = [case for found in gathered.values() for case in found]
    return {"year": year, "month": month, "process": str(process), "from": start.isoformat(), "to": end.isoformat(),
            "cutoff": cutoff.isoformat(), "min_repeats": min_repeats, "cases": len(everything),
            "district": _analyse(everything, by_case, min_repeats, top),
            "streets": {street: dict(_analyse(found, by_case, min_repeats, top), street=street)
                        for street, found in sorted(gathered.items())}}


def _analyse(cases: list, by_case: dict, min_repeats: int, top: int) -> dict:
    counts = {"cases": len(cases), "whistles": 0, "self_handled": 0, "rejected": 0, "open": 0}
    situations: dict[str, dict] = {}
    places: dict[tuple, dict] = {}
    late: dict[str, dict] = {}
    for instance_id, data, status in cases:
        whistled = bool(by_case.get(instance_id))
        counts["whistles"] += whistled
        counts["self_handled"] += data.get("decision") == "self" and not whistled
        counts["rejected"] += data.get("decision") == "reject"
        counts["open"] += status in ("running", "suspended")  # a suspended case is not finished
        situation = str(data.get("situation") or "")
        name = str(data.get("situation_name") or "") or situation
        entry = situations.setdefault(situation, {"situation": situation, "situation_name": name, "count": 0,
                                                  "cases": []})
        entry["count"] += 1
        entry["cases"].append(instance_id)
        if name and entry["situation_name"] == situation:
            entry["situation_name"] = name
        kind, place = _place_of(data)
        if place and situation:
            spot = places.setdefault((situation, kind, place), {
                "situation": situation, "situation_name": name, "place_kind": kind, "place": place,
                "community": str(data.get("community") or ""), "locations": [], "count": 0, "cases": []})
            spot["count"] += 1
            spot["cases"].append(instance_id)
            location = " ".join(str(data.get("location") or "").split())
            if location and location not in spot["locations"]:
                spot["locations"].append(location)
        for o in by_case.get(instance_id, []):
            if o.kind != "on_site" or not o.party:
                continue
            row = late.setdefault(o.party, {"department": o.party, "calls": 0, "late": 0, "never": 0, "cases": []})
            row["calls"] += 1
            if o.state in (ledger.DONE_LATE, ledger.OVERDUE):
                row["late" if o.state == ledger.DONE_LATE else "never"] += 1
                if instance_id not in row["cases"]:
                    row["cases"].append(instance_id)
    repeats = sorted((p for p in places.values() if p["count"] >= min_repeats),
                     key=lambda p: (-p["count"], p["situation"], p["place"]))
    departments = sorted((r for r in late.values() if r["late"] or r["never"]),
                         key=lambda r: (-(r["late"] + r["never"]), -r["never"], r["department"]))[:top]
    return dict(counts, situations=sorted(situations.values(), key=lambda s: (-s["count"], s["situation"])),
                repeats=repeats, late_departments=departments)
