"""The script sandbox: escape attempts are refused with a clear message, ordinary scripts work, endless
loops and deep recursion stop, and the engine turns all of it into incidents and keeps serving."""
from __future__ import annotations

import threading
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from engine.errors import IncidentRaised
from engine.scripting import script_engine as scripting
from engine.scripting.limits import MAX_CHARS, ScriptRefused, ScriptTimeout
from engine.scripting.policy import compile_checked, compile_errors
from engine.scripting.sandbox import SandboxEnvironment

SHORT = 0.5  # seconds: the time limit used by these tests


@pytest.fixture
def env() -> SandboxEnvironment:
    return SandboxEnvironment(timeout=SHORT)


def evaluate(env, expression, **data):
    return env.evaluate(expression, data)


def execute(env, script, **data) -> dict:
    env.execute(script, data)
    return data


# -- the escape corpus -------------------------------------------------------------------------------------

ESCAPES = [
    # (source, "eval" or "exec", words the refusal must contain)
    ("__import__('os')", "eval", '"__import__" is an invalid variable name'),
    ("__import__('os').system('id')", "exec", '"__import__" is an invalid variable name'),
    ("import os", "exec", '"import os" is not allowed'),
    ("import subprocess as sp", "exec", '"import subprocess" is not allowed'),
    ("from os import path", "exec", '"from os import …" is not allowed'),
    ("().__class__.__bases__[0].__subclasses__()", "eval", '"__subclasses__" is an invalid attribute name'),
    ("[].__class__.__mro__[-1].__subclasses__()", "eval", '"__mro__" is an invalid attribute name'),
    ("(lambda: 0).__globals__", "eval", '"__globals__" is an invalid attribute name'),
    ("now.__globals__['clock']", "eval", '"__globals__" is an invalid attribute name'),
    ("(x for x in []).gi_frame.f_globals", "eval", '"gi_frame" is a restricted name'),
    ("getattr(x, '__class__')", "eval", 'access to the attribute "__class__"'),
    ("getattr(now, '__glo' + 'bals__')", "eval", 'access to the attribute "__globals__"'),
    ("getattr(Exception, 'mro')()", "eval", 'access to the attribute "mro"'),
    ("Exception.mro()[1]", "eval", 'access to the attribute "mro"'),
    ("'{0.__class__}'.format(1)", "eval", '"str.format"'),
    ("'{0.__class__.__base__}'.format_map({})", "eval", '"str.format_map"'),
    ("str.format('{0.__globals__}', now)", "eval", '"str.format"'),
    ("getattr('{0.__class__}', 'format')(1)", "eval", '"str.format"'),
    ("f'{x.__class__}'", "eval", '"__class__" is an invalid attribute name'),
    ("open('/etc/passwd').read()", "eval", '"open" is not available in scripts'),
    ("eval('1 + 1')", "eval", "Eval calls are not allowed"),
    ("exec('x = 1')", "exec", "Exec calls are not allowed"),
    ("e = eval\ne('1')", "exec", '"eval" is not available in scripts'),
    ("compile('1', 'f', 'eval')", "eval", '"compile" is not available in scripts'),
    ("globals()", "eval", '"globals" is not available in scripts'),
    ("locals()", "eval", '"locals" is not available in scripts'),
    ("vars()", "eval", '"vars" is not available in scripts'),
    ("dir()", "eval", '"dir" is not available in scripts'),
    ("type('X', (), {})", "eval", '"type" is not available in scripts'),
    ("object()", "eval", '"object" is not available in scripts'),
    ("class X:\n    pass", "exec", "class definitions are not allowed"),
    ("_getattr_ = getattr", "exec", '"_getattr_" is an invalid variable name'),
    ("x.attribute = 1", "exec", "changing attributes or items of 'int' values"),
    ("print.__self__", "eval", '"__self__" is an invalid attribute name'),
    ("now().tzinfo.no_cache('Asia/Shanghai')", "eval", 'access to the attribute "no_cache" of a time zone'),
    # huge allocations
    ("'a' * 10**10", "eval", "would make a str of 10,000,000,000 characters"),
    ("[0] * 10**9", "eval", "would make a list of 1,000,000,000 items"),
    ("10 ** 10**8", "eval", "10 ** 100000000 would be an integer"),
    ("pow(10, 10**8)", "eval", "10 ** 100000000 would be an integer"),
    ("1 << 10**9", "eval", "would be an integer of about"),
    ("s = 'ab'\nfor i in range(100):\n    s = s + s", "exec", "joining two strs would make a str"),
    ("s = [1]\nfor i in range(100):\n    s += s", "exec", "joining two lists would make a list"),
    ("n = 7\nfor i in range(100):\n    n *= n", "exec", "multiplying these numbers"),
    ("'x'.ljust(10**9)", "eval", "str.ljust(1,000,000,000)"),
    ("'x'.zfill(10**9)", "eval", "str.zfill(1,000,000,000)"),
    ("('a' * 1000).replace('a', 'a' * 100000)", "eval", "this replace() would make a str"),
    ("('a' * 100000).join([''] * 100000)", "eval", "this join() would make a str"),
    ("list(range(10**9))", "eval", "range() of 1,000,000,000 numbers"),
    ("sum([[0] * 1000] * 1000, [])", "eval", "sum() of texts, lists or tuples"),
    ("f'{1:>999999999}'", "eval", "a format width or precision of 999999999"),
    ("format(1.5, '.999999999f')", "eval", "a format width or precision of 999999999"),
    ("'%999999999d' % 1", "eval", "a %-format width or precision of 999,999,999"),
    ("'%*d' % (10**9, 1)", "eval", "'*' widths in %-formatting are not allowed"),
    ("round(5, -10**9)", "eval", "round() to -1000000000 digits"),
    ("str([[[0] * 1000] * 1000] * 1000)", "eval", "the text of this value is too large"),
    ("f'{[[[0] * 1000] * 1000] * 1000}'", "eval", "the text of this value is too large"),
    ("x = [0] * 1000\ny = [[x] * 1000] * 10", "exec", 'task data "y" is too large'),
    ("loop = []\nloop.append(loop)", "exec", 'task data "loop" is too large'),
    ("keep = [len]", "exec", 'task data "keep" holds a function'),
    # recursion
    ("def down(n):\n    return down(n + 1)\ndown(0)", "exec", "calls nested more than"),
    ("f = lambda n: f(n + 1)\nf(0)", "exec", "calls nested more than"),
]


