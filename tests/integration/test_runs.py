"""Runs on DynamoDB Local: create/get/update/delete/restore, tags, params, errors."""

from __future__ import annotations

import pytest
from mlflow.entities import LifecycleStage, Metric, Param, RunStatus, RunTag
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider

MISSING_RUN = "0" * 32


def _error(fn, *args) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        fn(*args)
    return info.value


def test_create_and_get_run(store):
    exp = store.create_experiment("e")
    run = store.create_run(exp, "alice", 1234, [RunTag("k", "v")], "my-run")
    info = run.info
    assert len(info.run_id) == 32
    assert (info.experiment_id, info.user_id, info.start_time) == (exp, "alice", 1234)
    assert (info.status, info.end_time, info.lifecycle_stage) == ("RUNNING", None, "active")
    assert info.run_name == "my-run"
    assert info.artifact_uri == f"s3://bucket/artifacts/{exp}/{info.run_id}/artifacts"
    assert run.data.tags == {"k": "v", MLFLOW_RUN_NAME: "my-run"}
    assert run.inputs.dataset_inputs == [] and run.outputs is None

    got = store.get_run(info.run_id)
    assert got.info == info
    assert got.data.tags == run.data.tags
    assert (got.data.params, got.data.metrics) == ({}, {})
    assert got.inputs.dataset_inputs == [] and got.inputs.model_inputs == []
    assert got.outputs.model_outputs == []


def test_run_name_and_tag(store):
    by_tag = store.create_run("0", "u", 1, [RunTag(MLFLOW_RUN_NAME, "from-tag")], None)
    assert by_tag.info.run_name == "from-tag"
    same = store.create_run("0", "u", 1, [RunTag(MLFLOW_RUN_NAME, "x")], "x")
    assert same.data.tags[MLFLOW_RUN_NAME] == "x"
    err = _error(store.create_run, "0", "u", 1, [RunTag(MLFLOW_RUN_NAME, "x")], "y")
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "different values (run_name='y', mlflow.runName='x')" in err.message
    generated = store.create_run("0", "u", 1, [], None)
    assert generated.info.run_name and generated.data.tags[MLFLOW_RUN_NAME] == (
        generated.info.run_name
    )


def test_create_run_bad_input(store):
    assert _error(store.create_run, "424242", "u", 1, [], "r").error_code == (
        "RESOURCE_DOES_NOT_EXIST"
    )
    exp = store.create_experiment("gone")
    store.delete_experiment(exp)
    err = _error(store.create_run, exp, "u", 1, [], "r")
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert "must be in the 'active' state" in err.message
    assert _error(store.create_run, "0", None, 1, [], "r").error_code == ("INVALID_PARAMETER_VALUE")
    assert _error(store.create_run, "0", "u", None, [], "r").error_code == (
        "INVALID_PARAMETER_VALUE"
    )


@pytest.mark.parametrize("run_id", [MISSING_RUN, "not-a-run", "x" * 5000])
def test_missing_run(store, run_id):
    err = _error(store.get_run, run_id)
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert err.message == f"Run with id={run_id} not found"
    for call, args in [
        (store.update_run_info, (run_id, RunStatus.FINISHED, 1, None)),
        (store.delete_run, (run_id,)),
        (store.restore_run, (run_id,)),
        (store.set_tag, (run_id, RunTag("a", "b"))),
        (store.delete_tag, (run_id, "a")),
        (store.log_param, (run_id, Param("a", "b"))),
        (store.log_outputs, (run_id, [])),
    ]:
        assert _error(call, *args).error_code == "RESOURCE_DOES_NOT_EXIST", call


def test_update_run_info(store):
    run = store.create_run("0", "u", 10, [], "first")
    rid = run.info.run_id
    info = store.update_run_info(rid, RunStatus.FINISHED, 99, None)
    assert (info.status, info.end_time, info.run_name) == ("FINISHED", 99, "first")
    info = store.update_run_info(rid, RunStatus.FAILED, None, "renamed")
    assert (info.status, info.end_time, info.run_name) == ("FAILED", 99, "renamed")
    got = store.get_run(rid)
    assert got.info == info
    assert got.data.tags[MLFLOW_RUN_NAME] == "renamed"


def test_set_tag_run_name_semantics(store):
    rid = store.create_run("0", "u", 10, [], "first").info.run_id
    store.set_tag(rid, RunTag(MLFLOW_RUN_NAME, "second"))
    got = store.get_run(rid)
    assert (got.info.run_name, got.data.tags[MLFLOW_RUN_NAME]) == ("second", "second")
    # An empty run name is ignored, as SqlAlchemyStore's update_run_info ignores it.
    store.set_tag(rid, RunTag(MLFLOW_RUN_NAME, ""))
    assert store.get_run(rid).info.run_name == "second"
    # Deleting the tag keeps the run's name.
    store.delete_tag(rid, MLFLOW_RUN_NAME)
    got = store.get_run(rid)
    assert got.info.run_name == "second" and MLFLOW_RUN_NAME not in got.data.tags


def test_tags(store):
    rid = store.create_run("0", "u", 10, [], "r").info.run_id
    store.set_tag(rid, RunTag("a", "1"))
    store.set_tag(rid, RunTag("a", "2"))
    store.set_tag(rid, RunTag("b", ""))
    assert store.get_run(rid).data.tags == {"a": "2", "b": "", MLFLOW_RUN_NAME: "r"}
    store.delete_tag(rid, "a")
    err = _error(store.delete_tag, rid, "a")
    assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    assert err.message == f"No tag with name: a in run with id {rid}"
    bad = _error(store.set_tag, rid, RunTag("../x", "v"))
    assert bad.error_code == "INVALID_PARAMETER_VALUE"


