"""Two clerks completing the same task at the same moment: exactly one wins."""
import threading

from engine.api import Whistle
from engine.errors import Conflict


def _race(engines, task_id, users, data):
    barrier = threading.Barrier(len(engines))
    outcomes = [None] * len(engines)

    def attempt(i):
        barrier.wait()
        try:
            engines[i].complete(task_id, users[i], data[i])
            outcomes[i] = "won"
        except Conflict as exc:
            outcomes[i] = f"conflict: {exc.message}"
        except Exception as exc:  # anything else is a defect
            outcomes[i] = f"error: {exc!r}"

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(engines))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return outcomes


def test_concurrent_completion_has_one_winner(whistle, db_url, fixtures):
    whistle.deploy([fixtures / "review.bpmn"])
    whistle.add_user("alice", ["command-centre"])
    whistle.add_user("bob", ["command-centre"])
    engines = [Whistle(db_url), Whistle(db_url)]
    try:
        for _round in range(5):
            instance = whistle.start("review", data={"situation": "x"})
            [task] = [t for t in whistle.tasks("alice") if t["instance_id"] == instance]
            outcomes = _race(engines, task["task_id"], ["alice", "bob"],
                             [{"decision": "self"}, {"decision": "whistle"}])
            assert sorted(o.split(":")[0] for o in outcomes) == ["conflict", "won"], outcomes
            shown = whistle.show(instance)
            completions = [e for e in shown["audit"] if e["event"] == "task_completed"]
            assert len(completions) == 1
            winner = "alice" if outcomes[0] == "won" else "bob"
            assert completions[0]["actor"] == winner
            # The winner's decision, and only the winner's, shaped the case.
            expected = "街道自行处置" if winner == "alice" else "部门报到"
            assert [t["name"] for t in shown["open_tasks"]] == [expected]
        assert whistle.verify_audit().ok
    finally:
        for engine in engines:
            engine.close()
