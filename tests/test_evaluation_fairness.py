"""The evaluation's ranking rule (issue 11, item 4): ``rank_and_grade`` and ``median`` from the designer helper
library, as the evaluation's scripts call them. Bands hold to 60/30/10 of the ranked departments; a tie that
straddles a band's line goes where most of it falls, so a band exceeds its share by at most half that tie.
"""
from __future__ import annotations

from collections import Counter

import pytest

from engine.scripting.helpers import median, rank_and_grade

BANDS = [("优秀", 0.6), ("良好", 0.3), ("一般", 0.1)]
ORDER = ["total", "completion", "perceived", "satisfaction"]


def grades(totals: list[float], **more) -> Counter:
    rows = [{"department": f"dept-{i:02}", "total": t, **{k: v[i] for k, v in more.items()}}
            for i, t in enumerate(totals)]
    return Counter(row["grade"] for row in rank_and_grade(rows, ORDER, BANDS))


@pytest.mark.parametrize("n, expected", [(3, (2, 1, 0)), (7, (4, 2, 1)), (10, (6, 3, 1)), (26, (16, 7, 3))])
def test_without_ties_the_bands_are_60_30_10_of_the_ranked(n, expected):
    found = grades([100 - i for i in range(n)])
    assert (found["优秀"], found["良好"], found["一般"]) == expected


@pytest.mark.parametrize("totals, expected", [
    ([90, 90, 90], (3, 0, 0)),                 # one tie of everyone: one grade (the line at 2 takes it)
    ([9, 9, 8, 8, 8, 7, 6], (5, 1, 1)),        # 8-8-8 straddles the line at 4 with two of three inside
    ([9, 8, 8, 8, 7, 7, 6], (4, 2, 1)),        # 8-8-8 ends exactly at the line
    ([9, 9, 9, 8, 8, 8, 8, 7, 6, 5], (7, 2, 1)),  # 8×4 straddles the line at 6 with three inside: 优秀
    ([9, 9, 9, 9, 9, 8, 8, 8, 8, 5], (5, 4, 1)),  # 8×4 straddles it with one inside: 良好
    ([100] * 7 + [90, 80, 70], (7, 2, 1)),     # 7 tied of 10: 优秀 exceeds 6 by 1 (less than half of 7)
])
def test_a_tie_goes_where_most_of_it_falls(totals, expected):
    found = grades(totals)
    assert (found["优秀"], found["良好"], found["一般"]) == expected
    line = int(len(totals) * 0.6 + 0.5)
    tie = max(Counter(totals).values())
    assert found["优秀"] - line <= tie / 2  # never the whole tie over the share


def test_later_fields_break_ties_of_earlier_ones_and_equal_rows_share_rank_and_grade():
    rows = [{"department": "a", "total": 90, "completion": 80}, {"department": "b", "total": 90, "completion": 95},
            {"department": "c", "total": 90, "completion": 95}, {"department": "d", "total": None}]
    ranked = {r["department"]: (r["rank"], r["grade"], r["tied"]) for r in rank_and_grade(rows, ORDER, BANDS)}
    assert ranked == {"b": (1, "优秀", 2), "c": (1, "优秀", 2), "a": (3, "良好", 1), "d": (4, "良好", 1)}  # 10% of 4 is 0


def test_not_being_called_is_not_rewarded():
    """The roster of 26: two departments answered three whistles on time (completion 100, rated 4/5 → 80); 24
    were never called and get the median of those two, not full marks — tied with them, never above."""
    worked = {"completion": 100.0, "satisfaction": 80.0, "perceived": 100.0}
    absent = {"completion": median([100.0, 100.0]), "satisfaction": median([80.0, 80.0]), "perceived": 100.0}
    rows = [dict(worked, department=f"dept-w{i}") for i in range(2)] + [dict(absent, department=f"dept-a{i:02}")
                                                                         for i in range(24)]
    for row in rows:
        row["total"] = round(0.5 * row["completion"] + 0.2 * row["satisfaction"] + 0.3 * row["perceived"], 2)
    ranked = {r["department"]: r for r in rank_and_grade(rows, ORDER, BANDS)}
    assert ranked["dept-w0"]["rank"] == 1 and ranked["dept-w0"]["grade"] == "优秀"
    assert all(r["rank"] >= ranked["dept-w0"]["rank"] for r in ranked.values())


def test_median_leaves_out_what_is_missing():
    assert median([3, None, 1, 2]) == 2 and median([4, 1]) == 2.5 and median([None]) is None and median([]) is None
    assert median([True, 5]) == 5  # booleans are not numbers here
