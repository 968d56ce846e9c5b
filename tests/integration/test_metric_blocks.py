"""Metric history blocks: a log_batch's several points of one key are one item. Histories
written as blocks, single points and both (overlapping, duplicated) read back exactly as
SqlAlchemyStore (SQLite) returns them, whole and page by page, and cost one item per key."""

from __future__ import annotations

import math
import random

import pytest
from mlflow.entities import Metric

from mlflow_dynamodbstore.schema import keys


def _tuples(metrics) -> list[tuple]:
    return [
        (m.key, "nan" if math.isnan(m.value) else m.value, m.timestamp, m.step) for m in metrics
    ]


def _pages(store, run_id, key, size) -> list[tuple]:
    found, token = [], None
    while True:
        page = store.get_metric_history(run_id, key, max_results=size, page_token=token)
        assert len(page) <= size
        found += _tuples(page)
        token = page.token
        if token is None:
            return found


def _history_items(store, run_id, key) -> list[dict]:
    from boto3.dynamodb.conditions import Key

    pk = keys.metric_history_pk(run_id, key)
    return [i for i in store.gateway.query(Key("PK").eq(pk)) if i["SK"] != keys.METRIC_LATEST_SK]


def test_mixed_blocks_and_single_points_read_as_sql(store, sql):
    """Singles and blocks interleave in time, repeat each other's points (one point each,
    as SQL's primary key makes them one row), and hold NaN, -0.0 and negative steps."""
    dyn_run = store.create_run("0", "u", 1, [], "r").info.run_id
    sql_run = sql.create_run("0", "u", 1, [], "r").info.run_id
    rng = random.Random(11)
    values = [0.0, -0.0, 1.5, -2.25, math.nan, 1e300, 3.0]
    logged = []
    for call in range(40):
        size = rng.choice([1, 1, 2, 3, 10, 40])
        batch = [
            Metric("m", rng.choice(values), rng.randrange(0, 60), rng.randrange(-3, 30))
            for _ in range(size)
        ]
        if logged and call % 3 == 0:
            batch += rng.sample(logged, min(3, len(logged)))  # points logged before, again
        logged += batch
        if len(batch) == 1 and call % 2:
            store.log_metric(dyn_run, batch[0])
            sql.log_metric(sql_run, batch[0])
        else:
            store.log_batch(dyn_run, batch, [], [])
            sql.log_batch(sql_run, batch, [], [])
    items = _history_items(store, dyn_run, "m")
    assert any(i["SK"].startswith(keys.METRIC_BLOCK_PREFIX) for i in items)
    assert any(not i["SK"].startswith(keys.METRIC_BLOCK_PREFIX) for i in items)

    expected = _tuples(sql.get_metric_history(sql_run, "m"))
    assert _tuples(store.get_metric_history(dyn_run, "m")) == expected
    for size in (1, 4, 25, len(expected) - 1, len(expected), len(expected) + 3):
        assert _pages(store, dyn_run, "m", size) == expected, size
    assert store.get_run(dyn_run).data.metrics["m"] == pytest.approx(
        sql.get_run(sql_run).data.metrics["m"], nan_ok=True
    )
    for max_results in (3, 10, 1000):
        ours = store.get_metric_history_bulk_interval([dyn_run], "m", max_results, None, None)
        theirs = sql.get_metric_history_bulk_interval([sql_run], "m", max_results, None, None)
        assert [(str(r.value), r.timestamp, r.step) for r in ours] == [
            (str(r.value), r.timestamp, r.step) for r in theirs
        ]


def test_a_batch_is_one_item_per_key_and_bills_by_size(store):
    """500 points over 10 keys: 10 block items (one BatchWriteItem), a few write units per
    key instead of one per point; the same batch again writes the same items."""
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    metrics = [
        Metric(f"m{k}", s * 0.01 + k, 1_700_000_000_000 + s, s)
        for k in range(10)
        for s in range(50)
    ]
    stats = store.gateway.stats
    stats.reset()
    store.log_batch(run_id, metrics, [], [])
    assert stats.requests("BatchWriteItem") == 1
    # + 3 GetItem (META, experiment, LIVE: the run steps through it) + 1 TransactWriteItems
    assert stats.total_requests == 5
    assert stats.snapshot()["BatchWriteItem"].write_capacity <= 20  # 500 as single items: 500
    for k in range(10):
        (block,) = _history_items(store, run_id, f"m{k}")
        assert block["SK"].startswith(keys.METRIC_BLOCK_PREFIX)
    store.log_batch(run_id, metrics, [], [])  # a client retry: same digest, same items
    assert len(_history_items(store, run_id, "m0")) == 1
    assert len(store.get_metric_history(run_id, "m3")) == 50


def test_a_page_reads_blocks_and_only_the_single_points_it_needs(store):
    run_id = store.create_run("0", "u", 1, [], "r").info.run_id
    store.log_batch(run_id, [Metric("m", float(s), 10 + s, s) for s in range(5)], [], [])
    for s in range(5, 205):
        store.log_metric(run_id, Metric("m", float(s), 10 + s, s))
    stats = store.gateway.stats
    stats.reset()
    page = store.get_metric_history(run_id, "m", max_results=10)
    assert [m.step for m in page] == list(range(10))
    # 1 Query of the blocks + 1 Query of the first 11 single points
    assert stats.requests("Query") == 2
    assert stats.read_capacity <= 2
    stats.reset()
    page = store.get_metric_history(run_id, "m", max_results=10, page_token=page.token)
    assert [m.step for m in page] == list(range(10, 20))
    assert stats.requests("Query") == 2
    stats.reset()
    assert len(store.get_metric_history(run_id, "m")) == 205
    assert stats.requests("Query") == 1  # points then blocks, one range
