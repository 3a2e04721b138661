"""Issue 19, findings 2, 7 and the deploy half of 3: designer code stays within its time and memory limits,
BPMN/DMN are read by one hardened XML parser, and deploy refuses what would make engine work unbounded.

Time limits are asserted by outcome (the run became a refusal or a time-out, then an incident), never by
how long it took; memory by the peak growth of a child process that runs the input with the real limits.
"""
from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from sqlalchemy import select

from engine.api import Whistle
from engine.deploy.lint import lint_paths
from engine.errors import DeploymentInvalid, IncidentRaised
from engine.scripting import script_engine as scripting
from engine.scripting.limits import SandboxError, ScriptRefused, ScriptTimeout
from engine.scripting.policy import compile_errors
from engine.scripting.sandbox import SandboxEnvironment
from engine.store.models import SourceBlob

PROJECT = Path(__file__).parent.parent
SHORT = 0.5  # seconds: the time limit used in-process

# -- the inputs of the issue, exactly ---------------------------------------------------------------------

POW = "pow(3, 10**6000, 10**6000 + 1)"
TO_BYTES = "(0).to_bytes(2*10**9, 'big')"
GROWING_MAP = "y = [1]\nany(map(y.append, y))"
FROMKEYS = "\n".join(f"d{i} = dict.fromkeys(range(10**6))" for i in range(12))
UNARY_MINUS = "x = " + "-" * 50_000 + "1"
LONG_SUM = "x = " + " + ".join(["1"] * 100_000)


@pytest.fixture
def env(address_space_cap) -> SandboxEnvironment:
    return SandboxEnvironment(timeout=SHORT, memory_mb=64)


@pytest.fixture
def address_space_cap():
    """Should a guard fail, the test ends in a MemoryError instead of taking the machine's memory."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    with open("/proc/self/statm") as statm:
        size = int(statm.read().split()[0]) * resource.getpagesize()
    cap = size + 3 * 2**30
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))
    yield
    resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def run(env: SandboxEnvironment, source: str, **data):
    """Evaluate ``source`` as an expression when it is one, else execute it as a script."""
    if "\n" not in source and "=" not in source.replace("==", ""):
        return env.evaluate(source, data)
    env.execute(source, data)
    return data


def test_pow_with_a_huge_exponent_and_modulus_is_refused_before_it_starts(env):
    with pytest.raises(ScriptRefused, match=r"pow\(\) with a 19,932-bit exponent and a 19,932-bit modulus"):
        run(env, POW)
    assert run(env, "pow(3, 2**4000, 2**4096 - 1)") == pow(3, 2**4000, 2**4096 - 1)  # RSA-sized still works
    assert run(env, "pow(7, -1, 10**6000 + 1)") == pow(7, -1, 10**6000 + 1)  # an inverse is cheap


def test_int_to_bytes_is_size_checked(env):
    with pytest.raises(ScriptRefused, match=r"int.to_bytes\(2,000,000,000\) would make 2,000,000,000 bytes"):
        run(env, TO_BYTES)
    for source in ("int.to_bytes(0, 2*10**9, 'big')", "True.to_bytes(2*10**9, 'big')"):
        with pytest.raises(ScriptRefused, match="int.to_bytes"):
            run(env, source)
    assert run(env, "(258).to_bytes(2, 'big')") == b"\x01\x02"


def test_a_map_over_the_list_it_grows_stops_at_the_time_limit(env):
    with pytest.raises(ScriptTimeout, match=r"script exceeded its 0\.5 s time limit"):
        run(env, GROWING_MAP)


def test_twelve_fromkeys_lines_stop_at_the_memory_limit(env):
    with pytest.raises(ScriptRefused, match="refused: script used more than 64 MB of memory"):
        run(env, FROMKEYS)


# Each one a single C-level operation (or a C loop) that used to run unwatched.
UNBOUNDED = [
    "b'x' * 10**9",
    "'x' * 10**9",
    "[0] * 10**9",
    "10 ** 10**6",
    "1 << 10**7",
    "pow(2, 10**9)",
    "y = [1]\nz = list(filter(y.append, y))",
    "y = [1]\nz = sorted(y, key=y.append)",
    "y = [1]\nz = dict.fromkeys(map(y.append, y))",
    "y = [1]\nz = [v for v in zip(y, y) if y.append(1) or True]",
    "y = [1]\ny.extend(map(y.append, y))",
    "y = [1]\nfor i in range(100):\n    y[len(y):] = y",
    "y = [0] * 10**6\nz = list(zip(*[y] * 10**6))",
    "y = [0] * 10**6\nz = [*y, *y]",
    "z = list(map(bin, [7 ** 30000] * 10**6))",
    "z = ''.join(map(bin, [7 ** 30000] * 10**6))",
    "z = sum([7 ** 30000] * 10**6)",
    "a = 'x' * 10**6\nb = 'x' * (10**6 - 1) + 'y'\nz = b in [a] * 10**6",
    "a = 'x' * 10**6\nb = 'x' * (10**6 - 1) + 'y'\nz = [a] * 10**6 == [b] * 10**6",
    "a = 'x' * 10**6\nb = 'x' * (10**6 - 1) + 'y'\nz = sorted([a, b] * 50000)",
    "a = 'x' * 10**6\nb = 'x' * 10**6\nz = set([a, b] * 50000)",
    "a = 'x' * 10**6\nb = 'x' * 10**6\nz = dict.fromkeys([a, b] * 50000)",
    "a = 'x' * 10**6\nz = [a] * 10**6\nn = z.count('x' * 10**6)",
    "t = (1,)\nfor i in range(40):\n    t = (t, t)\nd = {t: 1}",
    "t = (1,)\nfor i in range(40):\n    t = (t, t)\nz = hash(t)",
    "t = (1,)\nfor i in range(40):\n    t = (t, t)\ns = set()\ns.add(t)",
    "t = [1]\nu = [1]\nfor i in range(40):\n    t = [t, t]\n    u = [u, u]\nz = t == u",
    "z = ('a' * 10**6).strip('b' * 10**6)",
    "z = ('x' * 10**5).encode('punycode')",
    "z = date(2026, 1, 1).strftime('%c' * 10**5)",
    "fmt = '%c' * 10**5\nz = f'{now():{fmt}}'",
    "t = ('x' * 10**6,) * 1000\nz = ('x' * 10**6).startswith(t)",
]


@pytest.mark.parametrize("source", UNBOUNDED, ids=[s.replace("\n", "; ")[:60] for s in UNBOUNDED])
def test_operations_that_could_not_be_stopped_are_bounded(env, source):
    with pytest.raises(SandboxError) as caught:
        run(env, source)
    message = str(caught.value)
    assert message.startswith("refused: ") or "time limit" in message


def test_ordinary_code_still_works(env):
    data = run(env, """
