"""DMN decision tables in running processes (engine.dmn): hit policies, sandboxed evaluation, result
variables, and deploy-time problems for broken or overlapping tables."""
from datetime import timedelta
from pathlib import Path

import pytest

from engine.dmn.decisions import DecisionEngine
from engine.dmn.entries import cells_overlap, classify, entry_test
from engine.errors import DeploymentInvalid, IncidentRaised
from engine.store.definitions import latest_version

from conftest import FIXTURES, START

DMN = FIXTURES / "dmn"
BAD = DMN / "bad"
ROUTING = [DMN / "department.dmn", DMN / "tier.dmn", DMN / "helpers.dmn", DMN / "points.dmn", DMN / "routing.bpmn"]


def line_of(path: Path, needle: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


# -- input entries ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("entry, value, matches", [
    ('"noise"', "noise", True), ('"noise"', "dust", False),
    ('"a","b"', "b", True), ('"a","b"', "c", False),
    (">= 8", 8, True), (">= 8", 7.9, False), ("< 5", 4, True),
    ("[5..8[", 5, True), ("[5..8[", 8, False), ("]5..8]", 5, False), ("]5..8]", 8, True),
    ('not("pothole")', "noise", True), ('not("pothole")', "pothole", False),
    ('? in ("x", "y")', "y", True), ('in ("x", "y")', "z", False), ("len(?) > 3", "noise", True),
    ("true", True, True), ("false", True, False), ("null", None, True),
    ('"a, b"', "a, b", True), ("-", "anything", True), ("", "anything", True), (None, 42, True),
])
def test_input_entries_as_python_tests(entry, value, matches):
    from engine.scripting.sandbox import SandboxEnvironment

    test = entry_test(entry, "dmninput0")
    if test is None:
        assert matches
        return
    assert SandboxEnvironment({}).evaluate(test, {"dmninput0": value}) is matches


def test_overlap_analysis_of_entries():
    assert cells_overlap(classify('"noise"'), classify('"dust","noise"')) is True
    assert cells_overlap(classify('"noise"'), classify('"dust"')) is False
    assert cells_overlap(classify(">= 5"), classify("< 5")) is False
    assert cells_overlap(classify(">= 5"), classify("[3..6]")) is True
    assert cells_overlap(classify("< 3"), classify("[3..6]")) is False
    assert cells_overlap(classify("-"), classify('"x"')) is True
    assert cells_overlap(classify('not("x")'), classify('"x"')) is False
    assert cells_overlap(classify('"noise"'), classify("len(?) < 6")) is None  # cannot tell: not reported
    assert cells_overlap(classify("len(?) > 2"), classify("len(?)  >  2")) is True


# -- inside a running process -------------------------------------------------------------------------------

def test_a_table_chooses_department_and_deadline_in_a_running_process(whistle, manual_clock):
    deployed = {r.key: (r.kind, r.version) for r in whistle.deploy(ROUTING)}
    assert deployed == {"department": ("decision", 1), "tier": ("decision", 1), "helpers": ("decision", 1),
                        "points": ("decision", 1), "routing": ("process", 1)}
    whistle.add_user("pat", ["dept-police"])
    whistle.add_user("fay", ["dept-fire"])

    # UNIQUE: night-time noise goes to the police within 30 minutes.
    night = whistle.start("routing", data={"situation": "noise", "night": True, "urgency": 9, "reports": [1, 2, 3]})
    [task] = whistle.tasks("pat")
    assert (task["instance_id"], task["candidate_groups"]) == (night, ["dept-police"])
    assert task["due_at"] == (START + timedelta(minutes=30)).isoformat()
    data = whistle.show(night)["data"]
    assert (data["department"], data["deadline"], data["tier"]) == ("dept-police", "PT30M", "red")  # FIRST: >= 8
    assert data["helpers"] == ["dept-police", "street-office"]  # COLLECT, mapDecisionResult collectEntries
    assert data["points"] == 1 + 10 + 9 * 2  # COLLECT with aggregation SUM

    # A comma list in a UNIQUE table; FIRST falls through to its range; COLLECT gathers three rules.
    fire = whistle.start("routing", data={"situation": "blocked-exit", "night": False, "urgency": 6, "reports": []})
    [task] = whistle.tasks("fay")
    assert task["due_at"] == (START + timedelta(minutes=30)).isoformat()
    data = whistle.show(fire)["data"]
    assert (data["department"], data["tier"], data["points"]) == ("dept-fire", "yellow", 11)
    assert data["helpers"] == ["dept-police", "dept-fire", "street-office"]

    # The deadline comes from the table: three days for a pothole.
    road = whistle.start("routing", data={"situation": "pothole", "night": False, "urgency": 1, "reports": []})
    [task] = whistle.show(road)["open_tasks"]
    assert (task["candidate_groups"], task["due_at"]) == (["dept-roads"], (START + timedelta(days=3)).isoformat())
    assert (whistle.show(road)["data"]["tier"], whistle.show(road)["data"]["helpers"]) == ("blue", [])

    # No rule matches: the outputs keep the values they had (a default set before the task).
    unknown = whistle.start("routing", data={"situation": "graffiti", "night": False, "urgency": 2, "reports": [],
                                             "department": "street-office", "deadline": "P1D"})
    [task] = whistle.show(unknown)["open_tasks"]
    assert task["candidate_groups"] == ["street-office"]


