"""log_batch on DynamoDB Local: validation as MLflow's, limits, spilled values, costs."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric, Param, RunTag
from mlflow.exceptions import MlflowException
from mlflow.utils.mlflow_tags import MLFLOW_RUN_NAME

from mlflow_dynamodbstore.repositories.runs.items import is_spilled, resolve_spilled
from mlflow_dynamodbstore.schema import keys
from mlflow_dynamodbstore.schema.metric_rank_keys import sharded_rank_keys


@pytest.fixture
def run_id(store):
    return store.create_run("0", "u", 1, [], "r").info.run_id


def _error(fn, *args) -> MlflowException:
    with pytest.raises(MlflowException) as info:
        fn(*args)
    return info.value


def _meta(store, run_id):
    return store.gateway.get_item(keys.run_key(run_id))


def test_log_batch_round_trip(store, run_id):
    store.log_batch(
        run_id,
        metrics=[Metric("acc", 0.5, 10, 1), Metric("acc", 0.7, 20, 2), Metric("loss", 3.0, 10, 1)],
        params=[Param("lr", "0.1"), Param("layers", "3")],
        tags=[RunTag("t", "1"), RunTag("t", "2"), RunTag(MLFLOW_RUN_NAME, "renamed")],
    )
    run = store.get_run(run_id)
    assert run.data.metrics == {"acc": 0.7, "loss": 3.0}
    assert run.data.params == {"lr": "0.1", "layers": "3"}
    assert run.data.tags == {"t": "2", MLFLOW_RUN_NAME: "renamed"}  # last value of a key wins
    assert run.info.run_name == "renamed"
    assert [m.value for m in store.get_metric_history(run_id, "acc")] == [0.5, 0.7]


def test_log_batch_limits_and_validation(store, run_id):
    cases = [
        ([Metric(f"m{i}", 1.0, 1, 0) for i in range(1001)], [], []),
        ([], [Param(f"p{i}", "v") for i in range(101)], []),
        ([], [], [RunTag(f"t{i}", "v") for i in range(101)]),
        ([Metric("m", "not a number", 1, 0)], [], []),
        ([Metric("m", 1.0, -1, 0)], [], []),
        ([Metric("m", True, 1, 0)], [], []),
        ([Metric("bad/../name", 1.0, 1, 0)], [], []),
        ([], [Param("dup", "a"), Param("dup", "a")], []),
        ([], [Param("k" * 251, "v")], []),
        ([Metric("m", 1.0, 2**64, 0)], [], []),
    ]
    for metrics, params, tags in cases:
        err = _error(store.log_batch, run_id, metrics, params, tags)
        assert err.error_code == "INVALID_PARAMETER_VALUE", (metrics, params, tags)
    # a param without value: BAD_REQUEST, as the SQL store's NOT NULL constraint answers
    none = _error(store.log_batch, run_id, [], [Param("p", None)], [])
    assert none.error_code == "BAD_REQUEST"
    dup = _error(store.log_batch, run_id, [], [Param("dup", "a"), Param("dup", "b")], [])
    assert "Duplicate parameter keys have been submitted: ['dup']" in dup.message
    too_many = [Metric(f"m{i}", 1.0, 1, 0) for i in range(1001)]
    over = _error(store.log_batch, run_id, too_many, [], [])
    assert "A batch logging request can contain at most 1000 metrics. Got 1001" in over.message
    bad_id = _error(store.log_batch, "bad id!", [], [], [])
    assert bad_id.error_code == "INVALID_PARAMETER_VALUE"
    missing = _error(store.log_batch, "f" * 32, [], [Param("a", "b")], [])
    assert missing.error_code == "RESOURCE_DOES_NOT_EXIST"
    # Nothing was written by the refused batches.
    run = store.get_run(run_id)
    assert (run.data.metrics, run.data.params) == ({}, {})


def test_param_conflict_in_batch_writes_nothing(store, run_id):
    store.log_batch(run_id, [], [Param("a", "1")], [])
    err = _error(
        store.log_batch, run_id, [Metric("m", 1.0, 1, 0)], [Param("a", "2"), Param("b", "3")], []
    )
    assert err.error_code == "INVALID_PARAMETER_VALUE"
    assert err.message == (
        "Changing param values is not allowed. Params were already logged="
        f"'[{{'key': 'a', 'old_value': '1', 'new_value': '2'}}]' for run ID='{run_id}'."
    )
    run = store.get_run(run_id)
    assert (run.data.params, run.data.metrics) == ({"a": "1"}, {})
    assert list(store.get_metric_history(run_id, "m")) == []
    store.log_batch(run_id, [], [Param("a", "1"), Param("b", "3")], [])  # equal re-log is fine
    assert store.get_run(run_id).data.params == {"a": "1", "b": "3"}


def test_values_at_mlflow_limits_round_trip(store, run_id):
    long_key = "k" * 250
    params = [Param("p6000", "p" * 6000), Param(long_key, "v" * 1024), Param("ü" * 250, "ü" * 600)]
    tags = [RunTag("t8000", "t" * 8000), RunTag(long_key, "w" * 8000)]
    store.log_batch(run_id, [Metric(long_key, 1.0, 1, 0)], params, tags)
    run = store.get_run(run_id)
    assert run.data.params == {p.key: p.value for p in params}
    assert {k: v for k, v in run.data.tags.items() if k != MLFLOW_RUN_NAME} == {
        t.key: t.value for t in tags
    }
    assert run.data.metrics == {long_key: 1.0}
    meta = _meta(store, run_id)
    # Long values are spilled to their own items; short ones stay in META.
    assert is_spilled(meta["params"]["p6000"]) and is_spilled(meta["tags"]["t8000"])
    assert is_spilled(meta["params"]["ü" * 250])  # 1200 UTF-8 bytes
    assert meta["params"][long_key] == "v" * 1024
    # search's helper resolves spilled values of many META items at once
    resolved = resolve_spilled(store.gateway, [meta])[0]
    assert resolved["params"]["p6000"] == "p" * 6000
    assert resolved["tags"][long_key] == "w" * 8000


def test_spilled_tag_overwrite_and_delete(store, run_id):
    store.set_tag(run_id, RunTag("t", "x" * 5000))
    store.set_tag(run_id, RunTag("t", "short"))
    assert store.get_run(run_id).data.tags["t"] == "short"
    assert store.gateway.get_item(keys.run_tag_key(run_id, "t")) is None  # spill item gone
    store.set_tag(run_id, RunTag("t", "y" * 5000))
    assert store.get_run(run_id).data.tags["t"] == "y" * 5000
    store.delete_tag(run_id, "t")
    assert "t" not in store.get_run(run_id).data.tags
    assert store.gateway.get_item(keys.run_tag_key(run_id, "t")) is None


def test_spilled_param_conflict(store, run_id):
    store.log_param(run_id, Param("p", "a" * 3000))
    store.log_param(run_id, Param("p", "a" * 3000))
    err = _error(store.log_param, run_id, Param("p", "b" * 3000))
    assert err.error_code == "INVALID_PARAMETER_VALUE"


def test_full_meta_spills_everything_new(store, run_id):
    """Past ~300 KB of inline values, new params/tags/metrics go to their own items and
    everything still reads back."""
    store.set_tag(run_id, RunTag("early", "a"))
    for batch in range(4):
        params = [Param(f"p{batch}_{i:03d}", "v" * 1000) for i in range(100)]
        store.log_batch(run_id, [], params, [])
    # over budget, an inline tag replaced by a longer value moves out too
    store.set_tag(run_id, RunTag("early", "b" * 500))
    assert is_spilled(_meta(store, run_id)["tags"]["early"])
    assert store.get_run(run_id).data.tags["early"] == "b" * 500
    metrics = [Metric(f"m{i:03d}", float(i), 1, 0) for i in range(200)]
    store.log_batch(run_id, metrics, [], [RunTag(f"t{i}", "x" * 10) for i in range(5)])
    meta = _meta(store, run_id)
    assert any(is_spilled(v) for v in meta["params"].values())
    assert all(is_spilled(meta["metrics"][f"m{i:03d}"]) for i in range(200))
    assert is_spilled(meta["tags"]["t0"])
    run = store.get_run(run_id)
    assert len(run.data.params) == 400 and all(v == "v" * 1000 for v in run.data.params.values())
    assert run.data.metrics == {f"m{i:03d}": float(i) for i in range(200)}
    assert run.data.tags["t4"] == "x" * 10
    # a spilled metric still follows the latest-value rule
    store.log_metric(run_id, Metric("m000", -5.0, 2, 1))
    store.log_metric(run_id, Metric("m000", 99.0, 3, 0))  # older step: not the latest
    assert store.get_run(run_id).data.metrics["m000"] == -5.0


def test_nan_and_infinity_round_trip(store, run_id):
    values = {"nan": math.nan, "inf": math.inf, "ninf": -math.inf, "tiny": 1e-300, "big": 1e300}
    store.log_batch(run_id, [Metric(k, v, 1, 0) for k, v in values.items()], [], [])
    got = store.get_run(run_id).data.metrics
    assert math.isnan(got.pop("nan"))
    assert got == {k: v for k, v in values.items() if k != "nan"}
    for key, value in values.items():
        (point,) = store.get_metric_history(run_id, key)
        assert point.value == value or (math.isnan(value) and math.isnan(point.value))


def test_log_batch_request_count(store, run_id):
    """N points over K keys are K history items at most (a key's several points are one
    block): ⌈items/25⌉ BatchWriteItem + O(1): 3 GetItem (META, experiment and, for a run
    stepping through LIVE, LIVE), 1 TransactWriteItems; up to 4 items ride in the
    transaction instead."""
    stats = store.gateway.stats
    for n in (1, 4, 5, 25, 26, 200, 998):  # + 1 param + 1 tag = the 1000 entity limit
        stats.reset()
        metrics = [Metric(f"m{i % 5}", float(i), 1000 + n + i, i) for i in range(n)]
        store.log_batch(run_id, metrics, [Param(f"p{n}", "v")], [RunTag(f"t{n}", "v")])
        items = min(n, 5)  # one per key: a single point, or a block of the key's points
        batches = 0 if items <= 4 else math.ceil(items / 25)
        assert stats.requests("BatchWriteItem") == batches, n
        assert stats.requests("GetItem") == 3
        assert stats.requests("TransactWriteItems") == 1
        assert stats.total_requests == batches + 4
    assert len(store.get_metric_history(run_id, "m0")) == sum(
        len(range(0, n, 5)) for n in (1, 4, 5, 25, 26, 200, 998)
    )
    stats.reset()
    store.log_batch(run_id, [], [Param("only", "v")], [])
    assert stats.total_requests == 3  # 2 GetItem + 1 conditional PutItem
    stats.reset()
    store.log_metric(run_id, Metric("single", 1.0, 1, 0))
    assert stats.total_requests == 1  # a step through LIVE (announcing the key)
    stats.reset()
    store.log_metric(run_id, Metric("single", 0.5, 0, 0))  # not the latest: only the point
    # the step is tried through the gate and refused (LIVE holds a newer point; the refusal
    # returns LIVE, which tells an older point from full buffers), then 3 GetItem + 1
    # BatchWriteItem
    assert stats.total_requests == 5
    assert [m.value for m in store.get_metric_history(run_id, "single")] == [0.5, 1.0]
    assert store.get_run(run_id).data.metrics["single"] == 1.0


def test_many_metric_keys_in_one_batch(store, run_id):
    metrics = [Metric(f"key{i:03d}", float(i), 1, 0) for i in range(300)]
    stats = store.gateway.stats
    stats.reset()
    store.log_batch(run_id, metrics, [], [])
    # 12 BatchWriteItem for the points, then META + LATEST items in ⌈300/98⌉ transactions
    assert stats.requests("BatchWriteItem") == 12
    assert stats.requests("TransactWriteItems") == 4
    assert store.get_run(run_id).data.metrics == {m.key: m.value for m in metrics}
    latest = store.gateway.get_item(keys.metric_latest_key(run_id, "key123"))
    assert float(latest["value"]) == 123.0
    assert latest["GSI2PK"] == sharded_rank_keys("0", "key123", 123.0, run_id)["GSI2PK"]