rows = [{"n": 3, "k": "b"}, {"n": 1, "k": "a"}, {"n": 2, "k": "c"}]
by_n = [r["k"] for r in sorted(rows, key=lambda r: r["n"])]
rows.sort(key=lambda r: r["k"], reverse=True)
first = rows[0]["k"]
top = max(rows, key=lambda r: r["n"])["k"]
low = min([4, 2, 8])
none = max([], default=-1)
merged = {**dict(a=1), **dict([("b", 2)]), "c": 3}
keys = sorted(dict.fromkeys(["x", "y"], 0))
s = set([1, 2, 2])
s.update([3])
u = sorted(s.union({9}, [10]))
kinds = [isinstance(merged, dict), isinstance([], list), isinstance((), tuple), isinstance(s, (set, list))]
joined = "-".join(str(i) for i in range(4)) + "|" + ",".join(map(str, [1, 2]))
pairs = list(zip([1, 2], "ab")) + list(enumerate("c", 1))
back = list(reversed([1, 2, 3]))
rest = [v for v in filter(None, [0, 1, 2])]
between = 0 < len(rows) < 10 and 2 in merged.values() and (1, "a") in {(1, "a"): 1}
grid = {(r, c): r * c for r in range(3) for c in range(3)}
grid[(2, 2)] = 0
lst = [1, 2, 3, 4]
lst[1:3] = ["a", "b", "c"]
del lst[0]
total = sum([1, 2, 3]) + sum(x for x in range(4)) + pow(3, 4, 5) + hash((1, "a")) * 0
text = "吹哨".encode("utf-8").decode("utf-8") + date(2026, 1, 2).strftime("%Y-%m-%d")
""")
    assert data["by_n"] == ["a", "c", "b"] and data["first"] == "c" and data["top"] == "b"
    assert (data["low"], data["none"]) == (2, -1)
    assert data["merged"] == {"a": 1, "b": 2, "c": 3} and data["keys"] == ["x", "y"]
    assert data["u"] == [1, 2, 3, 9, 10] and data["kinds"] == [True, True, True, True]
    assert data["joined"] == "0-1-2-3|1,2"
    assert data["pairs"] == [(1, "a"), (2, "b"), (1, "c")] and data["back"] == [3, 2, 1] and data["rest"] == [1, 2]
    assert data["between"] is True and data["grid"][(2, 1)] == 2 and data["grid"][(2, 2)] == 0
    assert data["lst"] == ["a", "b", "c", 4]
    assert data["total"] == 6 + 6 + 1
    assert data["text"] == "吹哨2026-01-02"
    # Big but reasonable work still fits: a half-million-item list sorted, a 200,000-item set.
    assert env.evaluate("len(sorted(range(500000), reverse=True))", {}) == 500_000
    assert env.evaluate("len(set(str(i) for i in range(200000)))", {}) == 200_000


# -- compiler limits ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source,words", [
    (UNARY_MINUS, "nests too deeply to compile"),
    (LONG_SUM, "script of 400,001 characters (the limit is 100,000)"),
    ("x = " + " + ".join(["1"] * 2_000), "nests operators, calls or brackets more than 100 levels deep"),
    ("x = " + "abs(" * 150 + "1" + ")" * 150, "nests operators, calls or brackets more than 100 levels deep"),
])
def test_compiler_limits_are_clear_refusals(env, source, words):
    [error] = compile_errors(source)
    assert words in error
    with pytest.raises(ScriptRefused, match="refused: script"):
        env.execute(source, {})


# -- the same through the engine: an incident, and the engine goes on ------------------------------------------

def script_process(folder: Path, process_id: str, script: str) -> Path:
    path = folder / f"{process_id}.bpmn"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D_{process_id}"
                  targetNamespace="http://whistle.example/tests">
  <bpmn:process id="{process_id}" name="设计人员的脚本" isExecutable="true">
    <bpmn:startEvent id="start" name="开始"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:scriptTask id="work" name="计算">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
      <bpmn:script>{escape(script)}</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:endEvent id="end" name="结束"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
    <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
""", encoding="utf-8")
    return path


