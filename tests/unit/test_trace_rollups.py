"""Pure logic of the trace rollups: contributions, merged cell deltas, the split of a range
into whole hours and edges, and the planner's choice (docs/trace-analytics.md, "Rollups")."""

from __future__ import annotations

from mlflow.entities.trace_metrics import AggregationType, MetricAggregation, MetricViewType

from mlflow_dynamodbstore.repositories.traces.rollups import (
    COUNT_ATTR,
    cell_deltas,
    contribution,
    count_attr,
    sum_attr,
)
from mlflow_dynamodbstore.schema.trace_rollup_keys import ROLLUP_BUCKET_MS, parse_rollup_cell
from mlflow_dynamodbstore.search.trace_metrics.cells import whole_hours
from mlflow_dynamodbstore.search.trace_metrics.rollup_query import plan_rollup

H = ROLLUP_BUCKET_MS
COUNT = [MetricAggregation(AggregationType.COUNT)]


def _stats(trace_id="tr-1", ts=5 * H + 7, status="OK", name="a", latency=40, tokens="3"):
    return {
        "trace_id": trace_id,
        "experiment_id": "9",
        "timestamp_ms": ts,
        "execution_time_ms": latency,
        "status": status,
        "trace_name": name,
        "analytics": {"input_tokens": tokens} if tokens else {},
        "ttl": 1000,
        "workspace": "default",
    }


def test_a_contribution_counts_present_values_only():
    c = contribution(_stats(latency=None))
    counters = c.counters(+1)
    assert counters[COUNT_ATTR] == 1
    assert count_attr("execution_time_ms") not in counters
    assert counters[sum_attr("input_tokens")] == 3 and counters[count_attr("input_tokens")] == 1
    assert c.hour_ms == 5 * H
    # The cell lives until its hour is over + the retention the trace's ttl carries.
    assert c.ttl == 1000 + (6 * H - (5 * H + 7)) // 1000
    assert parse_rollup_cell(c.cell_key) == (5 * H, "OK", "a")


def test_a_long_name_is_digested_in_the_key_and_carried_by_the_cell():
    name = "n" * 300 + "é" * 400  # 1,100 bytes: over DynamoDB's 1,024-byte sort keys
    c = contribution(_stats(name=name))
    assert len(c.cell_key["SK"].encode()) < 200
    (delta,) = cell_deltas([(None, c)])
    assert parse_rollup_cell({**c.cell_key, **delta.fields}) == (5 * H, "OK", name)
    other = contribution(_stats(name=name[:-1] + "x"))
    assert other.cell_key != c.cell_key


def test_deltas_merge_per_cell_and_drop_what_cancels():
    old, new = contribution(_stats()), contribution(_stats(latency=50))
    (delta,) = cell_deltas([(old, new)])
    assert delta.counters[sum_attr("execution_time_ms")] == 10
    assert not delta.counters[COUNT_ATTR]
    assert cell_deltas([(old, old)]) == []
    moved = cell_deltas([(old, contribution(_stats(status="ERROR")))])
    assert sorted(d.counters[COUNT_ATTR] for d in moved) == [-1, 1]


def test_a_range_splits_into_whole_hours_and_edges():
    assert whole_hours(H + 5, 4 * H + 9).edges == ((H + 5, 2 * H - 1), (4 * H, 4 * H + 9))
    aligned = whole_hours(H, 4 * H - 1)
    assert (aligned.first_hour, aligned.end_hour, aligned.edges) == (H, 4 * H, ())
    assert whole_hours(H + 5, 2 * H + 3) is None  # no whole hour inside
    opened = whole_hours(H + 5, 2 * H + 3, True, True)  # clipped to the traces: whole hours
    assert (opened.first_hour, opened.end_hour, opened.edges) == (H, 3 * H, ())


def test_the_planner_takes_only_what_cells_answer_exactly():
    def plan(metric="trace_count", aggs=COUNT, dims=None, filters=None, interval=86400):
        return plan_rollup(MetricViewType.TRACES, metric, aggs, dims, filters, interval)

    assert plan() is not None
    assert plan(dims=["trace_name", "trace_status"], filters=["trace.status = 'OK'"])
    assert plan("latency", [MetricAggregation(AggregationType.AVG)]) is not None
    assert plan("latency", [MetricAggregation(AggregationType.PERCENTILE, 50)]) is None
    assert plan("latency", [MetricAggregation(AggregationType.MAX)]) is None
    assert plan("session_count") is None
    assert plan(interval=60) is None and plan(interval=None) is not None
    assert plan(filters=["trace.tag.env = 'prod'"]) is None
    assert plan(filters=["trace.metadata.mlflow.trace.session = 's'"]) is None
    assert plan_rollup(MetricViewType.SPANS, "span_count", COUNT, None, None, None) is None
