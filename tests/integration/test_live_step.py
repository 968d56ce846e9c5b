"""Option D's training step (repositories/runs/live_step.py): a steady step writes the run's
LIVE item only; histories, get_run, ordered searches stay exact while the run steps and
after it ends (settle.py); an older point, NaN/inf and concurrent writers lose nothing."""

from __future__ import annotations

import math
import threading

import pytest
from mlflow.entities import Metric, RunStatus, ViewType

from mlflow_dynamodbstore.gateway.aws_write_units import AwsWriteUnits
from mlflow_dynamodbstore.gateway.partition_writes import PartitionWrites
from mlflow_dynamodbstore.repositories.runs.live import LIVE_FLAG
from mlflow_dynamodbstore.repositories.runs.stepping import BUFFER_POINTS, IN_LIVE
from mlflow_dynamodbstore.schema import keys, table
from tests.integration.live_step_helpers import expected, history, step_metrics

KEYS = 10


@pytest.fixture
def run_id(store):
    return store.create_run("0", "u", 1, [], "r").info.run_id


def _step(step: int, keys_: int = KEYS) -> list[Metric]:
    return step_metrics(step, keys_)


def test_a_steady_step_writes_live_only(store, run_id):
    counter = PartitionWrites({table.gsi_name(n): table.gsi_pk(n) for n in range(1, 6)})
    meter = AwsWriteUnits(table.index_key_attributes())
    store.gateway.observers += [counter.observe, meter.observe]
    store.log_batch(run_id, _step(0), [], [])  # the read path: META, LATEST items
    store.log_batch(run_id, _step(1), [], [])  # announces the keys: LIVE + 10 LATEST
    stats = store.gateway.stats
    figures = []
    for s in range(2, 2 + 3 * BUFFER_POINTS):
        stats.reset()
        counter.reset()
        meter.reset()
        store.log_batch(run_id, _step(s), [], [])
        units = meter.snapshot()
        figures.append((stats.total_requests, units.items, units.total, dict(counter.counts)))
    steady = [f for f in figures if f[0] == 1]
    assert len(steady) >= len(figures) - 3  # a flush every BUFFER_POINTS steps
    for _, items, aws_units, counts in steady:
        # one UpdateItem behind the gate: LIVE's size, not doubled by a transaction
        assert items == 1 and aws_units <= 5
        assert counts == {("table", keys.run_pk(run_id)): 1}
    flushes = [f for f in figures if f[0] != 1]
    # the refused UpdateItem (it returns LIVE), the blocks' BatchWriteItem, the retry
    assert flushes and all(f[0] == 3 and f[1] <= 12 for f in flushes)
    mean = sum(f[2] for f in figures) / len(figures)
    assert mean <= 5
    last = 1 + 3 * BUFFER_POINTS
    for k in range(KEYS):
        assert history(store, run_id, f"m{k}") == expected(range(last + 1), k)
    assert store.get_run(run_id).data.metrics == {f"m{k}": last * 0.5 + k for k in range(KEYS)}


def test_older_points_nan_and_inf_while_stepping(store, run_id):
    for s in range(5):
        store.log_batch(run_id, _step(s, 2), [], [])
    store.log_metric(run_id, Metric("m0", 42.0, 999, -1))  # older: the read path
    store.log_batch(
        run_id, [Metric("m0", math.nan, 1005, 5), Metric("m1", math.inf, 1005, 5)], [], []
    )
    store.log_batch(
        run_id, [Metric("m0", -math.inf, 1006, 6), Metric("m1", math.nan, 1006, 6)], [], []
    )
    got = history(store, run_id, "m0")
    assert got[0] == (999, -1, 42.0) and got[1:6] == expected(range(5), 0)
    assert math.isnan(got[6][2]) and got[7] == (1006, 6, -math.inf)
    metrics = store.get_run(run_id).data.metrics
    assert metrics["m0"] == -math.inf and math.isnan(metrics["m1"])


