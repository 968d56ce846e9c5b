"""Concurrent writers on one run (optimistic locking on the META item): no lost metric
point, the right latest values, exactly one winner per param key."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from boto3.dynamodb.conditions import Key
from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException

from mlflow_dynamodbstore.repositories.runs.stepping import IN_LIVE
from mlflow_dynamodbstore.schema import keys, metric_rank_keys
from mlflow_dynamodbstore.stores.tracking_store import DynamoDBTrackingStore

THREADS = 8


def _together(fn, n: int = THREADS) -> list:
    """Run fn(i) on n threads released at the same moment; results or exceptions."""
    barrier = threading.Barrier(n)

    def call(i):
        barrier.wait()
        try:
            return fn(i)
        except Exception as exc:  # collected and asserted on by the caller
            return exc

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(call, range(n)))


def test_concurrent_log_batch_keeps_every_point(store_uri):
    # One store per thread, as separate server processes would have.
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(THREADS)]
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id
    rounds = 5

    def writer(i):
        for r in range(rounds):
            metrics = [
                Metric("shared", float(i * 100 + r), 1000 + r, r * THREADS + i),
                Metric("shared", float(-i), 1, 0),
                Metric(f"own{i}", float(r), 1000 + r, r),
            ]
            stores[i].log_batch(run_id, metrics, [], [RunTag(f"tag{i}", str(r))])

    assert _together(writer) == [None] * THREADS
    store = stores[0]
    history = store.get_metric_history(run_id, "shared")
    expected = {
        (float(i * 100 + r), 1000 + r, r * THREADS + i)
        for i in range(THREADS)
        for r in range(rounds)
    }
    expected |= {(float(-i), 1, 0) for i in range(THREADS)}  # logged every round: one point
    assert len(history) == len(expected) == THREADS * (rounds + 1)
    assert {(m.value, m.timestamp, m.step) for m in history} == expected
    run = store.get_run(run_id)
    # latest = greatest step: the last round of the last thread
    assert run.data.metrics["shared"] == float((THREADS - 1) * 100 + rounds - 1)
    for i in range(THREADS):
        assert run.data.metrics[f"own{i}"] == float(rounds - 1)
        assert run.data.tags[f"tag{i}"] == str(rounds - 1)
        assert len(store.get_metric_history(run_id, f"own{i}")) == rounds
    # the GSI2 rank item agrees with META: one entry for the run, at the latest value
    latest = store.gateway.get_item(keys.metric_latest_key(run_id, "shared"))
    assert float(latest["value"]) == run.data.metrics["shared"]
    rank_key = metric_rank_keys.sharded_rank_keys("0", "shared", 0.0, run_id)["GSI2PK"]
    ranked = list(store.gateway.query(Key("GSI2PK").eq(rank_key), index="GSI2"))
    assert [(r["run_id"], float(r["value"])) for r in ranked] == [
        (run_id, run.data.metrics["shared"])
    ]


def test_concurrent_param_values_one_winner(store_uri):
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(THREADS)]
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id

    def writer(i):
        stores[i].log_param(run_id, Param("p", f"value-{i}"))
        return f"value-{i}"

    results = _together(writer)
    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if isinstance(r, Exception)]
    assert len(winners) == 1 and len(losers) == THREADS - 1
    assert all(
        isinstance(e, MlflowException) and e.error_code == "INVALID_PARAMETER_VALUE" for e in losers
    )
    assert stores[0].get_run(run_id).data.params == {"p": winners[0]}


def test_concurrent_long_param_values_one_winner(store_uri):
    """Spilled values too: the loser must not overwrite the winner's spill item."""
    stores = [DynamoDBTrackingStore(store_uri, "s3://b/a") for _ in range(THREADS)]
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id

    def writer(i):
        value = str(i) * 3000
        stores[i].log_batch(run_id, [], [Param("p", value)], [])
        return value

    results = _together(writer)
    winners = [r for r in results if isinstance(r, str)]
    assert len(winners) == 1
    assert stores[0].get_run(run_id).data.params == {"p": winners[0]}


def test_concurrent_equal_params_all_succeed(store):
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    assert _together(lambda i: store.log_param(run_id, Param("same", "v"))) == [None] * THREADS
    assert store.get_run(run_id).data.params == {"same": "v"}


def test_concurrent_training_loops_on_the_no_read_path(store_uri):
    """8 server processes (store instances that know the run) log interleaved steps of the
    same keys with no read: every point is kept, and get_run and an order by the metric see
    the greatest step, whichever transaction landed last."""
    stores = [DynamoDBTrackingStore(store_uri, "s3://bucket/artifacts") for _ in range(THREADS)]
    run_id = stores[0].create_run("0", "u", 1, [], "r").info.run_id
    for s in stores:  # each process has logged once (the read path), so it knows the run
        s.log_batch(run_id, [Metric("a", -1.0, 1, -1), Metric("b", -1.0, 1, -1)], [], [])
    steps = 10

    def loop(i):
        for r in range(steps):
            step = r * THREADS + i
            stores[i].log_batch(
                run_id,
                [Metric("a", float(step), 10 + step, step), Metric("b", -step, 5, step)],
                [],
                [],
            )

    assert not [e for e in _together(loop) if e is not None]
    last = THREADS * steps - 1
    reader = stores[0]
    assert reader.get_run(run_id).data.metrics == {"a": float(last), "b": float(-last)}
    for key, value in (("a", last), ("b", -last)):
        assert len(reader.get_metric_history(run_id, key)) == THREADS * steps + 1
        # the key steps through LIVE (option D): its LATEST item is announced, and an order
        # by the metric reads the greatest step's value from LIVE
        latest = reader.gateway.get_item(keys.metric_latest_key(run_id, key))
        assert latest[IN_LIVE]
        (found,) = reader.search_runs(["0"], "", ViewType.ALL, 10, [f"metrics.{key} DESC"])
        assert found.data.metrics[key] == value