def test_decisions_are_evaluated_by_whistles_engine_in_the_sandbox(whistle, tmp_path):
    whistle.deploy(ROUTING)
    with whistle.db.read() as session:
        version = latest_version(session, "routing")
        spec, _ = whistle.specs.get(session, version.id)
    engines = [spec.task_specs[name].dmnEngine for name in ("pick_department", "pick_tier", "pick_helpers", "score")]
    assert all(isinstance(e, DecisionEngine) for e in engines)
    assert [e.decision_table.hit_policy for e in engines] == ["UNIQUE", "FIRST", "COLLECT", "COLLECT"]

    # An input expression the sandbox refuses at run time becomes an incident; nothing is changed.
    table = tmp_path / "department.dmn"
    table.write_text((DMN / "department.dmn").read_text(encoding="utf-8").replace(
        "<text>situation</text>", '<text>getattr(situation, "__class__")</text>'), encoding="utf-8")
    whistle.deploy([table, *ROUTING[1:]])
    with pytest.raises(IncidentRaised, match="refused") as caught:
        whistle.start("routing", data={"situation": "noise", "night": True, "urgency": 1, "reports": []})
    assert caught.value.instance_id is None
    [incident] = whistle.incidents()
    assert incident["element_id"] == "pick_department" and "__class__" in incident["error"]


def test_overlapping_unique_rules_found_only_at_run_time_are_an_incident(whistle):
    whistle.deploy([DMN / "hidden_overlap.dmn", DMN / "hidden.bpmn"])
    with pytest.raises(IncidentRaised, match="UNIQUE") as caught:
        whistle.start("hidden", data={"situation": "noise"})
    assert "rules 1 ('Rule_exact'), 2 ('Rule_short')" in str(caught.value)
    # A value matching one rule only is fine.
    instance = whistle.start("hidden", data={"situation": "pot"})
    assert whistle.show(instance)["open_tasks"][0]["candidate_groups"] == ["street-office"]