def test_params(store):
    rid = store.create_run("0", "u", 10, [], "r").info.run_id
    store.log_param(rid, Param("p", "1"))
    store.log_param(rid, Param("p", "1"))  # an equal value again is fine
    err = _error(store.log_param, rid, Param("p", "2"))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == (
        f"Changing param values is not allowed. Param with key='p' was already logged with "
        f"value='1' for run ID='{rid}'. Attempted logging new value '2'."
    )
    assert store.get_run(rid).data.params == {"p": "1"}
    assert _error(store.log_param, rid, Param("q", None)).error_code == "BAD_REQUEST"  # as SQL
    assert _error(store.log_param, rid, Param("", "v")).error_code == "INVALID_PARAMETER_VALUE"


def test_delete_and_restore_run(store):
    rid = store.create_run("0", "u", 10, [], "r").info.run_id
    store.delete_run(rid)
    assert store.get_run(rid).info.lifecycle_stage == LifecycleStage.DELETED
    for call, args in [
        (store.set_tag, (rid, RunTag("a", "b"))),
        (store.log_param, (rid, Param("a", "b"))),
        (store.update_run_info, (rid, RunStatus.FINISHED, 1, None)),
        (store.delete_tag, (rid, MLFLOW_RUN_NAME)),
    ]:
        err = _error(call, *args)
        assert err.error_code == "INVALID_PARAMETER_VALUE"
        assert err.message == (
            f"The run {rid} must be in the 'active' state. Current state is deleted."
        )
    store.delete_run(rid)  # deleting again is allowed, as in SQL
    store.restore_run(rid)
    store.restore_run(rid)
    assert store.get_run(rid).info.lifecycle_stage == LifecycleStage.ACTIVE
    store.set_tag(rid, RunTag("a", "b"))


def test_experiment_lifecycle_reaches_runs(store):
    exp = store.create_experiment("e")
    kept = store.create_run(exp, "u", 1, [], "kept").info.run_id
    deleted_before = store.create_run(exp, "u", 1, [], "deleted").info.run_id
    store.delete_run(deleted_before)
    store.delete_experiment(exp)
    for rid in (kept, deleted_before):
        assert store.get_run(rid).info.lifecycle_stage == "deleted"
    err = _error(store.set_tag, kept, RunTag("a", "b"))
    assert "Current state is deleted" in err.message
    store.restore_experiment(exp)
    # SqlAlchemyStore marks every run of a restored experiment active again.
    for rid in (kept, deleted_before):
        assert store.get_run(rid).info.lifecycle_stage == "active"
    store.delete_run(kept)
    assert store.get_run(kept).info.lifecycle_stage == "deleted"


def test_restore_run_of_deleted_experiment(store):
    exp = store.create_experiment("e")
    rid = store.create_run(exp, "u", 1, [], "r").info.run_id
    store.delete_experiment(exp)
    store.restore_run(rid)  # the SQL row becomes active even though the experiment is not
    assert store.get_run(rid).info.lifecycle_stage == "active"


def test_request_counts(store):
    rid = store.create_run("0", "u", 1, [], "r").info.run_id
    stats = store.gateway.stats
    stats.reset()
    store.get_run(rid)
    assert stats.snapshot().keys() == {"Query", "GetItem"}
    assert (stats.requests("Query"), stats.requests("GetItem")) == (1, 1)
    stats.reset()
    store.delete_run(rid)
    assert stats.total_requests == 2  # GetItem META + conditional PutItem
    stats.reset()
    store.restore_run(rid)
    assert stats.total_requests == 2
    stats.reset()
    store.set_tag(rid, RunTag("a", "b"))
    assert stats.total_requests == 3  # + GetItem of the experiment (its lifecycle)


def test_runs_of_another_workspace_are_invisible(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    DynamoDBWorkspaceProvider(store_uri).create_workspace(Workspace(name="team-a"))
    DynamoDBWorkspaceProvider(store_uri).create_workspace(Workspace(name="team-b"))
    with WorkspaceContext("team-a"):
        exp = store.create_experiment("e")
        rid = store.create_run(exp, "u", 1, [], "r").info.run_id
        store.log_metric(rid, Metric("m", 1.0, 1, 0))
        assert store.get_run(rid).data.metrics == {"m": 1.0}
        assert len(store.get_metric_history(rid, "m")) == 1
    with WorkspaceContext("team-b"):
        for call, args in [
            (store.get_run, (rid,)),
            (store.set_tag, (rid, RunTag("a", "b"))),
            (store.log_metric, (rid, Metric("m", 2.0, 2, 0))),
            (store.delete_run, (rid,)),
            (store.get_metric_history, (rid, "m")),
        ]:
            assert _error(call, *args).error_code == "RESOURCE_DOES_NOT_EXIST", call
        assert _error(store.create_run, exp, "u", 1, [], "r").error_code == (
            "RESOURCE_DOES_NOT_EXIST"
        )
    with WorkspaceContext("team-a"):
        assert store.get_run(rid).info.lifecycle_stage == "active"
        assert store.get_run(rid).data.metrics == {"m": 1.0}
