"""query_trace_metrics' PERCENTILE, MIN and MAX from the rollup cells' value sketches
(repositories/traces/value_sketch.py; docs/trace-analytics.md, "Percentiles, MIN and MAX
from cells").

The same queries as ``rollup_query.py`` (TRACES view, latency or a token metric, grouped by
nothing / ``trace_name``, whole-hour buckets, no filter or a status / name filter), when they
ask for PERCENTILE, MIN or MAX (alone or beside SUM / AVG). The cells of the range's whole
hours give, per group, the count and sum (exact) and the merged bucket counts; the traces of
the range's edges are added with their exact values. The answer is then:

- SUM, AVG: exact (integer sums), as from ``rollup_query.py``;
- a group of one value: its value, exactly (the sum is that value);
- otherwise PERCENTILE is SQLite's linear interpolation over the merged values, each cell
  value standing for its bucket's representative (within 1 % of it), so the result is
  within 1 % of the exact one; MIN and MAX are the lowest / highest representative (an
  integer within 1 %). Values below 99 have buckets of their own: exact.

A cell whose bucket counts do not add up to its count of values (traces counted before
sketches existed, until ``traces backfill-stats`` recounts them; a value over 2**63) cannot
answer: the whole query then takes the exact path.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from mlflow.entities.trace_metrics import (
    AggregationType,
    MetricAggregation,
    MetricDataPoint,
    MetricViewType,
)
from mlflow.tracing.constant import TraceMetricDimensionKey

from mlflow_dynamodbstore.repositories.traces import value_sketch
from mlflow_dynamodbstore.repositories.traces.rollups import (
    ROLLUP_COLUMNS,
    TraceRollupRepository,
    count_attr,
    sum_attr,
)
from mlflow_dynamodbstore.schema.trace_rollup_keys import parse_rollup_cell
from mlflow_dynamodbstore.search.trace_metrics.aggregate import (
    time_bucket,
)
from mlflow_dynamodbstore.search.trace_metrics.cells import cell_points, whole_hours
from mlflow_dynamodbstore.search.trace_metrics.rollup_query import RollupPlan, plan_rollup
from mlflow_dynamodbstore.search.trace_metrics.traces_view import Record, TraceRecords

_NS_PER_MS = 1_000_000
_SKETCHED = {AggregationType.PERCENTILE, AggregationType.MIN, AggregationType.MAX}
_EXACT = {AggregationType.SUM, AggregationType.AVG}
_DIMENSION_FIELD = {
    TraceMetricDimensionKey.TRACE_NAME: "trace_name",
    TraceMetricDimensionKey.TRACE_STATUS: "status",
}


def plan_sketch(
    view_type: MetricViewType,
    metric_name: str,
    aggregations: list[MetricAggregation],
    dimensions: list[str] | None,
    filters: list[str] | None,
    time_interval_seconds: int | None,
) -> RollupPlan | None:
    """The plan when the cells' sketches answer this query (within the bound), else None."""
    kinds = {a.aggregation_type for a in aggregations}
    if not kinds & _SKETCHED or not kinds <= _SKETCHED | _EXACT:
        return None
    # The cells' own planner decides the rest (view, metric, dimensions, filters, bucket).
    plan = plan_rollup(view_type, metric_name, [], dimensions, filters, time_interval_seconds)
    if plan is None or plan.column is None:
        return None  # trace_count has no values to sketch
    return replace(plan, aggregations=list(aggregations))


class _Incomplete(Exception):
    """A cell's buckets do not hold all its values."""


@dataclass
class _Partial:
    count: int = 0
    total: int = 0
    sketch: value_sketch.Sketch = field(default_factory=value_sketch.Sketch)