def test_changing_a_table_makes_new_versions_of_it_and_its_processes(whistle, tmp_path):
    for path in ROUTING:
        (tmp_path / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    whistle.deploy([tmp_path])
    old = whistle.start("routing", data={"situation": "pothole", "night": False, "urgency": 1, "reports": []})
    table = tmp_path / "department.dmn"
    table.write_text(table.read_text(encoding="utf-8").replace('"P3D"', '"P5D"'), encoding="utf-8")
    deployed = {r.key: (r.version, r.status) for r in whistle.deploy([tmp_path])}
    assert deployed["department"] == (2, "new") and deployed["routing"] == (2, "new")
    assert deployed["tier"] == (1, "unchanged")
    new = whistle.start("routing", data={"situation": "pothole", "night": False, "urgency": 1, "reports": []})
    assert whistle.show(old)["data"]["deadline"] == "P3D"
    assert whistle.show(new)["data"]["deadline"] == "P5D"


# -- deploy-time problems ------------------------------------------------------------------------------------

def problems_of(whistle, *paths):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy(list(paths))
    return {(Path(p.file).name, p.line, p.element_id): p.message for p in caught.value.problems}


def test_broken_table_problems_name_file_line_and_element(whistle):
    path = BAD / "bad_table.dmn"
    found = problems_of(whistle, path)

    def at(element_id, needle=None):
        key = ("bad_table.dmn", line_of(path, needle or f'id="{element_id}"'), element_id)
        assert key in found, (key, sorted(found))
        return found[key]

    assert "input expression 'situation ==' of column 1" in at("InputExpression_situation")
    assert '"__class__"' in at("InputExpression_secret")
    assert "output column 2 has no name" in at("Output_unnamed")
    assert "3 input entries but the table has 2 input columns; an entry refers to an input column that does not " \
           "exist" in at("Rule_extra_input")
    assert "1 output entry but the table has 2 output columns" in at("Rule_missing_output")
    assert "'>>> 5' does not compile" in at("UnaryTests_unreadable_1")
    assert "__import__" in at("LiteralExpression_escape_1")
    assert all(message.endswith("[decision-table]") for message in found.values())
    assert whistle.definitions() == []


def test_empty_table_and_unsupported_hit_policy(whistle):
    found = problems_of(whistle, BAD / "empty.dmn", BAD / "priority.dmn")
    empty = ("empty.dmn", line_of(BAD / "empty.dmn", 'id="DecisionTable_empty"'), "DecisionTable_empty")
    assert "has no rules: the table is empty" in found[empty]
    priority = ("priority.dmn", line_of(BAD / "priority.dmn", 'id="DecisionTable_priority"'), "DecisionTable_priority")
    assert "hit policy PRIORITY is not supported" in found[priority] and "FIRST" in found[priority]


def test_overlapping_unique_rules_are_refused_where_detectable(whistle):
    path = BAD / "overlap.dmn"
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([path])
    found = caught.value.problems
    overlaps = sorted((p.element_id, p.message.split("rules ", 1)[1].split(" overlap")[0]) for p in found)
    assert overlaps == [
        ("Rule_long_name_again", "7 ('Rule_long_name') and 8 ('Rule_long_name_again')"),  # identical entries
        ("Rule_noise_dust", "1 ('Rule_noise') and 2 ('Rule_noise_dust')"),  # literal sets intersect, "-" matches all
        ("Rule_pothole_band", "3 ('Rule_pothole_high') and 5 ('Rule_pothole_band')"),  # ranges intersect
        ("Rule_pothole_band", "4 ('Rule_pothole_low') and 5 ('Rule_pothole_band')"),
    ]
    for p in found:
        assert (p.file, p.line) == (str(path), line_of(path, f'id="{p.element_id}"'))
    # Disjoint rules are not reported: "pothole" >= 5 / < 5, "crack" < 3 / [3..6].
    wild = problems_of(whistle, BAD / "wildcards.dmn")
    [(key, message)] = wild.items()
    assert key == ("wildcards.dmn", line_of(BAD / "wildcards.dmn", 'id="Rule_blank"'), "Rule_blank")
    assert "UNIQUE" in message and "any / any" in message


def test_business_rule_task_must_name_a_deployed_decision(whistle, tmp_path):
    process = tmp_path / "routing.bpmn"
    process.write_text((DMN / "routing.bpmn").read_text(encoding="utf-8"), encoding="utf-8")
    found = problems_of(whistle, process, DMN / "tier.dmn", DMN / "helpers.dmn", DMN / "points.dmn")
    key = ("routing.bpmn", line_of(process, 'id="pick_department"'), "pick_department")
    assert "uses decision 'department', which is neither in this deployment nor deployed" in found[key]
    # Deployed earlier, the decision is found and stored with the process.
    whistle.deploy([DMN / "department.dmn"])
    assert {r.key for r in whistle.deploy([process, DMN / "tier.dmn", DMN / "helpers.dmn", DMN / "points.dmn"])} \
        == {"routing", "tier", "helpers", "points"}