@pytest.mark.parametrize("source,mode,words", ESCAPES, ids=[e[0][:40] for e in ESCAPES])
def test_escape_is_refused_with_a_clear_message(env, source, mode, words):
    run = env.evaluate if mode == "eval" else env.execute
    with pytest.raises(ScriptRefused) as caught:
        run(source, {"x": 1})
    message = str(caught.value)
    assert message.startswith("refused: ")
    assert words in message


def test_refusals_caught_by_the_script_do_not_let_anything_through(env):
    data = execute(env, "try:\n    v = getattr(x, '__class__')\nexcept Exception as e:\n    v = str(e)", x=1)
    assert data["v"].startswith("refused: access to the attribute")


def test_task_data_cannot_replace_the_guards(env):
    evil = {"_getattr_": getattr, "__builtins__": __builtins__, "_write_": lambda o: o}
    with pytest.raises(ScriptRefused, match='access to the attribute "__class__"'):
        env.evaluate("getattr(1, '__class__')", dict(evil))
    data = dict(evil, x=1)
    env.execute("y = x + 1", data)
    assert data["y"] == 2 and data["_getattr_"] is getattr  # private keys are neither seen nor rewritten


# -- time limit --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script", [
    "while True:\n    pass",
    "while True:\n    continue",
    "n = 0\nwhile n >= 0:\n    n += 1",
    "x = [i for i in range(10**6) for j in range(10**6)]",
    "x = sum(1 for i in range(10**6) for j in range(10**6))",
    "def spin():\n    while True:\n        pass\nspin()",
    "try:\n    while True:\n        pass\nfinally:\n    while True:\n        pass",
    "try:\n    while True:\n        pass\nexcept:\n    pass\nafter = 1",
    "while True:\n    try:\n        while True:\n            pass\n    except Exception:\n        pass",
    "def gen():\n    while True:\n        yield 1\nx = max(gen())",
])
def test_endless_loops_stop_at_the_time_limit(env, script):
    data = {}
    with pytest.raises(ScriptTimeout, match=r"script exceeded its 0\.5 s time limit"):
        env.execute(script, data)
    assert "after" not in data