@pytest.fixture
def limited(monkeypatch):
    engine = scripting.WhistleScriptEngine(environment=SandboxEnvironment(timeout=SHORT, memory_mb=64))
    monkeypatch.setattr(scripting, "_engine", engine)
    return engine


@pytest.mark.parametrize("script,words", [
    (POW, ("pow() with a 19,932-bit exponent",)),
    (TO_BYTES, ("int.to_bytes(2,000,000,000)",)),
    (GROWING_MAP, ("exceeded its 0.5 s time limit", "used more than 64 MB of memory")),  # whichever comes first
    (FROMKEYS, ("used more than 64 MB of memory",)),
], ids=["pow", "to_bytes", "growing map", "fromkeys"])
def test_every_overrun_is_an_incident_and_the_engine_keeps_answering(whistle, tmp_path, limited, script, words):
    whistle.deploy([script_process(tmp_path, "overrun", script), script_process(tmp_path, "fine", "x = 1 + 1")])
    with pytest.raises(IncidentRaised) as caught:
        whistle.start("overrun", data={"case": "A-1"})
    assert any(w in caught.value.message for w in words), caught.value.message
    [incident] = whistle.incidents()
    assert incident["element_id"] == "work" and any(w in incident["error"] for w in words)
    assert incident["instance_id"] is None  # the start was rolled back whole
    done = whistle.start("fine")
    assert whistle.show(done)["status"] == "completed" and whistle.show(done)["data"]["x"] == 2


# -- memory stays bounded with the real limits (a child process, so the peak is this input's alone) -----------

def _cap_child() -> None:
    hard = resource.getrlimit(resource.RLIMIT_AS)[1]
    cap = 4 * 2**30 if hard == resource.RLIM_INFINITY else min(4 * 2**30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (cap, hard))  # a failing guard: a MemoryError, not the machine's memory


