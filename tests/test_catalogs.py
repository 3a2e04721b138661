"""Catalogs (engine.catalogs): data files deployed and versioned with the processes that name them, read by
``catalog()`` in scripts and conditions — checked at deploy, kept per version, rebuilt after a restart."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from engine.api import Whistle
from engine.deploy.lint import lint_paths
from engine.errors import DeploymentInvalid, IncidentRaised
from engine.scripting import catalogs

FOLDER = Path(__file__).parent / "fixtures" / "catalogs"
PROJECT = Path(__file__).parent.parent


@pytest.fixture
def folder(tmp_path) -> Path:
    target = tmp_path / "processes"
    shutil.copytree(FOLDER, target)
    return target


def statuses(results) -> dict:
    return {d.key: (d.version, d.status) for d in results}


def report(whistle: Whistle, situation: str, instance: int | None = None) -> int:
    """Start a case (or take the one given) and fill in the situation; returns the instance id."""
    if instance is None:
        instance = whistle.start("catalog_routing")
    [task] = [t for t in whistle.tasks("clerk") if t["instance_id"] == instance]
    whistle.complete(task["task_id"], "clerk", {"situation": situation})
    return instance


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


# ---------------------------------------------------------------------------------------------------------
# Reading catalog files (no database)

def test_csv_rows_are_text_and_json_rows_keep_their_types():
    rows, problems = catalogs.parse("lists/situations.csv", (FOLDER / "lists" / "situations.csv").read_text("utf-8"))
    assert problems == []
    assert rows[2] == {"id": "roof", "name": "屋顶漏水, 楼道渗水", "lead": "dept-housing", "tier": "yellow"}
    rows, problems = catalogs.parse("t.catalog.json", (FOLDER / "lists" / "tiers.catalog.json").read_text("utf-8"))
    assert problems == [] and rows[0]["minutes"] == 30
    rows, _ = catalogs.parse("bom.csv", "\ufeffid,name\r\na,甲\r\n\r\nb,乙\r\n")  # Excel: BOM, CRLF, blank line
    assert rows == [{"id": "a", "name": "甲"}, {"id": "b", "name": "乙"}]


@pytest.mark.parametrize("content, line, needle", [
    ("id,name\na,甲\nb,乙,多余\n", 3, "3 values, but the first line names 2 columns"),
    ("id,name\na,甲\nb\n", 3, "1 values"),
    ("id,id\na,b\n", 1, "column 'id' appears twice"),
    ('id,name\na,"甲\n', 2, "not valid CSV"),
    ("", 1, "the file is empty"),
])
def test_bad_csv_names_the_line(content, line, needle):
    rows, problems = catalogs.parse("x.csv", content)
    assert rows is None and problems[0].line == line and needle in problems[0].message, problems
    assert str(problems[0]).startswith(f"x.csv:{line}: catalog: ")


def test_bad_json_catalogs():
    assert catalogs.parse("x.catalog.json", '[\n{"a": 1},\n{"a": }\n]')[1][0].line == 3
    assert "one JSON list of objects" in catalogs.parse("x.catalog.json", '{"a": 1}')[1][0].message
    assert "item 1 of the list is not an object" in catalogs.parse("x.catalog.json", '[{}, 2]')[1][0].message


def test_lint_warns_about_catalogs_not_deployed_and_names_computed_at_run_time():
    found = [(p.file.rsplit("/", 1)[-1], p.line, p.severity, p.message) for p in lint_paths([FOLDER])
             if "[catalog-deployed]" in p.message]
    assert [f[:3] for f in found] == [("lookup.bpmn", 14, "warning"), ("lookup.bpmn", 16, "warning")]
    assert 'catalog("streets") names a catalog that is neither in this deployment' in found[0][3]
    assert "a name computed at run time" in found[1][3]
    assert lint_paths([PROJECT / "processes"]) == []  # the shipped catalogs are checked; nothing to warn about


# ---------------------------------------------------------------------------------------------------------
# Deployed with the process, read at run time (SQLite and PostgreSQL)

def test_a_gateway_and_a_script_route_by_the_catalog(whistle, folder):
    deployed = whistle.deploy([folder])
    assert statuses(deployed) == {"catalog_routing": (1, "new"), "catalog_lookup": (1, "new")}
    lookup = next(d for d in deployed if d.key == "catalog_lookup")
    assert sum("[catalog-deployed]" in w["message"] for w in lookup.warnings) == 2  # stored with the version
    whistle.add_user("clerk", ["clerks"])
    whistle.add_user("firefighter", ["dept-fire"])
    urgent = report(whistle, "fire-exit")
    normal = report(whistle, "roof")
    data = whistle.show(urgent)["data"]
    assert (data["lead"], data["tier"], data["minutes"], data["situation_count"]) == ("dept-fire", "red", 30, 3)
    assert data["names"][2] == "屋顶漏水, 楼道渗水" and "row" not in data
    [task] = whistle.tasks("firefighter")
    assert task["instance_id"] == urgent and task["name"] == "紧急处置"
    assert [t["name"] for t in whistle.tasks("clerk")] == ["一般处置"]
    assert whistle.show(normal)["data"]["minutes"] == 120


def test_a_changed_catalog_makes_a_new_version_and_running_cases_keep_theirs(whistle, folder):
    whistle.deploy([folder])
    whistle.add_user("clerk", ["clerks"])
    old = whistle.start("catalog_routing")
    # Unchanged files: nothing new. The BPMN file alone keeps its catalogs (from the deployed version).
    assert statuses(whistle.deploy([folder])) == {"catalog_routing": (1, "unchanged"), "catalog_lookup": (1, "unchanged")}
    assert statuses(whistle.deploy([folder / "routing.bpmn"])) == {"catalog_routing": (1, "unchanged")}
    edit(folder / "lists" / "situations.csv", "fire-exit,消防通道堵塞,dept-fire,red", "fire-exit,消防通道堵塞,dept-rescue,red")
    # Both processes name "situations": both change. "tiers" is unchanged but travels with the version.
    assert statuses(whistle.deploy([folder])) == {"catalog_routing": (2, "new"), "catalog_lookup": (2, "new")}
    edit(folder / "lists" / "tiers.catalog.json", '"minutes": 30', '"minutes": 15')
    assert statuses(whistle.deploy([folder])) == {"catalog_routing": (3, "new"), "catalog_lookup": (2, "unchanged")}
    new = report(whistle, "fire-exit")
    report(whistle, "fire-exit", old)  # the version 1 case runs its script after version 3 is deployed
    assert (whistle.show(old)["version"], whistle.show(old)["data"]["lead"], whistle.show(old)["data"]["minutes"]) \
        == (1, "dept-fire", 30)
    assert (whistle.show(new)["version"], whistle.show(new)["data"]["lead"], whistle.show(new)["data"]["minutes"]) \
        == (3, "dept-rescue", 15)
    by_version = {t["instance_id"]: t["candidate_groups"] for t in whistle.tasks()}
    assert by_version == {old: ["dept-fire"], new: ["dept-rescue"]}


def test_a_bad_catalog_deploys_nothing(whistle, folder):
    edit(folder / "lists" / "situations.csv", "roof,", "roof,leaky,")
    (folder / "lists" / "broken.catalog.json").write_text('[\n  {"a": 1},\n  {"a": 2,}\n]', encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder])
    problems = [str(p) for p in raised.value.problems]
    assert any(p.endswith("lists/situations.csv:4: catalog: 5 values, but the first line names 4 columns "
                          "(id, name, lead, tier); quote values that contain a comma") for p in problems), problems
    assert any("lists/broken.catalog.json:3: catalog: not valid JSON" in p for p in problems), problems
    assert whistle.definitions() == []
    with pytest.raises(DeploymentInvalid) as raised:
        whistle.deploy([folder / "lists" / "tiers.catalog.json"])
    assert "deployed alone, a catalog changes nothing" in str(raised.value.problems[0])


def test_an_unknown_catalog_is_an_incident_naming_the_ones_available(whistle, folder):
    whistle.deploy([folder])
    with pytest.raises(IncidentRaised) as raised:
        whistle.start("catalog_lookup", data={"list_name": "call-situation"})
    [incident] = whistle.incidents()
    for message in (str(raised.value), incident["error"]):
        assert 'CatalogError: no catalog "call-situation" is deployed with process \'catalog_lookup\' version 1 ' \
               '(available: situations)' in message, message
    with pytest.raises(IncidentRaised, match='no catalog "streets"'):
        whistle.start("catalog_lookup", data={"list_name": "streets"})


def test_a_lookup_without_a_match_names_the_catalog_and_the_values(whistle, folder):
    whistle.deploy([folder])
    whistle.add_user("clerk", ["clerks"])
    with pytest.raises(IncidentRaised, match="catalog \"situations\" has no row with id = 'nowhere'"):
        report(whistle, "nowhere")
    edit(folder / "routing.bpmn", 'row = catalog("situations", id=situation)', 'row = catalog("situations", code=situation)')
    whistle.deploy([folder])
    with pytest.raises(IncidentRaised, match="catalog \"situations\" has no column 'code' \\(columns: id, lead, name, tier\\)"):
        report(whistle, "noise")


def test_catalogs_are_rebuilt_from_the_database_after_a_restart(db_url, manual_clock, folder):
    first = Whistle(db_url)
    first.deploy([folder])
    first.add_user("clerk", ["clerks"])
    instance = first.start("catalog_routing")
    first.close()
    shutil.rmtree(folder)  # nothing is read from files at run time
    second = Whistle(db_url)  # an empty spec cache: specs and catalogs come from the stored sources
    report(second, "noise", instance)
    data = second.show(instance)["data"]
    assert (data["lead"], data["minutes"]) == ("dept-environment", 1440)
    second.close()