def test_memory_growth_is_bounded():
    env = SandboxEnvironment(timeout=10, memory_mb=64)
    with pytest.raises(ScriptRefused, match="refused: script used more than 64 MB of memory"):
        env.execute("keep = []\nwhile True:\n    keep.append([0] * 1000000)", {})


def test_endless_expression_stops(env):
    with pytest.raises(ScriptTimeout, match=r"expression exceeded its 0\.5 s time limit"):
        env.evaluate("any(i < 0 for i in range(10**6) for j in range(10**6))", {})


def test_time_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("WHISTLE_SCRIPT_TIMEOUT", "0.3")
    assert SandboxEnvironment().timeout == 0.3
    monkeypatch.delenv("WHISTLE_SCRIPT_TIMEOUT")
    assert SandboxEnvironment().timeout == 2.0
    assert SandboxEnvironment(timeout=5).timeout == 5.0
    monkeypatch.setenv("WHISTLE_SCRIPT_TIMEOUT", "soon")
    with pytest.raises(ValueError, match="WHISTLE_SCRIPT_TIMEOUT"):
        SandboxEnvironment()


def test_limits_hold_in_worker_threads_and_do_not_disturb_other_threads(env):
    outcome = {}

    def spin():
        try:
            env.execute("while True:\n    pass", {})
        except ScriptTimeout as exc:
            outcome["spin"] = str(exc)

    worker = threading.Thread(target=spin)
    worker.start()
    answers = [env.evaluate("a * 2 + sum(range(10))", {"a": n}) for n in range(200)]
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert outcome["spin"] == "script exceeded its 0.5 s time limit"
    assert answers[:3] == [45, 47, 49]
    assert env.evaluate("1 + 1", {}) == 2  # the sandbox keeps serving


# -- ordinary scripts ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("expression,expected", [
    ("1 + 2 * 3 - 4 / 2", 5.0),
    ("7 // 2, 7 % 2, 2 ** 10, -3 ** 2", (3, 1, 1024, -9)),
    ("round(2.675, 2) == 2.67 or round(2.675, 2) == 2.68", True),
    ("[n * n for n in range(5) if n % 2 == 0]", [0, 4, 16]),
    ("{k: v * 2 for k, v in scores.items()}", {"a": 2, "b": 4}),
    ("{len(w) for w in words}", {1, 3}),
    ("sorted(words, key=lambda w: (-len(w), w))", ["abc", "x"]),
    ("max(scores, key=scores.get)", "b"),
    ("sum(scores.values()) + len(words)", 5),
    ("any(w.startswith('a') for w in words) and all(words)", True),
    ("list(zip(words, range(2))) + list(enumerate('ab'))", [("abc", 0), ("x", 1), (0, "a"), (1, "b")]),
    ("'街道-' + situation.upper().strip() + '-' + str(42)", "街道-X1-42"),
    ("'a,b, c'.split(',')[2].strip().title()", "C"),
    ("'-'.join(['a', 'b']).replace('-', '+').center(5, '*')", "*a+b*"),
    ("f'{situation!r}: {3.14159:.2f} {7:>3}|{name}'", "' x1 ': 3.14   7|张三"),
    ("'%s has %d (%.1f%%)' % (name, 3, 12.5)", "张三 has 3 (12.5%)"),
    ("scores.get('c', 0) + scores['a']", 1),
    ("isinstance(name, str) and isinstance(3, (int, float)) and not isinstance(3, str)", True),
    ("str.upper(name + 'x')", "张三X"),
    ("int('12') + float('0.5') + abs(-1) + min(3, 2) + divmod(7, 2)[0]", 18.5),
    ("(round(2.5), round(3.14159, 2), amount * 2)", (2, 3.14, Decimal("3.0"))),
    ("next((w for w in words if len(w) == 1), None)", "x"),
    ("2 ** 100 > 10 ** 30 and 'ab' * 3 == 'ababab' and [0] * 3 == [0, 0, 0]", True),
    ("date(2026, 10, 1) + timedelta(days=7)", date(2026, 10, 8)),
    ("(datetime(2026, 10, 8, 9, 0) - datetime(2026, 10, 1, 9, 0)).days", 7),
    ("iso(duration('PT90M'))", "PT1H30M"),
    ("hasattr(name, 'upper') and not hasattr(name, 'nope')", True),
])
def test_ordinary_expressions_work(env, expression, expected):
    data = {"scores": {"a": 1, "b": 2}, "words": ["abc", "x"], "situation": " x1 ", "name": "张三",
            "amount": Decimal("1.5")}
    assert env.evaluate(expression, data) == expected