CHILD = """
import json, os, resource, sys
sys.path.insert(0, {project!r})
from engine.scripting.sandbox import SandboxEnvironment
env = SandboxEnvironment(timeout=10)  # the default 256 MB; a generous time so memory is what stops it
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
before = rss()
try:
    env.execute(sys.stdin.read(), {{}})
    outcome = "finished"
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc)
# VmHWM, not ru_maxrss: the rusage peak survives exec, so it would count the forking pytest process's size.
with open("/proc/self/status") as f:
    peak = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) * 1024
print(json.dumps({{"outcome": outcome, "growth_mb": (peak - before) / 2**20}}))
"""


@pytest.mark.parametrize("script", [TO_BYTES, FROMKEYS, "y = [0] * 10**6\nz = list(zip(*[y] * 10**6))",
                                    "z = list(map(bin, [7 ** 30000] * 10**6))"],
                         ids=["to_bytes", "fromkeys", "zip", "map bin"])
def test_memory_stays_within_the_limit_and_one_operation(script):
    child = subprocess.run([sys.executable, "-c", CHILD.format(project=str(PROJECT))], input=script, text=True,
                           capture_output=True, timeout=300, check=True, preexec_fn=_cap_child)
    result = json.loads(child.stdout)
    assert result["outcome"].startswith(("ScriptRefused: refused:", "ScriptTimeout:")), result
    # The limit is 256 MB of growth; one operation past the last check-point may add up to ~100 MB.
    assert result["growth_mb"] < 256 + 128, result


# -- XML: one hardened parser, no DOCTYPE, UTF-8 only, sizes ---------------------------------------------------

SECURITY = Path(__file__).parent / "fixtures" / "security"


def _problems(caught) -> list[tuple[str, int | None, str | None, str]]:
    return [(Path(p.file).name, p.line, p.element_id, p.message) for p in caught.value.problems]


@pytest.mark.parametrize("name", ["dtd_parameter_entity.bpmn", "external_entity.bpmn", "dtd_decision.dmn"])
def test_a_doctype_is_refused_at_deploy_naming_file_and_line(whistle, name):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([SECURITY / name])
    [(file, line, element, message)] = _problems(caught)
    assert (file, line, element) == (name, 2, None)
    assert message.startswith("a DOCTYPE declaration is not allowed in BPMN or DMN files")
    assert "Internal error" not in message
    assert whistle.definitions() == []


def test_lint_reports_the_same_without_a_database():
    found = {(Path(p.file).name, p.line): p.message for p in lint_paths([SECURITY / "external_entity.bpmn",
                                                                         SECURITY / "lying_encoding.bpmn"])
             if p.severity == "error"}
    assert found[("external_entity.bpmn", 2)].startswith("a DOCTYPE declaration is not allowed")
    assert 'encoding="GBK", but the file is UTF-8' in found[("lying_encoding.bpmn", 1)]


def test_an_encoding_declaration_that_lies_is_a_clear_problem(whistle):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([SECURITY / "lying_encoding.bpmn", SECURITY / "gbk_encoded.bpmn"])
    problems = {file: (line, message) for file, line, _element, message in _problems(caught)}
    line, message = problems["lying_encoding.bpmn"]
    assert line == 1 and 'the XML declaration says encoding="GBK", but the file is UTF-8' in message
    assert 'change the declaration to encoding="UTF-8"' in message
    _line, message = problems["gbk_encoded.bpmn"]  # really GBK: not read at all, and told why
    assert message.startswith("not UTF-8 text") and 'it says encoding="GBK": save it as UTF-8' in message
    # A plain-ASCII file cannot be misread, whatever it declares.
    [deployed] = whistle.deploy([SECURITY / "ascii_latin1.bpmn"])
    assert deployed.key == "ascii_latin1"


def test_a_60_mb_diagram_is_refused_before_it_is_read(whistle, tmp_path):
    big = tmp_path / "annotations.bpmn"
    note = "<bpmn:textAnnotation id=\"n{0}\"><bpmn:text>{1}</bpmn:text></bpmn:textAnnotation>\n"
    with big.open("w", encoding="utf-8") as out:
        out.write('<?xml version="1.0" encoding="UTF-8"?>\n<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/'
                  'BPMN/20100524/MODEL" id="D" targetNamespace="t"><bpmn:process id="annotations" isExecutable="true">'
                  '<bpmn:startEvent id="s"/>\n')
        filler, i = "批注" * 200, 0
        while out.tell() < 60 * 2**20:
            out.write(note.format(i, filler))
            i += 1
        out.write("</bpmn:process></bpmn:definitions>\n")
    assert big.stat().st_size >= 60 * 2**20
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([big])
    [(file, _line, _element, message)] = _problems(caught)
    assert file == "annotations.bpmn"
    assert message.startswith("the file is 60.") and "a deployed file may be at most 5.0 MB" in message
    assert "WHISTLE_DEPLOY_MAX_FILE_MB" in message


