#!/usr/bin/env python
"""What the sandbox's check-points and guards cost per script step, against an older sandbox in the same run.

    .venv/bin/python bench/sandbox.py [--against REV] [--rounds N] [--attacks]

Each case is one SpiffWorkflow-style evaluation through ``SandboxEnvironment.evaluate``/``execute`` (the
compiled code is cached, as in the engine): a gateway condition, a decision-table cell, an eight-line
script task, and loops whose per-iteration cost shows what a check-point adds to one statement. Figures
are the median of ``--rounds`` rounds, in microseconds per evaluation (and nanoseconds per loop
iteration). ``--against REV`` unpacks that git revision's ``engine/`` into a temporary folder and measures its
sandbox beside the working tree's (wherever the revision keeps it: ``engine.scripting.sandbox`` or the older flat
``engine.sandbox``), each round in one child process per version, interleaved round by round so a machine that
speeds up or slows down does not bias the ratio.

It also times one round trip to a persistent worker process over a pipe (pickle, no evaluation): what a
killable-worker sandbox (RLIMIT_CPU/RLIMIT_AS) would add to every evaluation at the least.

``--attacks`` runs the inputs of issue 19 (finding 2) against the working tree's sandbox, each in a fresh
child process, and prints how long each took to be refused and how far the child's resident memory grew
(the limits: 2 s of CPU, 256 MB).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The engine is imported only by the child processes, each from the tree it measures.
ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """\
row = {"id": situation, "lead": "housing", "co_responders": "fire;police;", "tier": "red"}
lead_department = "dept-" + row["lead"]
co_departments = ["dept-" + d for d in row["co_responders"].split(";") if d]
tier = row["tier"]
minutes = {"red": 30, "orange": 60, "yellow": 120}.get(tier, 240)
summary = f"{len(co_departments)} 个协办部门, {minutes} 分钟"
urgent = tier == "red" and len(co_departments) > 1
count = count + 1
"""

CASES = [
    # (name, mode, source, data, external, loop iterations inside)
    ("gateway condition", "eval", "decision == 'whistle'", {"decision": "whistle"}, None, 0),
    ("condition with a variable list", "eval", "tier in tiers", {"tier": "red", "tiers": ["red", "orange"]},
     None, 0),
    ("decision-table cell", "eval", "dmninput == \"x1\"", {"situation": "x1"}, {"dmninput": "x1"}, 0),
    ("eight-line script task", "exec", SCRIPT, {"situation": "x1", "count": 0}, None, 0),
    ("loop: total += i * 2", "exec", "total = 0\nfor i in range(1000):\n    total += i * 2", {}, None, 1000),
    ("loop: out.append(str(i))", "exec", "out = []\nfor i in range(1000):\n    out.append(str(i))\nout = len(out)",
     {}, None, 1000),
    ("comprehension with calls", "exec", "out = sum([len(str(i)) for i in range(1000)])", {}, None, 1000),
]

ATTACKS = [
    ("pow(3, 10**6000, 10**6000 + 1)", "eval"),
    ("(0).to_bytes(2*10**9, 'big')", "eval"),
    ("y = [1]\nany(map(y.append, y))", "exec"),
    ("\n".join(f"d{i} = dict.fromkeys(range(10**6))" for i in range(12)), "exec"),
    ("b'x' * 10**9", "eval"),
    ("x = [bin(7 ** 30000)] * 10**6\ny = [len(v) for v in map(bin, [7 ** 30000] * 10**6)]", "exec"),
    ("a = 'x' * 10**6\nb = 'x' * 10**6\ny = [a] * 10**6\nb in y", "exec"),
    ("y = [0] * 10**6\nz = list(zip(*[y] * 10**6))", "exec"),
    ("while True:\n    pass", "exec"),
]


ROUND_CHILD = """
import importlib, json, sys
sys.path[:0] = [{tree!r}, {bench!r}]
def first(*names):
    for name in names:
        try:
            return importlib.import_module(name)
        except ModuleNotFoundError:
            pass
    raise SystemExit("no sandbox in " + {tree!r})
