"""Readers of option D's stepping state (repositories/runs/stepping.py), on hand-made
state (tests/integration/live_step_helpers.py): histories of a key whose recent points are
in LIVE's buffer and in blocks flushed out of it."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric

from tests.integration.live_step_helpers import make_stepping


@pytest.fixture
def run_id(store):
    return store.create_run("0", "u", 1, [], "r").info.run_id


def _points(steps, offset=0.0):
    return [(s * 0.5 + offset, 1000 + s, s) for s in steps]


def _history(store, run_id, key, **kwargs):
    return [(m.value, m.timestamp, m.step) for m in store.get_metric_history(run_id, key, **kwargs)]


def _stepping_run(store, run_id):
    """m: step 0 through the read path, steps 1-24 flushed out of LIVE (2 flushes), 25-30
    buffered; n: NaN and inf among its buffered points."""
    store.log_batch(run_id, [Metric("m", 0.0, 1000, 0), Metric("n", 1.0, 1000, 0)], [], [])
    make_stepping(
        store, run_id, "m", _points(range(25, 31)), [_points(range(1, 13)), _points(range(13, 25))]
    )
    make_stepping(store, run_id, "n", [(math.nan, 1001, 1), (math.inf, 1002, 2)])


def test_history_of_a_stepping_key_reads_live_buffer_and_flushed_blocks(store, run_id):
    _stepping_run(store, run_id)
    assert _history(store, run_id, "m") == _points(range(31))
    got = _history(store, run_id, "n")
    assert got[0] == (1.0, 1000, 0) and math.isnan(got[1][0]) and got[2] == (math.inf, 1002, 2)
    assert store.get_max_step_for_metric(run_id, "m") == 30


def test_history_pages_and_samples_of_a_stepping_key(store, run_id):
    _stepping_run(store, run_id)
    page = store.get_metric_history(run_id, "m", max_results=10)
    seen = [(m.value, m.timestamp, m.step) for m in page]
    while page.token:
        page = store.get_metric_history(run_id, "m", max_results=10, page_token=page.token)
        seen += [(m.value, m.timestamp, m.step) for m in page]
    assert seen == _points(range(31))
    sampled = store.get_metric_history_bulk_interval([run_id], "m", 5, 20, 30)
    assert [m.step for m in sampled] == [20, 23, 25, 27, 30]
    steps = store.get_metric_history_bulk_interval_from_steps(run_id, "m", [3, 27], 10)
    assert [m.step for m in steps] == [3, 27]
    bulk = store.get_metric_history_bulk([run_id], "m", 100)
    assert [m.step for m in bulk] == list(range(31))


def test_a_stepping_key_costs_one_get_item_more(store, run_id):
    _stepping_run(store, run_id)
    stats = store.gateway.stats
    stats.reset()
    store.get_metric_history(run_id, "m")
    assert stats.total_requests == 2  # the partition's Query + LIVE's GetItem
    stats.reset()
    store.log_batch(run_id, [Metric("k", 1.0, 1000, 0)], [], [])
    stats.reset()
    store.get_metric_history(run_id, "k")
    assert stats.total_requests == 1  # a settled key: unchanged


def test_a_flush_the_query_missed_is_read_after_it(store, run_id):
    """LIVE's flush_seq past the newest block the Query saw (a flush between the two
    reads): the reader Queries the blocks after it."""
    _stepping_run(store, run_id)
    from mlflow_dynamodbstore.schema import keys
    from mlflow_dynamodbstore.schema.live_step_keys import LIVE_FLUSHED_PREFIX

    gateway = store._conn.gateway
    pk = keys.metric_history_pk(run_id, "m")
    items = gateway.query_page(_pk_eq(pk))[0]
    newest = max(i["SK"] for i in items if i["SK"].startswith(LIVE_FLUSHED_PREFIX))
    block = gateway.get_item({"PK": pk, "SK": newest})
    gateway.delete_item({"PK": pk, "SK": newest})
    real_query = gateway.query
    calls = []

    def query_then_flush(condition, **kwargs):
        items = list(real_query(condition, **kwargs))
        if not calls:
            gateway.put_item(block)  # the flush lands after the first Query
        calls.append(condition)
        return iter(items)

    store.metric_history.gateway.query = query_then_flush
    try:
        assert _history(store, run_id, "m") == _points(range(31))
    finally:
        del store.metric_history.gateway.query
    assert len(calls) == 2


def _pk_eq(pk):
    from boto3.dynamodb.conditions import Key

    return Key("PK").eq(pk)