def test_ordinary_scripts_read_and_write_task_data(env):
    script = """
total = 0
seen = []
for item in items:
    total += item["amount"]
    seen.append(item["kind"])
counts = {}
for kind in seen:
    counts[kind] = counts.get(kind, 0) + 1
    counts[kind] += 0
first, *rest = seen
pairs = [(k, v) for k, v in sorted(counts.items())]
def label(kind):
    return f"[{kind}]"
labels = list(map(label, seen))
items[0]["checked"] = True
matrix = [[0] * 3 for _ in range(2)]
matrix[1][2] = 5
text = ""
for i in range(3):
    text += str(i)
del scratch
"""
    data = {"items": [{"kind": "noise", "amount": 2}, {"kind": "road", "amount": 3},
                      {"kind": "noise", "amount": 5}], "scratch": 1}
    env.execute(script, data)
    assert data["total"] == 10
    assert data["counts"] == {"noise": 2, "road": 1}
    assert data["first"] == "noise" and data["rest"] == ["road", "noise"]
    assert data["pairs"] == [("noise", 2), ("road", 1)]
    assert data["labels"] == ["[noise]", "[road]", "[noise]"]
    assert data["items"][0]["checked"] is True
    assert data["matrix"] == [[0, 0, 0], [0, 0, 5]]
    assert data["text"] == "012"
    assert "scratch" not in data  # ``del`` removes task data
    assert "label" not in data  # functions are not task data
    assert not any(key.startswith("_") for key in data)


def test_scripts_can_print_and_raise(env, caplog):
    data = {}
    with caplog.at_level("INFO", logger="whistle.script"):
        env.execute("print('处理中', 3)\nout = printed", data)
    assert data["out"] == "处理中 3\n"
    assert "处理中 3" in caplog.text
    with pytest.raises(ValueError, match="bad amount"):
        env.execute("raise ValueError('bad amount')", {})
    with pytest.raises(KeyError):
        env.evaluate("scores['missing']", {"scores": {}})
    with pytest.raises(NameError):
        env.evaluate("undefined_name + 1", {})


def test_task_data_shadows_helpers(env):
    assert env.evaluate("date", {"date": "2026-10-01"}) == "2026-10-01"
    data = {"type": "noise"}
    env.execute("label = type + '!'", data)
    assert data["label"] == "noise!"


def test_expressions_returning_generators_are_materialised(env):
    assert env.evaluate("(n for n in range(3))", {}) == [0, 1, 2]
    assert env.evaluate("map(str, range(2))", {}) == ["0", "1"]


def test_compiled_code_is_cached_by_source(env):
    source = "cache_probe_value + 1"
    env.evaluate(source, {"cache_probe_value": 1})
    before = compile_checked.cache_info().hits
    assert env.evaluate(source, {"cache_probe_value": 2}) == 3
    assert compile_checked.cache_info().hits == before + 1
    assert compile_checked.cache_info().maxsize is not None  # bounded


def test_compile_errors_for_lint():
    assert compile_errors("x = 1\ny = x + 1") == []
    assert compile_errors("a ==", "eval")[0].startswith("line 1:")
    [error] = compile_errors("import os")
    assert error.startswith("line 1:") and "import os" in error
    assert compile_errors("decision == 'whistle'", "eval") == []


