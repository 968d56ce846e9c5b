"""The rollup cells' value sketch (repositories/traces/value_sketch.py): the 1 % bound of
every bucket's representative, exactness below 99, determinism of the bucket table, the
attribute names, SQLite's percentile over merged buckets, and the planner's choice
(docs/trace-analytics.md, "Percentiles, MIN and MAX from cells")."""

from __future__ import annotations

import random

from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

from mlflow_dynamodbstore.repositories.traces import value_sketch as vs
from mlflow_dynamodbstore.repositories.traces.rollups import (
    Contribution,
    contribution,
    marker_is_sketched,
)
from mlflow_dynamodbstore.search.trace_metrics.aggregate import percentile
from mlflow_dynamodbstore.search.trace_metrics.sketch_query import plan_sketch


def _error(value: int) -> float:
    key = vs.bucket(value)
    assert key is not None
    return abs(vs.representative(key) - value) / abs(value)


def test_every_integer_up_to_two_million_is_within_one_percent():
    worst = max(_error(v) for v in range(1, 2_000_000))
    assert worst <= vs.RELATIVE_ACCURACY


def test_large_and_negative_values_are_within_one_percent():
    rng = random.Random(1)
    for _ in range(20_000):
        v = rng.randrange(1, 2**63)
        assert _error(v) <= vs.RELATIVE_ACCURACY and _error(-v) <= vs.RELATIVE_ACCURACY
    for key in range(1, len(vs._LOWS) + 1):  # both ends of every bucket
        low, high = vs.bucket_range(key)
        assert vs.bucket(low) == key == vs.bucket(high)
        assert _error(low) <= vs.RELATIVE_ACCURACY and _error(high) <= vs.RELATIVE_ACCURACY
    assert vs.bucket(2**63) is None and vs.bucket(-(2**63)) is None


def test_values_below_99_have_buckets_of_their_own():
    for v in range(-98, 99):
        assert vs.representative(vs.bucket(v)) == v
    assert vs.bucket(99) == vs.bucket(100)  # the first shared bucket


def test_the_bucket_table_is_fixed():
    """Every server must put a value in the same bucket (a deletion subtracts from the bucket
    the write added to): the table is integer arithmetic only, and these are its numbers."""
    assert len(vs._LOWS) == 2050
    assert vs.bucket(3_600_000) == 621 and vs.representative(621) == 3_574_355
    assert sum(vs._LOWS) % 1_000_003 == 202_058


def test_attribute_names_round_trip_and_ignore_other_attributes():
    for column in range(6):
        for key in (0, 1, 35, 36, 2049, -1, -2049):
            assert vs.parse_attr(vs.attr(column, key)) == (column, key)
    for other in ("n", "s0", "c3", "ttl", "tn", "workspace", "PK", "SK", "q", "qx1"):
        assert vs.parse_attr(other) is None
    assert len(vs.attr(5, 2049)) <= 5


def test_contribution_adds_one_bucket_per_present_value_and_flags_its_marker():
    stats = {"trace_id": "tr-1", "experiment_id": "1", "timestamp_ms": 7,
             "execution_time_ms": 1234, "analytics": {"input_tokens": 5}}  # fmt: skip
    c = contribution(stats)
    counters = c.counters(-1)
    assert counters[vs.attr(0, vs.bucket(1234))] == -1 and counters[vs.attr(1, 5)] == -1
    assert sum(1 for k in counters if vs.parse_attr(k)) == 2
    assert marker_is_sketched(c.marker)
    legacy = Contribution(**{**c.__dict__, "sketched": False})
    assert not marker_is_sketched(legacy.marker)
    assert not any(vs.parse_attr(k) for k in legacy.counters(+1))


def test_percentile_of_exact_values_is_sqlites():
    rng = random.Random(2)
    for _ in range(200):
        values = [rng.randrange(-50, 99) for _ in range(rng.randrange(1, 40))]
        sketch = vs.Sketch()
        for v in values:
            sketch.add_bucket(vs.bucket(v), 1)
        for pct in (0, 1, 25, 50, 90, 99.9, 100):
            assert sketch.percentile(pct) == percentile(values, pct)
        assert (sketch.minimum(), sketch.maximum()) == (min(values), max(values))


def test_percentile_of_large_values_is_within_one_percent():
    rng = random.Random(4)
    for _ in range(200):
        values = [int(rng.lognormvariate(8, 2)) + 1 for _ in range(rng.randrange(2, 60))]
        sketch = vs.Sketch()
        for v in values[::2]:
            sketch.add_bucket(vs.bucket(v), 1)
        for v in values[1::2]:
            sketch.add_value(v)  # the range's edges: exact values merged in
        for pct in (0, 5, 50, 95, 99, 100):
            exact = percentile(values, pct)
            assert abs(sketch.percentile(pct) - exact) <= vs.RELATIVE_ACCURACY * exact


def test_the_planner_takes_percentile_min_max_of_what_cells_answer():
    def plan(metric="latency", aggs=None, dims=None, filters=None, interval=86400):
        aggs = aggs or [MetricAggregation(AggregationType.PERCENTILE, 95)]
        return plan_sketch(MetricViewType.TRACES, metric, aggs, dims, filters, interval)

    assert plan() is not None
    assert plan("total_tokens", [MetricAggregation(AggregationType.MIN)], ["trace_name"])
    mixed = [MetricAggregation(AggregationType.MAX), MetricAggregation(AggregationType.AVG)]
    assert plan(aggs=mixed).aggregations == mixed
    assert plan(aggs=[MetricAggregation(AggregationType.AVG)]) is None  # rollup_query's
    assert plan(filters=["trace.status = 'OK'"]) is not None
    assert plan(filters=["trace.tag.env = 'prod'"]) is None
    assert plan(interval=60) is None
    assert plan("session_count", [MetricAggregation(AggregationType.COUNT)]) is None
    assert plan_sketch(MetricViewType.SPANS, "latency", [MetricAggregation(
        AggregationType.PERCENTILE, 50)], None, None, None) is None  # fmt: skip