@dataclass
class _SketchGroups:
    plan: RollupPlan
    groups: dict[tuple, _Partial] = field(default_factory=dict)

    def _partial(self, timestamp_ms: int, fields: dict[str, Any]) -> _Partial | None:
        dims = [fields.get(_DIMENSION_FIELD[d]) for d in self.plan.dimensions]
        if any(v is None for v in dims):
            return None  # SQL drops rows with a NULL grouping column
        key: tuple = tuple(dims)
        if self.plan.time_interval_seconds:
            bucket = time_bucket(timestamp_ms * _NS_PER_MS, self.plan.time_interval_seconds)
            key = (bucket, *dims)
        return self.groups.setdefault(key, _Partial())

    def add_cell(self, hour_ms: int, fields: dict[str, Any], cell: dict[str, Any]) -> None:
        column = str(self.plan.column)
        count = int(cell.get(count_attr(column), 0))
        index = ROLLUP_COLUMNS.index(column)
        buckets = []
        for name, amount in cell.items():
            parsed = value_sketch.parse_attr(name)
            if parsed is not None and parsed[0] == index and int(amount):
                buckets.append((parsed[1], int(amount)))
        if any(amount < 0 for _, amount in buckets) or sum(a for _, a in buckets) != count:
            raise _Incomplete(cell["SK"])
        if count <= 0:
            return  # no value (a cell emptied by deletions makes no group)
        partial = self._partial(hour_ms, fields)
        if partial is None:
            return
        partial.count += count
        partial.total += int(cell.get(sum_attr(column), 0))
        for key, amount in buckets:
            partial.sketch.add_bucket(key, amount)

    def add_record(self, record: Record) -> None:
        value = record.get(str(self.plan.column))
        if value is None:
            return
        partial = self._partial(record["timestamp_ms"], record)
        if partial is None:
            return
        partial.count += 1
        partial.total += int(value)
        partial.sketch.add_value(int(value))

    def points(self, max_results: int) -> list[MetricDataPoint]:
        plan = self.plan
        return cell_points(
            plan.metric_name,
            plan.time_interval_seconds,
            plan.dimensions,
            {k: p for k, p in self.groups.items() if p.count > 0},
            max_results,
            lambda partial: {str(a): _value(a, partial) for a in plan.aggregations},
            no_group=_Partial(),
        )


def _value(aggregation: MetricAggregation, partial: _Partial) -> Any:
    if not partial.count:
        return None
    kind = aggregation.aggregation_type
    if kind == AggregationType.SUM:
        return partial.total
    if kind == AggregationType.AVG:
        return float(partial.total) / partial.count
    if partial.count == 1:  # one value: the sum is that value, exactly
        return float(partial.total) if kind == AggregationType.PERCENTILE else partial.total
    # The true minimum is an integer <= the mean, the maximum one >= it: moving an estimate
    # past the mean only brings it closer.
    if kind == AggregationType.MIN:
        return min(partial.sketch.minimum(), partial.total // partial.count)
    if kind == AggregationType.MAX:
        return max(partial.sketch.maximum(), -(-partial.total // partial.count))
    return partial.sketch.percentile(aggregation.percentile_value)


class SketchQuery:
    def __init__(self, rollups: TraceRollupRepository, records: TraceRecords):
        self.rollups = rollups
        self.records = records

    def run(
        self,
        plan: RollupPlan,
        experiment_ids: Iterable[str],
        start_ms: int | None,
        end_ms: int | None,
        max_results: int,
    ) -> list[MetricDataPoint] | None:
        """The data points, or None when the cells cannot answer (no whole hour in the
        range, or a cell whose sketch is incomplete): the exact path then answers."""
        spans = {}
        for experiment_id in experiment_ids:
            clipped = self.records.clipped(experiment_id, start_ms, end_ms)
            if clipped is None:
                continue  # no traces in the range
            span = whole_hours(*clipped, start_ms is None, end_ms is None)
            if span is None:
                return None
            spans[experiment_id] = span
        groups = _SketchGroups(plan)
        try:
            for experiment_id, span in spans.items():
                for cell in self.rollups.cells(experiment_id, span.first_hour, span.end_hour - 1):
                    hour, status, name = parse_rollup_cell(cell)
                    fields = {"status": status, "trace_name": name}
                    if plan.keeps(fields):
                        groups.add_cell(hour, fields, cell)
                for low, high in span.edges:
                    for record in self.records.from_meta([experiment_id], low, high):
                        if plan.keeps(record):
                            groups.add_record(record)
        except _Incomplete:
            return None
        return groups.points(max_results)