def test_size_limits_leave_room_for_real_work(env):
    assert len(env.evaluate("'x' * n", {"n": MAX_CHARS})) == MAX_CHARS
    assert env.evaluate("len([0] * 1000 * 1000)", {}) == 1_000_000


# -- through SpiffWorkflow and the engine -------------------------------------------------------------------

@pytest.fixture
def short_limit(monkeypatch):
    engine = scripting.WhistleScriptEngine(environment=SandboxEnvironment(timeout=SHORT))
    monkeypatch.setattr(scripting, "_engine", engine)
    return engine


def test_script_engine_is_built_once_and_sandboxed():
    engine = scripting.script_engine()
    assert engine is scripting.script_engine()
    assert isinstance(engine.environment, SandboxEnvironment)


def test_endless_script_task_becomes_an_incident_and_the_engine_goes_on(whistle, fixtures, short_limit):
    whistle.deploy([fixtures / "sandbox_loop.bpmn", fixtures / "review.bpmn"])
    with pytest.raises(IncidentRaised) as caught:
        whistle.start("sandbox_loop", data={"case": "A-1"})
    assert "time limit" in caught.value.message and "'spin'" in caught.value.message
    [incident] = whistle.incidents()
    assert incident["element_id"] == "spin"
    assert "ScriptTimeout: script exceeded its 0.5 s time limit" in incident["error"]
    assert incident["instance_id"] is None  # the start was rolled back whole

    # The worker keeps serving: the next command runs normally.
    whistle.add_user("alice", ["command-centre"])
    instance_id = whistle.start("review", data={"situation": "x1"}, user="alice")
    [task] = whistle.tasks("alice")
    whistle.complete(task["task_id"], "alice", {"decision": "whistle"})
    assert whistle.show(instance_id)["data"]["department"] == "dept-x1"


def test_escaping_gateway_condition_becomes_an_incident(whistle, fixtures, short_limit):
    whistle.deploy([fixtures / "sandbox_escape.bpmn"])
    with pytest.raises(IncidentRaised) as caught:
        whistle.start("sandbox_escape", data={"situation": "x1"})
    [incident] = whistle.incidents()
    assert 'refused: access to the attribute "__class__"' in incident["error"]
    assert 'refused: access to the attribute "__class__"' in caught.value.message


def test_working_days_in_a_script_with_the_manual_clock(whistle, fixtures, manual_clock):
    # The manual clock starts at Monday 2026-09-28 17:00 in Beijing; 1–7 October is the National Day holiday.
    assert manual_clock.now() == datetime(2026, 9, 28, 9, 0, tzinfo=UTC)
    whistle.deploy([fixtures / "sandbox_deadline.bpmn"])
    items = [{"kind": "噪音"}, {"kind": "道路"}, {"kind": "噪音"}]
    instance_id = whistle.start("sandbox_deadline", data={"items": items})
    data = whistle.show(instance_id)["data"]
    assert data["received"] == "2026-09-28T17:00:00+08:00"
    assert data["deadline"] == "2026-10-08T17:00:00+08:00"  # Tue 29, Wed 30, then Thu 8 October
    assert data["reply_by"] == "2026-09-29T09:00:00+08:00"
    assert data["holiday_today"] is False
    assert data["summary"] == "3 件, 最多: 噪音"
    [task] = whistle.show(instance_id)["open_tasks"]
    assert datetime.fromisoformat(task["due_at"]) == datetime(2026, 10, 8, 17, 0, tzinfo=timezone(timedelta(hours=8)))

    # Moved into the holiday, the same script counts from there.
    manual_clock.set(datetime(2026, 10, 3, 10, 0, tzinfo=timezone(timedelta(hours=8))))
    later = whistle.start("sandbox_deadline", data={"items": items})
    data = whistle.show(later)["data"]
    assert data["deadline"] == "2026-10-10T10:00:00+08:00"  # Thu 8, Fri 9, Sat 10 (a make-up working day)
    assert data["holiday_today"] is True
