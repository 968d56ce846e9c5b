"""Metrics on DynamoDB Local, compared with SqlAlchemyStore (SQLite) for the same calls:
latest-value rule, history order and paging, the bulk/interval reads."""

from __future__ import annotations

import math
import random

import pytest
from mlflow.entities import Metric
from mlflow.exceptions import MlflowException


def _runs(*stores) -> list[str]:
    return [s.create_run("0", "u", 1, [], "r").info.run_id for s in stores]


def _tuples(metrics) -> list[tuple]:
    """Comparable points (NaN as a string, since NaN != NaN)."""
    return [
        (m.key, "nan" if math.isnan(m.value) else m.value, m.timestamp, m.step) for m in metrics
    ]


def _latest(store, run_id) -> dict:
    return {k: "nan" if math.isnan(v) else v for k, v in store.get_run(run_id).data.metrics.items()}


# Finite values only where the SQL store's ±inf -> ±max double rewrite would differ.
POINTS = [
    Metric("m", 1.0, 100, 0),
    Metric("m", 2.0, 100, 0),  # same step and timestamp: the greater value is latest
    Metric("m", 0.5, 50, 3),  # a greater step wins over a later timestamp
    Metric("m", -1.0, 200, 3),
    Metric("m", math.nan, 200, 3),  # NaN compares as 0 (SQL stores it as 0)
    Metric("m", 1.0, 100, 0),  # a duplicate point is one point
    Metric("n", math.nan, 5, 1),
    Metric("n", 0.0, 5, 1),  # ties keep the first one logged
    Metric("o", 3.0, 1, -5),
    Metric("o", 3.0, 1, -7),
]


@pytest.mark.parametrize("mode", ["one by one", "one batch", "shuffled batches"])
def test_latest_and_history_match_sql(store, sql, mode):
    dyn_run, sql_run = _runs(store, sql)
    if mode == "one by one":
        for metric in POINTS:
            store.log_metric(dyn_run, metric)
            sql.log_metric(sql_run, metric)
    elif mode == "one batch":
        store.log_batch(dyn_run, POINTS, [], [])
        sql.log_batch(sql_run, POINTS, [], [])
    else:
        shuffled = random.Random(7).sample(POINTS, len(POINTS))
        for chunk in (shuffled[:4], shuffled[4:]):
            store.log_batch(dyn_run, chunk, [], [])
            sql.log_batch(sql_run, chunk, [], [])
    assert _latest(store, dyn_run) == _latest(sql, sql_run)
    for key in ("m", "n", "o", "absent"):
        assert _tuples(store.get_metric_history(dyn_run, key)) == _tuples(
            sql.get_metric_history(sql_run, key)
        )


def test_history_paging(store, sql):
    dyn_run, sql_run = _runs(store, sql)
    metrics = [Metric("m", float(i % 7), 1000 + (i * 37) % 50, i % 4) for i in range(120)]
    store.log_batch(dyn_run, metrics, [], [])
    sql.log_batch(sql_run, metrics, [], [])
    expected = _tuples(sql.get_metric_history(sql_run, "m"))
    for size in (1, 7, 25, len(expected), len(expected) + 5):
        pages, token = [], None
        while True:
            page = store.get_metric_history(dyn_run, "m", max_results=size, page_token=token)
            assert len(page) <= size
            pages += _tuples(page)
            token = page.token
            if token is None:
                break
        assert pages == expected, size
    whole = store.get_metric_history(dyn_run, "m", max_results=len(expected))
    assert whole.token is None  # no empty last page, as SQL
    with pytest.raises(MlflowException) as info:
        store.get_metric_history(dyn_run, "m", max_results=5, page_token="garbage")
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"


def test_history_of_missing_run_is_empty_as_in_sql(store, sql):
    assert list(store.get_metric_history("f" * 32, "m")) == list(
        sql.get_metric_history("f" * 32, "m")
    )


def test_bulk_reads_match_sql(store, sql):
    dyn_runs = _runs(store, store, store)
    sql_runs = _runs(sql, sql, sql)
    rng = random.Random(3)
    for i in range(3):
        metrics = [
            Metric(
                "m", rng.choice([0.0, 1.5, -2.0, math.nan]), rng.randrange(100), rng.randrange(40)
            )
            for _ in range(150 + 40 * i)
        ] + [Metric("m", 1.0, 5, s) for s in range(0, 10)]
        store.log_batch(dyn_runs[i], metrics, [], [])
        sql.log_batch(sql_runs[i], metrics, [], [])

    def without_ids(results):
        return [(r.key, str(r.value), r.timestamp, r.step) for r in results]

    for max_results in (1, 2, 5, 20, 500):
        for start, end in ((None, None), (3, 17), (0, 0)):
            ours = store.get_metric_history_bulk_interval(dyn_runs, "m", max_results, start, end)
            theirs = sql.get_metric_history_bulk_interval(sql_runs, "m", max_results, start, end)
            assert without_ids(ours) == without_ids(theirs), (max_results, start, end)
        steps = [0, 3, 5, 39]
        ours = store.get_metric_history_bulk_interval_from_steps(
            dyn_runs[0], "m", steps, max_results
        )
        theirs = sql.get_metric_history_bulk_interval_from_steps(
            sql_runs[0], "m", steps, max_results
        )
        assert without_ids(ours) == without_ids(theirs)
        assert {r.run_id for r in ours} <= {dyn_runs[0]}
    with pytest.raises(MlflowException) as info:
        store.get_metric_history_bulk_interval(dyn_runs, "m", 5, 1, None)
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"

    bulk = store.get_metric_history_bulk(dyn_runs, "m", 250)
    assert len(bulk) == 250
    assert [r.run_id for r in bulk] == sorted(r.run_id for r in bulk)
    assert store.get_max_step_for_metric(dyn_runs[0], "m") == sql.get_max_step_for_metric(
        sql_runs[0], "m"
    )


def test_infinity_round_trips(store):
    """The SQL store reads ±inf back as ±max double; this store keeps them (DynamoDB cannot
    hold them as numbers, so they are encoded)."""
    (run_id,) = _runs(store)
    store.log_batch(run_id, [Metric("m", math.inf, 1, 0), Metric("m", -math.inf, 2, 0)], [], [])
    assert [m.value for m in store.get_metric_history(run_id, "m")] == [math.inf, -math.inf]
    assert store.get_run(run_id).data.metrics == {"m": -math.inf}


def test_log_metric_errors(store):
    (run_id,) = _runs(store)
    for bad in (
        Metric("m", None, 1, 0),
        Metric("m", "1.0", 1, 0),
        Metric("m", 1.0, -3, 0),
        Metric("m", 1.0, 1, "x"),
        Metric("../m", 1.0, 1, 0),
    ):
        with pytest.raises(MlflowException) as info:
            store.log_metric(run_id, bad)
        assert info.value.error_code == "INVALID_PARAMETER_VALUE"
    with pytest.raises(MlflowException) as info:
        store.log_metric("f" * 32, Metric("m", 1.0, 1, 0))
    assert info.value.error_code == "RESOURCE_DOES_NOT_EXIST"
    store.delete_run(run_id)
    with pytest.raises(MlflowException) as info:
        store.log_metric(run_id, Metric("m", 1.0, 1, 0))
    assert info.value.error_code == "INVALID_PARAMETER_VALUE"