def test_size_limits_are_configurable_per_file_and_per_deployment(whistle, tmp_path, monkeypatch):
    folder = tmp_path / "defs"
    folder.mkdir()
    script_process(folder, "one", "x = 1")
    script_process(folder, "two", "x = 2")
    monkeypatch.setenv("WHISTLE_DEPLOY_MAX_FILE_MB", "0.0005")  # about 520 bytes
    with pytest.raises(DeploymentInvalid, match="2 problems") as caught:
        whistle.deploy([folder])
    assert all("a deployed file may be at most 0.0 MB" in message for *_rest, message in _problems(caught))
    monkeypatch.setenv("WHISTLE_DEPLOY_MAX_FILE_MB", "1")
    monkeypatch.setenv("WHISTLE_DEPLOY_MAX_TOTAL_MB", "0.0015")  # one file fits, two do not
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([folder])
    [(_file, _line, _element, message)] = _problems(caught)
    assert "the files of this deployment add up to more than" in message and "WHISTLE_DEPLOY_MAX_TOTAL_MB" in message
    monkeypatch.delenv("WHISTLE_DEPLOY_MAX_TOTAL_MB")
    assert sorted(d.key for d in whistle.deploy([folder])) == ["one", "two"]


def test_the_spec_cache_reads_stored_sources_with_the_hardened_parser(db_url, manual_clock, tmp_path):
    first = Whistle(db_url)
    first.deploy([script_process(tmp_path, "cached", "note = '吹哨报到'")])
    first.close()
    # A new engine rebuilds the spec from the stored text: the same parser, the same names.
    second = Whistle(db_url)
    done = second.start("cached")
    assert second.show(done)["data"]["note"] == "吹哨报到"
    # A stored source with a DOCTYPE (deployed before this check existed) is refused when rebuilt: the
    # start becomes an incident, and the entity is never expanded.
    with second.db.write() as session:
        blob = session.execute(select(SourceBlob).where(SourceBlob.content.contains("cached"))).scalar_one()
        blob.content = (SECURITY / "dtd_parameter_entity.bpmn").read_text(encoding="utf-8").replace(
            "dtd_parameter_entity", "cached")
    second.close()
    third = Whistle(db_url)
    with pytest.raises(IncidentRaised) as caught:
        third.start("cached")
    assert "DOCTYPE declaration is not allowed" in caught.value.message
    third.close()


# -- compiler limits at deploy, and at run time for what was deployed before them --------------------------------

@pytest.mark.parametrize("script,words", [(UNARY_MINUS, "nests too deeply to compile"),
                                          (LONG_SUM, "script of 400,001 characters (the limit is 100,000)")],
                         ids=["50,000 unary minus", "100,000-term sum"])
def test_compiler_limits_are_deploy_problems_naming_file_and_element(whistle, tmp_path, script, words):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([script_process(tmp_path, "deep", script)])
    [(file, line, element, message)] = _problems(caught)
    assert (file, element) == ("deep.bpmn", "work") and line
    assert words in message and message.endswith("[script-compiles]")


def test_a_decision_cell_past_the_compiler_limits_is_a_deploy_problem(whistle, fixtures, tmp_path):
    table = tmp_path / "tier.dmn"
    table.write_text((fixtures / "dmn" / "tier.dmn").read_text(encoding="utf-8").replace(
        '<text>"red"</text>', "<text>" + "-" * 50_000 + "1</text>"), encoding="utf-8")
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([table])
    [(file, _line, element, message)] = _problems(caught)
    assert (file, element) == ("tier.dmn", "LiteralExpression_red") and "nests too deeply" in message


