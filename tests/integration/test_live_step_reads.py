"""Readers of option D's stepping state (repositories/runs/stepping.py), on hand-made
state (tests/integration/live_step_helpers.py): histories of a key whose recent points are
in LIVE's buffer and in blocks flushed out of it."""

from __future__ import annotations

import math

import pytest
from mlflow.entities import Metric, Param

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
    # a param: the read path (META and the LATEST items), as before any step
    first = [Metric("m", 0.0, 1000, 0), Metric("n", 1.0, 1000, 0)]
    store.log_batch(run_id, first, [Param("p", "v")], [])
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
    store.log_batch(run_id, [Metric("k", 1.0, 1000, 0)], [Param("q", "v")], [])
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


# ---- order by a metric with stepping runs -------------------------------------------------
def _ordered_names(store, exp, order, filter_string="", page=4):
    from mlflow.entities import ViewType

    names, token = [], None
    while True:
        runs = store.search_runs([exp], filter_string, ViewType.ACTIVE_ONLY, page, [order], token)
        names += [r.info.run_name for r in runs]
        token = runs.token
        if not token:
            return names


def _two_stores_with_stepping_runs(store, sql):
    """The same 14 runs in both stores; in ours 8 of them step ``m`` (current values in
    LIVE, newer than their ranked LATEST value, two of them NaN / inf), in SQLite the same
    final values are logged plainly; two runs have no ``m``."""
    finals = [0.5, 3.0, -1.0, math.nan, 2.0, 3.0, math.inf, 0.0, 7.5, -2.5, 1.0, 4.0]
    stepping = {0, 1, 3, 4, 6, 8, 10, 11}
    exps = (store.create_experiment("stepping"), sql.create_experiment("stepping"))
    for i, final in enumerate(finals):
        ours = store.create_run(exps[0], "u", 1000 + i, [], f"r{i:02d}").info.run_id
        theirs = sql.create_run(exps[1], "u", 1000 + i, [], f"r{i:02d}").info.run_id
        sql.log_metric(theirs, Metric("m", final, 2000, 5))
        if i in stepping:
            # ranked through the read path (a param), now stale
            store.log_batch(ours, [Metric("m", 100.0 - i, 1000, 0)], [Param("p", "v")], [])
            make_stepping(store, ours, "m", [(final, 2000, 5)])
        else:  # the read path (a param): a value-ordered rank entry
            store.log_batch(ours, [Metric("m", final, 2000, 5)], [Param("p", "v")], [])
    for i in (12, 13):
        store.create_run(exps[0], "u", 1000 + i, [], f"r{i:02d}")
        sql.create_run(exps[1], "u", 1000 + i, [], f"r{i:02d}")
    return exps


@pytest.mark.parametrize("order", ["metrics.m ASC", "metrics.m DESC", "metrics.m"])
def test_order_by_metric_merges_stepping_runs(store, sql, order):
    ours, theirs = _two_stores_with_stepping_runs(store, sql)
    expected = _ordered_names(sql, theirs, order)
    assert _ordered_names(store, ours, order) == expected
    assert _ordered_names(store, ours, order, page=100) == expected


@pytest.mark.parametrize(
    "filter_string",
    ["metrics.m > 0.5", "metrics.m <= 2", "metrics.m != 3", "metrics.m >= -1 and metrics.m < 5"],
)
def test_order_by_metric_with_bounds_merges_stepping_runs(store, sql, filter_string):
    ours, theirs = _two_stores_with_stepping_runs(store, sql)
    for order in ("metrics.m ASC", "metrics.m DESC"):
        expected = _ordered_names(sql, theirs, order, filter_string)
        assert _ordered_names(store, ours, order, filter_string, page=3) == expected