sandbox = first("engine.scripting.sandbox", "engine.sandbox")
helpers = first("engine.scripting.helpers", "engine.helpers")
import sandbox as bench
env = sandbox.SandboxEnvironment(helpers.HELPERS)
print(json.dumps(bench.one_round(env)))
"""


def unpack(revision: str | None) -> Path:
    """The project tree whose engine to measure: this checkout, or ``revision``'s ``engine/`` unpacked."""
    if revision is None:
        return ROOT
    folder = Path(tempfile.mkdtemp(prefix="whistle-sandbox-"))
    archive = subprocess.run(["git", "archive", revision, "engine"], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    return folder


def one_round(env) -> dict[str, float]:
    """Each case measured once with ``env``: seconds per evaluation."""
    results = {}
    for name, mode, source, data, external, loops in CASES:
        results[name] = measure_once(env, mode, source, data, external, 20 if loops else 2000)
    return results


def measure_once(env, mode: str, source: str, data: dict, external, repeat: int) -> float:
    run = env.evaluate if mode == "eval" else env.execute
    run(source, dict(data), external)  # compiled and cached, as in the engine
    copies = [dict(data) for _ in range(repeat)]
    start = time.perf_counter()
    for context in copies:
        run(source, context, external)
    return (time.perf_counter() - start) / repeat


def bench(rounds: int, against: str | None) -> dict:
    trees = {"now": unpack(None)}
    if against:
        trees[against] = unpack(against)
    results: dict[str, dict[str, list[float]]] = {name: {case[0]: [] for case in CASES} for name in trees}
    for _ in range(rounds):
        for version, tree in trees.items():
            child = ROUND_CHILD.format(tree=str(tree), bench=str(ROOT / "bench"))
            done = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, check=True)
            for name, seconds in json.loads(done.stdout).items():
                results[version][name].append(seconds)
    return {version: {name: statistics.median(samples) for name, samples in cases.items()}
            for version, cases in results.items()}


def print_table(medians: dict) -> None:
    versions = list(medians)
    columns = ["case"] + [f"{v} µs" for v in versions]
    if len(versions) == 2:
        columns += [f"per iteration now / {versions[1]} (ns)", "ratio"]
    print("| " + " | ".join(columns) + " |")
    print("|---" + "|---:" * (len(columns) - 1) + "|")
    for name, _mode, _source, _data, _external, loops in CASES:
        cells = [f"{medians[v][name] * 1e6:.2f}" for v in versions]
        row = f"| {name} | " + " | ".join(cells)
        if len(versions) == 2:
            now, before = medians[versions[0]][name], medians[versions[1]][name]
            per = f"{now / loops * 1e9:.0f} / {before / loops * 1e9:.0f}" if loops else "–"
            row += f" | {per} | {now / before:.2f}×"
        print(row + " |")


ATTACK_CHILD = """
import json, os, resource, sys, time
sys.path.insert(0, {root!r})
from engine.scripting.helpers import HELPERS
from engine.scripting.sandbox import SandboxEnvironment
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
env = SandboxEnvironment(HELPERS)
source, mode = json.loads(sys.stdin.read())
before = rss()
start, cpu = time.monotonic(), time.process_time()
try:
    (env.evaluate if mode == "eval" else env.execute)(source, {{}})
    outcome = "ran to the end"
except Exception as exc:
    outcome = type(exc).__name__ + ": " + str(exc).splitlines()[0][:90]
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
print(json.dumps({{"outcome": outcome, "wall": time.monotonic() - start, "cpu": time.process_time() - cpu,
                  "growth_mb": (peak - before) / 2**20}}))
"""


def attacks() -> None:
    child = ATTACK_CHILD.format(root=str(ROOT))
    print("| input | outcome | wall s | CPU s | peak RSS growth MB |")
    print("|---|---|---:|---:|---:|")
    for source, mode in ATTACKS:
        done = subprocess.run([sys.executable, "-c", child], input=json.dumps([source, mode]), text=True,
                              capture_output=True, timeout=120)
        shown = source.replace("\n", "; ")
        shown = shown if len(shown) < 70 else shown[:67] + "…"
        if done.returncode:
            print(f"| `{shown}` | child failed: {done.stderr.strip().splitlines()[-1][:80]} | | | |")
            continue
        result = json.loads(done.stdout)
        print(f"| `{shown}` | {result['outcome']} | {result['wall']:.2f} | {result['cpu']:.2f} | "
              f"{result['growth_mb']:.0f} |")


def _echo_worker(connection) -> None:
    # What a sandbox worker process would do at the least: receive (source, data), answer with the data.
    while True:
        message = connection.recv()
        if message is None:
            return
        connection.send(message[1])


def ipc_round_trip(rounds: int) -> float:
    """Median seconds for one evaluation's round trip to a persistent worker process (pipe + pickle) with
    the eight-line script's task data: the floor a killable-worker sandbox would add to every evaluation."""
    import multiprocessing

    parent, child = multiprocessing.Pipe()
    worker = multiprocessing.get_context("fork").Process(target=_echo_worker, args=(child,), daemon=True)
    worker.start()
    data = {"situation": "x1", "count": 0, "lead_department": "dept-housing", "co_departments": ["dept-fire"],
            "tier": "red", "minutes": 30, "summary": "1 个协办部门, 30 分钟", "urgent": False}
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(200):
            parent.send((SCRIPT, data))
            parent.recv()
        samples.append((time.perf_counter() - start) / 200)
    parent.send(None)
    worker.join()
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--against", help="a git revision whose sandbox to measure beside this one")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--attacks", action="store_true", help="run issue 19's inputs in child processes")
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}")
    print_table(bench(args.rounds, args.against))
    round_trip = ipc_round_trip(args.rounds)
    print(f"\nround trip to a worker process (pipe + pickle, no evaluation): {round_trip * 1e6:.1f} µs")
    if args.attacks:
        print()
        attacks()


if __name__ == "__main__":
    main()
