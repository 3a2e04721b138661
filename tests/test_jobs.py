"""The job executor: several workers, a worker killed mid-job, retries and incidents, the CLI."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from engine.api import Whistle
from engine.jobs.executor import DEFAULT_BATCH, DEFAULT_LOCK_SECONDS, JobExecutor, start_worker_thread
from engine.time import clock

from conftest import PROJECT
from conftest import START as START_AT
from process_helpers import wait_for

SECOND = timedelta(seconds=1)


def fired(show: dict) -> list[str]:
    return [e["details"]["element_id"] for e in show["audit"] if e["event"] == "timer_fired"]


def open_task_names(whistle, instance_id: int) -> list[str]:
    return [t["name"] for t in whistle.show(instance_id)["open_tasks"]]


@pytest.fixture
def shared_whistle(db_url, monkeypatch):
    """An engine on the database clock (test mode), as the CLI and worker processes use it."""
    monkeypatch.setenv("WHISTLE_MODE", "test")
    clock.install(clock.SystemClock())
    engine = Whistle(db_url)
    assert isinstance(clock.active(), clock.DatabaseClock)
    engine.clock_set("2026-09-28T17:00:00+08:00")
    yield engine
    engine.close()
    clock.install(clock.SystemClock())


def cli(db_url: str, *args, env: dict | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cli", "--db", db_url, *map(str, args)],
                            capture_output=True, text=True, cwd=PROJECT, timeout=timeout,
                            env={**os.environ, "WHISTLE_MODE": "test", **(env or {})})
    assert "Traceback" not in result.stderr, result.stderr
    return result


def worker_process(db_url: str, *args, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "cli", "--db", db_url, "worker", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT,
                            env={**os.environ, "WHISTLE_MODE": "test", **(env or {})})


def _drain_in_threads(db_url: str, count: int = 2, batch: int = 5):
    engines = [Whistle(db_url) for _ in range(count)]
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def work(i: int) -> None:
        barrier.wait()
        try:
            results[i] = engines[i].executor.fire_due(batch=batch)
        except Exception as exc:  # any exception is a defect
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
    finally:
        for engine in engines:
            engine.close()
    assert not errors, errors
    assert len({e.executor.owner for e in engines}) == count
    return results


def test_two_workers_drain_a_shared_backlog_without_double_firing(whistle, db_url, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instances = [whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:30:00+08:00"}) for _ in range(40)]
    manual_clock.advance(timedelta(minutes=30) + SECOND)
    results = _drain_in_threads(db_url)
    assert sum(r.fired for r in results) == 40
    assert sum(r.failed for r in results) == 0
    for instance in instances:
        shown = whistle.show(instance)
        assert fired(shown) == ["wait_until"]
        assert [t["name"] for t in shown["open_tasks"]] == ["回访"]
    assert whistle.jobs(include_scheduled=True) == []
    assert whistle.verify_audit().ok


def test_two_workers_and_instances_with_two_due_timers(whistle, db_url, fixtures, manual_clock):
    """Both timers of an instance are due: whichever job runs first fires both; the other job finds its
    timer gone and is skipped. Every timer still fires exactly once."""
    whistle.deploy([fixtures / "timer_deadline.bpmn"])
    instances = [whistle.start("timer_deadline") for _ in range(20)]
    manual_clock.advance(timedelta(minutes=31))
    results = _drain_in_threads(db_url, batch=3)
    assert sum(r.fired for r in results) == 20 and sum(r.failed for r in results) == 0
    assert sum(r.skipped for r in results) <= 20
    for instance in instances:
        shown = whistle.show(instance)
        assert sorted(fired(shown)) == ["deadline", "remind"]
        assert [t["name"] for t in shown["open_tasks"]] == ["超时督办"]
    assert whistle.jobs(include_scheduled=True) == []


def test_killed_worker_loses_its_lock_and_another_fires_the_job_once(shared_whistle, db_url, fixtures, tmp_path):
    whistle = shared_whistle
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instance = whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:10:00+08:00"})
    whistle.clock_advance("PT11M")
    marker = tmp_path / "hanging"
    doomed = worker_process(db_url, "--once", "--lock-seconds", 60, "--name", "doomed",
                            env={"WHISTLE_TEST_HANG_IN_JOB": str(marker)})
    try:
        # The worker fired the timer inside its transaction and now blocks just before committing.
        wait_for(lambda: marker.exists() or doomed.poll() is not None, "the worker to take the job")
        assert doomed.poll() is None, doomed.communicate()
        [job] = whistle.jobs()
        assert (job["state"], job["lock_owner"]) == ("locked", "doomed")
    finally:
        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=30)
    assert doomed.returncode == -signal.SIGKILL

    assert fired(whistle.show(instance)) == [] and open_task_names(whistle, instance) == []  # nothing committed
    assert whistle.fire_due_jobs() == 0  # the dead worker's lock has not run out yet
    whistle.clock_advance("PT61S")
    [job] = whistle.jobs()
    assert job["state"] == "due" and job["lock_owner"] == "doomed"
    assert whistle.fire_due_jobs() == 1
    shown = whistle.show(instance)
    assert fired(shown) == ["wait_until"] and [t["name"] for t in shown["open_tasks"]] == ["回访"]
    assert whistle.jobs(include_scheduled=True) == []
    assert whistle.verify_audit().ok


def test_failing_job_retries_with_backoff_then_becomes_an_incident(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_failing.bpmn"])
    instance = whistle.start("timer_failing", data={"total": 1, "count": 0})
    manual_clock.advance(timedelta(minutes=5) + SECOND)
    for retries_left, backoff in ((2, 10), (1, 40)):
        assert whistle.fire_due_jobs() == 0
        [job] = whistle.jobs(include_scheduled=True)
        assert job["retries"] == retries_left and "ZeroDivisionError" in job["last_error"]
        assert job["state"] == "retrying" and job["lock_owner"] is None
        assert job["due_at"] == (manual_clock.now() + timedelta(seconds=backoff)).isoformat()
        assert whistle.fire_due_jobs() == 0  # not before the backoff
        manual_clock.advance(timedelta(seconds=backoff) + SECOND)
    assert whistle.fire_due_jobs() == 0
    [job] = whistle.jobs()
    assert (job["state"], job["retries"]) == ("failed", 0)
    [incident] = whistle.incidents(instance)
    assert incident["command"] == "timer" and incident["element_id"] == "compute"
    assert "ZeroDivisionError" in incident["error"] and job["incident_id"] == incident["incident_id"]
    shown = whistle.show(instance)
    assert fired(shown) == [] and shown["timers"][0]["state"] == "failed"  # the instance is unchanged
    assert [e["event"] for e in shown["audit"]].count("timer_failed") == 2

    manual_clock.advance(timedelta(days=1))
    assert whistle.fire_due_jobs() == 0  # an incident waits for a person
    retried = whistle.retry_job(job["job_id"])
    assert (retried["retries"], retried["state"], retried["incident_id"]) == (3, "due", None)
    assert whistle.fire_due_jobs() == 0  # the script still divides by zero
    [job] = whistle.jobs()
    assert (job["state"], job["retries"]) == ("retrying", 2)


def test_idle_worker_wakes_promptly_for_a_due_timer(whistle, fixtures, manual_clock):
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instance = whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:10:00+08:00"})
    thread, stop = start_worker_thread(whistle.executor, poll_interval=0.2)
    try:
        time.sleep(0.05)  # let the worker go idle
        assert fired(whistle.show(instance)) == []
        manual_clock.advance(timedelta(minutes=10) + SECOND)
        began = time.monotonic()
        wait_for(lambda: fired(whistle.show(instance)), "the worker to fire the timer", 5)
        assert time.monotonic() - began < 1.0
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_worker_process_fires_and_stops_on_sigterm(shared_whistle, db_url, fixtures):
    whistle = shared_whistle
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instance = whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:10:00+08:00"})
    whistle.clock_advance("PT11M")
    worker = worker_process(db_url, "--poll", "0.2")
    try:
        wait_for(lambda: fired(whistle.show(instance)) or worker.poll() is not None, "the worker to fire")
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    assert worker.returncode == 0, err
    assert "started" in out and "stopped: fired 1" in out
    assert fired(whistle.show(instance)) == ["wait_until"]


def test_jobs_show_and_worker_once_on_the_command_line(shared_whistle, db_url, fixtures):
    whistle = shared_whistle
    whistle.deploy([fixtures / "timer_deadline.bpmn"])
    instance = whistle.start("timer_deadline")
    whistle.clock_advance("PT11M")

    listed = json.loads(cli(db_url, "jobs", "--json").stdout)
    assert [(j["element_id"], j["state"]) for j in listed] == [("remind", "due")]
    shown = cli(db_url, "show", instance).stdout
    assert "waiting timers:" in shown and "deadline" in shown and "2026-09-28T09:30:00" in shown

    once = cli(db_url, "worker", "--once", "--json")
    assert once.returncode == 0 and json.loads(once.stdout)["fired"] == 1
    assert cli(db_url, "jobs").stdout.strip() == "(none)"
    assert fired(whistle.show(instance)) == ["remind"]


# -- issue 19, finding 8: a killed worker held a batch of 20 due timers for its 300 s lock ------------------

def _due_timers(whistle, fixtures, manual_clock, count: int) -> list[int]:
    whistle.deploy([fixtures / "timer_wait.bpmn"])
    instances = [whistle.start("timer_wait", data={"callback_at": "2026-09-28T17:30:00+08:00"})
                 for _ in range(count)]
    manual_clock.advance(timedelta(minutes=30) + SECOND)
    return instances


def _each_fired_once(whistle, instances: list[int]) -> None:
    for instance in instances:
        assert fired(whistle.show(instance)) == ["wait_until"]
    assert whistle.jobs(include_scheduled=True) == []
    assert whistle.verify_audit().ok


def test_killed_worker_delays_one_small_batch_by_one_short_lock(whistle, fixtures, manual_clock):
    """The issue's run: 40 due timers, a worker takes its batch and is killed (it never fires), a healthy
    worker runs. It fires all but the dead worker's small batch at once, and that batch once the short lock
    runs out: seconds, not the 300 s of before."""
    instances = _due_timers(whistle, fixtures, manual_clock, 40)
    doomed = JobExecutor(whistle.db, whistle.runtime, owner="doomed")
    held = doomed.acquire()
    assert len(held) == DEFAULT_BATCH == 5 and DEFAULT_LOCK_SECONDS == 30
    assert {j["lock_expires_at"] for j in whistle.jobs() if j["lock_owner"] == "doomed"} == {
        (manual_clock.now() + timedelta(seconds=30)).isoformat()}

    assert whistle.fire_due_jobs() == 35  # everything the dead worker did not take
    manual_clock.advance(timedelta(seconds=29))
    assert whistle.fire_due_jobs() == 0  # its lock has not run out yet
    manual_clock.advance(timedelta(seconds=1) + SECOND)
    assert whistle.fire_due_jobs() == 5  # 31 s after the kill, every due timer has fired
    _each_fired_once(whistle, instances)


class _SlowExecutor(JobExecutor):
    """Each job takes ``seconds`` of the engine clock; after each, ``between`` runs (another worker looks)."""

    def __init__(self, *args, clock_to_move, seconds: float, between, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.clock_to_move, self.seconds, self.between = clock_to_move, seconds, between

    def fire(self, job_id: int, instance_id: int | None = None) -> str:
        outcome = super().fire(job_id, instance_id)
        self.clock_to_move.advance(timedelta(seconds=self.seconds))
        self.between()
        return outcome


def test_live_workers_heartbeat_keeps_its_batch(whistle, fixtures, manual_clock):
    """A batch that takes longer than one lock (5 jobs x 12 s against 30 s): the worker renews its locks
    between jobs, so another worker looking all the while never takes one of them."""
    instances = _due_timers(whistle, fixtures, manual_clock, DEFAULT_BATCH)
    thief = JobExecutor(whistle.db, whistle.runtime, owner="thief")
    stolen: list[int] = []
    slow = _SlowExecutor(whistle.db, whistle.runtime, owner="slow", clock_to_move=manual_clock, seconds=12,
                         between=lambda: stolen.append(thief.fire_due().fired))
    result = slow.run_once()
    assert (result.acquired, result.fired, result.skipped) == (5, 5, 0)
    assert sum(stolen) == 0 and len(stolen) == 5
    assert manual_clock.now() - (START_AT + timedelta(minutes=30) + SECOND) == timedelta(seconds=60)
    _each_fired_once(whistle, instances)


def test_worker_stuck_in_a_job_loses_the_rest_of_its_batch(whistle, fixtures, manual_clock):
    """One job takes longer than a lock: another worker takes over the rest of the batch, and the first,
    back again, finds at its next heartbeat that they are not its own any more and skips them untouched."""
    instances = _due_timers(whistle, fixtures, manual_clock, DEFAULT_BATCH)
    other = JobExecutor(whistle.db, whistle.runtime, owner="other")
    taken: list[int] = []
    stuck = _SlowExecutor(whistle.db, whistle.runtime, owner="stuck", clock_to_move=manual_clock, seconds=31,
                          between=lambda: taken.append(other.fire_due().fired))
    result = stuck.run_once()
    assert (result.acquired, result.fired, result.skipped) == (5, 1, 4)
    assert taken == [4]
    _each_fired_once(whistle, instances)