def test_ending_the_run_settles_its_keys(store, run_id):
    for s in range(2 * BUFFER_POINTS):
        store.log_batch(run_id, _step(s, 2), [], [])
    latest = store._conn.gateway.get_item(keys.metric_latest_key(run_id, "m0"))
    assert latest.get(IN_LIVE)
    store.update_run_info(run_id, RunStatus.FINISHED, 5000, None)
    latest = store._conn.gateway.get_item(keys.metric_latest_key(run_id, "m0"))
    assert not latest.get(IN_LIVE)
    last = 2 * BUFFER_POINTS - 1
    assert float(latest["value"]) == last * 0.5
    stats = store.gateway.stats
    stats.reset()
    assert history(store, run_id, "m0") == expected(range(last + 1), 0)
    assert stats.total_requests == 1  # settled: no LIVE read
    # LIVE's entries folded into META: a search page no longer reads the run's LIVE item
    meta = store._conn.gateway.get_item(keys.run_key(run_id))
    assert LIVE_FLAG not in meta and float(meta["metrics"]["m1"]["value"]) == last * 0.5 + 1
    asked = []
    store.gateway.observers.append(lambda op, kwargs, _: asked.append(str(kwargs)))
    runs = store.search_runs(["0"], "", ViewType.ALL, 10)
    assert asked and not any("'LIVE'" in a for a in asked)
    assert runs[0].data.metrics == {"m0": last * 0.5, "m1": last * 0.5 + 1}
    runs = store.search_runs(["0"], "", ViewType.ALL, 10, ["metrics.m1 DESC"])
    assert [r.info.run_id for r in runs] == [run_id]
    assert runs[0].data.metrics["m1"] == last * 0.5 + 1
    store.log_batch(run_id, _step(last + 1, 2), [], [])  # after the end: the read path
    assert store.get_run(run_id).data.metrics["m0"] == (last + 1) * 0.5


def test_concurrent_writers_lose_and_duplicate_nothing(store, store_uri, run_id):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    store.log_batch(run_id, _step(0, 3), [], [])
    writers, per_writer = 3, 2 * BUFFER_POINTS

    def write(w: int) -> None:
        mine = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")  # another server
        for i in range(per_writer):
            mine.log_batch(run_id, _step(1 + i * writers + w, 3), [], [])

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    steps = range(1 + writers * per_writer)
    for k in range(3):
        assert history(store, run_id, f"m{k}") == expected(steps, k)
    assert store.get_run(run_id).data.metrics["m0"] == steps[-1] * 0.5


def test_a_step_racing_the_end_of_the_run(store, store_uri, run_id):
    from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

    for s in range(3):
        store.log_batch(run_id, _step(s, 2), [], [])
    other = DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts")
    done = threading.Event()
    logged = []

    def train() -> None:
        s = 3
        while not done.is_set() and s < 200:
            other.log_batch(run_id, _step(s, 2), [], [])
            logged.append(s)
            s += 1

    thread = threading.Thread(target=train)
    thread.start()
    while len(logged) < 5:
        pass
    store.update_run_info(run_id, RunStatus.FINISHED, 5000, None)
    done.set()
    thread.join()
    steps = range(logged[-1] + 1)
    assert history(store, run_id, "m0") == expected(steps, 0)
    metrics = store.get_run(run_id).data.metrics
    assert metrics == {"m0": steps[-1] * 0.5, "m1": steps[-1] * 0.5 + 1}
    runs = store.search_runs(["0"], "", ViewType.ALL, 10, ["metrics.m0 ASC"])
    assert [r.data.metrics["m0"] for r in runs] == [steps[-1] * 0.5]


def test_hard_delete_removes_histories_of_keys_only_live_knows(store, run_id):
    """``mlflow gc``: keys logged only by training steps are in LIVE, not META; their
    history partitions go too."""
    from boto3.dynamodb.conditions import Key

    for s in range(BUFFER_POINTS + 3):  # a flush: blocks in the history partitions
        store.log_batch(run_id, _step(s, 2), [], [])
    assert "m0" not in store._conn.gateway.get_item(keys.run_key(run_id))["metrics"]
    store.delete_run(run_id)
    store._hard_delete_run(run_id)
    for k in range(2):
        pk = keys.metric_history_pk(run_id, f"m{k}")
        assert list(store._conn.gateway.query(Key("PK").eq(pk))) == []
    assert list(store._conn.gateway.query(Key("PK").eq(keys.run_pk(run_id)))) == []
