def test_deploy_start_complete(whistle, fixtures):
    [result] = whistle.deploy([fixtures / "review.bpmn"])
    assert (result.key, result.version, result.status) == ("review", 1, "new")
    whistle.add_user("alice", ["command-centre"])
    instance_id = whistle.start("review", data={"situation": "x1"}, user="alice")
    [task] = whistle.tasks("alice")
    assert task["name"] == "指挥中心审核" and task["instance_id"] == instance_id
    whistle.complete(task["task_id"], "alice", {"decision": "self"})
    assert whistle.show(instance_id)["open_tasks"][0]["candidate_groups"] == ["command-centre", "street"]