def test_code_past_the_compiler_limits_that_was_deployed_before_them_is_a_clean_incident(db_url, manual_clock,
                                                                                         tmp_path):
    engine = Whistle(db_url)
    engine.deploy([script_process(tmp_path, "legacy", "x = 1")])
    with engine.db.write() as session:  # as if deployed before the limits existed
        blob = session.execute(select(SourceBlob).where(SourceBlob.content.contains("legacy"))).scalar_one()
        blob.content = blob.content.replace("x = 1", UNARY_MINUS)
    engine.close()
    engine = Whistle(db_url)
    with pytest.raises(IncidentRaised) as caught:
        engine.start("legacy")
    assert "ScriptRefused: refused: script nests too deeply to compile" in caught.value.message
    [incident] = engine.incidents()
    assert incident["element_id"] == "work" and "MemoryError" not in incident["error"]
    engine.close()


# -- deploy refuses engine work without end: call cycles, absurd fan-out; long chains deploy or are named ----

def _process_file(folder: Path, process_id: str, body: str) -> Path:
    path = folder / f"{process_id}.bpmn"
    path.write_text(f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" id="D_{process_id}"
                  targetNamespace="http://whistle.example/tests">
  <bpmn:process id="{process_id}" name="{process_id}" isExecutable="true">
{body}  </bpmn:process>
</bpmn:definitions>
""", encoding="utf-8")
    return path


def _calling(folder: Path, process_id: str, called: str | None) -> Path:
    middle = (f'<bpmn:callActivity id="call_{called}" name="调用 {called}" calledElement="{called}"/>' if called
              else '<bpmn:scriptTask id="call_none" name="无调用"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>')
    step = f"call_{called}" if called else "call_none"
    return _process_file(folder, process_id, f"""    <bpmn:startEvent id="start" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="{step}"/>
    {middle}
    <bpmn:sequenceFlow id="f2" sourceRef="{step}" targetRef="end"/>
    <bpmn:endEvent id="end" name="结束"/>
""")


def _chain(folder: Path, process_id: str, length: int) -> Path:
    parts, previous = ['    <bpmn:startEvent id="start" name="开始"/>'], "start"
    for i in range(length):
        parts.append(f'    <bpmn:scriptTask id="t{i}" name="第 {i} 步"><bpmn:script>n = {i}</bpmn:script></bpmn:scriptTask>')
        parts.append(f'    <bpmn:sequenceFlow id="f{i}" sourceRef="{previous}" targetRef="t{i}"/>')
        previous = f"t{i}"
    parts.append('    <bpmn:endEvent id="end" name="结束"/>')
    parts.append(f'    <bpmn:sequenceFlow id="f_end" sourceRef="{previous}" targetRef="end"/>')
    return _process_file(folder, process_id, "\n".join(parts) + "\n")


def _fan_out(folder: Path, process_id: str, branches: int) -> Path:
    parts = ['    <bpmn:startEvent id="start" name="开始"/>',
             '    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="split"/>',
             '    <bpmn:parallelGateway id="split"/>', '    <bpmn:parallelGateway id="join"/>']
    for i in range(branches):
        parts.append(f'    <bpmn:scriptTask id="t{i}" name="分支 {i}"><bpmn:script>n = {i}</bpmn:script></bpmn:scriptTask>')
        parts.append(f'    <bpmn:sequenceFlow id="a{i}" sourceRef="split" targetRef="t{i}"/>')
        parts.append(f'    <bpmn:sequenceFlow id="b{i}" sourceRef="t{i}" targetRef="join"/>')
    parts.append('    <bpmn:sequenceFlow id="f_end" sourceRef="join" targetRef="end"/>')
    parts.append('    <bpmn:endEvent id="end" name="结束"/>')
    return _process_file(folder, process_id, "\n".join(parts) + "\n")


def test_a_call_activity_calling_its_own_process_is_refused(whistle, tmp_path):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([_calling(tmp_path, "again", "again")])
    [(file, line, element, message)] = _problems(caught)
    assert (file, line, element) == ("again.bpmn", 7, "call_again")
    assert "call activity '调用 again' (call_again) calls its own process 'again'" in message
    assert message.endswith("[no-call-cycle]")
    assert whistle.definitions() == []


def test_a_cycle_of_call_activities_is_refused_naming_every_call(whistle, tmp_path):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([_calling(tmp_path, "ping", "pong"), _calling(tmp_path, "pong", "ping")])
    found = {element: message for _file, _line, element, message in _problems(caught)}
    assert "(ping [call_pong] → pong [call_ping] → ping)" in found["call_pong"]
    assert "(pong [call_ping] → ping [call_pong] → pong)" in found["call_ping"]


def test_a_cycle_through_a_deployed_process_is_refused(whistle, tmp_path):
    first, second = tmp_path / "v1", tmp_path / "v2"
    first.mkdir()
    second.mkdir()
    whistle.deploy([_calling(first, "outer", None)])
    whistle.deploy([_calling(first, "inner", "outer")])  # inner calls the deployed outer
    with pytest.raises(DeploymentInvalid) as caught:  # and now outer would call inner
        whistle.deploy([_calling(second, "outer", "inner")])
    [(file, _line, element, message)] = _problems(caught)
    assert (file, element) == ("outer.bpmn", "call_inner")
    assert "(outer [call_inner] → inner [call_outer] → outer)" in message
    assert [d["version"] for d in whistle.definitions() if d["process_id"] == "outer"] == [1]


def test_a_parallel_split_into_3333_branches_is_refused(whistle, tmp_path):
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([_fan_out(tmp_path, "fan", 3333)])
    [(file, _line, element, message)] = _problems(caught)
    assert (file, element) == ("fan.bpmn", "split")
    assert "splits into 3,333 paths (the limit is 100, WHISTLE_DEPLOY_MAX_BRANCHES)" in message
    assert message.endswith("[max-branches]")


def test_the_fan_out_limit_is_configurable(whistle, tmp_path, monkeypatch):
    path = _fan_out(tmp_path, "fan", 12)
    monkeypatch.setenv("WHISTLE_DEPLOY_MAX_BRANCHES", "10")
    with pytest.raises(DeploymentInvalid, match="1 problem"):
        whistle.deploy([path])
    monkeypatch.delenv("WHISTLE_DEPLOY_MAX_BRANCHES")
    [deployed] = whistle.deploy([path])
    done = whistle.start("fan")
    assert deployed.key == "fan" and whistle.show(done)["status"] == "completed"


def test_a_literal_multi_instance_cardinality_counts_as_fan_out(tmp_path):
    path = _process_file(tmp_path, "many", """    <bpmn:startEvent id="start" name="开始"/>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="each"/>
    <bpmn:scriptTask id="each" name="逐个">
      <bpmn:multiInstanceLoopCharacteristics><bpmn:loopCardinality>5000</bpmn:loopCardinality>
      </bpmn:multiInstanceLoopCharacteristics>
      <bpmn:script>n = 1</bpmn:script>
    </bpmn:scriptTask>
    <bpmn:sequenceFlow id="f2" sourceRef="each" targetRef="end"/>
    <bpmn:endEvent id="end" name="结束"/>
""")
    [problem] = [p for p in lint_paths([path]) if p.severity == "error"]
    assert problem.element_id == "each" and "runs 5,000 instances at once" in problem.message


def test_a_chain_of_490_elements_deploys_and_runs(whistle, tmp_path):
    [deployed] = whistle.deploy([_chain(tmp_path, "long", 490)])
    assert deployed.status == "new"
    done = whistle.start("long")
    shown = whistle.show(done)
    assert shown["status"] == "completed" and shown["data"]["n"] == 489


def test_a_chain_too_long_to_run_is_a_clear_problem_not_a_recursion_error(tmp_path):
    problems = [p for p in lint_paths([_chain(tmp_path, "longer", 2000)]) if p.severity == "error"]
    [problem] = problems
    assert problem.element_id == "longer" and "has a path of 2,002 elements in a row (the limit is 600)" in problem.message
    assert "RecursionError" not in problem.message


def test_a_deployed_file_the_hardened_reader_refuses_is_named_when_called(whistle, tmp_path):
    whistle.deploy([_calling(tmp_path, "callee", None)])
    with whistle.db.write() as session:  # stored before DOCTYPEs were refused
        blob = session.execute(select(SourceBlob).where(SourceBlob.content.contains('id="callee"'))).scalar_one()
        blob.content = (SECURITY / "dtd_parameter_entity.bpmn").read_text(encoding="utf-8").replace(
            "dtd_parameter_entity", "callee")
    caller = tmp_path / "caller"
    caller.mkdir()
    with pytest.raises(DeploymentInvalid) as caught:
        whistle.deploy([_calling(caller, "caller", "callee")])
    [(file, _line, element, message)] = _problems(caught)
    assert (file, element) == ("caller.bpmn", "call_callee")
    assert "deployed process 'callee' (" in message and "callee.bpmn) cannot be read any more: a DOCTYPE" in message
