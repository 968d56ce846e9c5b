"""The no-read metric path (RunRepository.log_newer_metrics): what it costs, and that every
case it must not decide (new keys, older or tied points, inactive runs or experiments,
other workspaces, spilled entries) ends as the read-plan-write path would."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.entities.workspace import Workspace
from mlflow.exceptions import MlflowException
from mlflow.utils.workspace_context import WorkspaceContext

from mlflow_dynamodbstore.repositories.runs.stepping import IN_LIVE
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore
from mlflow_dynamodbstore.stores.workspace_provider import DynamoDBWorkspaceProvider


@pytest.fixture
def run_id(store):
    return store.create_run("0", "u", 1, [], "r").info.run_id


def _step(step: int, keys_: int = 10) -> list[Metric]:
    return [Metric(f"m{k}", step * 0.1 + k, 1000 + step, step) for k in range(keys_)]


def _history(store, run_id, key):
    return [(m.step, m.value) for m in store.get_metric_history(run_id, key)]


def test_training_loop_costs(store, run_id):
    """After the first step (params, new keys: the read path), the next 10-point step is
    one TransactWriteItems that announces the keys on their LATEST items and opens the
    run's step gate; every later step, of 10 points or 4, is one UpdateItem of LIVE."""
    stats = store.gateway.stats
    store.log_batch(run_id, _step(0), [Param("lr", "0.1")], [RunTag("t", "v")])
    for step in range(1, 6):
        stats.reset()
        store.log_batch(run_id, _step(step), [], [])
        assert stats.total_requests == 1
        expected_op = "TransactWriteItems" if step == 1 else "UpdateItem"
        assert stats.snapshot().keys() == {expected_op}
    stats.reset()
    store.log_batch(run_id, _step(6, keys_=4), [], [])
    assert (stats.total_requests, stats.requests("UpdateItem")) == (1, 1)
    stats.reset()
    store.log_metric(run_id, Metric("m0", 9.0, 2000, 7))
    assert (stats.total_requests, stats.requests("UpdateItem")) == (1, 1)

    run = store.get_run(run_id)
    expected = {f"m{k}": 5 * 0.1 + k for k in range(10)}  # step 5 for every key
    expected |= {f"m{k}": 6 * 0.1 + k for k in range(4)}  # step 6 for four of them
    expected["m0"] = 9.0
    assert run.data.metrics == expected
    assert run.data.params == {"lr": "0.1"}
    assert _history(store, run_id, "m0")[-2:] == [(6, 6 * 0.1), (7, 9.0)]
    assert len(_history(store, run_id, "m5")) == 6
    # the key steps through LIVE (its LATEST item announced): a metric-ordered search reads
    # the new value from LIVE
    latest = store.gateway.get_item(keys.metric_latest_key(run_id, "m0"))
    assert latest[IN_LIVE]
    (found,) = store.search_runs(["0"], "metrics.m0 > 8", ViewType.ALL, order_by=["metrics.m0"])
    assert found.info.run_id == run_id


def test_older_and_tied_points_follow_mlflow_order(store, run_id):
    store.log_metric(run_id, Metric("m", 1.0, 100, 5))
    store.log_metric(run_id, Metric("m", 7.0, 50, 4))  # older step: history only
    store.log_metric(run_id, Metric("m", 2.0, 100, 5))  # tie on (step, ts), higher value wins
    store.log_metric(run_id, Metric("m", 0.5, 100, 5))  # tie, lower value: history only
    store.log_metric(run_id, Metric("m", 3.0, 90, 5))  # same step, older timestamp
    assert store.get_run(run_id).data.metrics["m"] == 2.0
    latest = store.gateway.get_item(keys.metric_latest_key(run_id, "m"))
    assert float(latest["value"]) == 2.0
    assert sorted(v for _, v in _history(store, run_id, "m")) == [0.5, 1.0, 2.0, 3.0, 7.0]


def test_nan_and_inf_on_the_no_read_path(store, run_id):
    store.log_metric(run_id, Metric("m", 1.0, 1, 0))
    store.log_batch(run_id, [Metric("m", math.nan, 2, 1)], [], [])
    assert math.isnan(store.get_run(run_id).data.metrics["m"])
    store.log_batch(run_id, [Metric("m", math.inf, 3, 2)], [], [])
    assert store.get_run(run_id).data.metrics["m"] == math.inf


def _error(fn, *args) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        fn(*args)
    return info.value


def test_deleted_run_and_experiment_are_refused_without_writing(store):
    exp = store.create_experiment("e")
    rid = store.create_run(exp, "u", 1, [], "r").info.run_id
    store.log_metric(rid, Metric("m", 1.0, 1, 0))
    store.delete_run(rid)
    err = _error(store.log_batch, rid, _step(1, keys_=1), [], [])
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    store.restore_run(rid)
    store.delete_experiment(exp)
    err = _error(store.log_metric, rid, Metric("m", 5.0, 5, 5))
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    store.restore_experiment(exp)
    assert _history(store, rid, "m") == [(0, 1.0)]  # nothing was written meanwhile
    store.log_metric(rid, Metric("m", 5.0, 5, 5))
    assert store.get_run(rid).data.metrics["m"] == 5.0


def test_another_workspace_cannot_write(store, store_uri, monkeypatch):
    monkeypatch.setenv("MLFLOW_ENABLE_WORKSPACES", "true")
    provider = DynamoDBWorkspaceProvider(store_uri)
    provider.create_workspace(Workspace(name="team-a"))
    provider.create_workspace(Workspace(name="team-b"))
    with WorkspaceContext("team-a"):
        rid = store.create_run(store.create_experiment("e"), "u", 1, [], "r").info.run_id
        store.log_metric(rid, Metric("m", 1.0, 1, 0))
    with WorkspaceContext("team-b"):
        # the same store instance knows the run, so the no-read path is tried and refused
        err = _error(store.log_batch, rid, [Metric("m", 2.0, 2, 1)] * 5, [], [])
        assert err.error_code == "RESOURCE_DOES_NOT_EXIST"
    with WorkspaceContext("team-a"):
        assert _history(store, rid, "m") == [(0, 1.0)]


def test_a_fresh_server_process_reads_once_then_writes_without_reading(store_uri, run_id):
    """Another process (a new store instance) does not know the run: its first call takes
    the read path, the next ones do not."""
    first = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    first.log_metric(run_id, Metric("m", 1.0, 1, 0))
    other = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    stats = other.gateway.stats
    stats.reset()  # opening the store reads the schema item
    other.log_metric(run_id, Metric("m", 2.0, 2, 1))
    assert stats.requests("GetItem") == 3  # the run, its experiment and its LIVE item
    stats.reset()
    other.log_metric(run_id, Metric("m", 3.0, 3, 2))
    assert stats.total_requests == 1
    assert first.get_run(run_id).data.metrics["m"] == 3.0
